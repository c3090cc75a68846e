package dispatch

import (
	"fmt"
	"slices"
	"strings"
)

// DeepEP V1's hard limits on normal mode (567632d): configurations its
// host asserts, launch switches or device asserts refuse. The model can
// run past them; CheckV1Limits says which a configuration exceeds, so a
// run beyond them is refused or, when asked for, reported as an
// extrapolation.

// DeepEP's constants (csrc/kernels/configs.cuh).
const (
	// NumMaxNVLPeers is NUM_MAX_NVL_PEERS: GPUs per NVLink domain.
	NumMaxNVLPeers = 8
	// NumMaxRDMAPeers is NUM_MAX_RDMA_PEERS: nodes in normal mode.
	NumMaxRDMAPeers = 20
	// numMaxLocalExperts is NUM_MAX_LOCAL_EXPERTS: experts per rank.
	numMaxLocalExperts = 1024
	// maxTopK: every normal kernel has EP_DEVICE_ASSERT(num_topk <= 32).
	maxTopK = 32
	// Notify's block sizes bound the experts it sums per thread:
	// intranode notify_dispatch (kNumThreads = 128) asserts
	// num_experts / num_ranks <= 128, internode (kNumThreads = 512)
	// num_experts / num_nodes <= 512.
	intranodeNotifyThreads = 128
	internodeNotifyThreads = 512
	// TMA staging per warp: internode dispatch (kNumTMABytesPerWarp =
	// 16384) and combine's NVL senders (kNumTMABytesPerSenderWarp = 16384)
	// need a record plus an 8 B mbarrier to fit; intranode dispatch
	// (kNumTMABytesPerWarp = 8192) half the hidden bytes plus 8 B.
	internodeTMABytes = 16384
	intranodeTMABytes = 8192
	// combineForwarderWarps is internode combine's
	// kNumCombineForwarderWarps.
	combineForwarderWarps = 24
)

// intranodeRanks are SWITCH_RANKS's cases (launch.cuh): intranode kernels
// exist for these rank counts only. internodeNodes are SWITCH_RDMA_RANKS's
// (num_ranks / NUM_MAX_NVL_PEERS).
var (
	intranodeRanks = []int{2, 4, 8}
	internodeNodes = []int{2, 3, 4, 6, 8, 12, 16, 18, 20}
)

// V1Shape is what DeepEP V1's normal-mode limits depend on.
type V1Shape struct {
	Nodes, GPUsPerNode int
	Hidden, TopK       int
	// Experts is DeepEP's num_experts: physical expert slots, redundant
	// replicas included.
	Experts     int
	Dispatch    Format
	Combine     Format
	DispatchCfg Config
	CombineCfg  Config
}

// Limit is one DeepEP limit a configuration exceeds.
type Limit struct {
	// Field is the scenario field path that exceeds it.
	Field string
	// Name is DeepEP's constant or check, as its source spells it.
	Name string
	// Detail says the value, the bound and where DeepEP enforces it.
	Detail string
}

// LimitError lists every limit of one DeepEP version's kernels that a
// configuration exceeds, in a fixed order (CheckV1Limits, CheckV2Limits).
type LimitError struct {
	// Version is the kernels' name ("DeepEP V1") and Mode the kernel.mode
	// that runs them, for the message.
	Version string
	Mode    Mode
	Limits  []Limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("dispatch: %s cannot run this configuration in kernel.mode %s (set kernel.extrapolate: true to simulate it anyway): ",
		e.Version, e.Mode) + e.Reason()
}

// Reason is the violated limits as one line.
func (e *LimitError) Reason() string {
	msgs := make([]string, len(e.Limits))
	for i, l := range e.Limits {
		msgs[i] = l.Detail
	}
	return strings.Join(msgs, "; ")
}

// hiddenBytes is x's row in bytes: the hidden vector without its scales.
func (f Format) hiddenBytes(hidden int) int { return (hidden*f.ElemBits + 7) / 8 }

