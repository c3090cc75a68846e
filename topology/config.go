package topology

import (
	"fmt"
	"math"

	"github.com/moesim/moesim/sim"
)

// GPU describes one GPU model. Bandwidths are bytes per second per
// direction; FLOP/s are dense (no sparsity).
type GPU struct {
	Name string
	// SMs is the number of streaming multiprocessors.
	SMs int
	// SMCopyBytesPerSec is what one SM can copy (load + store, local or
	// peer) when it does nothing else: the rate a communication warp role is
	// held to. Communication kernels scale with SMs until links saturate.
	SMCopyBytesPerSec float64
	// SMReduceBytesPerSec is the rate one SM sums BF16 rows (combine's
	// reductions), counted in bytes of input rows read.
	SMReduceBytesPerSec float64
	// WarpCopyBytesPerSec is one warp's streaming copy rate once its
	// per-record latency is paid: a role with few warps is held to it, so
	// it cannot take a whole SM's rate.
	WarpCopyBytesPerSec float64
	// RecordOverhead is a warp's fixed time per record (token row) it
	// copies: the load-store-wait round trip of its copy loop, paid
	// whatever the record's size.
	RecordOverhead sim.Time
	// The bulk-copy (TMA) path DeepEP V2's warps take, one record per
	// warp in flight (topology/probe/bulk.py): SMBulkCopyBytesPerSec is
	// one SM's rate of record copies (a bulk load into shared memory, a
	// bulk store out), bound by the stores; SMBulkLoadBytesPerSec its rate
	// of bulk loads alone, which run beside the stores; BulkRecordOverhead
	// a warp's fixed time per record beyond the bytes (the load's latency
	// and the wait for the store to complete).
	SMBulkCopyBytesPerSec float64
	SMBulkLoadBytesPerSec float64
	BulkRecordOverhead    sim.Time
	// ChunkHandshake is what a producer pays per chunk: a system-scope
	// fence and the release store of the ring's tail, until a polling
	// consumer can see it (the link's latency comes on top).
	ChunkHandshake sim.Time
	FP8FLOPS       float64
	BF16FLOPS      float64
	HBMBytesPerSec float64
	// NVLinkBytesPerSec is achievable NVLink bandwidth per direction per
	// GPU, through a non-blocking NVSwitch.
	NVLinkBytesPerSec float64
	// NVLinkNominalBytesPerSec is the nominal NVLink rate per direction:
	// the sum of the per-link speeds `nvidia-smi nvlink -s` prints. DeepEP
	// V2 reads it (×0.9) to size its kernels' SM count; the model's links
	// run at NVLinkBytesPerSec.
	NVLinkNominalBytesPerSec float64
	// NICBytesPerSec is the GPU's own NIC, per direction.
	NICBytesPerSec float64

	// Interference between communication and computation on one GPU
	// (scenarios/schedule applies it; docs/model.md).
	//
	// GEMMClockDrop is the fraction by which a communication kernel's copy
	// rate falls while a math-bound GEMM runs on the other SMs: the GEMM's
	// power draw lowers the clock every SM shares.
	GEMMClockDrop float64
	// CopyHBMBytesPerByte is the HBM traffic (reads plus writes) per byte
	// an SM copies or a NIC moves: the share of HBM bandwidth a
	// communication kernel takes from the compute beside it.
	CopyHBMBytesPerByte float64
	// GEMMHBMSensitivity is a GEMM's fractional slowdown per unit share of
	// HBM bandwidth that copies beside it take (L2 and HBM queueing).
	GEMMHBMSensitivity float64
	// CommSMWait is, without an SM carve-out, the time from a GEMM wave's
	// end until every block of a communication kernel launched during it
	// holds an SM (the wave's blocks retire spread out).
	CommSMWait sim.Time
}

// Straggler is one slow part of the cluster: a GPU whose SMs (copies and
// compute) or a NIC whose rate is Factor times slower than its peers'.
type Straggler struct {
	// Kind is StragglerGPU or StragglerNIC.
	Kind string
	// Rank is the GPU's global rank (a NIC is named by its GPU's rank).
	Rank int
	// Factor >= 1 divides the part's rates.
	Factor float64
}

// Straggler kinds.
const (
	StragglerGPU = "gpu"
	StragglerNIC = "nic"
)

