package scenarios

import (
	"math"
	"strings"
	"testing"
)

// TestValidationCases is issue 8's contract: every April 2025 DeepEP V1
// normal-kernel row within ±10% with a median error of at most 5%, the knee
// within ±10% of the bandwidth ratio, the ISCA arithmetic within 1%, and the
// February rows listed as not modelled with a reason.
func TestValidationCases(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size DeepEP runs")
	}
	rs := Validate(ValidationCases())
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.Kind] = true
		switch {
		case r.Kind == "not-modelled":
			if r.Predicted != nil || r.Pass != nil || r.Reason == "" || !strings.Contains(r.Note, r.Reason) {
				t.Errorf("%s: want predicted and pass null and the reason, got %+v", r.ID, r)
			}
		case r.Pass == nil || !*r.Pass:
			t.Errorf("%s: published %g, predicted %v (%s)", r.ID, r.Published, deref(r.Predicted), r.Note)
		}
		if strings.HasPrefix(r.ID, "deepep_readme_2025_04") && (r.ErrorPct == nil || math.Abs(*r.ErrorPct) > 10) {
			t.Errorf("%s: error %v%%, want within ±10%%", r.ID, deref(r.ErrorPct))
		}
		if strings.HasPrefix(r.ID, "isca_") && (r.ErrorPct == nil || math.Abs(*r.ErrorPct) > 1) {
			t.Errorf("%s: error %v%%, want within 1%%", r.ID, deref(r.ErrorPct))
		}
	}
	if m := MedianDeepEPError(rs); m > 5 {
		t.Errorf("median DeepEP error %.1f%%, want at most 5%%", m)
	}
	for _, k := range []string{"deepep", "deepep-ll", "knee", "max-experts", "saturate", "isca-comm", "isca-tpot", "not-modelled"} {
		if !seen[k] {
			t.Errorf("no case of kind %s", k)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

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
	ratio := 160 * 0.87 / (50 * 0.91)
	if math.Abs(base-ratio)/ratio > 0.1 {
		t.Errorf("knee %.2f, want within 10%% of the effective bandwidth ratio %.2f", base, ratio)
	}
	wide, err := Knee("deepseek-v3-train", []Override{{"cluster.nvlink_GBps", "240"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := wide / base; math.Abs(r-1.5) > 0.15 {
		t.Errorf("NVLink 160→240 GB/s moved the knee %.2f→%.2f (×%.2f), want ×1.5", base, wide, r)
	}
	fastNIC, err := Knee("deepseek-v3-train", []Override{{"cluster.nic_GBps", "75"}})
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
		s, err := LoadPreset("deepseek-v3-train", Override{"workload.routing", "balanced"},
			Override{"workload.gpus_per_node_visit", tc.visit}, Override{"workload.tokens_per_gpu", "1024"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(s, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Combine.Bottleneck != tc.want || res.Dispatch.Bottleneck != tc.want {
			t.Errorf("%s GPUs per node visit: dispatch %s, combine %s; want both %s",
				tc.visit, res.Dispatch.Bottleneck, res.Combine.Bottleneck, tc.want)
		}
	}
}
