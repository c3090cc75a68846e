package search

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
)

// The uncertainty check reruns the recommendation and its neighbours in
// the space (one value up or down in one dimension) with the model's
// uncertain constants at both ends of their ranges at once: every
// constant at its pessimistic end, then every one at its optimistic end.
// The recommendation holds when it still meets every constraint with
// pessimistic constants and no neighbour with a better objective meets
// them all with optimistic ones.
//
// The ranges are factors on the effective value (the hardware's, after
// the scenario's overrides). DefaultUncertainty is a small assumed list;
// it is the one place to swap in the calibration's documented ranges.

// Uncertain is one constant's range, as factors on its effective value.
type Uncertain struct {
	Path        string  `yaml:"path"`
	Pessimistic float64 `yaml:"pessimistic"`
	Optimistic  float64 `yaml:"optimistic"`
	// Max caps the scaled value (1 for an efficiency); 0 is no cap.
	Max    float64 `yaml:"max,omitempty"`
	Source string  `yaml:"source,omitempty"`
}

// DefaultUncertainty are the constants a plan varies unless it lists its
// own (uncertainty.constants) or turns the check off (uncertainty.off).
var DefaultUncertainty = []Uncertain{
	{Path: "cluster.nic_efficiency", Pessimistic: 0.92, Optimistic: 1.04, Max: 1,
		Source: "assumed ±: fitted on DeepEP's internode rows, which it meets within a few percent (docs/validation.md)"},
	{Path: "cluster.nvlink_efficiency", Pessimistic: 0.92, Optimistic: 1.04, Max: 1,
		Source: "assumed ±: fitted on DeepEP's EP8 and EP16 dispatch rows"},
	{Path: "cluster.warp_copy_GBps", Pessimistic: 0.85, Optimistic: 1.15,
		Source: "assumed ±15%: measured on one H200 by the calibration kit; other GPUs differ"},
	{Path: "cluster.ib_latency_us", Pessimistic: 1.5, Optimistic: 0.75,
		Source: "assumed: fabric latency depends on switches and cable lengths"},
}

func (u Uncertain) check() error {
	if err := scenarios.CheckPath("path", u.Path); err != nil {
		return err
	}
	if !strings.HasPrefix(u.Path, "cluster.") {
		return fmt.Errorf("path %s: only cluster.* constants have ranges", u.Path)
	}
	if u.Pessimistic <= 0 || u.Optimistic <= 0 || math.IsInf(u.Pessimistic, 0) || math.IsInf(u.Optimistic, 0) {
		return fmt.Errorf("%s: pessimistic = %g, optimistic = %g, want factors above 0 (0.9 is 10%% less)", u.Path, u.Pessimistic, u.Optimistic)
	}
	if u.Max < 0 {
		return fmt.Errorf("%s: max = %g, want 0 (no cap) or more", u.Path, u.Max)
	}
	return nil
}

// Corner names.
const (
	CornerPessimistic = "pessimistic"
	CornerOptimistic  = "optimistic"
)

// UncertaintyResult is the check of a recommendation.
type UncertaintyResult struct {
	Constants []Uncertain
	// Rows are the recommendation first, then its neighbours in index
	// order.
	Rows []UncertainRow
	// Holds is the verdict; Verdict says it in words.
	Holds   bool
	Verdict string
}

// UncertainRow is one candidate at the nominal constants and the two
// corners.
type UncertainRow struct {
	Candidate int
	// Pessimistic and Optimistic are the figures at the corners.
	Pessimistic, Optimistic Fields
	// Feasible at nominal, pessimistic and optimistic constants.
	Nominal, PessimisticOK, OptimisticOK bool
}

// neighbours are the candidates one value away from c in one dimension.
func neighbours(p *Plan, cands []Candidate, c *Candidate) []int {
	var out []int
	for i := range cands {
		q := &cands[i]
		if q.Status == StatusExcluded || i == c.Index {
			continue
		}
		diff := 0
		for d, v := range p.Space {
			if q.Values[d].Value == c.Values[d].Value {
				continue
			}
			a, b := slices.Index(v.Values, q.Values[d].Value), slices.Index(v.Values, c.Values[d].Value)
			if a-b == 1 || b-a == 1 {
				diff++
			} else {
				diff += 2
			}
		}
		if diff == 1 {
			out = append(out, i)
		}
	}
	return out
}

// cornerOverrides are the constants at one corner for a scenario.
func cornerOverrides(us []Uncertain, s scenarios.Scenario, corner string) ([]scenarios.Override, error) {
	f, err := scenarioFields(s, nil)
	if err != nil {
		return nil, err
	}
	var out []scenarios.Override
	for _, u := range us {
		v, ok := f.Num["scenario."+u.Path]
		if !ok || v == 0 {
			continue // not set by this hardware: nothing to scale
		}
		x := v * u.Pessimistic
		if corner == CornerOptimistic {
			x = v * u.Optimistic
		}
		if u.Max > 0 {
			x = math.Min(x, u.Max)
		}
		out = append(out, scenarios.Override{Path: u.Path, Value: strconv.FormatFloat(x, 'g', 6, 64)})
	}
	return out, nil
}

