// Package compute owns the compute model: the scenario file's compute.*
// section, GEMM timing by wave quantization of output tiles over the SMs
// that communication leaves, elementwise work as bytes over HBM bandwidth,
// FLOP and byte counts of DeepSeek-V3's layer (MLA, router, SwiGLU
// experts), and LayerTimes, one layer's forward and backward phases for
// one micro-batch on one GPU, on the SMs communication leaves and on every
// SM, with each phase's memory-bound part and GEMM waves (LayerCompute.Info)
// for scenarios/schedule, which applies the interference where the phases
// overlap communication.
//
// # Usage
//
//	l, err := compute.LayerTimes(hw.GPU, commSMs, m, tokens, recvSlots, localExperts, c)
//	fwd := l.Forward()
//
// Imports: sim, topology, scenarios/model.
package compute
