package dispatch

import (
	"fmt"
)

// DeepEP V2's hard limits (dd758ca): what its workspace layout, host
// asserts and kernels' static asserts refuse. As with V1 (limits.go), the
// model can run past them; CheckV2Limits says which a configuration
// exceeds, so a run beyond them is refused or reported as an
// extrapolation.

// DeepEP V2's constants.
const (
	// V2MaxRanks is WorkspaceLayout::kNumMaxRanks (common/layout.cuh).
	// The README claims "up to EP2048"; the layout at dd758ca caps 1024.
	V2MaxRanks = 1024
	// v2MaxExperts and v2MaxExpertsPerRank are kNumMaxExperts and
	// kNumMaxExpertsPerRank (common/layout.cuh).
	v2MaxExperts        = 2048
	v2MaxExpertsPerRank = 256
	// v2MaxTopK: the kernels static-assert num_topk <= 32
	// (impls/dispatch.cuh and others).
	v2MaxTopK = 32
	// V2MaxScaleOut and V2MaxScaleUp are the hybrid kernels'
	// kNumScaleoutRanks <= 32 and kNumScaleupRanks <= 64 static asserts
	// (impls/hybrid_dispatch.cuh, hybrid_combine.cuh).
	V2MaxScaleOut = 32
	V2MaxScaleUp  = 64
	// v2NotifyThreads: hybrid dispatch's notify warps read one counter
	// per scale-up peer and local expert, kNumScaleupRanks +
	// kNumExpertsPerRank <= kNumNotifyWarps * 32 (128).
	v2NotifyThreads = 128
	// v2CombineHiddenAlign: combine requires hidden % 256 == 0
	// (impls/combine.cuh, hybrid_combine.cuh, combine_utils.cuh).
	v2CombineHiddenAlign = 256
	// v2TMAAlignBytes is kNumTMAAlignBytes (common/ptx.cuh): TokenLayout
	// asserts the hidden bytes are a multiple of it.
	v2TMAAlignBytes = 32
)

// V2LimitShape is what DeepEP V2's limits depend on.
type V2LimitShape struct {
	Nodes, GPUsPerNode int
	Hidden, TopK       int
	// Experts is num_experts: physical expert slots, redundant replicas
	// included.
	Experts  int
	Dispatch Format
	Combine  Format
	NumSMs   int
	Path     V2Path
}

// CheckV2Limits returns a *LimitError naming every DeepEP V2 limit that
// a v2-mode run of shape s exceeds, or nil.
func CheckV2Limits(s V2LimitShape) error {
	var ls []Limit
	add := func(field, name, format string, a ...any) {
		ls = append(ls, Limit{Field: field, Name: name, Detail: fmt.Sprintf(format, a...)})
	}
	ranks := s.Nodes * s.GPUsPerNode
	// The hybrid kernels run when the logical scale-out domain is above
	// one: path hybrid across nodes. One node always runs direct.
	hybrid := s.Path == V2Hybrid && s.Nodes > 1
	if ranks > V2MaxRanks {
		add("cluster.nodes", "kNumMaxRanks",
			"%d ranks is above kNumMaxRanks = %d (common/layout.cuh at dd758ca; DeepEP's README says up to EP2048, its workspace layout caps 1024)",
			ranks, V2MaxRanks)
	}
	if hybrid {
		if s.Nodes > V2MaxScaleOut {
			add("cluster.nodes", "kNumScaleoutRanks <= 32",
				"cluster.nodes = %d is above the hybrid kernels' %d scale-out ranks (EP_STATIC_ASSERT(kNumScaleoutRanks <= 32), impls/hybrid_dispatch.cuh); kernel.v2.path direct has no such bound",
				s.Nodes, V2MaxScaleOut)
		}
		if s.GPUsPerNode > V2MaxScaleUp {
			add("cluster.gpus_per_node", "kNumScaleupRanks <= 64",
				"cluster.gpus_per_node = %d is above the hybrid kernels' %d scale-up peers (EP_STATIC_ASSERT(kNumScaleupRanks <= 64), impls/hybrid_dispatch.cuh)",
				s.GPUsPerNode, V2MaxScaleUp)
		}
	}
	if s.Experts > v2MaxExperts {
		add("model.experts", "kNumMaxExperts",
			"model.experts = %d (redundant included) is above kNumMaxExperts = %d (common/layout.cuh)", s.Experts, v2MaxExperts)
	}
	if ranks > 0 && s.Experts > 0 {
		if s.Experts%ranks != 0 {
			add("model.experts", "num_experts % num_ranks == 0",
				"model.experts = %d (redundant included) is not a multiple of %d ranks (EP_UNIFIED_ASSERT(num_experts %% num_ranks == 0), common/layout.cuh)",
				s.Experts, ranks)
		}
		perRank := s.Experts / ranks
		if perRank > v2MaxExpertsPerRank {
			add("model.experts", "kNumMaxExpertsPerRank",
				"%d experts per GPU is above kNumMaxExpertsPerRank = %d (common/layout.cuh)", perRank, v2MaxExpertsPerRank)
		}
		if hybrid && s.GPUsPerNode+perRank > v2NotifyThreads {
			add("model.experts", "kNumScaleupRanks + kNumExpertsPerRank <= kNumNotifyWarps * 32",
				"%d scale-up peers + %d experts per GPU is above hybrid dispatch's %d notify threads (impls/hybrid_dispatch.cuh)",
				s.GPUsPerNode, perRank, v2NotifyThreads)
		}
	}
	if s.TopK > v2MaxTopK {
		add("model.topk", "num_topk <= 32",
			"model.topk = %d is above 32 (the V2 kernels static-assert num_topk <= 32)", s.TopK)
	}
	if hybrid && s.NumSMs > v2MaxSMs {
		add("kernel.num_sms", "kNumMaxSMs",
			"kernel.num_sms = %d is above kNumMaxSMs = %d (csrc/elastic/buffer.hpp): the hybrid kernels' channels are sized for it", s.NumSMs, v2MaxSMs)
	}
	if hb := s.Dispatch.hiddenBytes(s.Hidden); hb%v2TMAAlignBytes != 0 {
		add("model.hidden", "kNumTMAAlignBytes",
			"model.hidden = %d gives %d B rows in %s, not a multiple of kNumTMAAlignBytes = %d (TokenLayout, common/layout.cuh)",
			s.Hidden, hb, s.Dispatch.Name, v2TMAAlignBytes)
	}
	if s.Hidden%v2CombineHiddenAlign != 0 {
		add("model.hidden", "hidden % 256 == 0",
			"model.hidden = %d is not a multiple of %d, which V2's combine requires (impls/combine.cuh, impls/hybrid_combine.cuh)",
			s.Hidden, v2CombineHiddenAlign)
	}
	if s.Dispatch.ElemBits != 8 && s.Dispatch.ElemBits != 16 {
		add("model.dispatch_dtype", "dispatch dtype",
			"model.dispatch_dtype = %q: DeepEP V2 dispatches BF16 or FP8 E4M3 rows (csrc/elastic/buffer.hpp asserts kBFloat16 or kFloat8_e4m3fn)", s.Dispatch.Name)
	}
	if s.Combine.Name != "bf16" {
		add("model.combine_dtype", "combine dtype",
			"model.combine_dtype = %q: DeepEP V2's combine takes BF16 only (EP_HOST_ASSERT(x.scalar_type() == torch::kBFloat16), csrc/elastic/buffer.hpp)", s.Combine.Name)
	}
	if len(ls) == 0 {
		return nil
	}
	return &LimitError{Version: "DeepEP V2", Mode: V2, Limits: ls}
}
