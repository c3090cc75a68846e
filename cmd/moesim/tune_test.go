package main

import (
	"encoding/json"
	"strings"
	"testing"
)

var smallTrain = []string{"--preset", "deepseek-v3-train", "--set", "cluster.nodes=2", "--set", "model.max_nodes_per_token=2",
	"--set", "workload.tokens_per_gpu=512", "--sms", "2..24"}

// TestTuneJSONHasTheRange: tune.recommended_sms, tune.range_sms ([lo, hi]
// around it), tune.curve (one point per even SM count) and the flatness;
// and the same bytes twice.
func TestTuneJSONHasTheRange(t *testing.T) {
	code, out, errs := runCLI(append([]string{"tune", "--format", "json"}, smallTrain...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var m struct {
		Tune struct {
			RecommendedSMs *int             `json:"recommended_sms"`
			RangeSMs       []int            `json:"range_sms"`
			Curve          []map[string]any `json:"curve"`
			Flatness       map[string]any   `json:"flatness"`
			Variations     []map[string]any `json:"variations"`
		} `json:"tune"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	tu := m.Tune
	if tu.RecommendedSMs == nil || len(tu.RangeSMs) != 2 || tu.RangeSMs[0] > *tu.RecommendedSMs || tu.RangeSMs[1] < *tu.RecommendedSMs {
		t.Fatalf("recommended %v, range %v: want a range around the recommendation", tu.RecommendedSMs, tu.RangeSMs)
	}
	if len(tu.Curve) != 12 || tu.Curve[0]["num_sms"] != 2.0 || tu.Curve[0]["layer_us"] == nil {
		t.Errorf("curve %v, want 12 points from 2 SMs with layer_us", tu.Curve)
	}
	for _, f := range []string{"sms", "fewer_us", "more_us"} {
		if _, ok := tu.Flatness[f]; !ok {
			t.Errorf("flatness lacks %s: %v", f, tu.Flatness)
		}
	}
	if len(tu.Variations) != 8 || tu.Variations[0]["path"] != "cluster.sm_copy_GBps" {
		t.Errorf("variations %v, want low and high of the 4 uncertain constants", tu.Variations)
	}
	if _, again, _ := runCLI(append([]string{"tune", "--format", "json"}, smallTrain...)...); again != out {
		t.Error("two tunes of one scenario differ")
	}
	code, out, errs = runCLI(append([]string{"tune"}, smallTrain...)...)
	if code != 0 || !strings.Contains(out, "Range: ") || !strings.Contains(out, "Flatness: 4 SMs fewer") {
		t.Errorf("exit %d, table lacks the range or the flatness:\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(append([]string{"tune", "--range=false"}, smallTrain...)...)
	if code != 0 || strings.Contains(out, "Range: ") {
		t.Errorf("--range=false: exit %d, still prints a range:\n%s", code, out)
	}
}

func TestValidateBadFlagsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"validate", "--format", "xml"}, `--format = "xml"`},
		{[]string{"validate", "--sensitivity", "--constants", "sms"}, `"sms"`},
		{[]string{"validate", "--sensitivity", "--constants", "nic_GBps,warp_GBps"}, `"warp_GBps"`},
		{[]string{"validate", "--constants", "nic_GBps"}, "needs --sensitivity"},
	} {
		code, _, errs := runCLI(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}
