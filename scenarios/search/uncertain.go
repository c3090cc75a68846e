package search

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/topology"
)

// A tune's recommendation rests on constants nobody knows well.
// VaryUncertain reruns the tune with each uncertain input at each end of
// its range, one at a time, so the report can say over which SM counts the
// answer moves.
//
// Invariants: a variation changes one input and nothing else (the routing
// is the baseline's unless the input changes what the routing depends on);
// the range of the recommendation always contains the baseline's.

// Range is an uncertain input: a settable scenario path and the lowest and
// highest values it may take. With Relative, Low and High are factors of
// the scenario's own value (0.8 and 1.2 for ±20%). Values are kept inside
// what a hardware constant allows (an efficiency stops at 1).
type Range struct {
	Path      string
	Low, High float64
	Relative  bool
	// Why says where the range comes from, for the report.
	Why string
}

// TuneUncertain lists the inputs `moesim tune` varies beside its
// recommendation. To vary another input, add its path and range here; an
// entry whose path the scenario does not have is skipped, so an input
// another package adds later (workload.start_skew_us, an interference
// constant) can be listed before it exists.
var TuneUncertain = []Range{
	{Path: "cluster.sm_copy_GBps", Low: 0.8, High: 1.2, Relative: true, Why: "±20%: one SM's copy rate, assumed or measured on one GPU"},
	{Path: "cluster.warp_copy_GBps", Low: 0.8, High: 1.2, Relative: true, Why: "±20%: one warp's copy rate"},
	{Path: "cluster.record_overhead_ns", Low: 0.8, High: 1.2, Relative: true, Why: "±20%: a warp's fixed cost per record"},
	{Path: "cluster.chunk_handshake_ns", Low: 0.8, High: 1.2, Relative: true, Why: "±20%: a chunk's fence and flag release"},
}

// ConstantRanges are relative ranges low..high of the named hardware
// constants (cluster.<key>).
func ConstantRanges(keys []string, low, high float64) []Range {
	out := make([]Range, len(keys))
	for i, k := range keys {
		out[i] = Range{Path: "cluster." + k, Low: low, High: high, Relative: true}
	}
	return out
}

// Variation is the tune rerun with one input at one end of its range.
type Variation struct {
	Path string `json:"path"`
	End  string `json:"end"` // low or high
	// Factor is the range's factor for a relative range (0 otherwise)
	// and Base the scenario's value it scales; Value is the input's value
	// in the run, Clamped whether the range was cut at what the input
	// allows.
	Factor         float64 `json:"factor,omitempty"`
	Base           float64 `json:"base,omitempty"`
	Value          float64 `json:"value"`
	Clamped        bool    `json:"clamped,omitempty"`
	RecommendedSMs int     `json:"recommended_sms"`
	LayerUs        float64 `json:"layer_us"`
}

// Patience is how many grid steps past the best split a variation's
// search looks on each side before it stops: the recommendation of a
// variation is the best split of a window of the grid, widened until it
// lies at least Patience steps (4 SMs) inside the window or at the grid's
// end. A U-shaped curve has no better split beyond two worse ones.
const Patience = 2

