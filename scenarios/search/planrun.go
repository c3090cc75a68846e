package search

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
)

// Running a plan. Candidates (the space's points, each over every seed)
// go through three gates:
//
//  1. Constraints on fields known before running (cost, gpus,
//     scenario.*) exclude a candidate without running it.
//  2. With pruning on and a dimension declared monotone, candidates run in
//     waves: on each line along the last monotone dimension (every other
//     value fixed) the middle undecided candidate runs, as in a binary
//     search. A candidate that fails a result constraint implies that
//     every candidate no easier in each monotone dimension, and equal in
//     the others, fails it too: those are pruned without running. Pruning
//     never drops a feasible candidate (when the declaration holds), so
//     the feasible set and the Pareto front are the exhaustive search's.
//  3. The rest run; their figures are the mean over the seeds.
//
// Within a wave points run in parallel (RunPoints); waves, picks and the
// evaluation depend only on results, never on completion order.

// Status is what a plan found about a candidate.
type Status int

// Statuses.
const (
	StatusFeasible   Status = iota // run, meets every constraint
	StatusInfeasible               // run, fails a constraint
	StatusExcluded                 // fails a constraint known before running; not run
	StatusPruned                   // implied to fail by a monotone dimension; not run
)

func (s Status) String() string {
	return [...]string{"feasible", "infeasible", "excluded", "pruned"}[s]
}

// Violation is a constraint a candidate fails, with its value (NaN when
// pruned: implied, not measured).
type Violation struct {
	Constraint Constraint
	Value      float64
}

// Candidate is one point of the space.
type Candidate struct {
	// Index is the point's number in the space's nested-loop order.
	Index  int
	Values []scenarios.Override
	Status Status
	// Fields are the scenario's fields, and when run the result's, the
	// mean over the seeds (strings from the first seed).
	Fields     Fields
	Seeds      int
	Violations []Violation
	// PrunedBy names the run candidate whose failure implies this one's.
	PrunedBy string
	// Scenario is the first seed's effective scenario.
	Scenario scenarios.Scenario
}

// Label is the candidate's space values as path=value pairs.
func (c *Candidate) Label() string {
	return Point{Values: c.Values}.String()
}

// Num is a numeric field, NaN when unknown.
func (c *Candidate) Num(field string) float64 {
	if v, ok := c.Fields.Num[field]; ok {
		return v
	}
	return math.NaN()
}

// Ran reports whether the candidate was run.
func (c *Candidate) Ran() bool { return c.Status == StatusFeasible || c.Status == StatusInfeasible }

// PlanEnv is what RunPlan needs from its caller, which owns files.
type PlanEnv struct {
	// Load loads the base scenario with a point's overrides applied.
	Load func(ovs []scenarios.Override) (scenarios.Scenario, scenarios.RunOptions, error)
	// Run runs one loaded scenario (the command stamps its run id).
	Run  func(scenarios.Scenario, scenarios.RunOptions) (*scenarios.Result, error)
	Jobs int
	// Known are results already at hand (a resumed --out file), by
	// point Key: they are used, not run again.
	Known map[string]*scenarios.Result
	// Each receives every point run, one at a time (to append to --out).
	Each func(Point, *scenarios.Result) error
	// Prune turns on monotone pruning; off runs every candidate the
	// pre-run constraints leave.
	Prune bool
	// Uncertainty turns on the check of the recommendation.
	Uncertainty bool
	// Progress, when set, is told of each point run.
	Progress func()
}

// PlanResult is a plan's outcome.
type PlanResult struct {
	Plan       *Plan
	Candidates []Candidate
	// Points is the count of points (candidates × seeds); Ran of those
	// run now, Reused of those taken from Known.
	Points, Ran, Reused int
	// Recommended is the index of the best feasible candidate, -1 if none.
	Recommended int
	// Pareto are the feasible candidates no other beats in both the
	// objective and the figure, in objective order.
	Pareto []int
	// Binding is the constraint most candidates with a better objective
	// than the recommendation fail (BindingCount of them); empty when no
	// candidate has a better objective.
	Binding      string
	BindingCount int
	// Unmet are the constraints no evaluated candidate meets, with the
	// best value reached; Closest is the run candidate that misses the
	// constraints by least (normalized), -1 if none ran.
	Unmet   []Unmet
	Closest int
	// Uncertainty is the check of the recommendation, nil when off.
	Uncertainty *UncertaintyResult
}

