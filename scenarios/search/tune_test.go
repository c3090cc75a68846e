package search

import (
	"strconv"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// TestSMSplitIsUShaped is issue 5's contract on the DeepSeek-V3 training
// scenario: too few SMs expose communication, too many slow the GEMMs, so
// layer time against communication SMs has its minimum inside the range.
func TestSMSplitIsUShaped(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size EP64 runs")
	}
	s, err := scenarios.LoadPreset("deepseek-v3-train")
	if err != nil {
		t.Fatal(err)
	}
	var pts []TunePoint
	for _, sms := range []int{2, 6, 8, 12, 20, 32, 48} {
		p, err := tunePoint(s, sms, scenarios.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, p)
	}
	best, err := Recommend(pts, ObjectiveLayer)
	if err != nil {
		t.Fatal(err)
	}
	first, last := pts[0], pts[len(pts)-1]
	if best.NumSMs == first.NumSMs || best.NumSMs == last.NumSMs {
		t.Fatalf("minimum at %d SMs, an end of the range: %+v", best.NumSMs, pts)
	}
	if first.LayerUs < best.LayerUs*1.2 || last.LayerUs < best.LayerUs*1.05 {
		t.Errorf("not U-shaped: layer %0.f µs at %d SMs, %0.f at the best %d, %0.f at %d",
			first.LayerUs, first.NumSMs, best.LayerUs, best.NumSMs, last.LayerUs, last.NumSMs)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].ComputeUs < pts[i-1].ComputeUs && pts[i].HiddenFraction == 1 && pts[i-1].HiddenFraction == 1 {
			t.Errorf("compute fell from %.0f to %.0f µs when SMs went %d→%d", pts[i-1].ComputeUs, pts[i].ComputeUs, pts[i-1].NumSMs, pts[i].NumSMs)
		}
		if pts[i].Slowdown < pts[i-1].Slowdown {
			t.Errorf("compute slowdown fell from %.3f to %.3f when SMs went %d→%d", pts[i-1].Slowdown, pts[i].Slowdown, pts[i-1].NumSMs, pts[i].NumSMs)
		}
	}
	if first.ExposedCommUs <= 0 || best.HiddenFraction < 0.99 {
		t.Errorf("2 SMs should expose communication (%.0f µs) and the best split hide it (%.2f)", first.ExposedCommUs, best.HiddenFraction)
	}
}

func TestRecommendPrefersFewerSMsOnTies(t *testing.T) {
	pts := []TunePoint{
		{NumSMs: 4, LayerUs: 120, ExposedCommUs: 30},
		{NumSMs: 8, LayerUs: 100.2, ExposedCommUs: 0.5},
		{NumSMs: 12, LayerUs: 100, ExposedCommUs: 0},
		{NumSMs: 16, LayerUs: 105, ExposedCommUs: 0},
	}
	for _, tc := range []struct {
		obj  string
		want int
	}{{ObjectiveLayer, 12}, {ObjectiveExposed, 8}} {
		got, err := Recommend(pts, tc.obj)
		if err != nil || got.NumSMs != tc.want {
			t.Errorf("Recommend(%s) = %d, %v; want %d", tc.obj, got.NumSMs, err, tc.want)
		}
	}
	if _, err := Recommend(pts, "fastest"); err == nil {
		t.Error("unknown objective accepted")
	}
}

// TestTwentySMsReachNinetyPercentOfThirtyTwo: DeepSeek-V3 reports 20 SMs
// suffice to saturate IB and NVLink; on the h800 preset dispatch at 20 SMs
// reaches at least 90% of its bandwidth at 32.
func TestTwentySMsReachNinetyPercentOfThirtyTwo(t *testing.T) {
	if testing.Short() {
		t.Skip("full-size EP64 runs")
	}
	bw := map[int]float64{}
	for _, sms := range []int{20, 32} {
		s, err := scenarios.LoadPreset("deepseek-v3-train", scenarios.Override{Path: "kernel.num_sms", Value: strconv.Itoa(sms)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := scenarios.RunDispatch(s)
		if err != nil {
			t.Fatal(err)
		}
		bw[sms] = res.RDMAGBps
	}
	if bw[20] < 0.9*bw[32] {
		t.Fatalf("20 SMs: %.1f GB/s, under 90%% of 32 SMs' %.1f", bw[20], bw[32])
	}
}