// VaryUncertain runs, for each range whose path s has, the tune with the input at
// the low and at the high end (in that order, ranges in order), searching
// the grid Grid(from, to) from the baseline recommendation best outwards.
// Variations run in parallel; the result does not depend on their order.
// opt.Layout, when set, is s's layout (Prepare), which variations that
// leave the routing alone share.
func VaryUncertain(s scenarios.Scenario, from, to int, best TunePoint, objective string, ranges []Range, opt scenarios.RunOptions) ([]Variation, error) {
	grid := Grid(from, to)
	start := -1
	for i, n := range grid {
		if n == best.NumSMs {
			start = i
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("scenario: recommended %d SMs is not on the grid %d..%d", best.NumSMs, from, to)
	}
	type job struct {
		v Variation
		s scenarios.Scenario
	}
	var jobs []job
	for _, r := range ranges {
		if scenarios.CheckPath("range", r.Path) != nil {
			continue
		}
		for _, end := range []string{"low", "high"} {
			v, vs, err := r.resolve(s, end)
			if err != nil {
				return nil, scenarios.InputError{Err: err}
			}
			jobs = append(jobs, job{v, vs})
		}
	}
	cache := &scenarios.LayoutCache{Size: 2}
	out := make([]Variation, len(jobs))
	errs := make([]error, len(jobs))
	Parallel(len(jobs), func(i int) {
		j := jobs[i]
		o := opt
		// A job's points differ only in num_sms: they share one layout,
		// the baseline's (opt.Layout) where the varied input leaves the
		// routing alone, as a hardware constant does.
		if o.Layout == nil || !scenarios.SameLayout(s, j.s) {
			lay, err := cache.Layout(j.s, opt)
			if err != nil {
				errs[i] = err
				return
			}
			o.Layout = lay
		}
		p, err := localBest(len(grid), start, objective, func(k int) (TunePoint, error) { return tunePoint(j.s, grid[k], o) })
		if err != nil {
			errs[i] = fmt.Errorf("%s = %g: %w", j.v.Path, j.v.Value, err)
			return
		}
		j.v.RecommendedSMs, j.v.LayerUs = p.NumSMs, p.LayerUs
		out[i] = j.v
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resolve is the variation at one end of r and the scenario it runs.
func (r Range) resolve(s scenarios.Scenario, end string) (Variation, scenarios.Scenario, error) {
	x := r.Low
	if end == "high" {
		x = r.High
	}
	v := Variation{Path: r.Path, End: end, Value: x}
	if r.Relative {
		cur, err := s.Value(r.Path)
		if err != nil {
			return v, s, err
		}
		base := 0.0
		if cur != "" {
			if base, err = strconv.ParseFloat(cur, 64); err != nil {
				return v, s, fmt.Errorf("scenario: %s = %q is not a number to scale", r.Path, cur)
			}
		}
		v.Factor, v.Base, v.Value = x, base, base*x
	}
	if key, ok := strings.CutPrefix(r.Path, "cluster."); ok {
		if spec, ok := topology.ConstantNamed(key); ok {
			v.Value, v.Clamped = clampConstant(spec, v.Value)
		}
	}
	vs, err := s.With(scenarios.Override{Path: r.Path, Value: strconv.FormatFloat(v.Value, 'g', -1, 64)})
	return v, vs, err
}

// clampConstant keeps v within what spec allows, rounding whole-number
// constants; clamped says whether v had to move.
func clampConstant(spec topology.ConstantSpec, v float64) (float64, bool) {
	c := math.Min(math.Max(v, spec.Min), spec.Max)
	if spec.Integer {
		c = math.Round(c)
	}
	return c, c != v
}

// localBest is Recommend over a window of an n-point grid that starts at
// start ± Patience and widens on a side while the window's best lies
// fewer than Patience steps from that edge. eval(k) runs grid point k; each
// point runs once.
func localBest(n, start int, objective string, eval func(k int) (TunePoint, error)) (TunePoint, error) {
	pts := make([]TunePoint, n)
	done := make([]bool, n)
	get := func(k int) error {
		if done[k] {
			return nil
		}
		p, err := eval(k)
		pts[k], done[k] = p, err == nil
		return err
	}
	lo, hi := max(start-Patience, 0), min(start+Patience, n-1)
	for k := lo; k <= hi; k++ {
		if err := get(k); err != nil {
			return TunePoint{}, err
		}
	}
	for {
		best, err := Recommend(pts[lo:hi+1], objective)
		if err != nil {
			return TunePoint{}, err
		}
		b := lo
		for pts[b].NumSMs != best.NumSMs {
			b++
		}
		grew := false
		if b-lo < Patience && lo > 0 {
			lo--
			if err := get(lo); err != nil {
				return TunePoint{}, err
			}
			grew = true
		}
		if hi-b < Patience && hi < n-1 {
			hi++
			if err := get(hi); err != nil {
				return TunePoint{}, err
			}
			grew = true
		}
		if !grew {
			return best, nil
		}
	}
}

// Flatness is how much layer time the splits FlatSMs either side of the
// recommendation cost over it: a flat bottom means the exact split
// matters little. A side off the swept grid is null.
type Flatness struct {
	SMs      int      `json:"sms"`
	FewerUs  *float64 `json:"fewer_us"`
	MoreUs   *float64 `json:"more_us"`
	FewerPct *float64 `json:"fewer_pct"`
	MorePct  *float64 `json:"more_pct"`
}

// FlatSMs is the distance Flatness looks either side of the optimum.
const FlatSMs = 4

// FlatnessOf measures pts' curve around best.
func FlatnessOf(pts []TunePoint, best TunePoint) Flatness {
	f := Flatness{SMs: FlatSMs}
	for _, p := range pts {
		d, pct := p.LayerUs-best.LayerUs, 100*(p.LayerUs-best.LayerUs)/best.LayerUs
		switch p.NumSMs {
		case best.NumSMs - FlatSMs:
			f.FewerUs, f.FewerPct = &d, &pct
		case best.NumSMs + FlatSMs:
			f.MoreUs, f.MorePct = &d, &pct
		}
	}
	return f
}

// Summary is a tune with its uncertainty: the JSON `tune` object.
type Summary struct {
	RecommendedSMs int `json:"recommended_sms"`
	// RangeSMs is the least and most SMs any variation recommends, the
	// baseline included.
	RangeSMs   [2]int      `json:"range_sms"`
	Flatness   Flatness    `json:"flatness"`
	Variations []Variation `json:"variations"`
	Curve      []TunePoint `json:"curve"`
}

// Summarize puts a tune's curve, recommendation and variations together.
func Summarize(pts []TunePoint, best TunePoint, vs []Variation) Summary {
	sum := Summary{RecommendedSMs: best.NumSMs, RangeSMs: [2]int{best.NumSMs, best.NumSMs},
		Flatness: FlatnessOf(pts, best), Variations: vs, Curve: pts}
	if sum.Variations == nil {
		sum.Variations = []Variation{}
	}
	for _, v := range vs {
		sum.RangeSMs[0] = min(sum.RangeSMs[0], v.RecommendedSMs)
		sum.RangeSMs[1] = max(sum.RangeSMs[1], v.RecommendedSMs)
	}
	return sum
}
