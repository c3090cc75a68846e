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

// DispatchRecordBytes is one token's record in DeepEP's internode rings:
// payload, the 8 B SourceMeta, top-k int32 indices and fp32 weights,
// aligned to 16 B (get_num_bytes_per_token: 7472 B for FP8, hidden 7168,
// top-8).
func (f Format) DispatchRecordBytes(hidden, topk int) int {
	return align16(f.PayloadBytes(hidden) + 8 + 8*topk)
}

// CombineRecordBytes is one reduced row on combine's path: the payload
// and the top-k fp32 weights, aligned to 16 B.
func (f Format) CombineRecordBytes(hidden, topk int) int {
	return align16(f.PayloadBytes(hidden) + 4*topk)
}
