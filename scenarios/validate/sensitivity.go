package validate

import (
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
	"github.com/moesim/moesim/topology"
)

// Which constants decide an answer? Sensitivity reruns every predicted
// case with one hardware constant scaled (0.8× and 1.2× by default), all
// else fixed, and reports how each prediction moves; TuneSensitivity does
// the same for `moesim tune`'s recommendation on the default scenario.
//
// Invariants: a scaled run differs from the baseline in one constant of
// the case's own hardware, kept within the range the constant allows; a
// case that pins a constant itself (the ISCA arithmetic sets the
// efficiencies to 1 and latencies to 0) does not move with it.

// Factors are the scales the sensitivity applies: ±20%.
var Factors = []float64{0.8, 1.2}

// Scale multiplies one hardware constant by Factor.
type Scale struct {
	Constant string
	Factor   float64
}

// value is the scaled constant of hw, within what the constant allows,
// and whether it had to be cut to stay there.
func (sc *Scale) value(hw topology.Config) (float64, bool, error) {
	spec, ok := topology.ConstantNamed(sc.Constant)
	if !ok {
		return 0, false, fmt.Errorf("no hardware constant %q", sc.Constant)
	}
	v := spec.Get(&hw) * sc.Factor
	c := math.Min(math.Max(v, spec.Min), spec.Max)
	return c, c != v, nil
}

// override is the --set that scales the constant of s's hardware.
func (sc *Scale) override(s scenarios.Scenario) (scenarios.Override, float64, bool, error) {
	hw, err := s.Topology()
	if err != nil {
		return scenarios.Override{}, 0, false, err
	}
	v, clamped, err := sc.value(hw)
	if err != nil {
		return scenarios.Override{}, 0, false, err
	}
	return scenarios.Override{Path: "cluster." + sc.Constant, Value: strconv.FormatFloat(v, 'g', -1, 64)}, v, clamped, nil
}

// scaled is s with the validator's constant scaled (s itself without one).
func (v *validator) scaled(s scenarios.Scenario) (scenarios.Scenario, error) {
	if v.scale == nil {
		return s, nil
	}
	o, _, _, err := v.scale.override(s)
	if err != nil {
		return s, err
	}
	return s.With(o)
}

// caseConfig is the hardware case c runs on, with the case's overrides.
func caseConfig(c Case) (topology.Config, error) {
	if isHardwareCase(c) {
		return topology.Preset(c.Preset)
	}
	s, err := c.scenario()
	if err != nil {
		return topology.Config{}, err
	}
	return s.Topology()
}

// SensitivityConstants are the constants Sensitivity scales by default:
// every hardware constant that is a rate, a cost or a share. The whole
// numbers (GPUs per node, SMs per GPU) are the cluster's shape; a GPU with
// 20% more SMs is another GPU, and its effect on tune is tune's own sweep.
func SensitivityConstants() []string {
	var keys []string
	for _, s := range topology.Constants {
		if !s.Integer {
			keys = append(keys, s.Key)
		}
	}
	return keys
}