// Unmet is a constraint that no candidate meets.
type Unmet struct {
	Constraint Constraint
	Best       float64
	Candidate  int
}

// ExpandPlan returns the plan's points: the space, then seeds.
func ExpandPlan(p *Plan) ([]Point, error) { return Expand(p.Varies()) }

// RunPlan runs the plan and evaluates it.
func RunPlan(ctx context.Context, p *Plan, env PlanEnv) (*PlanResult, error) {
	points, err := ExpandPlan(p)
	if err != nil {
		return nil, scenarios.InputError{Err: err}
	}
	seeds := max(len(p.Seeds), 1)
	res := &PlanResult{Plan: p, Points: len(points), Recommended: -1, Closest: -1}
	scens := make([]scenarios.Scenario, len(points))
	opts := make([]scenarios.RunOptions, len(points))
	for i, pt := range points {
		if scens[i], opts[i], err = env.Load(pt.Values); err != nil {
			return nil, fmt.Errorf("point %s: %w", pt, err)
		}
	}
	cands := make([]Candidate, len(points)/seeds)
	for i := range cands {
		pt := points[i*seeds]
		c := Candidate{Index: i, Values: pt.Values[:len(p.Space)], Scenario: scens[i*seeds]}
		if c.Fields, err = scenarioFields(c.Scenario, p.Cost); err != nil {
			return nil, scenarios.InputError{Err: fmt.Errorf("point %s: %w", c.Label(), err)}
		}
		c.Status = -1
		for _, k := range p.Constraints {
			if preRun(k.Field) && !k.Met(c.Fields.Num[k.Field]) {
				c.Status = StatusExcluded
				c.Violations = append(c.Violations, Violation{k, c.Fields.Num[k.Field]})
			}
		}
		cands[i] = c
	}
	routes := scenarios.LayoutCache{Size: 2 * runtime.GOMAXPROCS(0)}
	run := func(pt Point) (*scenarios.Result, error) {
		s, opt := scens[pt.Index], opts[pt.Index]
		lay, err := routes.Layout(s, opt)
		if err != nil {
			return nil, err
		}
		opt.Layout = lay
		return env.Run(s, opt)
	}
	results := make([]*scenarios.Result, len(points))
	for {
		picks := pickWave(p, cands, env.Prune)
		if len(picks) == 0 {
			break
		}
		var todo []Point
		for _, ci := range picks {
			for s := range seeds {
				pt := points[ci*seeds+s]
				if r, ok := env.Known[pt.Key()]; ok {
					results[pt.Index] = r
					res.Reused++
					continue
				}
				todo = append(todo, pt)
			}
		}
		err := RunPoints(ctx, todo, env.Jobs, run, func(pt Point, r *scenarios.Result) error {
			results[pt.Index] = r
			res.Ran++
			if env.Progress != nil {
				env.Progress()
			}
			if env.Each != nil {
				return env.Each(pt, r)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, ci := range picks {
			if err := settle(p, &cands[ci], results[ci*seeds:(ci+1)*seeds]); err != nil {
				return nil, err
			}
		}
		if env.Prune {
			prune(p, cands)
		}
	}
	res.Candidates = cands
	res.evaluate()
	if env.Uncertainty && res.Recommended >= 0 && len(p.Uncertainty) > 0 {
		if res.Uncertainty, err = checkUncertainty(ctx, res, env); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// settle averages a candidate's seeds and checks its constraints.
func settle(p *Plan, c *Candidate, rs []*scenarios.Result) error {
	f, err := meanFields(c.Fields, rs)
	if err != nil {
		return err
	}
	c.Fields, c.Seeds = f, len(rs)
	c.Status = StatusFeasible
	for _, k := range p.Constraints {
		if v := f.Num[k.Field]; !k.Met(v) {
			c.Status = StatusInfeasible
			c.Violations = append(c.Violations, Violation{k, v})
		}
	}
	return nil
}

// meanFields is the mean of each numeric field over the results; strings
// come from the first.
func meanFields(pre Fields, rs []*scenarios.Result) (Fields, error) {
	var out Fields
	for i, r := range rs {
		f, err := resultFields(pre, r)
		if err != nil {
			return Fields{}, err
		}
		if i == 0 {
			out = f
			continue
		}
		for k, v := range f.Num {
			if _, isPre := pre.Num[k]; !isPre {
				out.Num[k] += v
			}
		}
	}
	if n := float64(len(rs)); n > 1 {
		for k := range out.Num {
			if _, pre := pre.Num[k]; !pre {
				out.Num[k] /= n
			}
		}
	}
	return out, nil
}

// numeric is a space value as a number (monotone dimensions are numeric).
func numeric(v string) float64 {
	x, _ := strconv.ParseFloat(v, 64)
	return x
}

// lineKey is the candidate's values except the dimension skip.
func lineKey(c *Candidate, skip int) string {
	var b strings.Builder
	for i, o := range c.Values {
		if i != skip {
			b.WriteString(o.Value)
			b.WriteByte('\x1f')
		}
	}
	return b.String()
}

// pickWave chooses the candidates to run next: all undecided ones without
// pruning; with it, the middle undecided candidate of each line along the
// last monotone dimension.
func pickWave(p *Plan, cands []Candidate, prune bool) []int {
	dim := -1
	if prune {
		for i, v := range p.Space {
			if p.Monotone[v.Path] != 0 {
				dim = i
			}
		}
	}
	var picks []int
	if dim < 0 {
		for i := range cands {
			if cands[i].Status < 0 {
				picks = append(picks, i)
			}
		}
		return picks
	}
	lines := map[string][]int{}
	var order []string
	for i := range cands {
		if cands[i].Status >= 0 {
			continue
		}
		k := lineKey(&cands[i], dim)
		if _, ok := lines[k]; !ok {
			order = append(order, k)
		}
		lines[k] = append(lines[k], i)
	}
	for _, k := range order {
		l := lines[k]
		slices.SortStableFunc(l, func(a, b int) int {
			return cmp.Compare(numeric(cands[a].Values[dim].Value), numeric(cands[b].Values[dim].Value))
		})
		picks = append(picks, l[len(l)/2])
	}
	slices.Sort(picks)
	return picks
}

// prune marks undecided candidates that a run infeasible candidate
// implies to fail.
func prune(p *Plan, cands []Candidate) {
	var mono []int
	for i, v := range p.Space {
		if p.Monotone[v.Path] != 0 {
			mono = append(mono, i)
		}
	}
	if len(mono) == 0 {
		return
	}
	for i := range cands {
		c := &cands[i]
		if c.Status >= 0 {
			continue
		}
		for j := range cands {
			q := &cands[j]
			if q.Status != StatusInfeasible || !implies(p, q, c, mono) {
				continue
			}
			for _, v := range q.Violations {
				if !preRun(v.Constraint.Field) {
					c.Status = StatusPruned
					c.PrunedBy = q.Label()
					c.Violations = append(c.Violations, Violation{v.Constraint, math.NaN()})
				}
			}
			if c.Status == StatusPruned {
				break
			}
		}
	}
}

// implies reports whether q is at least as easy as c in every monotone
// dimension and equal in the others.
func implies(p *Plan, q, c *Candidate, mono []int) bool {
	for i := range c.Values {
		if !slices.Contains(mono, i) {
			if q.Values[i].Value != c.Values[i].Value {
				return false
			}
			continue
		}
		dir := float64(p.Monotone[p.Space[i].Path])
		if dir*(numeric(q.Values[i].Value)-numeric(c.Values[i].Value)) < 0 {
			return false
		}
	}
	return true
}
