package dispatch

import (
	"math/bits"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// The kernels DeepEP V1 runs around a dispatch (567632d), as closed forms:
//
//   - get_dispatch_layout (layout.cu) counts tokens per rank, node and
//     expert and fills is_token_in_rank from topk_idx, once per new
//     routing;
//   - notify_dispatch (internode.cu, intranode.cu) exchanges those counts
//     and builds the prefix matrices, and the host busy-waits for the
//     received-token counts before it can size the outputs (the CPU sync);
//   - cached_notify, a barrier plus buffer cleaning, runs instead of notify
//     before every dispatch that reuses a handle.
//
// Each term below names its source; docs/model.md ("Notify and the layout
// kernel") lists them with values.

// Constants of the notify and layout model. Assumptions, not measurements.
const (
	// hostSync is the host side of notify_dispatch: the CPU busy-waits on
	// host-mapped counters (deep_ep.cpp, "Synchronize total received
	// tokens"), allocates the outputs and launches the kernel. Assumed
	// about 10 µs.
	hostSync = 10 * sim.Microsecond
	// rdmaPostCost is what a GPU thread pays to post one RDMA message by
	// IBGDA: write a work request into the QP's ring in GPU memory and ring
	// the NIC's doorbell across PCIe. Assumed 0.5 µs (a PCIe posted write
	// and the NIC's fetch of the request); the NIC's one-way latency is the
	// cluster's IB latency on top.
	rdmaPostCost = 500 * sim.Nanosecond
	// nicMessageGap is the NIC's time per message when many are posted at
	// once (its message rate). Assumed 5 ns: ConnectX-class NICs process
	// a few hundred million small messages per second.
	nicMessageGap = 5 * sim.Nanosecond
	// notifyWarps: notify_dispatch's block 0 has 512 threads
	// (kNumThreads), 16 warps, and warp i posts the count message to node
	// i, so up to 16 messages go out in one round.
	notifyWarps = 512 / 32
	// layoutHostCall is the host's part of Buffer.get_dispatch_layout as
	// DeepEP's tests time it (bench(): CUDA events around the Python call):
	// four output tensors allocated, two cross-stream waits, the launch.
	// Fitted: 40 µs brings the model to the 54-74 µs that test_internode
	// prints at 4096 tokens, top-8, 256 experts on 2-4 nodes (DeepEP issues
	// #13, #137, #158, #261).
	layoutHostCall = 40 * sim.Microsecond
	// Layout kernel shape (layout.cu): kNumThreads = 256,
	// kNumExpertsPerSM = 4, kNumRanksPerSM = 8; topk_idx_t is int64.
	layoutExpertsPerBlock = 4
	layoutRanksPerBlock   = 8
	layoutTopkIdxBytes    = 8
)

// rdmaBarrier is nvshmem_sync_all over the nodes' same-index GPUs (normal
// mode's NVSHMEM team): a dissemination barrier of radix 2
// (NVSHMEM_BARRIER_DISSEM_KVAL's default), ceil(log2 nodes) rounds, each
// one message posted and its one-way trip.
func rdmaBarrier(c topology.Config) sim.Time {
	if c.Nodes <= 1 {
		return 0
	}
	rounds := bits.Len(uint(c.Nodes - 1)) // ceil(log2 nodes)
	return sim.Time(rounds) * (rdmaPostCost + c.IBLatency)
}

// nvlBarrier is barrier_block over the node's GPUs (utils.cuh): every GPU
// adds to its own signals and subtracts from each peer's by system-scope
// atomics, then spins until all are settled: one NVLink one-way latency.
func nvlBarrier(c topology.Config) sim.Time { return c.NVLinkLatency }

// notifyTimes returns notify_dispatch's time, from its launch to the
// host's launch of the dispatch, and cached_notify's, on cluster cl with
// experts experts (physical slots).
//
// Across nodes (internode.cu notify_dispatch, block 0; the other blocks
// compute per-channel prefix sums from is_token_in_rank at the same time
// and finish first):
//
//	launch + barrier (RDMA ‖ NVL) + count puts + RDMA barrier
//	+ NVL count exchange + barrier (RDMA ‖ NVL) + host sync
//
// where the count puts send (8 + experts/nodes + 1) int32 to each of the
// other nodes (one message per peer, posted by up to 16 warps at once, then
// a quiet that waits for the acknowledgement: a round trip). Within a node
// (intranode.cu notify_dispatch) three NVL barriers frame the count stores.
// cached_notify is the launch and two barriers.
func notifyTimes(cl *topology.Cluster, experts int) (notify, cached sim.Time) {
	c := cl.Config
	nvl := nvlBarrier(c)
	if c.Nodes <= 1 {
		return c.KernelLaunch + 3*nvl + hostSync, c.KernelLaunch + 2*nvl
	}
	rdma := rdmaBarrier(c)
	both := max(rdma, nvl) // thread 32 syncs RDMA while the block syncs NVL
	peers := c.Nodes - 1
	msgBytes := int64(4 * (NumMaxNVLPeers + experts/c.Nodes + 1))
	puts := sim.Time((peers+notifyWarps-1)/notifyWarps)*rdmaPostCost +
		sim.Time(peers)*nicMessageGap +
		sim.TransferTime(int64(peers)*msgBytes, c.GPU.NICBytesPerSec) +
		2*c.IBLatency // the write's trip and its acknowledgement (quiet)
	notify = c.KernelLaunch + both + puts + rdma + nvl + both + hostSync
	cached = c.KernelLaunch + 2*both
	return notify, cached
}

// LayoutTime is an estimate of get_dispatch_layout on layout lay: the
// host's call, the launch, and the kernel. The kernel runs
// ceil(experts/4) + ceil(ranks/8) blocks of 256 threads and every block
// reads all of the rank's top-k ids (tokens × topk × 8 B int64, from L2
// after the first), so it takes the longer of all blocks' reads at the
// GPU's memory rate and one block's read at one SM's copy rate. The
// estimate grows with tokens × topk; at 4096 tokens, top-8 it is about
// 54 µs on an H800, near what DeepEP's tests print.
func LayoutTime(c topology.Config, lay *Layout) sim.Time {
	tokens := 0
	for _, n := range lay.Tokens {
		tokens = max(tokens, n)
	}
	experts := len(lay.ExpertTokens)
	blocks := (experts+layoutExpertsPerBlock-1)/layoutExpertsPerBlock +
		(lay.Ranks+layoutRanksPerBlock-1)/layoutRanksPerBlock
	perBlock := int64(tokens) * int64(lay.TopK) * layoutTopkIdxBytes
	scan := max(sim.TransferTime(int64(blocks)*perBlock, c.GPU.HBMBytesPerSec),
		sim.TransferTime(perBlock, c.GPU.SMCopyBytesPerSec))
	return layoutHostCall + c.KernelLaunch + scan
}