// CheckV1Limits returns a *LimitError naming every DeepEP V1 limit that
// a normal-mode run of shape s exceeds, or nil.
func CheckV1Limits(s V1Shape) error {
	var ls []Limit
	add := func(field, name, format string, a ...any) {
		ls = append(ls, Limit{Field: field, Name: name, Detail: fmt.Sprintf(format, a...)})
	}
	ranks := s.Nodes * s.GPUsPerNode
	internode := s.Nodes > 1
	switch {
	case s.GPUsPerNode > NumMaxNVLPeers:
		add("cluster.gpus_per_node", "NUM_MAX_NVL_PEERS",
			"cluster.gpus_per_node = %d is above NUM_MAX_NVL_PEERS = %d (configs.cuh): DeepEP V1's NVLink domain has at most 8 GPUs",
			s.GPUsPerNode, NumMaxNVLPeers)
	case internode && s.GPUsPerNode != NumMaxNVLPeers:
		add("cluster.gpus_per_node", "NUM_MAX_NVL_PEERS",
			"cluster.gpus_per_node = %d across nodes: internode kernels need exactly NUM_MAX_NVL_PEERS = %d GPUs per node (rank = node × 8 + local; deep_ep.cpp asserts num_ranks %% 8 == 0)",
			s.GPUsPerNode, NumMaxNVLPeers)
	case !internode && !slices.Contains(intranodeRanks, ranks):
		add("cluster.gpus_per_node", "SWITCH_RANKS",
			"%d ranks in one node: intranode kernels are built for 2, 4 or 8 ranks only (SWITCH_RANKS, launch.cuh)", ranks)
	}
	switch {
	case s.Nodes > NumMaxRDMAPeers:
		add("cluster.nodes", "NUM_MAX_RDMA_PEERS",
			"cluster.nodes = %d is above NUM_MAX_RDMA_PEERS = %d (configs.cuh)", s.Nodes, NumMaxRDMAPeers)
	case internode && !slices.Contains(internodeNodes, s.Nodes):
		add("cluster.nodes", "SWITCH_RDMA_RANKS",
			"cluster.nodes = %d: internode kernels are built for 2, 3, 4, 6, 8, 12, 16, 18 or 20 nodes only (SWITCH_RDMA_RANKS, launch.cuh)", s.Nodes)
	}
	if row, exact := DefaultRow(ranks); !exact {
		add("cluster.nodes", "get_dispatch_config",
			"%d ranks: DeepEP's config table (Buffer.get_dispatch_config/get_combine_config, deep_ep/buffer.py) has no row for it; chunk sizes left unset take its %d-rank row",
			ranks, row)
	}
	if s.TopK > maxTopK {
		add("model.topk", "num_topk <= 32",
			"model.topk = %d is above 32 (EP_DEVICE_ASSERT(num_topk <= 32) in the normal kernels)", s.TopK)
	}
	if ranks > 0 && s.Experts > 0 {
		perRank := s.Experts / ranks
		switch {
		case perRank > numMaxLocalExperts:
			add("model.experts", "NUM_MAX_LOCAL_EXPERTS",
				"%d experts per GPU is above NUM_MAX_LOCAL_EXPERTS = %d (configs.cuh)", perRank, numMaxLocalExperts)
		case !internode && perRank > intranodeNotifyThreads:
			add("model.experts", "kNumThreads (intranode notify_dispatch)",
				"%d experts per GPU is above 128: intranode notify_dispatch (kNumThreads = 128) asserts num_experts / num_ranks <= 128", perRank)
		case internode && s.Experts/s.Nodes > internodeNotifyThreads:
			add("model.experts", "kNumThreads (internode notify_dispatch)",
				"%d experts per node is above 512: internode notify_dispatch (kNumThreads = 512) asserts num_rdma_experts <= num_threads", s.Experts/s.Nodes)
		}
	}
	hb := s.Dispatch.hiddenBytes(s.Hidden)
	if hb%16 != 0 {
		add("model.hidden", "sizeof(int4)",
			"model.hidden = %d gives %d B rows in %s, not a multiple of 16 (deep_ep.cpp asserts x.size(1) * x.element_size() %% sizeof(int4) == 0)",
			s.Hidden, hb, s.Dispatch.Name)
	}
	if internode {
		if rec := s.Dispatch.DispatchRecordBytes(s.Hidden, s.TopK); rec+8 > internodeTMABytes {
			add("model.hidden", "kNumTMABytesPerWarp",
				"a %d B dispatch record does not fit internode dispatch's TMA buffer: get_num_bytes_per_token + 8 <= kNumTMABytesPerWarp = %d",
				rec, internodeTMABytes)
		}
		if rec := s.Combine.CombineRecordBytes(s.Hidden, s.TopK); rec+8 > internodeTMABytes {
			add("model.hidden", "kNumTMABytesPerSenderWarp",
				"a %d B combine record does not fit internode combine's TMA buffer: get_num_bytes_per_token + 8 <= kNumTMABytesPerSenderWarp = %d",
				rec, internodeTMABytes)
		}
		if cb := s.Combine.hiddenBytes(s.Hidden); cb%512 != 0 {
			add("model.hidden", "hidden_int4 % 32",
				"model.hidden = %d: internode combine's TMA forwarders assert hidden_int4 %% 32 == 0 (hidden bytes a multiple of 512, here %d)",
				s.Hidden, cb)
		}
	} else if hb%32 != 0 || hb/2+8 > intranodeTMABytes {
		add("model.hidden", "kNumTMABytesPerWarp",
			"model.hidden = %d (%d B rows): intranode dispatch asserts hidden_int4 %% 2 == 0 and half the row + 8 <= kNumTMABytesPerWarp = %d",
			s.Hidden, hb, intranodeTMABytes)
	}
	if s.Combine.Name != "bf16" {
		add("model.combine_dtype", "CUDA_R_16BF",
			"model.combine_dtype = %q: DeepEP V1's normal combine is BF16 only (EP_HOST_ASSERT(type == CUDA_R_16BF), SWITCH_TYPES)", s.Combine.Name)
	}
	if internode {
		checkCombineConfig(s, add)
	}
	if len(ls) == 0 {
		return nil
	}
	return &LimitError{Version: "DeepEP V1", Mode: Normal, Limits: ls}
}

