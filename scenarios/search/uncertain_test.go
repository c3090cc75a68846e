package search

import (
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// TestLocalBestMatchesTheFullSweep: on U-shaped curves, with flat bottoms
// and ties, the windowed search from any start finds what Recommend finds
// over the whole grid, and runs each point at most once.
func TestLocalBestMatchesTheFullSweep(t *testing.T) {
	curves := map[string][]float64{
		"u":          {50, 30, 20, 12, 10, 11, 13, 16, 20, 25},
		"flat floor": {40, 20, 10, 10, 10, 10, 11, 12, 13, 14},
		"left edge":  {5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
		"right edge": {14, 13, 12, 11, 10, 9, 8, 7, 6, 5},
		"step":       {30, 20, 15, 15.5, 15.5, 15.5, 18, 18, 18, 25},
	}
	for name, layer := range curves {
		pts := make([]TunePoint, len(layer))
		for i, l := range layer {
			pts[i] = TunePoint{NumSMs: 2 * (i + 1), LayerUs: l, ExposedCommUs: max(0, l-10)}
		}
		for _, obj := range []string{ObjectiveLayer, ObjectiveExposed} {
			want, err := Recommend(pts, obj)
			if err != nil {
				t.Fatal(err)
			}
			for start := range pts {
				runs := map[int]int{}
				got, err := localBest(len(pts), start, obj, func(k int) (TunePoint, error) {
					runs[k]++
					return pts[k], nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if got.NumSMs != want.NumSMs {
					t.Errorf("%s, %s, from %d SMs: %d SMs, want %d", name, obj, pts[start].NumSMs, got.NumSMs, want.NumSMs)
				}
				for k, n := range runs {
					if n > 1 {
						t.Errorf("%s: point %d ran %d times", name, k, n)
					}
				}
			}
		}
	}
}

func TestFlatnessIsTheCostFourSMsAway(t *testing.T) {
	pts := []TunePoint{{NumSMs: 4, LayerUs: 130}, {NumSMs: 6, LayerUs: 110}, {NumSMs: 8, LayerUs: 100}, {NumSMs: 10, LayerUs: 101}, {NumSMs: 12, LayerUs: 105}}
	f := FlatnessOf(pts, pts[2])
	if f.SMs != 4 || f.FewerUs == nil || *f.FewerUs != 30 || f.MoreUs == nil || *f.MoreUs != 5 || *f.MorePct != 5 {
		t.Fatalf("flatness %+v, want 4 SMs: fewer +30 µs, more +5 µs (+5%%)", f)
	}
	if f := FlatnessOf(pts, pts[1]); f.FewerUs != nil || f.MoreUs == nil {
		t.Errorf("at 6 SMs the 2-SM side is off the grid, got %+v", f)
	}
}

// smallTrain is the training scenario cut down to run in a second.
func smallTrain(t *testing.T) scenarios.Scenario {
	t.Helper()
	s, err := scenarios.LoadPreset("deepseek-v3-train",
		scenarios.Override{Path: "cluster.nodes", Value: "2"},
		scenarios.Override{Path: "model.max_nodes_per_token", Value: "2"},
		scenarios.Override{Path: "workload.tokens_per_gpu", Value: "512"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRangeContainsTheRecommendationAndWidens: with no uncertain input the
// range is the recommendation; a range always contains it; the per-SM
// copy rate, which sets the SM-bound region, widens it when it moves far
// enough, and moving it further never narrows it.
func TestRangeContainsTheRecommendationAndWidens(t *testing.T) {
	s := smallTrain(t)
	const from, to = 2, 24
	pts, err := Tune(s, from, to, scenarios.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	best, err := Recommend(pts, ObjectiveLayer)
	if err != nil {
		t.Fatal(err)
	}
	none := Summarize(pts, best, nil)
	if none.RangeSMs != [2]int{best.NumSMs, best.NumSMs} || none.RecommendedSMs != best.NumSMs {
		t.Fatalf("no inputs: range %v, recommended %d; want [%d %d]", none.RangeSMs, none.RecommendedSMs, best.NumSMs, best.NumSMs)
	}
	width := func(f float64) [2]int {
		vs, err := VaryUncertain(s, from, to, best, ObjectiveLayer,
			[]Range{{Path: "cluster.sm_copy_GBps", Low: 1 / f, High: f, Relative: true}}, scenarios.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 || vs[0].End != "low" || vs[1].End != "high" || vs[0].Value >= vs[1].Value {
			t.Fatalf("variations %+v, want low then high", vs)
		}
		sum := Summarize(pts, best, vs)
		if sum.RangeSMs[0] > best.NumSMs || sum.RangeSMs[1] < best.NumSMs {
			t.Fatalf("range %v does not contain the recommendation %d", sum.RangeSMs, best.NumSMs)
		}
		return sum.RangeSMs
	}
	narrow, wide := width(1.2), width(3)
	if wide[1]-wide[0] <= 0 {
		t.Errorf("the copy rate at ×1/3 and ×3 leaves the recommendation at %v", wide)
	}
	if wide[0] > narrow[0] || wide[1] < narrow[1] {
		t.Errorf("range at ×1/3..×3 %v is narrower than at ×1/1.2..×1.2 %v", wide, narrow)
	}
	// The slower copy rate needs more SMs: the low end recommends at
	// least as many as the high end.
	vs, err := VaryUncertain(s, from, to, best, ObjectiveLayer, []Range{{Path: "cluster.sm_copy_GBps", Low: 1. / 3, High: 3, Relative: true}}, scenarios.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].RecommendedSMs < vs[1].RecommendedSMs {
		t.Errorf("copy rate ×1/3 recommends %d SMs, ×3 %d; want the slower rate to need at least as many", vs[0].RecommendedSMs, vs[1].RecommendedSMs)
	}
}

// TestVaryClampsAndSkips: an efficiency's high end stops at 1 and says so;
// an input the scenario does not have is skipped, so the list can name
// inputs other packages add later.
func TestVaryClampsAndSkips(t *testing.T) {
	s := smallTrain(t)
	v, _, err := Range{Path: "cluster.nvlink_efficiency", Low: 0.8, High: 1.5, Relative: true}.resolve(s, "high")
	if err != nil || v.Value != 1 || !v.Clamped {
		t.Fatalf("nvlink_efficiency ×1.5: %+v, %v; want 1, clamped", v, err)
	}
	vs, err := VaryUncertain(s, 2, 24, TunePoint{NumSMs: 6}, ObjectiveLayer, []Range{{Path: "workload.not_yet_a_field", Low: 0, High: 10}}, scenarios.RunOptions{})
	if err != nil || len(vs) != 0 {
		t.Fatalf("unknown path: %v, %v; want it skipped", vs, err)
	}
	if _, err := VaryUncertain(s, 2, 24, TunePoint{NumSMs: 7}, ObjectiveLayer, nil, scenarios.RunOptions{}); err == nil {
		t.Error("a recommendation off the grid was accepted")
	}
}