// MaxStragglerFactor bounds a straggler's slowdown; a larger one is a
// failed part, not a slow one.
const MaxStragglerFactor = 100

// GPUFactor is how many times slower rank's SMs run than a healthy GPU's
// (1 unless it is a straggler; factors of one rank multiply).
func (c Config) GPUFactor(rank int) float64 { return c.factor(StragglerGPU, rank) }

// NICFactor is how many times slower rank's NIC runs than a healthy one.
func (c Config) NICFactor(rank int) float64 { return c.factor(StragglerNIC, rank) }

// MaxGPUFactor is the slowest GPU's factor: the pace of a synchronous
// layer's compute.
func (c Config) MaxGPUFactor() float64 {
	f := 1.0
	for _, s := range c.Stragglers {
		if s.Kind == StragglerGPU {
			f = max(f, c.GPUFactor(s.Rank))
		}
	}
	return f
}

func (c Config) factor(kind string, rank int) float64 {
	f := 1.0
	for _, s := range c.Stragglers {
		if s.Kind == kind && s.Rank == rank {
			f *= s.Factor
		}
	}
	return f
}

// Config is a cluster: a GPU model, how many nodes and GPUs per node, and
// the network's constants. Nodes are numbered 0..Nodes-1, GPUs within a node
// 0..GPUsPerNode-1; a GPU's global rank is node*GPUsPerNode + local.
type Config struct {
	Preset      string // name of the preset this came from, for reports
	GPU         GPU
	Nodes       int
	GPUsPerNode int
	// NVLinkLatency is the one-way latency of a store or copy to a peer GPU
	// in the node, through NVSwitch.
	NVLinkLatency sim.Time
	// IBLatency is the one-way latency of an RDMA write between nodes,
	// NIC to NIC through the rail's switches.
	IBLatency sim.Time
	// RailOversubscription divides a rail fabric's capacity: 1 is
	// non-blocking; 2 means the rail carries half of what its NICs could
	// inject at once.
	RailOversubscription float64
	// Fabric is the scale-out network above the NICs: leaves, spine,
	// planes, PXN. The zero value is one non-blocking leaf per rail.
	Fabric Fabric
	// NVLinkEfficiency and NICEfficiency are the shares of the links'
	// achievable rates that communication kernels' fine-grained traffic
	// gets: chunked stores with a fence and a tail flag per chunk on NVLink,
	// per-message work and tail atomics on the NIC. Ports run at rate ×
	// efficiency.
	NVLinkEfficiency float64
	NICEfficiency    float64
	// NICMessageRate is the messages per second (RDMA writes, atomics)
	// one NIC issues: each message holds the NIC for 1/rate at least.
	NICMessageRate float64
	// LLKernelFixed is what a DeepEP low-latency kernel spends before its
	// first message beyond the costs modelled one by one (grid start on
	// every SM, cleaning the next buffer, ranks' skew in the benchmark
	// loop).
	LLKernelFixed sim.Time
	// KernelLaunch is the fixed cost of launching a kernel and having all
	// its blocks running (host launch gap plus grid start).
	KernelLaunch sim.Time
	// Stragglers are slow GPUs and NICs, in the order the scenario lists
	// them; none by default.
	Stragglers []Straggler
}

// GPUs is the total number of GPUs.
func (c Config) GPUs() int { return c.Nodes * c.GPUsPerNode }

// Limits on configurations. They keep runs bounded and catch typos; they are
// not hardware claims.
const (
	MaxNodes       = 4096
	MaxGPUsPerNode = 72 // an NVL72 domain
	MaxSMs         = 1024
)