func checkUncertainty(ctx context.Context, r *PlanResult, env PlanEnv) (*UncertaintyResult, error) {
	p := r.Plan
	rec := &r.Candidates[r.Recommended]
	rows := append([]int{r.Recommended}, neighbours(p, r.Candidates, rec)...)
	seeds := max(len(p.Seeds), 1)
	corners := []string{CornerPessimistic, CornerOptimistic}
	// One job per (row, corner, seed); loaded up front so a bad range
	// fails before anything runs.
	type job struct {
		row, corner int
		s           scenarios.Scenario
		opt         scenarios.RunOptions
	}
	var jobs []job
	for ri, ci := range rows {
		c := &r.Candidates[ci]
		for k, corner := range corners {
			extra, err := cornerOverrides(p.Uncertainty, c.Scenario, corner)
			if err != nil {
				return nil, err
			}
			for s := range seeds {
				ovs := slices.Clone(c.Values)
				if len(p.Seeds) > 0 {
					ovs = append(ovs, scenarios.Override{Path: "seed", Value: strconv.FormatUint(p.Seeds[s], 10)})
				}
				ovs = append(ovs, extra...)
				sc, opt, err := env.Load(ovs)
				if err != nil {
					return nil, fmt.Errorf("uncertainty: %s at %s constants: %w", c.Label(), corner, err)
				}
				jobs = append(jobs, job{ri, k, sc, opt})
			}
		}
	}
	pts := make([]Point, len(jobs))
	for i := range pts {
		pts[i] = Point{Index: i}
	}
	results := make([]*scenarios.Result, len(jobs))
	err := RunPoints(ctx, pts, env.Jobs, func(pt Point) (*scenarios.Result, error) {
		j := jobs[pt.Index]
		return env.Run(j.s, j.opt)
	}, func(pt Point, res *scenarios.Result) error {
		results[pt.Index] = res
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("uncertainty: %w", err)
	}
	u := &UncertaintyResult{Constants: p.Uncertainty}
	for ri, ci := range rows {
		c := &r.Candidates[ci]
		row := UncertainRow{Candidate: ci, Nominal: c.Status == StatusFeasible}
		for k := range corners {
			var rs []*scenarios.Result
			for i, j := range jobs {
				if j.row == ri && j.corner == k {
					rs = append(rs, results[i])
				}
			}
			pre, err := scenarioFields(c.Scenario, p.Cost)
			if err != nil {
				return nil, err
			}
			f, err := meanFields(pre, rs)
			if err != nil {
				return nil, err
			}
			ok := true
			for _, con := range p.Constraints {
				ok = ok && con.Met(f.Num[con.Field])
			}
			if k == 0 {
				row.Pessimistic, row.PessimisticOK = f, ok
			} else {
				row.Optimistic, row.OptimisticOK = f, ok
			}
		}
		u.Rows = append(u.Rows, row)
	}
	u.verdict(r)
	return u, nil
}

func (u *UncertaintyResult) verdict(r *PlanResult) {
	p := r.Plan
	rec := u.Rows[0]
	best := r.Candidates[r.Recommended].Num(p.Objective.Field)
	var why []string
	if !rec.PessimisticOK {
		var fails []string
		for _, k := range p.Constraints {
			if v := rec.Pessimistic.Num[k.Field]; !k.Met(v) {
				fails = append(fails, fmt.Sprintf("%s = %.4g", k.Field, v))
			}
		}
		why = append(why, "with pessimistic constants the recommendation fails ("+strings.Join(fails, ", ")+")")
	}
	for _, row := range u.Rows[1:] {
		c := &r.Candidates[row.Candidate]
		if row.OptimisticOK && !row.Nominal && p.Objective.Better(c.Num(p.Objective.Field), best) {
			why = append(why, "with optimistic constants the better "+c.Label()+" becomes feasible")
		}
	}
	u.Holds = len(why) == 0
	if u.Holds {
		u.Verdict = fmt.Sprintf("holds: it meets every constraint with pessimistic constants, and none of its %d neighbours with a better objective becomes feasible with optimistic ones", len(u.Rows)-1)
		return
	}
	u.Verdict = "at risk: " + strings.Join(why, "; ")
}

// CheckUncertainty runs the uncertainty check of res's recommendation,
// when it has one and the plan lists constants, into res.Uncertainty.
func CheckUncertainty(ctx context.Context, res *PlanResult, env PlanEnv) error {
	if res.Recommended < 0 || len(res.Plan.Uncertainty) == 0 {
		return nil
	}
	u, err := checkUncertainty(ctx, res, env)
	if err != nil {
		return err
	}
	res.Uncertainty = u
	return nil
}
