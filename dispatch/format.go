package dispatch

import "fmt"

// Format is a wire format for token rows: how many bytes the hidden vector
// and its scaling factors take.
type Format struct {
	Name string
	// ElemBits is the size of one hidden element.
	ElemBits int
	// ScaleBlock elements share one scale of ScaleBytes; 0 means no scales.
	ScaleBlock, ScaleBytes int
}

// Formats a scenario may name (model.dispatch_dtype, model.combine_dtype).
var formats = []Format{
	// DeepEP and DeepSeek-V3 §3.3.3: e4m3 with one fp32 scale per 128
	// elements (fp8_factor = (1 + 4/128)/2 in DeepEP's tests).
	{Name: "fp8", ElemBits: 8, ScaleBlock: 128, ScaleBytes: 4},
	{Name: "bf16", ElemBits: 16},
	// Plain FP8 with no scales: the 1 byte per element that back-of-the-
	// envelope figures (the ISCA'25 DeepSeek paper's §2.3.2) count.
	{Name: "e4m3", ElemBits: 8},
	// OCP MX spec: 8-bit E8M0 scale per 32 elements.
	{Name: "mxfp8", ElemBits: 8, ScaleBlock: 32, ScaleBytes: 1},
	// NVIDIA NVFP4: 4-bit E2M1 values, an FP8 E4M3 scale per 16 elements
	// (the per-tensor FP32 scale is negligible and left out).
	{Name: "nvfp4", ElemBits: 4, ScaleBlock: 16, ScaleBytes: 1},
}

// FormatNamed returns the format called name.
func FormatNamed(field, name string) (Format, error) {
	for _, f := range formats {
		if f.Name == name {
			return f, nil
		}
	}
	return Format{}, fmt.Errorf("dispatch: %s = %q, want one of fp8, bf16, e4m3, mxfp8, nvfp4", field, name)
}

// PayloadBytes is the hidden vector plus its scales: what DeepEP's
// benchmarks count per row (7392 B for FP8 at hidden 7168).
func (f Format) PayloadBytes(hidden int) int {
	b := (hidden*f.ElemBits + 7) / 8
	if f.ScaleBlock > 0 {
		b += (hidden + f.ScaleBlock - 1) / f.ScaleBlock * f.ScaleBytes
	}
	return b
}

func align16(n int) int { return (n + 15) &^ 15 }

// Sizes of DeepEP V1's per-token metadata (567632d).
const (
	// sourceMetaBytes is internode.cu's SourceMeta: the source node and an
	// 8-bit mask of target GPUs on the destination node, two int32.
	sourceMetaBytes = 8
	// topkIdxBytes: internode records carry top-k ids as int32
	// (get_num_bytes_per_token counts sizeof(int)); intranode's top-k index
	// buffer holds topk_idx_t, int64 unless DeepEP is built with
	// TOPK_IDX_BITS=32 (configs.cuh).
	topkIdxBytes          = 4
	intranodeTopkIdxBytes = 8
	topkWeightBytes       = 4 // fp32
	srcIdxBytes           = 4 // intranode's int32 source token index
)

// DispatchRecordBytes is one token's record in DeepEP's internode rings,
// as get_num_bytes_per_token (internode.cu) computes it: payload, the 8 B
// SourceMeta, top-k int32 indices and fp32 weights, aligned to 16 B
// (7472 B for FP8, hidden 7168, top-8).
func (f Format) DispatchRecordBytes(hidden, topk int) int {
	return align16(f.PayloadBytes(hidden) + sourceMetaBytes + (topkIdxBytes+topkWeightBytes)*topk)
}

// CombineRecordBytes is one reduced row on internode combine's path, as
// get_num_bytes_per_token(hidden_int4, 0, 0, num_topk) counts it: the
// payload, the 8 B SourceMeta and the top-k fp32 weights, aligned to 16 B
// (14384 B for BF16, hidden 7168, top-8).
func (f Format) CombineRecordBytes(hidden, topk int) int {
	return align16(f.PayloadBytes(hidden) + sourceMetaBytes + topkWeightBytes*topk)
}

// IntranodeDispatchBytes is what intranode dispatch moves per (token,
// target GPU). Its rings are separate arrays, not packed records
// (intranode.cu dispatch: x, src_idx, topk_idx, topk_weights and x_scales
// buffers), so nothing is aligned per token: the payload (hidden and
// scales), the int32 source index, top-k topk_idx_t ids and fp32 weights
// (7492 B for FP8, hidden 7168, top-8).
func (f Format) IntranodeDispatchBytes(hidden, topk int) int {
	return f.PayloadBytes(hidden) + srcIdxBytes + (intranodeTopkIdxBytes+topkWeightBytes)*topk
}

// IntranodeCombineBytes is what intranode combine moves per row: the
// payload, the int32 source index and the top-k fp32 weights
// (intranode.cu combine: x, src_idx and topk_weights buffers; 14372 B for
// BF16, hidden 7168, top-8).
func (f Format) IntranodeCombineBytes(hidden, topk int) int {
	return f.PayloadBytes(hidden) + srcIdxBytes + topkWeightBytes*topk
}

// NormalDispatchBytes is the bytes normal-mode dispatch moves per (token,
// target) row: the packed internode record across nodes, the intranode
// arrays' sum within one.
func (f Format) NormalDispatchBytes(hidden, topk, nodes int) int {
	if nodes > 1 {
		return f.DispatchRecordBytes(hidden, topk)
	}
	return f.IntranodeDispatchBytes(hidden, topk)
}

// NormalCombineBytes is the bytes normal-mode combine moves per row, as
// NormalDispatchBytes for dispatch.
func (f Format) NormalCombineBytes(hidden, topk, nodes int) int {
	if nodes > 1 {
		return f.CombineRecordBytes(hidden, topk)
	}
	return f.IntranodeCombineBytes(hidden, topk)
}
