// Package dispatch owns where tokens go and how they get there: the routing
// of each token to experts (Routing), the expert-to-GPU placement, the
// Layout that counts target nodes and GPUs per token (DeepEP's
// get_dispatch_layout), the kernel configuration (SMs, chunk and ring
// sizes), and the dispatch kernels as warp-role state machines on the
// engine: DeepEP-style normal mode (intranode and internode with NVLink
// forwarding), DeepEP's low-latency (decode) kernels, DeepEP V2's
// ElasticBuffer kernels (hybrid and direct, with V2's analytical SM and QP
// counts and limits) and a plain all-to-allv baseline. The low-latency, V2
// and baseline kernels own both their directions here (LowLatencyCombine,
// V2Combine, AllToAllCombine), so package combine only picks one. Execute is the run, check and verify sequence
// every kernel kind goes through. The channel and ring machinery here is
// shared with package combine, which runs normal mode's reverse path from
// the Handle a dispatch returns.
package dispatch
