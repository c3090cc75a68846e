package compute

import (
	"fmt"
	"math"

	"github.com/moesim/moesim/scenarios/model"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// The compute model: how long one transformer layer with an MoE FFN computes
// on one GPU, for one micro-batch, when communication kernels hold some of
// its SMs.
//
// Invariants:
//   - A GEMM is cut into TileM x TileN output tiles; each SM runs one tile at
//     a time at peak/SMs*Efficiency FLOP/s, and the tiles run in waves of as
//     many tiles as there are SMs. Time is waves x per-tile time, so taking
//     SMs away never makes a GEMM faster, and tile counts just past a
//     multiple of the SM count show steps.
//   - Memory-bound elementwise work (norms, RoPE, SwiGLU, residual adds,
//     FP8 casts) costs bytes over HBM bandwidth and does not depend on the SM
//     split: a few dozen SMs already saturate HBM.
//   - Backward: input-gradient and weight-gradient GEMMs each do the forward
//     GEMM's FLOPs (B = 2F for the linear layers), computed on their own
//     transposed shapes so wave quantization applies to each.
//
// Not modelled: recomputation in backward (DeepSeek-V3 recomputes RMSNorm and
// the MLA up-projections, §3.3), the MTP module, embedding and output head,
// kernel launch gaps, and per-shape tile selection (real kernels such as
// DeepGEMM pick a tile per shape; one tile shape overstates GEMMs with few
// tiles, such as the router or kv_a).

// Compute is the scenario file's compute.* section.
type Compute struct {
	// Efficiency is the achieved fraction of dense peak FLOP/s within a
	// full wave of tiles (compute.efficiency), in (0, 1].
	Efficiency float64 `yaml:"efficiency"`
	// SMCarveout (compute.sm_carveout, default true: DeepSeek-V3 §3.2.2
	// gives communication 20 SMs of its own) says whether compute that
	// runs beside communication is launched on the SMs communication
	// leaves. Without it GEMMs are launched over every SM (cuBLAS's
	// default) and a communication kernel launched during one waits for
	// SMs until GEMM blocks retire (scenarios/schedule).
	SMCarveout *bool `yaml:"sm_carveout"`
	// TileM and TileN are the GEMM output tile (compute.tile_m,
	// compute.tile_n) used for wave quantization.
	TileM int `yaml:"tile_m"`
	TileN int `yaml:"tile_n"`
	// Precision of the linear layers' GEMMs (compute.precision): "fp8" or
	// "bf16". Core attention and the router always run in BF16.
	Precision string `yaml:"precision"`
}

// Precisions of the linear layers' GEMMs.
const (
	PrecisionFP8  = "fp8"
	PrecisionBF16 = "bf16"
)

// Defaults and limits of the compute section.
const (
	// DefaultEfficiency: the ISCA'25 DeepSeek-V3 paper (arXiv 2505.09343,
	// Table 4) reports training on 2048 H800 at MFU 43.73% (432 TFLOPS per
	// GPU, a fraction of the 989 TFLOPS BF16 dense peak), averaged over the
	// whole step: pipeline bubble (2.06 s of 19.93 s), optimizer (0.29 s),
	// attention, memory-bound kernels and the 20 SMs lent to communication
	// all count against it; the 1F1B part alone runs at about
	// 43.7% x 19.93/(19.93-2.06-0.29) = 49.5%. Big GEMMs run above that:
	// DeepGEMM reports 1350+ (Feb 2025) and up to 1550 (Apr 2025) FP8
	// TFLOPS on H800 for its best shapes, 0.68-0.78 of the 1979 FP8 peak.
	// 0.6 sits between the step average and the best-shape kernel figure;
	// wave quantization and memory-bound work come on top of it. Caveat:
	// applied to the FP8 peak it gives ~1190 TFLOPS inside GEMMs, so this
	// model computes faster than the step-average 432 TFLOPS implies; it
	// does not claim to reproduce DeepSeek's step time.
	DefaultEfficiency = 0.6
	// DefaultTileM, DefaultTileN: 128 x 256 is the largest output tile a
	// Hopper SM runs at full tensor-core rate with two consumer warpgroups
	// of 64 rows each (wgmma m64n256k32 for FP8), the usual CUTLASS/DeepGEMM
	// choice for large FP8 GEMMs (DeepGEMM's block_n goes up to 256); the
	// wide N amortizes the per-128-K FP8 scale promotion on CUDA cores.
	DefaultTileM = 128
	DefaultTileN = 256
	// MaxTile bounds compute.tile_m and compute.tile_n: larger than any
	// tile a GPU holds in shared memory; it catches typos.
	MaxTile = 1024
	// attnQueryBlock is the number of queries one attention thread block
	// handles: FlashAttention-2/3 use 128-query tiles for head dims 128-256.
	attnQueryBlock = 128
	// attnCoreBackwardFactor: FlashAttention's convention that the backward
	// pass costs 2.5x the forward FLOPs (5 matmuls against 2; Dao,
	// FlashAttention-2, §4).
	attnCoreBackwardFactor = 2.5
	// bytesBF16 is the size of a BF16 element; elementwise work reads and
	// writes activations in BF16.
	bytesBF16 = 2
	// maxLayerRows bounds tokens and expert slots in LayerTimes so time
	// arithmetic cannot overflow; a GPU holds far fewer rows.
	maxLayerRows = 1 << 30
)

// DefaultCompute is the compute section a scenario gets when it says
// nothing: efficiency 0.6, SMs carved out for communication, 128x256 FP8
// tiles.
func DefaultCompute() Compute {
	carve := true
	return Compute{
		Efficiency: DefaultEfficiency,
		SMCarveout: &carve,
		TileM:      DefaultTileM,
		TileN:      DefaultTileN,
		Precision:  PrecisionFP8,
	}
}

// Carveout is compute.sm_carveout, true when unset.
func (c Compute) Carveout() bool { return c.SMCarveout == nil || *c.SMCarveout }

// Validate checks every field; an error names the field, the value and what
// is allowed.
func (c Compute) Validate() error {
	if !(c.Efficiency > 0 && c.Efficiency <= 1) {
		return fmt.Errorf("scenarios: compute.efficiency = %g, want a fraction of peak in (0, 1]", c.Efficiency)
	}
	if c.TileM < 1 || c.TileM > MaxTile {
		return fmt.Errorf("scenarios: compute.tile_m = %d, want 1..%d", c.TileM, MaxTile)
	}
	if c.TileN < 1 || c.TileN > MaxTile {
		return fmt.Errorf("scenarios: compute.tile_n = %d, want 1..%d", c.TileN, MaxTile)
	}
	if c.Precision != PrecisionFP8 && c.Precision != PrecisionBF16 {
		return fmt.Errorf("scenarios: compute.precision = %q, want %q or %q", c.Precision, PrecisionFP8, PrecisionBF16)
	}
	return nil
}

// LayerCompute holds the compute phases of one transformer layer with an
// MoE FFN, for one micro-batch on one GPU.
type LayerCompute struct {
	// AttnFwd is everything before dispatch: MLA (projections, RoPE, core
	// attention), norms, residual adds and the router.
	AttnFwd sim.Time
	// MLPFwd is the MoE MLP: the shared experts on all tokens and the
	// routed experts on the rows this GPU received.
	MLPFwd sim.Time
	// AttnBwdInput and AttnBwdWeight are the attention phase's backward for
	// input (data gradients, core attention backward, elementwise backward)
	// and for weights.
	AttnBwdInput, AttnBwdWeight sim.Time
	// MLPBwdInput and MLPBwdWeight are the MLP phase's backward for input
	// and for weights.
	MLPBwdInput, MLPBwdWeight sim.Time
	// CommSMs are the SMs given to communication kernels; ComputeSMs the
	// rest, which the phases above run on.
	CommSMs, ComputeSMs int
	// Slowdown is forward compute time (AttnFwd+MLPFwd) with CommSMs taken
	// over the same with all SMs: >= 1.
	Slowdown float64
	// Info holds, per phase, what a schedule needs to run it beside
	// communication or alone.
	Info [NumPhases]PhaseInfo
}

// Phase indexes a layer's compute phases in LayerCompute.Info.
type Phase int

// The phases, in LayerCompute's field order.
const (
	PhaseAttnFwd Phase = iota
	PhaseMLPFwd
	PhaseAttnBwdInput
	PhaseAttnBwdWeight
	PhaseMLPBwdInput
	PhaseMLPBwdWeight
	NumPhases
)

// PhaseInfo is one phase on every SM and on the SMs communication leaves.
type PhaseInfo struct {
	// Full is the phase on every SM (nothing beside it); Shared on
	// ComputeSMs (equal to the LayerCompute field).
	Full, Shared sim.Time
	// Memory is the memory-bound part (elementwise work at HBM
	// bandwidth), the same on any number of SMs; the rest is GEMMs.
	Memory sim.Time
	// Waves is the number of GEMM waves on every SM: the points where
	// GEMM blocks retire and a communication kernel can take their SMs.
	Waves int64
}

// MemoryShare is the memory-bound share of the phase's time on every SM,
// in [0, 1]; the rest is math-bound GEMM work.
func (p PhaseInfo) MemoryShare() float64 {
	if p.Full <= 0 {
		return 0
	}
	return min(1, float64(p.Memory)/float64(p.Full))
}

// Phase returns the duration field of phase p on ComputeSMs.
func (l *LayerCompute) Phase(p Phase) *sim.Time {
	return [NumPhases]*sim.Time{&l.AttnFwd, &l.MLPFwd, &l.AttnBwdInput, &l.AttnBwdWeight, &l.MLPBwdInput, &l.MLPBwdWeight}[p]
}

// Forward is AttnFwd + MLPFwd.
func (l LayerCompute) Forward() sim.Time { return l.AttnFwd + l.MLPFwd }

// Backward is the four backward phases' sum.
func (l LayerCompute) Backward() sim.Time {
	return l.AttnBwdInput + l.AttnBwdWeight + l.MLPBwdInput + l.MLPBwdWeight
}

// LayerTimes computes one layer's compute phases for one micro-batch on one
// GPU. tokens is the tokens per GPU per micro-batch (attention and the
// shared experts run on them); recvExpertSlots is the number of (token,
// expert) pairs routed to this GPU's experts, split as evenly as possible
// over its localExperts experts (experts/ranks, plus redundant ones), which
// size the routed-expert GEMMs; commSMs SMs are given to communication and
// the phases' fields are their times on gpu.SMs - commSMs; Info holds them
// on every SM too, with their memory-bound parts and waves, so a schedule
// can charge the communication SMs only while communication runs. No
// interference is applied here: scenarios/schedule applies it where
// communication and compute overlap.
func LayerTimes(gpu topology.GPU, commSMs int, m model.Model, tokens, recvExpertSlots, localExperts int, c Compute) (LayerCompute, error) {
	if err := c.Validate(); err != nil {
		return LayerCompute{}, err
	}
	if err := checkComputeGPU(gpu); err != nil {
		return LayerCompute{}, err
	}
	if err := checkComputeModel(m); err != nil {
		return LayerCompute{}, err
	}
	if commSMs < 0 || commSMs > gpu.SMs-1 {
		return LayerCompute{}, fmt.Errorf("scenarios: communication SMs = %d, want 0..%d (%s has %d SMs and compute keeps at least one)",
			commSMs, gpu.SMs-1, gpu.Name, gpu.SMs)
	}
	if tokens < 0 || tokens > maxLayerRows {
		return LayerCompute{}, fmt.Errorf("scenarios: tokens per GPU = %d, want 0..%d", tokens, maxLayerRows)
	}
	if recvExpertSlots < 0 || recvExpertSlots > maxLayerRows {
		return LayerCompute{}, fmt.Errorf("scenarios: received expert slots = %d, want 0..%d", recvExpertSlots, maxLayerRows)
	}
	if localExperts < 1 || localExperts > maxLayerRows {
		return LayerCompute{}, fmt.Errorf("scenarios: local experts per GPU = %d, want 1..%d", localExperts, maxLayerRows)
	}
	l := layerTimesOn(gpu, gpu.SMs-commSMs, m, tokens, recvExpertSlots, localExperts, c)
	full := l
	if commSMs > 0 {
		full = layerTimesOn(gpu, gpu.SMs, m, tokens, recvExpertSlots, localExperts, c)
	}
	for p := range NumPhases {
		l.Info[p] = PhaseInfo{Full: *full.Phase(p), Shared: *l.Phase(p), Memory: l.Info[p].Memory, Waves: full.Info[p].Waves}
	}
	l.CommSMs, l.ComputeSMs = commSMs, gpu.SMs-commSMs
	l.Slowdown = 1
	if base := full.Forward(); base > 0 {
		l.Slowdown = float64(l.Forward()) / float64(base)
	}
	return l, nil
}

// ScaleTime multiplies t by f >= 1, rounding up; monotone in t.
func ScaleTime(t sim.Time, f float64) sim.Time {
	if f == 1 || t == 0 || t == sim.Forever {
		return t
	}
	v := math.Ceil(float64(float64(t) * f))
	if v >= float64(sim.Forever) {
		return sim.Forever
	}
	return sim.Time(v)
}

// layerTimesOn computes the phases on sms compute SMs, without
// interference, with each phase's memory-bound part and GEMM waves in
// Info. Inputs are validated.
func layerTimesOn(gpu topology.GPU, sms int, m model.Model, tokens, slots, experts int, c Compute) LayerCompute {
	lin := c.linearPeak(gpu)
	bf16 := gpu.BF16FLOPS
	var l LayerCompute
	// ph is the phase the GEMMs being timed belong to; counted adds their
	// waves to it.
	var ph Phase
	counted := func(t sim.Time, w int64) sim.Time {
		l.Info[ph].Waves += w
		return t
	}

	dense := func(rows int, x linear, p pass, peak float64) sim.Time {
		mm, n, k := x.shape(p, rows)
		return counted(gemmWaves(gpu, sms, mm, n, k, c, peak))
	}
	fwd := func(rows int, x linear, peak float64) sim.Time {
		ph = PhaseAttnFwd
		return dense(rows, x, forwardPass, peak)
	}
	dgrad := func(rows int, x linear, peak float64) sim.Time {
		ph = PhaseAttnBwdInput
		return dense(rows, x, dataGradPass, peak)
	}
	wgrad := func(rows int, x linear, peak float64) sim.Time {
		ph = PhaseAttnBwdWeight
		return dense(rows, x, weightGradPass, peak)
	}

	// Attention phase.
	var attnF, attnBI, attnBW sim.Time
	for _, x := range mlaLinears(m) {
		attnF = addSat(attnF, fwd(tokens, x, lin))
		attnBI = addSat(attnBI, dgrad(tokens, x, lin))
		attnBW = addSat(attnBW, wgrad(tokens, x, lin))
	}
	r := routerLinear(m) // BF16: DeepSeek-V3 §3.3.1 keeps gating in higher precision
	attnF = addSat(attnF, fwd(tokens, r, bf16))
	attnBI = addSat(attnBI, dgrad(tokens, r, bf16))
	attnBW = addSat(attnBW, wgrad(tokens, r, bf16))
	// Core attention in BF16 (§3.3.1), tiled by query blocks per head.
	if tokens > 0 {
		tiles := ceilDiv(tokens, attnQueryBlock) * int64(m.Heads)
		perTile := 2 * float64(attnQueryBlock) * float64(m.HeadDim+m.RopeHeadDim+m.HeadDim) * float64(m.SeqLen) / 2
		ph = PhaseAttnFwd
		attnF = addSat(attnF, counted(countWaves([]tileGroup{{tiles, tileTime(perTile, gpu, bf16, c.Efficiency)}}, sms)))
		ph = PhaseAttnBwdInput
		attnBI = addSat(attnBI, counted(countWaves([]tileGroup{{tiles, tileTime(attnCoreBackwardFactor*perTile, gpu, bf16, c.Efficiency)}}, sms)))
	}
	attnMem := MemoryTime(gpu, int64(tokens)*attnElementwiseBytesPerToken(m, c))
	l.AttnFwd = addSat(attnF, attnMem)
	l.AttnBwdInput = addSat(attnBI, mulSat(attnMem, 2)) // backward reads output grad and saved input
	l.AttnBwdWeight = attnBW
	l.Info[PhaseAttnFwd].Memory, l.Info[PhaseAttnBwdInput].Memory = attnMem, mulSat(attnMem, 2)

	// MLP phase: shared experts as dense GEMMs on all tokens, routed experts
	// as one grouped GEMM over the local experts (DeepGEMM's contiguous
	// layout: all experts' tiles share the waves).
	q, rem := slots/experts, slots%experts // rem experts get q+1 rows
	var mlpF, mlpBI, mlpBW sim.Time
	for _, x := range expertLinears(m) {
		for s := 0; s < m.SharedExperts; s++ {
			ph = PhaseMLPFwd
			mlpF = addSat(mlpF, dense(tokens, x, forwardPass, lin))
			ph = PhaseMLPBwdInput
			mlpBI = addSat(mlpBI, dense(tokens, x, dataGradPass, lin))
			ph = PhaseMLPBwdWeight
			mlpBW = addSat(mlpBW, dense(tokens, x, weightGradPass, lin))
		}
		ph = PhaseMLPFwd
		mlpF = addSat(mlpF, counted(groupedTime(gpu, sms, c, lin, x, forwardPass, q, rem, experts)))
		ph = PhaseMLPBwdInput
		mlpBI = addSat(mlpBI, counted(groupedTime(gpu, sms, c, lin, x, dataGradPass, q, rem, experts)))
		ph = PhaseMLPBwdWeight
		mlpBW = addSat(mlpBW, counted(groupedTime(gpu, sms, c, lin, x, weightGradPass, q, rem, experts)))
	}
	rows := int64(slots) + int64(m.SharedExperts)*int64(tokens)
	mlpMem := MemoryTime(gpu, rows*expertElementwiseBytesPerRow(m))
	l.MLPFwd = addSat(mlpF, mlpMem)
	l.MLPBwdInput = addSat(mlpBI, mulSat(mlpMem, 2))
	l.MLPBwdWeight = mlpBW
	l.Info[PhaseMLPFwd].Memory, l.Info[PhaseMLPBwdInput].Memory = mlpMem, mulSat(mlpMem, 2)
	return l
}

// groupedTime is one pass of linear x over a group of experts, rem of them
// with q+1 rows and the rest with q, run as one grouped GEMM whose tiles
// share the waves. In the weight-gradient pass the tiles are fixed (the
// weight's shape) and their length varies with each expert's rows.
func groupedTime(gpu topology.GPU, sms int, c Compute, peak float64, x linear, p pass, q, rem, experts int) (sim.Time, int64) {
	var groups []tileGroup
	for _, g := range [2]struct{ count, rows int }{{rem, q + 1}, {experts - rem, q}} {
		if g.count == 0 || g.rows == 0 {
			continue
		}
		m, n, k := x.shape(p, g.rows)
		tiles := ceilDiv(m, c.TileM) * ceilDiv(n, c.TileN)
		per := tileTime(2*float64(c.TileM)*float64(c.TileN)*float64(k), gpu, peak, c.Efficiency)
		groups = append(groups, tileGroup{int64(g.count) * tiles, per})
	}
	return countWaves(groups, sms)
}

func checkComputeGPU(g topology.GPU) error {
	if g.SMs < 1 || g.SMs > topology.MaxSMs {
		return fmt.Errorf("scenarios: cluster.sms = %d, want 1..%d", g.SMs, topology.MaxSMs)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"cluster.fp8_TFLOPS", g.FP8FLOPS / topology.TFLOPS}, {"cluster.bf16_TFLOPS", g.BF16FLOPS / topology.TFLOPS}, {"cluster.hbm_GBps", g.HBMBytesPerSec / topology.GBps}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("scenarios: %s = %g, want a positive finite number", f.name, f.v)
		}
	}
	return nil
}

// maxModelDim bounds the model dimensions LayerTimes accepts so FLOP counts
// stay far from overflow; real models are below 1<<20.
const maxModelDim = 1 << 20

func checkComputeModel(m model.Model) error {
	for _, f := range []struct {
		name     string
		v, lo    int
		extraMsg string
	}{
		{"model.hidden", m.Hidden, 1, ""},
		{"model.experts", m.Experts, 1, ""},
		{"model.shared_experts", m.SharedExperts, 0, ""},
		{"model.expert_intermediate", m.ExpertIntermediate, 1, ""},
		{"model.heads", m.Heads, 1, ""},
		{"model.head_dim", m.HeadDim, 1, ""},
		{"model.rope_head_dim", m.RopeHeadDim, 0, ""},
		{"model.kv_lora_rank", m.KVLoraRank, 1, ""},
		{"model.q_lora_rank", m.QLoraRank, 0, " (0 = no query compression)"},
		{"model.seq_len", m.SeqLen, 1, ""},
	} {
		if f.v < f.lo || f.v > maxModelDim {
			return fmt.Errorf("scenarios: %s = %d, want %d..%d%s", f.name, f.v, f.lo, maxModelDim, f.extraMsg)
		}
	}
	return nil
}
