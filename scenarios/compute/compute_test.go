package compute

import (
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/moesim/moesim/scenarios/model"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

func presetGPU(t testing.TB, name string) topology.GPU {
	t.Helper()
	cfg, err := topology.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.GPU
}

func TestComputeDefaultIsValid(t *testing.T) {
	c := DefaultCompute()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Efficiency != 0.6 || !c.Carveout() || c.TileM != 128 || c.TileN != 256 || c.Precision != "fp8" {
		t.Errorf("DefaultCompute() = %+v", c)
	}
}

func TestComputeValidateNamesFieldAndValue(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Compute)
		want []string
	}{
		{func(c *Compute) { c.Efficiency = 0 }, []string{"compute.efficiency", "= 0", "(0, 1]"}},
		{func(c *Compute) { c.Efficiency = 1.5 }, []string{"compute.efficiency", "1.5"}},
		{func(c *Compute) { c.Efficiency = math.NaN() }, []string{"compute.efficiency", "NaN"}},
		{func(c *Compute) { c.TileM = 0 }, []string{"compute.tile_m", "= 0", "1..1024"}},
		{func(c *Compute) { c.TileN = 2048 }, []string{"compute.tile_n", "2048", "1..1024"}},
		{func(c *Compute) { c.Precision = "fp16" }, []string{"compute.precision", `"fp16"`, `"fp8"`, `"bf16"`}},
		{func(c *Compute) { c.Precision = "" }, []string{"compute.precision", `""`}},
	} {
		c := DefaultCompute()
		tc.mut(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%+v: no error", c)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not contain %q", c, err, w)
			}
		}
	}
}

func TestGEMMWaveQuantization(t *testing.T) {
	gpu := presetGPU(t, "h800")
	c := DefaultCompute()
	const k = 7168
	sms := 100
	// Per-tile time from the formula, by hand.
	rate := gpu.FP8FLOPS / float64(gpu.SMs) * c.Efficiency
	perTile := sim.Time(math.Ceil(2 * 128 * 256 * k / rate * 1e12))
	full := GEMMTime(gpu, sms, 128*sms, 256, k, c) // exactly sms tiles: one wave
	if full != perTile {
		t.Fatalf("one full wave = %v, want per-tile time %v", full, perTile)
	}
	over := GEMMTime(gpu, sms, 128*sms+1, 256, k, c) // sms+1 tiles: two waves
	if over != 2*full {
		t.Errorf("sms+1 tiles = %v, want twice one wave %v", over, 2*full)
	}
	// A partial tile costs a whole tile; tiles along N count as along M.
	if got := GEMMTime(gpu, sms, 1, 256*sms, k, c); got != full {
		t.Errorf("1 x %d GEMM = %v, want one wave %v", 256*sms, got, full)
	}
	// Taking one SM away from a full wave doubles the time.
	if got := GEMMTime(gpu, sms-1, 128*sms, 256, k, c); got != 2*full {
		t.Errorf("on %d SMs = %v, want %v", sms-1, got, 2*full)
	}
	// BF16 runs at the BF16 peak.
	b := c
	b.Precision = PrecisionBF16
	bf := sim.Time(math.Ceil(2 * 128 * 256 * k / (gpu.BF16FLOPS / float64(gpu.SMs) * c.Efficiency) * 1e12))
	if got := GEMMTime(gpu, sms, 128*sms, 256, k, b); got != bf {
		t.Errorf("bf16 wave = %v, want %v", got, bf)
	}
}

func TestGEMMTimeEdges(t *testing.T) {
	gpu := presetGPU(t, "h800")
	c := DefaultCompute()
	if got := GEMMTime(gpu, 132, 0, 10, 10, c); got != 0 {
		t.Errorf("m=0: %v, want 0", got)
	}
	if got := GEMMTime(gpu, 0, 10, 10, 10, c); got != sim.Forever {
		t.Errorf("0 SMs: %v, want Forever", got)
	}
	bad := c
	bad.Efficiency = 0
	if got := GEMMTime(gpu, 132, 10, 10, 10, bad); got != sim.Forever {
		t.Errorf("efficiency 0: %v, want Forever", got)
	}
}