// checkCombineConfig adds internode combine's host asserts on the chunk
// sizes (internode.cu combine): the NVL ring splits into one partition per
// node, each larger than both chunks and holding a chunk beside the
// forwarder warps' slots, and an RDMA chunk at least as large as a
// forwarder's warp group.
func checkCombineConfig(s V1Shape, add func(field, name, format string, a ...any)) {
	c := s.CombineCfg
	n := s.Nodes
	warps := max(combineForwarderWarps/n, 1)
	const name = "internode combine host asserts"
	if c.NVLBuffer%n != 0 {
		add("kernel.combine.nvl_buffer", name,
			"kernel.combine.nvl_buffer = %d is not a multiple of %d nodes (num_max_nvl_chunked_recv_tokens %% num_rdma_ranks == 0)", c.NVLBuffer, n)
	}
	part := c.NVLBuffer / n
	if part <= max(c.RDMAChunk, c.NVLChunk) || part-warps < c.NVLChunk {
		add("kernel.combine.nvl_buffer", name,
			"kernel.combine.nvl_buffer = %d gives %d slots per node, want more than rdma_chunk (%d) and nvl_chunk (%d) and at least nvl_chunk + %d (the forwarder's warps)",
			c.NVLBuffer, part, c.RDMAChunk, c.NVLChunk, warps)
	}
	if c.RDMAChunk < warps {
		add("kernel.combine.rdma_chunk", name,
			"kernel.combine.rdma_chunk = %d is below the %d warps per forwarder on %d nodes (num_max_rdma_chunked_send_tokens >= num_warps_per_forwarder)",
			c.RDMAChunk, warps, n)
	}
}

// CombineNVLBufferFor is the smallest internode combine NVL ring of at
// least buf slots that internode combine's host asserts accept on nodes
// nodes with cfg's chunks: a multiple of nodes whose per-node partitions
// exceed both chunks and hold an NVL chunk beside the forwarder's warps
// (checkCombineConfig). DeepEP's config table sizes the ring for at most
// 20 nodes (720 slots at 160 ranks, 2 per node on 256); a run extrapolated
// past it takes this size when kernel.combine.nvl_buffer is left unset.
func CombineNVLBufferFor(buf int, cfg Config, nodes int) int {
	if nodes <= 1 {
		return buf
	}
	warps := max(combineForwarderWarps/nodes, 1)
	part := max((buf+nodes-1)/nodes, cfg.RDMAChunk+1, cfg.NVLChunk+1, cfg.NVLChunk+warps)
	return part * nodes
}
