package validate

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/schedule"
	"github.com/moesim/moesim/scenarios/search"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

//go:embed cases.yaml
var casesYAML []byte

// Case is one published figure the model is checked against.
type Case struct {
	ID     string `yaml:"id" json:"id"`
	Source string `yaml:"source" json:"source"`
	What   string `yaml:"what" json:"what"`
	Kind   string `yaml:"kind" json:"kind"`
	Preset string `yaml:"preset" json:"-"`
	// Set are path=value overrides of the preset, as --set takes them.
	Set          []string `yaml:"set" json:"-"`
	Metric       string   `yaml:"metric" json:"-"`
	Unit         string   `yaml:"unit" json:"unit"`
	Published    float64  `yaml:"published" json:"published"`
	TolerancePct float64  `yaml:"tolerance_pct" json:"tolerance_pct"`
	// CitedAs are phrases by which a hardware file's source may name the
	// case instead of its id ("intranode EP8 dispatch"). Whether a case is
	// fitted is read from the hardware (FittedBy), never set here.
	CitedAs []string `yaml:"cited_as" json:"-"`
	Reason  string   `yaml:"reason" json:"-"`
	// KnownMiss says why the model is known to miss this case's
	// tolerance: the case still runs and reports FAIL with its error, but
	// it does not fail `moesim validate`'s exit status, so a known gap in
	// the model stays in view without blocking every other check. A known
	// miss that passes is reported so its flag can go.
	KnownMiss string `yaml:"known_miss" json:"known_miss,omitempty"`
}

// CaseResult is a case's outcome. Predicted, ErrorPct and Pass are nil for
// a case the model does not cover; Note then says why.
type CaseResult struct {
	Case
	// Fitted: a constant of the case's hardware was fitted on this case
	// (FittedBy names them), so its error says little about the model;
	// the others are predictions.
	Fitted    bool     `json:"fitted"`
	FittedBy  []string `json:"fitted_by,omitempty"`
	Predicted *float64 `json:"predicted"`
	ErrorPct  *float64 `json:"error_pct"`
	Pass      *bool    `json:"pass"`
	// Bound is the bottleneck the model finds for a kernel case.
	Bound string `json:"bound,omitempty"`
	Note  string `json:"note,omitempty"`
}

// ValidationCases are the embedded cases, in file order.
func ValidationCases() []Case {
	var cs []Case
	if err := yaml.Unmarshal(casesYAML, &cs); err != nil {
		panic("scenarios: embedded validation cases: " + err.Error())
	}
	return cs
}

// Validate runs the cases, independent runs in parallel, and returns their
// results in case order.
func Validate(cases []Case) []CaseResult {
	v := newValidator(nil)
	out := make([]CaseResult, len(cases))
	groups := groupByRun(cases, allCases(len(cases)))
	search.Parallel(len(groups), func(g int) {
		for _, i := range groups[g] {
			out[i] = v.run(cases[i])
		}
	})
	return out
}

// runKey names the run a case reads: cases with one key share it, so a
// parallel task takes all of them and none waits on another's run.
func runKey(c Case) string {
	switch c.Kind {
	case "deepep", "deepep-ll", "saturate":
		return "preset " + strings.Join(append([]string{c.Preset}, c.Set...), " ")
	case "knee", "max-experts":
		return "knee"
	}
	return "case " + c.ID
}

