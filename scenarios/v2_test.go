package scenarios

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moesim/moesim/dispatch"
)

// TestV2PresetsAnalyticalSMs checks the V2 presets leave kernel.num_sms to
// DeepEP V2's analytical count and get the README's SM counts, with the
// path and max-perf flag passed to the kernels.
func TestV2PresetsAnalyticalSMs(t *testing.T) {
	for name, want := range map[string]int{
		"deepep-v2-internode-ep16":      12,
		"deepep-v2-internode-ep32":      6,
		"deepep-v2-intranode-b200-ep8":  24,
		"deepep-v2-internode-b200-ep16": 12,
	} {
		s, err := LoadPreset(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Kernel.NumSMs != want || s.NumSMsSource() != NumSMsAnalytical {
			t.Errorf("%s: num_sms = %d (%s), want %d (analytical)", name, s.Kernel.NumSMs, s.NumSMsSource(), want)
		}
		for _, c := range []dispatch.Config{s.DispatchConfig(), s.CombineConfig()} {
			if c.Mode != dispatch.V2 || c.V2Path != dispatch.V2Hybrid || c.V2MaxPerf || c.NumSMs != want || c.NVLChunk != 0 {
				t.Errorf("%s: kernel config %+v, want v2 hybrid, %d SMs, no chunks", name, c, want)
			}
		}
		if *s.Kernel.V2.PreferOverlap != true {
			t.Errorf("%s: prefer_overlap defaults to false, want DeepEP's true", name)
		}
	}
	// The README's "64 (Max perf)" row: prefer_overlap false.
	s, err := LoadPreset("deepep-v2-intranode-b200-ep8", mustOverride(t, "kernel.v2.prefer_overlap=false"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kernel.NumSMs != 64 || !s.DispatchConfig().V2MaxPerf {
		t.Errorf("prefer_overlap false: num_sms = %d, max perf %v; want 64, true", s.Kernel.NumSMs, s.DispatchConfig().V2MaxPerf)
	}
	// Direct across nodes: DeepEP's direct estimate (18 at 16 ranks).
	s, err = LoadPreset("deepep-v2-internode-ep16", mustOverride(t, "kernel.v2.path=direct"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kernel.NumSMs != 18 || s.DispatchConfig().V2Path != dispatch.V2Direct {
		t.Errorf("direct EP16: num_sms = %d, path %s; want 18, direct", s.Kernel.NumSMs, s.DispatchConfig().V2Path)
	}
	// A count the scenario sets is kept and reported as set.
	s, err = LoadPreset("deepep-v2-internode-ep16", mustOverride(t, "kernel.num_sms=20"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kernel.NumSMs != 20 || s.NumSMsSource() != NumSMsSet {
		t.Errorf("num_sms set: %d (%s), want 20 (set)", s.Kernel.NumSMs, s.NumSMsSource())
	}
	// Setting the analytical count itself reports it as analytical.
	s, err = LoadPreset("deepep-v2-internode-ep16", mustOverride(t, "kernel.num_sms=12"))
	if err != nil || s.NumSMsSource() != NumSMsAnalytical {
		t.Errorf("num_sms set to 12: %s, %v; want analytical", s.NumSMsSource(), err)
	}
	// Other modes have no source and no v2 section.
	s, err = LoadPreset("deepep-internode-ep16")
	if err != nil {
		t.Fatal(err)
	}
	if s.NumSMsSource() != "" || s.Kernel.V2.Path != "" || s.Kernel.V2.PreferOverlap != nil {
		t.Errorf("normal mode: source %q, v2 %+v; want none", s.NumSMsSource(), s.Kernel.V2)
	}
}

func mustOverride(t *testing.T, s string) Override {
	t.Helper()
	o, err := ParseOverride(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestV2FieldsRefused checks the fields that do not apply to v2 (or to
// other modes) are refused by name.
func TestV2FieldsRefused(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"kernel.dispatch.nvl_chunk=6", "kernel.dispatch.nvl_chunk = 6 does not apply to kernel.mode v2"},
		{"kernel.combine.rdma_buffer=128", "kernel.combine.rdma_buffer = 128 does not apply to kernel.mode v2"},
		{"kernel.ll_hook=true", "kernel.ll_hook apply to kernel.mode low-latency"},
		{"kernel.v2.path=ring", `kernel.v2.path = "ring"`},
		{"kernel.num_sms=200", "kernel.num_sms = 200"},
	} {
		_, err := LoadPreset("deepep-v2-internode-ep16", mustOverride(t, c.set))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s: %v, want %q", c.set, err, c.want)
		}
	}
	_, err := LoadPreset("deepep-internode-ep16", mustOverride(t, "kernel.v2.path=direct"))
	if err == nil || !strings.Contains(err.Error(), "kernel.v2 is set but kernel.mode = normal") {
		t.Errorf("kernel.v2 in normal mode: %v, want it refused", err)
	}
}

// TestV2Limits checks a v2 scenario beyond DeepEP V2's envelope is
// refused unless kernel.extrapolate is set, and that V2 accepts scale-up
// domains V1 refuses (64 GPUs, as an NVL72 rack).
func TestV2Limits(t *testing.T) {
	big := "cluster: {preset: gb200-nvl72, nodes: 2, gpus_per_node: 64}\nmodel: {experts: 256}\nworkload: {tokens_per_gpu: 1, routing: node-limited}\nkernel: {mode: v2}\n"
	s, err := Decode(strings.NewReader(big))
	if err != nil {
		t.Fatalf("V2 on 2 × 64 GPUs: %v", err)
	}
	if s.V2Limits() != nil || s.Kernel.NumSMs < 4 {
		t.Errorf("V2 on 2 × 64 GPUs: limits %v, num_sms %d", s.V2Limits(), s.Kernel.NumSMs)
	}
	if s.V1Limits() != nil {
		t.Errorf("V1 limits checked in v2 mode: %v", s.V1Limits())
	}
	over := "cluster: {preset: h100, nodes: 64}\nmodel: {experts: 512}\nworkload: {tokens_per_gpu: 1}\nkernel: {mode: v2%s}\n"
	_, err = Decode(strings.NewReader(strings.Replace(over, "%s", "", 1)))
	var le *dispatch.LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "kNumScaleoutRanks") || !strings.Contains(err.Error(), "kernel.extrapolate: true") {
		t.Fatalf("64 nodes hybrid: %v, want a V2 limit naming kNumScaleoutRanks and kernel.extrapolate", err)
	}
	s, err = Decode(strings.NewReader(strings.Replace(over, "%s", ", extrapolate: true", 1)))
	if err != nil {
		t.Fatalf("64 nodes hybrid, extrapolated: %v", err)
	}
	if !errors.As(s.V2Limits(), &le) {
		t.Errorf("extrapolated scenario: V2Limits = %v, want the limit still reported", s.V2Limits())
	}
	// Direct has no scale-out cap: 64 nodes run within V2's envelope.
	if _, err := Decode(strings.NewReader(strings.Replace(over, "%s", ", v2: {path: direct}", 1))); err != nil {
		t.Errorf("64 nodes direct: %v, want it accepted", err)
	}
}

// TestV2RunReportsV2 checks a V2 run reports the V2 fields: the
// analytical SM count and its source, the path, DeepEP's QPs and the
// epilogue.
func TestV2RunReportsV2(t *testing.T) {
	s, err := LoadPreset("deepep-v2-internode-ep32", mustOverride(t, "workload.tokens_per_gpu=64"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []KernelSummary{res.Dispatch, res.Combine} {
		if k.Mode != "v2" || k.NumSMs != 6 || k.NumSMsSource != NumSMsAnalytical || k.V2Path != "hybrid" || k.QPs != 97 || k.EpilogueUs <= 0 {
			t.Errorf("kernel summary: mode %s, %d SMs (%s), path %s, %d QPs, epilogue %g µs; want v2, 6 (analytical), hybrid, 97, > 0",
				k.Mode, k.NumSMs, k.NumSMsSource, k.V2Path, k.QPs, k.EpilogueUs)
		}
	}
}

// TestV2AnalyticalSMsSaturate: at DeepEP's analytical SM count a V2
// kernel reaches at least 90% of its bandwidth at twice the SMs, dispatch
// and combine, on the README's three settings: the count is where the
// links, not the SMs, bind.
func TestV2AnalyticalSMsSaturate(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size V2 runs")
	}
	for _, preset := range []string{"deepep-v2-internode-ep16", "deepep-v2-internode-ep32", "deepep-v2-intranode-b200-ep8"} {
		base, err := LoadPreset(preset, mustOverride(t, "workload.tokens_per_gpu=4096"))
		if err != nil {
			t.Fatal(err)
		}
		at, err := Run(base, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if at.Dispatch.NumSMsSource != NumSMsAnalytical {
			t.Fatalf("%s: %d SMs from %s, want the analytical count", preset, at.Dispatch.NumSMs, at.Dispatch.NumSMsSource)
		}
		twice, err := LoadPreset(preset, mustOverride(t, "workload.tokens_per_gpu=4096"),
			mustOverride(t, fmt.Sprintf("kernel.num_sms=%d", 2*at.Dispatch.NumSMs)))
		if err != nil {
			t.Fatal(err)
		}
		more, err := Run(twice, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The README's bottleneck column: RDMA across nodes, NVLink in one.
		bw := func(k KernelSummary) float64 {
			if k.V2Path == string(dispatch.V2Hybrid) {
				return k.RDMAGBps
			}
			return k.NVLGBps
		}
		if r := bw(at.Dispatch) / bw(more.Dispatch); r < 0.9 {
			t.Errorf("%s dispatch: %d SMs give %.3g of the bandwidth at %d", preset, at.Dispatch.NumSMs, r, more.Dispatch.NumSMs)
		}
		if r := bw(at.Combine) / bw(more.Combine); r < 0.9 {
			t.Errorf("%s combine: %d SMs give %.3g of the bandwidth at %d", preset, at.Combine.NumSMs, r, more.Combine.NumSMs)
		}
	}
}