// Full waves run at exactly peak*efficiency (up to per-tile rounding).
func TestGEMMTimeFullWavesMatchFLOPRate(t *testing.T) {
	gpu := presetGPU(t, "h800")
	c := DefaultCompute()
	m, n, k := 128*132, 256*7, 4096 // 7 full waves
	got := GEMMTime(gpu, gpu.SMs, m, n, k, c).Seconds()
	want := 2 * float64(m) * float64(n) * float64(k) / (gpu.FP8FLOPS * c.Efficiency)
	if math.Abs(got-want) > 7e-12 {
		t.Errorf("GEMMTime = %gs, want %gs", got, want)
	}
}

func TestGEMMTimeFewerSMsNeverFaster(t *testing.T) {
	gpu := presetGPU(t, "h800")
	rapid.Check(t, func(t *rapid.T) {
		c := DefaultCompute()
		c.TileM = rapid.IntRange(1, 256).Draw(t, "tile_m")
		c.TileN = rapid.IntRange(1, 256).Draw(t, "tile_n")
		m := rapid.IntRange(1, 20000).Draw(t, "m")
		n := rapid.IntRange(1, 20000).Draw(t, "n")
		k := rapid.IntRange(1, 20000).Draw(t, "k")
		a := rapid.IntRange(1, gpu.SMs).Draw(t, "sms_a")
		b := rapid.IntRange(a, gpu.SMs).Draw(t, "sms_b")
		ta, tb := GEMMTime(gpu, a, m, n, k, c), GEMMTime(gpu, b, m, n, k, c)
		if ta < tb {
			t.Fatalf("%d SMs: %v, faster than %d SMs: %v", a, ta, b, tb)
		}
	})
}

func TestWaveTimeMixedTiles(t *testing.T) {
	// 3 long tiles and 4 short ones on 4 SMs: wave 1 = 3 long + 1 short
	// (costs long), wave 2 = 3 short (costs short).
	got := waveTime([]tileGroup{{4, 10}, {3, 100}}, 4)
	if got != 110 {
		t.Errorf("waveTime = %v, want 110ps", got)
	}
	if got := waveTime([]tileGroup{{8, 10}}, 4); got != 20 {
		t.Errorf("8 tiles on 4 SMs = %v, want 20ps", got)
	}
}

func TestDeepSeekV3LayerFLOPs(t *testing.T) {
	m := model.DeepSeekV3()
	// MLA projections, by hand from DeepSeek-V3 §4.2:
	// q_a 7168x1536, q_b 1536x(128*192), kv_a 7168x(512+64),
	// kv_b 512x(128*256), o (128*128)x7168.
	proj := int64(2 * (7168*1536 + 1536*24576 + 7168*576 + 512*32768 + 16384*7168))
	if proj != 374_210_560 {
		t.Fatalf("hand computation: %d", proj)
	}
	if got := AttentionProjectionFLOPsPerToken(m); got != proj {
		t.Errorf("projections = %d, want %d", got, proj)
	}
	// Core attention, causal over 4096: 2 * 128 heads * (192+128) * 2048.
	core := int64(2 * 128 * 320 * 2048)
	if got := AttentionCoreFLOPsPerToken(m); got != core || core != 167_772_160 {
		t.Errorf("core = %d, want %d", got, core)
	}
	router := int64(2 * 7168 * 256)
	if got := RouterFLOPsPerToken(m); got != router {
		t.Errorf("router = %d, want %d", got, router)
	}
	// One SwiGLU expert: gate+up 7168x4096, down 2048x7168.
	expert := int64(2 * (7168*4096 + 2048*7168))
	if got := ExpertFLOPsPerToken(m); got != expert || expert != 88_080_384 {
		t.Errorf("expert = %d, want %d", got, expert)
	}
	// 8 routed + 1 shared experts.
	total := proj + core + router + 9*expert
	if got := MoELayerForwardFLOPsPerToken(m); got != total || total != 1_338_376_192 {
		t.Errorf("MoE layer forward = %d, want %d", got, total)
	}
	// Cross-check against the 37B activated parameters: the layer's GEMM
	// FLOPs (all but core attention) are 2 x its activated parameters,
	// about 585M; 58 such layers plus 3 dense ones and the embeddings make
	// roughly 37B.
	if params := (total - core) / 2; params < 570e6 || params > 600e6 {
		t.Errorf("activated parameters per MoE layer = %d, want about 585M", params)
	}
}