// Validate checks every field and names the field, the value and what is
// allowed in its error.
func (c Config) Validate() error {
	posInt := func(field string, v, max int) error {
		if v < 1 || v > max {
			return fmt.Errorf("topology: %s = %d, want 1..%d", field, v, max)
		}
		return nil
	}
	// posRate checks a rate held in base units (bytes/s, FLOP/s,
	// messages/s) and names it in the field's unit (per is the unit's
	// size: GBps for a _GBps field).
	posRate := func(field string, v, per float64) error {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("topology: %s = %g, want a positive finite number", field, v/per)
		}
		return nil
	}
	checks := []error{
		posInt("cluster.nodes", c.Nodes, MaxNodes),
		posInt("cluster.gpus_per_node", c.GPUsPerNode, MaxGPUsPerNode),
		posInt("cluster.sms", c.GPU.SMs, MaxSMs),
		posRate("cluster.sm_copy_GBps", c.GPU.SMCopyBytesPerSec, GBps),
		posRate("cluster.sm_reduce_GBps", c.GPU.SMReduceBytesPerSec, GBps),
		posRate("cluster.fp8_TFLOPS", c.GPU.FP8FLOPS, TFLOPS),
		posRate("cluster.bf16_TFLOPS", c.GPU.BF16FLOPS, TFLOPS),
		posRate("cluster.hbm_GBps", c.GPU.HBMBytesPerSec, GBps),
		posRate("cluster.nvlink_GBps", c.GPU.NVLinkBytesPerSec, GBps),
		posRate("cluster.nic_GBps", c.GPU.NICBytesPerSec, GBps),
		posRate("cluster.warp_copy_GBps", c.GPU.WarpCopyBytesPerSec, GBps),
		posRate("cluster.sm_bulk_copy_GBps", c.GPU.SMBulkCopyBytesPerSec, GBps),
		posRate("cluster.sm_bulk_load_GBps", c.GPU.SMBulkLoadBytesPerSec, GBps),
		posRate("cluster.nic_message_rate_Mps", c.NICMessageRate, 1e6),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if c.NVLinkLatency < 0 || c.NVLinkLatency > sim.Millisecond {
		return fmt.Errorf("topology: cluster.nvlink_latency_us = %v, want 0..1000", c.NVLinkLatency.Microseconds())
	}
	if c.IBLatency < 0 || c.IBLatency > sim.Millisecond {
		return fmt.Errorf("topology: cluster.ib_latency_us = %v, want 0..1000", c.IBLatency.Microseconds())
	}
	if c.KernelLaunch < 0 || c.KernelLaunch > sim.Millisecond {
		return fmt.Errorf("topology: cluster.kernel_launch_us = %v, want 0..1000", c.KernelLaunch.Microseconds())
	}
	for _, t := range []struct {
		field string
		v     sim.Time
	}{{"cluster.record_overhead_ns", c.GPU.RecordOverhead}, {"cluster.chunk_handshake_ns", c.GPU.ChunkHandshake},
		{"cluster.bulk_record_ns", c.GPU.BulkRecordOverhead}} {
		if t.v < 0 || t.v > 100*sim.Microsecond {
			return fmt.Errorf("topology: %s = %g, want 0..100000", t.field, float64(t.v)/float64(sim.Nanosecond))
		}
	}
	if !(c.NVLinkEfficiency > 0 && c.NVLinkEfficiency <= 1) {
		return fmt.Errorf("topology: cluster.nvlink_efficiency = %g, want a number in (0, 1]", c.NVLinkEfficiency)
	}
	if !(c.NICEfficiency > 0 && c.NICEfficiency <= 1) {
		return fmt.Errorf("topology: cluster.nic_efficiency = %g, want a number in (0, 1]", c.NICEfficiency)
	}
	for i, s := range c.Stragglers {
		field := fmt.Sprintf("cluster.stragglers[%d]", i)
		if s.Kind != StragglerGPU && s.Kind != StragglerNIC {
			return fmt.Errorf("topology: %s names a %q, want gpu or nic", field, s.Kind)
		}
		if s.Rank < 0 || s.Rank >= c.GPUs() {
			return fmt.Errorf("topology: %s.%s = %d, want a GPU rank in 0..%d", field, s.Kind, s.Rank, c.GPUs()-1)
		}
		if !(s.Factor >= 1 && s.Factor <= MaxStragglerFactor) {
			return fmt.Errorf("topology: %s.factor = %g, want a slowdown in 1..%d (2 = half speed)", field, s.Factor, MaxStragglerFactor)
		}
	}
	if !(c.RailOversubscription >= 1) || math.IsInf(c.RailOversubscription, 0) {
		return fmt.Errorf("topology: cluster.rail_oversubscription = %g, want a finite number >= 1 (1 = non-blocking)", c.RailOversubscription)
	}
	return c.Fabric.WithDefaults().Validate()
}