// groupByRun splits the cases at idx into groups that share a run, in
// order of first appearance.
func groupByRun(cases []Case, idx []int) [][]int {
	var groups [][]int
	at := map[string]int{}
	for _, i := range idx {
		k := runKey(cases[i])
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

func allCases(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func newValidator(scale *Scale) *validator {
	return &validator{runs: map[string]*runOnce{}, scale: scale}
}

type runOnce struct {
	once sync.Once
	res  *scenarios.Result
	err  error
}

// validator shares runs between cases that read the same preset.
type validator struct {
	mu   sync.Mutex
	runs map[string]*runOnce
	// layouts, when set, shares layouts with the validators of other
	// scales (Sensitivity).
	layouts *scenarios.LayoutCache
	// The knee and the 13-experts case share one knee sweep.
	kneeOnce sync.Once
	knee     float64
	kneeErr  error
	// scale, when set, multiplies one hardware constant of every case
	// (the sensitivity runs).
	scale *Scale
}

// preset runs a preset with overrides once, however many cases read it.
func (v *validator) preset(name string, sets ...string) (*scenarios.Result, error) {
	key := strings.Join(append([]string{name}, sets...), " ")
	v.mu.Lock()
	r, ok := v.runs[key]
	if !ok {
		r = &runOnce{}
		v.runs[key] = r
	}
	v.mu.Unlock()
	r.once.Do(func() {
		ovs, err := overrides(sets)
		if err != nil {
			r.err = err
			return
		}
		s, err := scenarios.LoadPreset(name, ovs...)
		if err != nil {
			r.err = err
			return
		}
		if s, err = v.scaled(s); err != nil {
			r.err = err
			return
		}
		var opt scenarios.RunOptions
		if v.layouts != nil {
			if opt.Layout, r.err = v.layouts.Layout(s, opt); r.err != nil {
				return
			}
		}
		r.res, r.err = scenarios.Run(s, opt)
	})
	return r.res, r.err
}

func (v *validator) run(c Case) CaseResult {
	cr := CaseResult{Case: c}
	if err := mark(&cr); err != nil {
		cr.Note = "error: " + err.Error()
		f := false
		cr.Pass = &f
		return cr
	}
	if c.Kind == "not-modelled" {
		cr.Note = "not modelled: " + c.Reason
		return cr
	}
	p, bound, err := v.predict(c)
	cr.Bound = bound
	if err != nil {
		cr.Note = "error: " + err.Error()
		f := false
		cr.Pass = &f
		return cr
	}
	e := 100 * (p - c.Published) / c.Published
	pass := math.Abs(e) <= c.TolerancePct
	cr.Predicted, cr.ErrorPct, cr.Pass = &p, &e, &pass
	switch {
	case c.KnownMiss != "" && !pass:
		cr.Note = "known miss: " + c.KnownMiss
	case c.KnownMiss != "":
		cr.Note = "a known miss that now passes: remove its known_miss"
	}
	return cr
}

func (v *validator) predict(c Case) (float64, string, error) {
	switch c.Kind {
	case "deepep", "deepep-ll":
		res, err := v.preset(c.Preset, c.Set...)
		if err != nil {
			return 0, "", err
		}
		bound := res.Dispatch.Bottleneck
		if strings.HasPrefix(c.Metric, "combine.") {
			bound = res.Combine.Bottleneck
		}
		m, err := metric(res, c.Metric)
		return m, bound, err
	case "saturate":
		res, err := v.preset(c.Preset)
		if err != nil {
			return 0, "", err
		}
		return res.Dispatch.IBUtil.Max, res.Dispatch.Bottleneck, nil
	}
	p, err := v.predictOther(c)
	return p, "", err
}

func (v *validator) predictOther(c Case) (float64, error) {
	switch c.Kind {
	case "knee", "max-experts":
		v.kneeOnce.Do(func() {
			var ovs []scenarios.Override
			if v.scale != nil {
				s, err := scenarios.LoadPreset(c.Preset)
				if err != nil {
					v.kneeErr = err
					return
				}
				o, _, _, err := v.scale.override(s)
				if err != nil {
					v.kneeErr = err
					return
				}
				ovs = append(ovs, o)
			}
			v.knee, v.kneeErr = search.Knee(c.Preset, ovs)
		})
		if v.kneeErr != nil {
			return 0, v.kneeErr
		}
		k := v.knee
		if c.Kind == "max-experts" {
			return 4 * k, nil
		}
		return k, nil
	case "isca-comm", "isca-layer", "isca-tpot":
		comm, err := iscaComm(c.Preset, v.scale)
		if err != nil {
			return 0, err
		}
		switch c.Kind {
		case "isca-comm":
			return comm.Microseconds(), nil
		}
		// Two micro-batches with negligible compute: the comm stream
		// runs both micro-batches' dispatch and combine back to back.
		sr, err := schedule.RunSchedule(schedule.ScheduleTwoMicroBatch, schedule.Phases{Dispatch: comm / 2, Combine: comm - comm/2})
		if err != nil {
			return 0, err
		}
		if c.Kind == "isca-layer" {
			return sr.Layer.Microseconds(), nil
		}
		return 61 * sr.Layer.Microseconds() / 1000, nil
	}
	return 0, fmt.Errorf("unknown case kind %q", c.Kind)
}

func metric(r *scenarios.Result, name string) (float64, error) {
	switch name {
	case "dispatch.nvl_GBps":
		return r.Dispatch.NVLGBps, nil
	case "dispatch.rdma_GBps":
		return r.Dispatch.RDMAGBps, nil
	case "combine.nvl_GBps":
		return r.Combine.NVLGBps, nil
	case "combine.rdma_GBps":
		return r.Combine.RDMAGBps, nil
	case "dispatch.logical_nvl_MB":
		return r.Dispatch.LogicalNVLBytes / 1e6, nil
	case "dispatch.logical_rdma_MB":
		return r.Dispatch.LogicalRDMABytes / 1e6, nil
	case "combine.logical_nvl_MB":
		return r.Combine.LogicalNVLBytes / 1e6, nil
	case "dispatch.kernel_us", "combine.kernel_us":
		// A profiler's kernel duration, as DeepEP's low-latency test
		// reads it: without the host's launch gap.
		hw, err := r.Scenario.Topology()
		if err != nil {
			return 0, err
		}
		t := r.Dispatch.TimeUs
		if name == "combine.kernel_us" {
			t = r.Combine.TimeUs
		}
		return t - hw.KernelLaunch.Microseconds(), nil
	}
	return 0, fmt.Errorf("unknown metric %q", name)
}

// iscaComm replays the ISCA'25 paper's decode arithmetic as low-latency
// runs: each device sends 32 tokens to 9 experts (8 routed + 1 shared), one
// expert per device, hidden 7000, FP8 (1 B per element, no scales) out and
// BF16 back, at the link's full rate with latency excluded, as the paper
// counts it. Token t of rank r picks the experts of the next 9 ranks, so
// every message crosses the network and every link carries the same load.
func iscaComm(preset string, scale *Scale) (sim.Time, error) {
	const tokens, experts, hidden = 32, 9, 7000
	hw, err := topology.Preset(preset)
	if err != nil {
		return 0, err
	}
	if scale != nil {
		// Before the paper's own settings below, which a scaled
		// constant does not move.
		v, _, err := scale.value(hw)
		if err != nil {
			return 0, err
		}
		spec, _ := topology.ConstantNamed(scale.Constant)
		spec.Set(&hw, v)
	}
	ranks := 16
	if preset == "gb200-nvl72" {
		ranks = hw.GPUsPerNode
		hw.GPU.NVLinkBytesPerSec = 900 * topology.GBps // the paper's figure
	} else {
		hw.Nodes, hw.GPUsPerNode = ranks, 1
	}
	hw.NVLinkEfficiency, hw.NICEfficiency = 1, 1
	hw.NVLinkLatency, hw.IBLatency, hw.KernelLaunch = 0, 0, 0
	// The paper counts bytes over the link only: no per-warp, per-record,
	// per-signal or per-message costs.
	hw.GPU.RecordOverhead, hw.GPU.ChunkHandshake = 0, 0
	hw.GPU.WarpCopyBytesPerSec, hw.GPU.SMCopyBytesPerSec, hw.GPU.SMReduceBytesPerSec = 1e18, 1e18, 1e18
	hw.NICMessageRate = 1e18
	if err := hw.Validate(); err != nil {
		return 0, err
	}
	rt := dispatch.Routing{TopK: experts, Experts: make([][]int32, ranks)}
	for r := range ranks {
		for range tokens {
			for j := 1; j <= experts; j++ {
				rt.Experts[r] = append(rt.Experts[r], int32((r+j)%ranks))
			}
		}
	}
	place, err := dispatch.ContiguousPlacement(ranks, ranks)
	if err != nil {
		return 0, err
	}
	lay, err := dispatch.NewLayout(rt, place, hw.Nodes, hw.GPUsPerNode, ranks)
	if err != nil {
		return 0, err
	}
	e4m3, _ := dispatch.FormatNamed("", "e4m3")
	bf16, _ := dispatch.FormatNamed("", "bf16")
	cl := topology.Build(hw)
	ll := dispatch.Config{Mode: dispatch.LowLatency, NumSMs: 2, NVLChunk: 1, NVLBuffer: 2, RDMAChunk: 1, RDMABuffer: 2}
	d, err := dispatch.Run(cl, lay, ll, e4m3, hidden, dispatch.Options{})
	if err != nil {
		return 0, err
	}
	cl.Reset()
	cb, err := dispatch.LowLatencyCombine(cl, d.Handle, ll, bf16, hidden, dispatch.Options{})
	if err != nil {
		return 0, err
	}
	// The paper's arithmetic has no fixed start-up either.
	return d.Time + cb.Time - 2*hw.LLKernelFixed, nil
}

// MedianAbsError is the median |error| in percent over the cases that were
// run (0 when none was).
func MedianAbsError(rs []CaseResult) float64 {
	return medianAbsError(rs, func(CaseResult) bool { return true })
}

// MedianDeepEPError is the median |error| in percent over the DeepEP README
// normal-kernel rows that were run (the April 2025 table: its intranode rows
// are the February ones, unchanged).
func MedianDeepEPError(rs []CaseResult) float64 {
	return medianAbsError(rs, func(r CaseResult) bool {
		return r.Kind == "deepep" && strings.HasPrefix(r.ID, "deepep_readme_")
	})
}

// MedianError is the median |error| in percent over the run cases that
// are fitted (fitted true) or predicted (false), and how many there are.
func MedianError(rs []CaseResult, fitted bool) (float64, int) {
	keep := func(r CaseResult) bool { return r.Fitted == fitted }
	n := 0
	for _, r := range rs {
		if r.ErrorPct != nil && keep(r) {
			n++
		}
	}
	return medianAbsError(rs, keep), n
}

// MedianDeepEPPredictedError is MedianDeepEPError over the predicted rows
// only.
func MedianDeepEPPredictedError(rs []CaseResult) float64 {
	return medianAbsError(rs, func(r CaseResult) bool {
		return !r.Fitted && r.Kind == "deepep" && strings.HasPrefix(r.ID, "deepep_readme_")
	})
}

// medianAbsError is the median of |error| over the run cases keep accepts,
// the mean of the middle two for an even count.
func medianAbsError(rs []CaseResult, keep func(CaseResult) bool) float64 {
	var errs []float64
	for _, r := range rs {
		if r.ErrorPct != nil && keep(r) {
			errs = append(errs, math.Abs(*r.ErrorPct))
		}
	}
	if len(errs) == 0 {
		return 0
	}
	slices.Sort(errs)
	n := len(errs)
	if n%2 == 1 {
		return errs[n/2]
	}
	return (errs[n/2-1] + errs[n/2]) / 2
}
