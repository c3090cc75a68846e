// Package combine owns the combine kernels: the reverse of a dispatch,
// driven by the dispatch.Handle it returned. Every GPU holds one row per
// (token, GPU) pair it received, already summed over its local experts, and
// combine brings those rows back to each token's source GPU and sums them
// there.
//
// Normal mode follows DeepEP V1's kernels as warp-role state machines on
// the engine. Across nodes, NVL sender warps push rows over NVLink to the
// forwarder GPU of their node (the one with the source's local index),
// forwarder warps sum a token's rows from that node and send one row per
// node over IB (staying on the rail), and RDMA receiver warps on the source
// sum one row per target node. Within a node, senders push rows straight
// to the source GPU, whose receiver warps sum them. Rows move in chunks
// through bounded rings with head credits; a configuration that cannot make
// progress ends in an error wrapping dispatch.ErrStall that names the
// waiting ring. AllToAll mode (the plain reverse all-to-allv baseline) and
// LowLatency mode (DeepEP's decode combine) are run by package dispatch,
// which owns both directions of those kernels.
//
// Combine shares dispatch's Config, Format, Options and Result types and its
// logical byte accounting (dispatch.Summarize), so the two kernels report
// side by side.
//
// # Usage
//
//	dres, err := dispatch.Run(cl, lay, dispatch.DefaultConfig(ranks, 24), fp8, 7168, opt)
//	...
//	cl.Reset()
//	bf16, _ := dispatch.FormatNamed("model.combine_dtype", "bf16")
//	cres, err := combine.Run(cl, dres.Handle, dispatch.DefaultCombineConfig(ranks, 24), bf16, 7168, opt)
package combine
