package dispatch

import (
	"math"
	"math/big"
	"testing"
)

// NVLink nominal rates as nvidia-smi nvlink -s sums them.
const (
	nvlH100 = 18 * 26.5625 // 478.1: 18 NVLink 4 links
	nvlH800 = 8 * 26.5625  // 212.5: 8 links
	nvlB200 = 18 * 50.0    // 900: 18 NVLink 5 links
)

// TestV2NumSMs checks the analytical SM count against DeepEP's formula,
// computed independently (Python, math.comb) for each row: the README's
// V2 table (12, 6, 24, 64 Max perf, 12) and further points.
func TestV2NumSMs(t *testing.T) {
	for _, c := range []struct {
		name        string
		nodes, gpus int
		topk        int
		nvl         float64
		sms         int
		hybrid, max bool
		want        int
	}{
		{"SM90 EP 8x2 hybrid (README 12)", 2, 8, 8, nvlH100, 132, true, false, 12},
		{"SM90 EP 8x4 hybrid (README 6)", 4, 8, 8, nvlH100, 132, true, false, 6},
		{"SM100 EP8 intranode (README 24)", 1, 8, 8, nvlB200, 148, true, false, 24},
		{"SM100 EP8 intranode max perf (README 64)", 1, 8, 8, nvlB200, 148, true, true, 64},
		{"SM100 EP 8x2 hybrid (README 12)", 2, 8, 8, nvlB200, 148, true, false, 12},
		{"SM90 EP8 intranode", 1, 8, 8, nvlH100, 132, true, false, 14},
		{"SM90 EP 8x2 top-6", 2, 8, 6, nvlH100, 132, true, false, 10},
		{"H100 direct 16 ranks", 2, 8, 8, nvlH100, 132, false, false, 18},
		{"H100 direct 32 ranks", 4, 8, 8, nvlH100, 132, false, false, 20},
		// H800's 8 links make NVLink the bottleneck at 8x2: 8, not 12.
		{"H800 EP 8x2 hybrid", 2, 8, 8, nvlH800, 132, true, false, 8},
		{"H800 EP 8x4 hybrid", 4, 8, 8, nvlH800, 132, true, false, 6},
		// EP = 1 has no traffic: every SM.
		{"EP1", 1, 1, 8, nvlH100, 132, true, false, 132},
		// Max perf is capped at the device.
		{"max perf on a 60-SM GPU", 2, 8, 8, nvlH100, 60, true, true, 60},
	} {
		s := V2Shape{Nodes: c.nodes, GPUsPerNode: c.gpus, Experts: 256, TopK: c.topk, RDMAGBps: 50,
			NVLinkNominalGBps: c.nvl, DeviceSMs: c.sms, Hybrid: c.hybrid, MaxPerf: c.max}
		if got := V2NumSMs(s); got != c.want {
			t.Errorf("%s: V2NumSMs = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestV2EstimateTerms checks the traffic model's terms against the
// brief's hand computation (§1.3) for SM90 EP 8x2 and 8x4 and SM100 EP8.
func TestV2EstimateTerms(t *testing.T) {
	for _, c := range []struct {
		nodes                              int
		nvl                                float64
		et, ets, read, write, rdma, nvlink float64
		rdmaBound                          bool
	}{
		{2, nvlH100, 6.5233, 1.9930, 0.4588, 1.3061, 0.1528, 0.875, true},
		{4, nvlH100, 7.2668, 3.6142, 0.6350, 1.2620, 0.3730, 0.875, true},
		{1, nvlB200, 5.2947, 0, 0.1889, 1.0, 0, 0.875, false},
	} {
		s := V2Shape{Nodes: c.nodes, GPUsPerNode: 8, Experts: 256, TopK: 8, RDMAGBps: 50, NVLinkNominalGBps: c.nvl, DeviceSMs: 132, Hybrid: true}
		e, ok := s.estimate()
		if !ok {
			t.Fatalf("%d nodes: no estimate", c.nodes)
		}
		for _, f := range []struct {
			name      string
			got, want float64
		}{{"et", e.et, c.et}, {"ets", e.ets, c.ets}, {"sm_read", e.smRead, c.read}, {"sm_write", e.smWrite, c.write},
			{"rdma", e.rdma, c.rdma}, {"nvlink", e.nvlink, c.nvlink}} {
			if math.Abs(f.got-f.want) > 6e-5 {
				t.Errorf("%d nodes: %s = %.5f, want %.4f", c.nodes, f.name, f.got, f.want)
			}
		}
		if e.rdmaBound != c.rdmaBound {
			t.Errorf("%d nodes: RDMA bound = %v, want %v", c.nodes, e.rdmaBound, c.rdmaBound)
		}
	}
}

// TestV2ExpectedTopKExact checks the product form of the binomial ratio
// against exact big-integer binomials, including shapes whose C(E, k)
// overflows float64's integers.
func TestV2ExpectedTopKExact(t *testing.T) {
	for _, c := range [][3]int{{256, 8, 2}, {256, 8, 16}, {2048, 32, 1024}, {2048, 32, 32}, {64, 8, 64}, {16, 8, 2}, {8, 8, 8}, {288, 6, 36}} {
		e, k, g := c[0], c[1], c[2]
		num := new(big.Int).Binomial(int64(e-e/g), int64(k))
		den := new(big.Int).Binomial(int64(e), int64(k))
		ratio, _ := new(big.Rat).SetFrac(num, den).Float64()
		want := float64(g) * (1 - ratio)
		if got := v2ExpectedTopK(e, k, g); math.Abs(got-want) > 1e-9*want {
			t.Errorf("ET(E=%d, k=%d, g=%d) = %.12g, want %.12g", e, k, g, got, want)
		}
	}
	// Every expert's group hit: k = E/g·(g−1)+1 leaves no way to miss one.
	if got := v2ExpectedTopK(16, 9, 2); got != 2 {
		t.Errorf("ET(16, 9, 2) = %g, want 2", got)
	}
}

// TestV2NumSMsRefuses checks the shapes DeepEP cannot size give 0.
func TestV2NumSMsRefuses(t *testing.T) {
	ok := V2Shape{Nodes: 2, GPUsPerNode: 8, Experts: 256, TopK: 8, RDMAGBps: 50, NVLinkNominalGBps: nvlH100, DeviceSMs: 132, Hybrid: true}
	if V2NumSMs(ok) != 12 {
		t.Fatalf("base shape: %d SMs, want 12", V2NumSMs(ok))
	}
	for name, mut := range map[string]func(*V2Shape){
		"experts not divisible": func(s *V2Shape) { s.Experts = 250 },
		"no RDMA rate":          func(s *V2Shape) { s.RDMAGBps = 0 },
		"no NVLink rate":        func(s *V2Shape) { s.NVLinkNominalGBps = 0 },
		"no SMs":                func(s *V2Shape) { s.DeviceSMs = 0 },
	} {
		s := ok
		mut(&s)
		if got := V2NumSMs(s); got != 0 {
			t.Errorf("%s: V2NumSMs = %d, want 0", name, got)
		}
	}
}

// TestV2NumQPs checks get_theoretical_num_qps: hybrid 16 per SM + 1 up to
// 129 allocated, direct min(SMs, 9) up to 17.
func TestV2NumQPs(t *testing.T) {
	h := V2Shape{Hybrid: true}
	d := V2Shape{}
	for _, c := range []struct {
		s    V2Shape
		sms  int
		want int
	}{
		{h, 12, 129}, // 193 clamped
		{h, 6, 97},
		{h, 4, 65},
		{h, 8, 129},
		{d, 18, 9},
		{d, 4, 4},
	} {
		if got := V2NumQPs(c.s, c.sms); got != c.want {
			t.Errorf("hybrid %v, %d SMs: V2NumQPs = %d, want %d", c.s.Hybrid, c.sms, got, c.want)
		}
	}
	if h.AllocatedQPs() != 129 || d.AllocatedQPs() != 17 {
		t.Errorf("allocated QPs: hybrid %d, direct %d, want 129 and 17", h.AllocatedQPs(), d.AllocatedQPs())
	}
}

// TestV2Domains checks the logical domains: hybrid splits nodes from
// GPUs, direct folds every rank into one scale-up domain.
func TestV2Domains(t *testing.T) {
	h := V2Shape{Nodes: 4, GPUsPerNode: 8, Hybrid: true}
	d := V2Shape{Nodes: 4, GPUsPerNode: 8}
	if h.ScaleOut() != 4 || h.ScaleUp() != 8 || d.ScaleOut() != 1 || d.ScaleUp() != 32 || d.Ranks() != 32 {
		t.Errorf("domains: hybrid %d×%d, direct %d×%d", h.ScaleOut(), h.ScaleUp(), d.ScaleOut(), d.ScaleUp())
	}
}
