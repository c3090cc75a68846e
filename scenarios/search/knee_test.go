package search

import (
	"math"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// TestKneeMovesWithTheBandwidthRatio: the knee sits at the ratio of the
// effective NVLink and IB rates, and moves with it.
func TestKneeMovesWithTheBandwidthRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("two knee sweeps")
	}
	base, err := Knee("deepseek-v3-train", nil)
	if err != nil {
		t.Fatal(err)
	}
	ratio := 160 * 0.90 / (50 * 0.93) // the H800's effective NVLink over IB
	if math.Abs(base-ratio)/ratio > 0.1 {
		t.Errorf("knee %.2f, want within 10%% of the effective bandwidth ratio %.2f", base, ratio)
	}
	// With SMs to spare the knee follows the link ratio. At DeepSeek's
	// 20 SMs a 1.5x NVLink moves it less: the forwarders' warps, one per
	// destination GPU and a record at a time, then bind before NVLink.
	sms32 := scenarios.Override{Path: "kernel.num_sms", Value: "32"}
	base32, err := Knee("deepseek-v3-train", []scenarios.Override{sms32})
	if err != nil {
		t.Fatal(err)
	}
	wide32, err := Knee("deepseek-v3-train", []scenarios.Override{sms32, {Path: "cluster.nvlink_GBps", Value: "240"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := wide32 / base32; math.Abs(r-1.5) > 0.15 {
		t.Errorf("32 SMs: NVLink 160→240 GB/s moved the knee %.2f→%.2f (×%.2f), want ×1.5", base32, wide32, r)
	}
	wide, err := Knee("deepseek-v3-train", []scenarios.Override{{Path: "cluster.nvlink_GBps", Value: "240"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := wide / base; r < 1.1 || r > wide32/base32 {
		t.Errorf("20 SMs: NVLink 160→240 GB/s moved the knee %.2f→%.2f (×%.2f), want more than ×1.1 and no more than with 32 SMs (×%.2f)", base, wide, r, wide32/base32)
	}
	fastNIC, err := Knee("deepseek-v3-train", []scenarios.Override{{Path: "cluster.nic_GBps", Value: "75"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := fastNIC / base; math.Abs(r-1/1.5) > 0.07 {
		t.Errorf("NIC 50→75 GB/s moved the knee %.2f→%.2f (×%.2f), want ×0.67", base, fastNIC, r)
	}
}

// TestCombineHasTheSameKnee: combine moves the same rows back, so it is
// IB-bound below the knee and NVLink-bound above it, like dispatch.
func TestCombineHasTheSameKnee(t *testing.T) {
	if testing.Short() {
		t.Skip("EP64 runs")
	}
	for _, tc := range []struct {
		visit, want string
	}{{"2", "IB"}, {"5", "NVLink"}} {
		s, err := scenarios.LoadPreset("deepseek-v3-train", scenarios.Override{Path: "workload.routing", Value: "balanced"},
			scenarios.Override{Path: "workload.gpus_per_node_visit", Value: tc.visit}, scenarios.Override{Path: "workload.tokens_per_gpu", Value: "1024"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := scenarios.Run(s, scenarios.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Combine.Bottleneck != tc.want || res.Dispatch.Bottleneck != tc.want {
			t.Errorf("%s GPUs per node visit: dispatch %s, combine %s; want both %s",
				tc.visit, res.Dispatch.Bottleneck, res.Combine.Bottleneck, tc.want)
		}
	}
}
