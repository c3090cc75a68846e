package scenarios

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// runPreset runs a preset with overrides, with the conservation checks on.
func runPreset(t *testing.T, name string, sets ...string) *Result {
	t.Helper()
	var ov []Override
	for _, s := range sets {
		o, err := ParseOverride(s)
		if err != nil {
			t.Fatal(err)
		}
		ov = append(ov, o)
	}
	s, err := LoadPreset(name, ov...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, RunOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// In serial nothing overlaps, so compute keeps every SM: its time does not
// grow with the communication kernels' SM count (it once grew from 6384
// to 8302 µs as kernel.num_sms went from 8 to 40).
func TestSerialComputeDoesNotGrowWithNumSMs(t *testing.T) {
	var first float64
	for i, sms := range []string{"8", "20", "40"} {
		res := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=512", "schedule.kind=serial", "kernel.num_sms="+sms)
		if i == 0 {
			first = res.Overlap.ComputeUs
		}
		if res.Overlap.ComputeUs != first || res.Overlap.ComputeSlowdown != 1 {
			t.Errorf("kernel.num_sms=%s: serial compute %g µs (slowdown %g), want %g as with 8 SMs",
				sms, res.Overlap.ComputeUs, res.Overlap.ComputeSlowdown, first)
		}
	}
}

// One NIC at a third of its speed holds the all-to-all back: it ends no earlier than
// the straggler needs to move its bytes at its own rate, and later than
// without it.
func TestStragglerNICSlowsAllToAll(t *testing.T) {
	base := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=1024")
	slow := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=1024", "cluster.stragglers=[{nic: 3, factor: 3}]")
	launch := base.Scenario.Cluster.KernelLaunchUs
	for _, k := range []struct {
		name       string
		base, slow KernelSummary
	}{{"dispatch", base.Dispatch, slow.Dispatch}, {"combine", base.Combine, slow.Combine}} {
		// The straggler's NIC busy time: its utilization over the span.
		spanBase := k.base.TimeUs - launch
		busy := max(k.base.PortUtil.IBOut[3], k.base.PortUtil.IBIn[3]) * spanBase
		if want := launch + 3*busy; k.slow.TimeUs < want {
			t.Errorf("%s with NIC 3 at a third of its speed: %.1f µs, want at least %.1f (launch + three times its NIC's %.1f µs of work)",
				k.name, k.slow.TimeUs, want, busy)
		}
		if k.slow.TimeUs <= k.base.TimeUs {
			t.Errorf("%s: %.1f µs with a straggler, not slower than %.1f without", k.name, k.slow.TimeUs, k.base.TimeUs)
		}
		if finish := maxOf(k.slow.RankFinishUs); k.slow.TimeUs < launch+finish {
			t.Errorf("%s ends at %.1f µs before its last rank's %.1f", k.name, k.slow.TimeUs, launch+finish)
		}
	}
	if slow.Overlap.LayerUs <= base.Overlap.LayerUs {
		t.Errorf("layer %.1f µs with a straggler NIC, not slower than %.1f", slow.Overlap.LayerUs, base.Overlap.LayerUs)
	}
}

// A GPU at half speed slows its SMs' copies (the all-to-all) and, since a
// synchronous layer computes at its slowest GPU's pace, the layer's
// compute twice over.
func TestStragglerGPUSlowsLayer(t *testing.T) {
	base := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=1024")
	slow := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=1024", "cluster.stragglers=[{gpu: 5, factor: 2}]")
	if slow.Dispatch.TimeUs <= base.Dispatch.TimeUs || slow.Combine.TimeUs <= base.Combine.TimeUs {
		t.Errorf("GPU straggler: dispatch %.1f combine %.1f µs, want slower than %.1f and %.1f",
			slow.Dispatch.TimeUs, slow.Combine.TimeUs, base.Dispatch.TimeUs, base.Combine.TimeUs)
	}
	if r := slow.Compute.AttnFwdUs / base.Compute.AttnFwdUs; r < 1.999 || r > 2.001 {
		t.Errorf("attention at half speed took %.4fx, want 2x", r)
	}
	if d := slow.Overlap.LayerUs - base.Overlap.LayerUs; d < base.Overlap.ComputeUs {
		t.Errorf("layer grew %.1f µs, want at least the compute's %.1f µs again", d, base.Overlap.ComputeUs)
	}
}

// Skewed starts widen the spread of the ranks' kernel times (each rank's
// finish less its own start, what a per-rank profile shows) by about the
// spread of the starts: early ranks wait for the late ones' data.
func TestStartSkewWidensRankSpread(t *testing.T) {
	base := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=1024")
	skew := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=1024", "workload.start_skew_us=300")
	for _, k := range []struct {
		name       string
		base, skew KernelSummary
	}{{"dispatch", base.Dispatch, skew.Dispatch}, {"combine", base.Combine, skew.Combine}} {
		if len(k.skew.RankStartUs) != len(k.skew.RankFinishUs) || k.base.RankStartUs != nil {
			t.Fatalf("%s: rank starts %v with skew, %v without", k.name, k.skew.RankStartUs, k.base.RankStartUs)
		}
		starts := spread(k.skew.RankStartUs)
		if starts < 200 || starts > 300 {
			t.Errorf("%s: starts spread over %.1f µs, want most of the 300 µs skew", k.name, starts)
		}
		dur := make([]float64, len(k.skew.RankFinishUs))
		for i, f := range k.skew.RankFinishUs {
			dur[i] = f - k.skew.RankStartUs[i]
		}
		widened := spread(dur) - spread(k.base.RankFinishUs)
		if widened < 0.7*starts || widened > 1.3*starts {
			t.Errorf("%s: per-rank kernel time spread widened by %.1f µs, want about the %.1f µs of start spread",
				k.name, widened, starts)
		}
		if k.skew.TimeUs <= k.base.TimeUs {
			t.Errorf("%s: %.1f µs with skew, not longer than %.1f", k.name, k.skew.TimeUs, k.base.TimeUs)
		}
	}
	// The draw is seeded: the same scenario gives the same starts.
	again := runPreset(t, "deepep-internode-ep16", "workload.tokens_per_gpu=1024", "workload.start_skew_us=300")
	if spread(again.Dispatch.RankStartUs) != spread(skew.Dispatch.RankStartUs) || again.Dispatch.TimeUs != skew.Dispatch.TimeUs {
		t.Error("start skew is not reproducible")
	}
}

// On deepseek-v3-train (DualPipe), communication and compute overlap, so
// both slow each other (the preset's golden result, at its default seed).
func TestTrainOverlapSlowdowns(t *testing.T) {
	data, err := os.ReadFile("testdata/golden/deepseek-v3-train.json")
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	o := res.Overlap
	if !(o.CommSlowdown > 1 && o.ComputeSlowdown > 1) || !o.SMCarveout {
		t.Errorf("deepseek-v3-train: comm_slowdown %g, compute_slowdown %g, sm_carveout %v; want both > 1 with the carve-out",
			o.CommSlowdown, o.ComputeSlowdown, o.SMCarveout)
	}
}

func TestStragglerAndSkewErrors(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"cluster.stragglers=[{gpu: 16, factor: 2}]", "cluster.stragglers[0].gpu = 16, want a GPU rank in 0..15"},
		{"cluster.stragglers=[{nic: 1, factor: 0.5}]", "cluster.stragglers[0].factor = 0.5, want a slowdown in 1..100"},
		{"cluster.stragglers=[{gpu: 1, nic: 1, factor: 2}]", "give one of them"},
		{"cluster.stragglers=[{factor: 2}]", "names neither gpu nor nic"},
		{"cluster.stragglers=[{cpu: 2, factor: 2}]", "cpu"},
		{"workload.start_skew_us=-1", "workload.start_skew_us = -1, want 0..10000"},
		{"cluster.gemm_clock_drop=0.95", "cluster.gemm_clock_drop = 0.95, want 0..0.9"},
	} {
		o, _ := ParseOverride(tc.set)
		_, err := LoadPreset("deepep-internode-ep16", o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: error %v, want %q", tc.set, err, tc.want)
		}
	}
	o, _ := ParseOverride("workload.start_skew_us=10")
	k, _ := ParseOverride("kernel.mode=alltoall")
	if _, err := LoadPreset("deepep-internode-ep16", o, k); err == nil || !strings.Contains(err.Error(), "needs kernel.mode = normal") {
		t.Errorf("skew with the all-to-all kernel: %v", err)
	}
}

func spread(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return hi - lo
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
