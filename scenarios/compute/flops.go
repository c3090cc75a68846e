package compute

import "github.com/moesim/moesim/scenarios/model"

// FLOP and byte counts of DeepSeek-V3's layer: MLA projections and core
// attention, the router, SwiGLU experts, and the elementwise work around
// them.

// linear is one weight matrix applied to every row: in -> out features.
type linear struct {
	name    string
	in, out int
}

// pass is one of a linear layer's three GEMMs.
type pass int

const (
	forwardPass    pass = iota // Y = X W:   rows x out x in
	dataGradPass               // dX = dY W^T: rows x in x out
	weightGradPass             // dW = X^T dY: in x out x rows
)

// shape is the (m, n, k) of pass p over rows rows; all three do the same
// 2*rows*in*out FLOPs.
func (l linear) shape(p pass, rows int) (m, n, k int) {
	switch p {
	case forwardPass:
		return rows, l.out, l.in
	case dataGradPass:
		return rows, l.in, l.out
	default:
		return l.in, l.out, rows
	}
}

// flopsPerRow is the forward FLOPs of the linear layer for one row.
func (l linear) flopsPerRow() int64 { return 2 * int64(l.in) * int64(l.out) }

// mlaLinears are MLA's projections (DeepSeek-V2 §2.1, V3 §4.2), in the
// training form that expands the latent KV (no weight absorption):
// q_a hidden->q_lora, q_b q_lora->heads*(nope+rope) (or one q projection
// when QLoraRank is 0), kv_a hidden->kv_lora+rope, kv_b
// kv_lora->heads*(nope+v), o heads*v->hidden. HeadDim serves both qk_nope
// and v, as in DeepSeek-V3 (128 each).
func mlaLinears(m model.Model) []linear {
	qOut := m.Heads * (m.HeadDim + m.RopeHeadDim)
	var ls []linear
	if m.QLoraRank > 0 {
		ls = append(ls, linear{"q_a", m.Hidden, m.QLoraRank}, linear{"q_b", m.QLoraRank, qOut})
	} else {
		ls = append(ls, linear{"q", m.Hidden, qOut})
	}
	return append(ls,
		linear{"kv_a", m.Hidden, m.KVLoraRank + m.RopeHeadDim},
		linear{"kv_b", m.KVLoraRank, m.Heads * (m.HeadDim + m.HeadDim)},
		linear{"o", m.Heads * m.HeadDim, m.Hidden},
	)
}

// routerLinear is the MoE gate: hidden -> routed experts' affinities.
func routerLinear(m model.Model) linear { return linear{"router", m.Hidden, m.Experts} }

// expertLinears are one SwiGLU expert: gate and up fused (hidden ->
// 2*intermediate), then down (intermediate -> hidden).
func expertLinears(m model.Model) []linear {
	return []linear{
		{"gate_up", m.Hidden, 2 * m.ExpertIntermediate},
		{"down", m.ExpertIntermediate, m.Hidden},
	}
}

func sumFLOPs(ls []linear) int64 {
	var f int64
	for _, l := range ls {
		f += l.flopsPerRow()
	}
	return f
}

// AttentionProjectionFLOPsPerToken is the forward FLOPs of MLA's linear
// projections for one token: 2 x (hidden*q_lora + q_lora*heads*(128+64) +
// hidden*(kv_lora+64) + kv_lora*heads*(128+128) + heads*128*hidden) for
// DeepSeek-V3, 374,210,560.
func AttentionProjectionFLOPsPerToken(m model.Model) int64 { return sumFLOPs(mlaLinears(m)) }

// AttentionCoreFLOPsPerToken is the forward FLOPs of core attention (scores
// QK^T and values PV) for one token under causal masking over SeqLen
// context: on average a token attends to SeqLen/2 keys, so
// 2*heads*(qk_nope+rope+v)*SeqLen/2 = 2*128*(192+128)*2048 = 167,772,160 for
// DeepSeek-V3.
func AttentionCoreFLOPsPerToken(m model.Model) int64 {
	return 2 * int64(m.Heads) * int64(m.HeadDim+m.RopeHeadDim+m.HeadDim) * int64(m.SeqLen) / 2
}

// RouterFLOPsPerToken is the forward FLOPs of the MoE gate for one token:
// 2*hidden*experts (3,670,016 for DeepSeek-V3).
func RouterFLOPsPerToken(m model.Model) int64 { return routerLinear(m).flopsPerRow() }

// ExpertFLOPsPerToken is the forward FLOPs of one SwiGLU expert for one
// token: 2*(hidden*2*intermediate + intermediate*hidden) = 6*hidden*inter,
// 88,080,384 for DeepSeek-V3.
func ExpertFLOPsPerToken(m model.Model) int64 { return sumFLOPs(expertLinears(m)) }

// MoELayerForwardFLOPsPerToken is the forward FLOPs of one MoE layer per
// token: attention projections, core attention, router, TopK routed experts
// and the shared experts. For DeepSeek-V3 it is 1,338,376,192.
func MoELayerForwardFLOPsPerToken(m model.Model) int64 {
	return AttentionProjectionFLOPsPerToken(m) + AttentionCoreFLOPsPerToken(m) +
		RouterFLOPsPerToken(m) + int64(m.TopK+m.SharedExperts)*ExpertFLOPsPerToken(m)
}

// attnElementwiseBytesPerToken is the forward memory traffic of the
// attention phase's elementwise work per token, reads plus writes in BF16:
// input RMSNorm (2H), q and kv latent RMSNorms (2 q_lora + 2 kv_lora), RoPE
// on q and k (2*(heads*rope+rope)), the residual add after attention (3H),
// the pre-MLP RMSNorm (2H) and the residual add after the MoE output (3H,
// counted here because it precedes the next attention). With FP8 GEMMs each
// GEMM input is cast BF16->FP8 (read 2 bytes, write 1) per element: hidden
// (shared by q_a and kv_a), q_lora, kv_lora and heads*v.
func attnElementwiseBytesPerToken(m model.Model, c Compute) int64 {
	q := int64(m.QLoraRank)
	elems := 2*int64(m.Hidden) + 2*q + 2*int64(m.KVLoraRank) +
		2*int64(m.Heads*m.RopeHeadDim+m.RopeHeadDim) + 3*int64(m.Hidden) + 2*int64(m.Hidden) + 3*int64(m.Hidden)
	b := bytesBF16 * elems
	if c.Precision == PrecisionFP8 {
		b += 3 * (int64(m.Hidden) + q + int64(m.KVLoraRank) + int64(m.Heads*m.HeadDim))
	}
	return b
}

// expertElementwiseBytesPerRow is SwiGLU's memory traffic per expert row:
// read gate and up, write their product, in BF16 (3*intermediate elements).
func expertElementwiseBytesPerRow(m model.Model) int64 {
	return bytesBF16 * 3 * int64(m.ExpertIntermediate)
}
