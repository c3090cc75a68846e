package search

import (
	"fmt"
	"strconv"

	"github.com/moesim/moesim/scenarios"
)

// TunePoint is one run of an SM-split sweep.
type TunePoint struct {
	NumSMs         int     `json:"num_sms"`
	LayerUs        float64 `json:"layer_us"`
	ExposedCommUs  float64 `json:"exposed_comm_us"`
	HiddenFraction float64 `json:"hidden_fraction"`
	DispatchUs     float64 `json:"dispatch_us"`
	CombineUs      float64 `json:"combine_us"`
	ComputeUs      float64 `json:"compute_us"`
	Slowdown       float64 `json:"compute_slowdown"`
	Bottleneck     string  `json:"dispatch_bottleneck"`
}

// Objectives a tune can minimize.
const (
	ObjectiveLayer   = "layer"   // layer time
	ObjectiveExposed = "exposed" // exposed communication
)

// Tune runs the scenario at every even num_sms in [from, to] (independent
// runs, in parallel, sharing one layout: opt.Layout, or Prepare's) and
// returns the points in SM order.
func Tune(s scenarios.Scenario, from, to int, opt scenarios.RunOptions) ([]TunePoint, error) {
	if from < 2 || to < from {
		return nil, fmt.Errorf("scenario: --sms %d..%d, want an even range within 2..%d", from, to, s.Cluster.SMs-2)
	}
	sms := Grid(from, to)
	opt, err := Prepare(s, opt)
	if err != nil {
		return nil, err
	}
	pts := make([]TunePoint, len(sms))
	errs := make([]error, len(sms))
	Parallel(len(sms), func(i int) { pts[i], errs[i] = tunePoint(s, sms[i], opt) })
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return pts, nil
}

// Prepare returns opt with s's layout, built once for runs of s that differ
// only in kernel or compute settings (a tune's points, its variations of a
// hardware constant) to share. The routing is drawn and laid out rank by
// rank side by side, as a single run does. opt is returned as it is when
// it already holds a layout.
func Prepare(s scenarios.Scenario, opt scenarios.RunOptions) (scenarios.RunOptions, error) {
	if opt.Layout != nil {
		return opt, nil
	}
	lay, err := scenarios.Layout(s, opt)
	if err == nil {
		err = scenarios.CheckTokens(s, lay)
	}
	opt.Layout = lay
	return opt, err
}

// TuneRuns is the least number of runs a tune over [from, to] makes with
// ranges uncertain inputs varied (VaryUncertain: each end of each range
// searches a window of at least 2 × Patience + 1 points): what a progress
// count starts from, as the windows may widen.
func TuneRuns(from, to, ranges int) int {
	grid := len(Grid(from, to))
	return grid + 2*ranges*min(grid, 2*Patience+1)
}

// Grid is the SM counts a tune over [from, to] tries: the even ones.
func Grid(from, to int) []int {
	var sms []int
	for n := from + from%2; n <= to; n += 2 {
		sms = append(sms, n)
	}
	return sms
}

func tunePoint(s scenarios.Scenario, sms int, opt scenarios.RunOptions) (TunePoint, error) {
	// Re-derive DeepEP's defaults at the new SM count unless the
	// scenario set chunk sizes itself: they do not depend on SMs.
	s.Kernel.NumSMs = sms
	if err := s.Validate(); err != nil {
		return TunePoint{}, fmt.Errorf("kernel.num_sms = %d: %w", sms, err)
	}
	res, err := scenarios.Run(s, opt)
	if opt.Progress != nil {
		opt.Progress()
	}
	if err != nil {
		return TunePoint{}, fmt.Errorf("kernel.num_sms = %s: %w", strconv.Itoa(sms), err)
	}
	return TunePoint{NumSMs: sms, LayerUs: res.Overlap.LayerUs, ExposedCommUs: res.Overlap.ExposedCommUs,
		HiddenFraction: res.Overlap.HiddenFraction, DispatchUs: res.Dispatch.TimeUs, CombineUs: res.Combine.TimeUs,
		ComputeUs: res.Overlap.ComputeUs, Slowdown: res.Compute.Slowdown, Bottleneck: res.Dispatch.Bottleneck}, nil
}

// Recommend picks the point that minimizes the objective; among equal
// points, the fewest SMs, which leave computation the most. For exposed
// communication a microsecond counts as equal: many splits hide it all, and
// the cheapest of them is the answer.
func Recommend(pts []TunePoint, objective string) (TunePoint, error) {
	if len(pts) == 0 {
		return TunePoint{}, fmt.Errorf("scenario: nothing to recommend from an empty sweep")
	}
	val := func(p TunePoint) float64 { return p.LayerUs }
	slack := 0.0
	switch objective {
	case ObjectiveLayer:
	case ObjectiveExposed:
		val = func(p TunePoint) float64 { return p.ExposedCommUs }
		slack = 1
	default:
		return TunePoint{}, fmt.Errorf("scenario: --objective = %q, want %s or %s", objective, ObjectiveLayer, ObjectiveExposed)
	}
	best := val(pts[0])
	for _, p := range pts[1:] {
		best = min(best, val(p))
	}
	for _, p := range pts {
		if val(p) <= best+slack {
			return p, nil
		}
	}
	return pts[0], nil
}