// CheckConstants refuses a key that is not a constant Sensitivity can
// scale, naming it and the allowed ones.
func CheckConstants(keys []string) error {
	allowed := SensitivityConstants()
	for _, k := range keys {
		if !containsString(allowed, k) {
			return fmt.Errorf("constant %q: want one of %s", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// SensitivityPoint is one case rerun with one constant scaled.
type SensitivityPoint struct {
	Constant string  `json:"constant"`
	Factor   float64 `json:"factor"`
	// Value is the constant's value in the run; Clamped says the factor
	// was cut at what the constant allows (an efficiency stops at 1).
	Value   float64 `json:"value"`
	Clamped bool    `json:"clamped,omitempty"`
	Case    string  `json:"case"`
	// Predicted is the scaled run's figure and ChangePct its change from
	// the baseline prediction in percent; null when the run failed (Note).
	Predicted *float64 `json:"predicted"`
	ChangePct *float64 `json:"change_pct"`
	Note      string   `json:"note,omitempty"`
}

// Sensitivity reruns each case that base predicted (base is Validate's
// result for cases) with each constant at each factor. Points come in
// constant, factor, case order; all runs are independent and go in
// parallel. progress, when set, is called after each point, from the
// goroutine that made it.
func Sensitivity(cases []Case, base []CaseResult, constants []string, factors []float64, progress func()) ([]SensitivityPoint, error) {
	if len(base) != len(cases) {
		return nil, fmt.Errorf("validate: %d results for %d cases", len(base), len(cases))
	}
	if err := CheckConstants(constants); err != nil {
		return nil, err
	}
	var predicted []int
	for i, r := range base {
		if r.Predicted != nil {
			predicted = append(predicted, i)
		}
	}
	// One task per (constant, factor, run): the cases that read one run
	// go together, so no task waits on another's run.
	groups := groupByRun(cases, predicted)
	// A scaled constant leaves a run's routing alone: the scales of one
	// group's run share its layout. Tasks go group by group, so the
	// layout in use stays in the cache while its scales run.
	layouts := &scenarios.LayoutCache{Size: 2 * runtime.GOMAXPROCS(0)}
	type task struct {
		si    int // the scale's index, in (constant, factor) order
		group []int
	}
	var scales []*Scale
	var vals []*validator
	for _, k := range constants {
		for _, f := range factors {
			sc := &Scale{Constant: k, Factor: f}
			v := newValidator(sc)
			v.layouts = layouts
			scales, vals = append(scales, sc), append(vals, v)
		}
	}
	var tasks []task
	for _, g := range groups {
		for si := range scales {
			tasks = append(tasks, task{si, g})
		}
	}
	// Points go in (constant, factor, case) order: scale s's point for
	// the j-th predicted case is out[s*len(predicted)+j].
	rank := map[int]int{}
	for j, i := range predicted {
		rank[i] = j
	}
	out := make([]SensitivityPoint, len(scales)*len(predicted))
	search.Parallel(len(tasks), func(t int) {
		tk := tasks[t]
		for _, i := range tk.group {
			out[tk.si*len(predicted)+rank[i]] = sensitivityPoint(vals[tk.si], scales[tk.si], cases[i], *base[i].Predicted)
			if progress != nil {
				progress()
			}
		}
	})
	return out, nil
}

// sensitivityPoint runs case c under v's scale against its baseline
// prediction base.
func sensitivityPoint(v *validator, sc *Scale, c Case, base float64) SensitivityPoint {
	p := SensitivityPoint{Constant: sc.Constant, Factor: sc.Factor, Case: c.ID}
	hw, err := caseConfig(c)
	if err == nil {
		p.Value, p.Clamped, err = sc.value(hw)
	}
	if err != nil {
		p.Note = "error: " + err.Error()
		return p
	}
	r := v.run(c)
	if r.Predicted == nil {
		p.Note = r.Note
		return p
	}
	p.Predicted = r.Predicted
	if base != 0 {
		ch := 100 * (*r.Predicted - base) / base
		p.ChangePct = &ch
	}
	return p
}

// TuneConstants are the constants that can move tune's recommendation:
// those of the kernels' SM-bound and link-bound regimes. The compute
// rates move both sides of the trade-off alike and the latencies are
// small beside a layer, so they are left out to keep the run short.
var TuneConstants = []string{
	"sm_copy_GBps", "warp_copy_GBps", "record_overhead_ns", "chunk_handshake_ns", "sm_reduce_GBps",
	"nvlink_GBps", "nic_GBps", "nvlink_efficiency", "nic_efficiency",
}

// TuneSensitivityPoint is tune's recommendation with one constant scaled.
type TuneSensitivityPoint struct {
	Constant       string  `json:"constant"`
	Factor         float64 `json:"factor"`
	Base           float64 `json:"base"`
	Value          float64 `json:"value"`
	Clamped        bool    `json:"clamped,omitempty"`
	RecommendedSMs int     `json:"recommended_sms"`
	LayerUs        float64 `json:"layer_us"`
}

// TuneSensitivity is the baseline tune of preset over from..to SMs
// (minimizing layer time) and its recommendation with each constant at
// low× and at high× its value, found by search.VaryUncertain's windowed
// search. Points come in constant order, low before high. progress, when
// set, is called after each run (RunOptions.Progress).
func TuneSensitivity(preset string, from, to int, constants []string, low, high float64, progress func()) (search.Summary, []TuneSensitivityPoint, error) {
	if err := CheckConstants(constants); err != nil {
		return search.Summary{}, nil, err
	}
	s, err := scenarios.LoadPreset(preset)
	if err != nil {
		return search.Summary{}, nil, err
	}
	// The baseline and every scaled constant route the same tokens.
	opt, err := search.Prepare(s, scenarios.RunOptions{Progress: progress})
	if err != nil {
		return search.Summary{}, nil, err
	}
	pts, err := search.Tune(s, from, to, opt)
	if err != nil {
		return search.Summary{}, nil, err
	}
	best, err := search.Recommend(pts, search.ObjectiveLayer)
	if err != nil {
		return search.Summary{}, nil, err
	}
	vs, err := search.VaryUncertain(s, from, to, best, search.ObjectiveLayer, search.ConstantRanges(constants, low, high), opt)
	if err != nil {
		return search.Summary{}, nil, err
	}
	out := make([]TuneSensitivityPoint, len(vs))
	for i, v := range vs {
		out[i] = TuneSensitivityPoint{Constant: strings.TrimPrefix(v.Path, "cluster."), Factor: v.Factor, Base: v.Base, Value: v.Value,
			Clamped: v.Clamped, RecommendedSMs: v.RecommendedSMs, LayerUs: v.LayerUs}
	}
	return search.Summarize(pts, best, vs), out, nil
}