func dsv3Times(t testing.TB, gpu topology.GPU, commSMs int, c Compute) LayerCompute {
	t.Helper()
	l, err := LayerTimes(gpu, commSMs, model.DeepSeekV3(), 4096, 4096*8, 4, c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Every phase is at least its FLOPs at peak x efficiency plus its HBM time,
// and wave quantization costs DeepSeek-V3's big GEMMs less than 2x.
func TestLayerTimesAgainstIdeal(t *testing.T) {
	gpu := presetGPU(t, "h800")
	c := DefaultCompute()
	m := model.DeepSeekV3()
	l := dsv3Times(t, gpu, 0, c)
	tok := 4096.0
	lin, bf := gpu.FP8FLOPS*c.Efficiency, gpu.BF16FLOPS*c.Efficiency
	attnGEMM := tok * float64(AttentionProjectionFLOPsPerToken(m)) / lin
	attnBF16 := tok * float64(AttentionCoreFLOPsPerToken(m)+RouterFLOPsPerToken(m)) / bf
	attnMem := MemoryTime(gpu, int64(tok)*attnElementwiseBytesPerToken(m, c)).Seconds()
	mlp := tok * 9 * float64(ExpertFLOPsPerToken(m)) / lin
	mlpMem := MemoryTime(gpu, int64(tok)*9*expertElementwiseBytesPerRow(m)).Seconds()
	for _, tc := range []struct {
		name  string
		got   sim.Time
		ideal float64
	}{
		{"AttnFwd", l.AttnFwd, attnGEMM + attnBF16 + attnMem},
		{"MLPFwd", l.MLPFwd, mlp + mlpMem},
		{"AttnBwdWeight", l.AttnBwdWeight, attnGEMM + tok*float64(RouterFLOPsPerToken(m))/bf},
		{"AttnBwdInput", l.AttnBwdInput, attnGEMM + tok*float64(RouterFLOPsPerToken(m))/bf +
			2.5*tok*float64(AttentionCoreFLOPsPerToken(m))/bf + 2*attnMem},
		{"MLPBwdInput", l.MLPBwdInput, mlp + 2*mlpMem},
		{"MLPBwdWeight", l.MLPBwdWeight, mlp},
	} {
		r := tc.got.Seconds() / tc.ideal
		if r < 1 || r > 2 {
			t.Errorf("%s = %v, ideal %.1fus: ratio %.3f, want in [1, 2]", tc.name, tc.got, tc.ideal*1e6, r)
		}
	}
	// B = 2F for GEMMs, 2.5x for core attention: backward is 2-2.5x forward.
	if r := float64(l.Backward()) / float64(l.Forward()); r < 1.9 || r > 2.6 {
		t.Errorf("backward/forward = %.3f, want about 2", r)
	}
}

func TestLayerTimesMonotoneInCommSMs(t *testing.T) {
	for _, name := range topology.PresetNames() {
		gpu := presetGPU(t, name)
		for _, tileM := range []int{128, 64} {
			c := DefaultCompute()
			c.TileM = tileM
			prev := dsv3Times(t, gpu, 0, c)
			if prev.Slowdown != 1 {
				t.Errorf("%s: Slowdown at 0 comm SMs = %g, want 1", name, prev.Slowdown)
			}
			for s := 1; s <= gpu.SMs-2; s++ {
				l := dsv3Times(t, gpu, s, c)
				if l.Forward() < prev.Forward() || l.Backward() < prev.Backward() {
					t.Fatalf("%s tile_m %d: %d comm SMs: fwd %v bwd %v, faster than %d: fwd %v bwd %v",
						name, tileM, s, l.Forward(), l.Backward(), s-1, prev.Forward(), prev.Backward())
				}
				if l.Slowdown < 1 || l.Slowdown < prev.Slowdown {
					t.Fatalf("%s: %d comm SMs: Slowdown %g (previous %g)", name, s, l.Slowdown, prev.Slowdown)
				}
				if l.CommSMs != s || l.ComputeSMs != gpu.SMs-s {
					t.Fatalf("SM split %d/%d, want %d/%d", l.CommSMs, l.ComputeSMs, s, gpu.SMs-s)
				}
				prev = l
			}
		}
	}
}

func TestLayerTimesMonotoneProperty(t *testing.T) {
	gpu := presetGPU(t, "h800")
	rapid.Check(t, func(t *rapid.T) {
		c := DefaultCompute()
		c.TileM = rapid.SampledFrom([]int{64, 128, 256}).Draw(t, "tile_m")
		c.TileN = rapid.SampledFrom([]int{64, 128, 256}).Draw(t, "tile_n")
		tokens := rapid.IntRange(0, 20000).Draw(t, "tokens")
		slots := rapid.IntRange(0, 100000).Draw(t, "slots")
		experts := rapid.IntRange(1, 16).Draw(t, "experts")
		a := rapid.IntRange(0, gpu.SMs-2).Draw(t, "comm_a")
		b := rapid.IntRange(a, gpu.SMs-2).Draw(t, "comm_b")
		la, err := LayerTimes(gpu, a, model.DeepSeekV3(), tokens, slots, experts, c)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := LayerTimes(gpu, b, model.DeepSeekV3(), tokens, slots, experts, c)
		if err != nil {
			t.Fatal(err)
		}
		if lb.Forward() < la.Forward() || lb.Backward() < la.Backward() {
			t.Fatalf("%d comm SMs fwd %v bwd %v; %d comm SMs fwd %v bwd %v",
				a, la.Forward(), la.Backward(), b, lb.Forward(), lb.Backward())
		}
	})
}

func TestLayerTimesPhaseInfo(t *testing.T) {
	gpu := presetGPU(t, "h800")
	c := DefaultCompute()
	shared := dsv3Times(t, gpu, 20, c)
	full := dsv3Times(t, gpu, 0, c)
	for p := range NumPhases {
		in := shared.Info[p]
		if in.Shared != *shared.Phase(p) || in.Full != *full.Phase(p) {
			t.Errorf("phase %d: Info full %v shared %v, want %v and %v", p, in.Full, in.Shared, *full.Phase(p), *shared.Phase(p))
		}
		if in.Full > in.Shared {
			t.Errorf("phase %d: %v on every SM, slower than %v on 112", p, in.Full, in.Shared)
		}
		if in.Waves < 1 {
			t.Errorf("phase %d: %d GEMM waves, want at least one", p, in.Waves)
		}
		if ms := in.MemoryShare(); ms < 0 || ms >= 1 {
			t.Errorf("phase %d: memory share %g, want in [0, 1)", p, ms)
		}
	}
	// Elementwise work belongs to the forward and input-gradient phases.
	if shared.Info[PhaseAttnFwd].Memory == 0 || shared.Info[PhaseMLPBwdWeight].Memory != 0 {
		t.Errorf("memory parts: attn fwd %v, mlp bwd weight %v", shared.Info[PhaseAttnFwd].Memory, shared.Info[PhaseMLPBwdWeight].Memory)
	}
	// More SMs per wave, fewer waves.
	if a, b := dsv3Times(t, gpu, 60, c).Info[PhaseMLPFwd].Waves, full.Info[PhaseMLPFwd].Waves; a != b {
		t.Errorf("Info.Waves depends on comm SMs (%d vs %d); it counts waves on every SM", a, b)
	}
}

func TestLayerTimesUnevenExpertSplit(t *testing.T) {
	gpu := presetGPU(t, "h800")
	c := DefaultCompute()
	m := model.DeepSeekV3()
	// 4*8192+3 rows over 4 experts lies between 4x8192 and 4x8193.
	lo, _ := LayerTimes(gpu, 0, m, 4096, 4*8192, 4, c)
	mid, err := LayerTimes(gpu, 0, m, 4096, 4*8192+3, 4, c)
	if err != nil {
		t.Fatal(err)
	}
	hi, _ := LayerTimes(gpu, 0, m, 4096, 4*8193, 4, c)
	for _, p := range []struct {
		name        string
		lo, mid, hi sim.Time
	}{
		{"MLPFwd", lo.MLPFwd, mid.MLPFwd, hi.MLPFwd},
		{"MLPBwdInput", lo.MLPBwdInput, mid.MLPBwdInput, hi.MLPBwdInput},
		{"MLPBwdWeight", lo.MLPBwdWeight, mid.MLPBwdWeight, hi.MLPBwdWeight},
	} {
		if p.mid < p.lo || p.mid > p.hi {
			t.Errorf("%s: %v not within [%v, %v]", p.name, p.mid, p.lo, p.hi)
		}
	}
	// No slots: the MLP is the shared expert only.
	none, err := LayerTimes(gpu, 0, m, 4096, 0, 4, c)
	if err != nil || none.MLPFwd <= 0 || none.MLPFwd >= lo.MLPFwd {
		t.Errorf("no routed rows: MLPFwd %v (with rows %v), err %v", none.MLPFwd, lo.MLPFwd, err)
	}
}

func TestLayerTimesErrors(t *testing.T) {
	gpu := presetGPU(t, "h800")
	m := model.DeepSeekV3()
	c := DefaultCompute()
	badC := c
	badC.Efficiency = 2
	badM := m
	badM.Heads = 0
	badG := gpu
	badG.HBMBytesPerSec = 0
	for _, tc := range []struct {
		name                   string
		gpu                    topology.GPU
		comm                   int
		m                      model.Model
		tokens, slots, experts int
		c                      Compute
		want                   string
	}{
		{"comm SMs negative", gpu, -1, m, 1, 1, 1, c, "communication SMs = -1, want 0..131"},
		{"comm SMs all", gpu, 132, m, 1, 1, 1, c, "communication SMs = 132, want 0..131"},
		{"tokens", gpu, 0, m, -1, 1, 1, c, "tokens per GPU = -1"},
		{"slots", gpu, 0, m, 1, -5, 1, c, "received expert slots = -5"},
		{"experts", gpu, 0, m, 1, 1, 0, c, "local experts per GPU = 0"},
		{"compute", gpu, 0, m, 1, 1, 1, badC, "compute.efficiency = 2"},
		{"model", gpu, 0, badM, 1, 1, 1, c, "model.heads = 0"},
		{"gpu", badG, 0, m, 1, 1, 1, c, "cluster.hbm_GBps = 0"},
	} {
		_, err := LayerTimes(tc.gpu, tc.comm, tc.m, tc.tokens, tc.slots, tc.experts, tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

// TestLayerTimesH800WithCommSMs checks the figures the design review asks
// for (H800, DeepSeek-V3, 4096 tokens, balanced routing: 4096*8 slots over 4
// local experts) at the SM splits people try, 0, 20, 24 and 32 SMs for
// communication, against closed forms that do not share the model's wave
// arithmetic: every GEMM needs at least its FLOPs at the compute SMs' share
// of peak x efficiency, and elementwise work its bytes over HBM bandwidth.
// At 4096 tokens the GEMMs fill many waves, so quantization adds under 10%
// (the model gives 2-5%). The forward slowdown lies between 1 and
// SMs/computeSMs (the ideal GEMM slowdown, memory time unchanged) plus that
// margin: 1.14 at 20 SMs, under the 132/112 = 1.18 of the SMs alone.
func TestLayerTimesH800WithCommSMs(t *testing.T) {
	gpu := presetGPU(t, "h800")
	c := DefaultCompute()
	m := model.DeepSeekV3()
	tok := 4096.0
	fwdGEMM := tok * (float64(AttentionProjectionFLOPsPerToken(m)+9*ExpertFLOPsPerToken(m))/(gpu.FP8FLOPS*c.Efficiency) +
		float64(AttentionCoreFLOPsPerToken(m)+RouterFLOPsPerToken(m))/(gpu.BF16FLOPS*c.Efficiency))
	fwdMem := MemoryTime(gpu, int64(tok)*attnElementwiseBytesPerToken(m, c)).Seconds() +
		MemoryTime(gpu, int64(tok)*9*expertElementwiseBytesPerRow(m)).Seconds()
	for _, comm := range []int{0, 20, 24, 32} {
		l := dsv3Times(t, gpu, comm, c)
		if l.CommSMs != comm || l.ComputeSMs != gpu.SMs-comm {
			t.Fatalf("SM split %d/%d, want %d/%d", l.CommSMs, l.ComputeSMs, comm, gpu.SMs-comm)
		}
		share := float64(gpu.SMs) / float64(gpu.SMs-comm)
		ideal := fwdGEMM*share + fwdMem
		if r := l.Forward().Seconds() / ideal; r < 1 || r > 1.1 {
			t.Errorf("%d comm SMs: forward %v, closed-form ideal %.1fus: ratio %.3f, want in [1, 1.1]",
				comm, l.Forward(), ideal*1e6, r)
		}
		if r := float64(l.Backward()) / float64(l.Forward()); r < 1.9 || r > 2.6 {
			t.Errorf("%d comm SMs: backward/forward = %.3f, want 2-2.5 (B = 2F for GEMMs, 2.5F for core attention)", comm, r)
		}
		if l.Slowdown < 1 || l.Slowdown > 1.1*share {
			t.Errorf("%d comm SMs: slowdown %.4f, want in [1, %.3f]", comm, l.Slowdown, 1.1*share)
		}
		if comm == 0 && l.Slowdown != 1 {
			t.Errorf("slowdown with every SM computing = %g, want 1", l.Slowdown)
		}
	}
}
