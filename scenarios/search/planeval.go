package search

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Evaluating a plan's candidates: the recommendation (the best objective
// among feasible candidates, ties to the better figure, then the lower
// index), the Pareto front of objective against figure, the binding
// constraint, and for a plan no candidate meets, the constraints nobody
// meets and the closest candidate. Everything here is a pure function of
// the candidates, so it reads the same from a merged shard file.

// Feasible lists the feasible candidates in recommendation order.
func (r *PlanResult) Feasible() []int {
	var out []int
	for i := range r.Candidates {
		if r.Candidates[i].Status == StatusFeasible {
			out = append(out, i)
		}
	}
	p := r.Plan
	slices.SortStableFunc(out, func(a, b int) int {
		ca, cb := &r.Candidates[a], &r.Candidates[b]
		oa, ob := ca.Num(p.Objective.Field), cb.Num(p.Objective.Field)
		switch {
		case p.Objective.Better(oa, ob):
			return -1
		case p.Objective.Better(ob, oa):
			return 1
		}
		fa, fb := ca.Num(p.Figure.Field), cb.Num(p.Figure.Field)
		switch {
		case p.Figure.Better(fa, fb):
			return -1
		case p.Figure.Better(fb, fa):
			return 1
		}
		return a - b
	})
	return out
}

// Evaluate (re)computes the recommendation, front, binding constraint and
// the infeasibility summary from the candidates.
func (r *PlanResult) Evaluate() { r.evaluate() }

func (r *PlanResult) evaluate() {
	p := r.Plan
	r.Recommended, r.Pareto, r.Binding, r.BindingCount, r.Unmet, r.Closest = -1, nil, "", 0, nil, -1
	feas := r.Feasible()
	if len(feas) > 0 {
		r.Recommended = feas[0]
		r.Pareto = pareto(r, feas)
		r.binding()
		return
	}
	r.unmet()
	best := math.Inf(1)
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if !c.Ran() {
			continue
		}
		d := 0.0
		for _, k := range p.Constraints {
			d += k.Excess(c.Num(k.Field)) / r.scale(k)
		}
		if d < best {
			best, r.Closest = d, i
		}
	}
}

// pareto keeps the feasible candidates (in recommendation order) that no
// earlier one matches or beats in the figure.
func pareto(r *PlanResult, feas []int) []int {
	var out []int
	g := r.Plan.Figure
	for _, i := range feas {
		f := r.Candidates[i].Num(g.Field)
		if len(out) == 0 || g.Better(f, r.Candidates[out[len(out)-1]].Num(g.Field)) {
			out = append(out, i)
		}
	}
	return out
}

// binding counts, over the candidates with a strictly better objective
// than the recommendation, the constraints they fail.
func (r *PlanResult) binding() {
	p := r.Plan
	best := r.Candidates[r.Recommended].Num(p.Objective.Field)
	counts := make([]int, len(p.Constraints))
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if c.Status == StatusFeasible || !p.Objective.Better(c.Num(p.Objective.Field), best) {
			continue
		}
		for _, v := range c.Violations {
			counts[slices.Index(p.Constraints, v.Constraint)]++
		}
	}
	for i, n := range counts {
		if n > r.BindingCount {
			r.Binding, r.BindingCount = p.Constraints[i].String(), n
		}
	}
}

// scale normalizes a constraint's excess: its limit, or when the limit is
// zero the largest magnitude any run candidate reached (1 if none).
func (r *PlanResult) scale(k Constraint) float64 {
	if k.Limit != 0 {
		return math.Abs(k.Limit)
	}
	s := 0.0
	for i := range r.Candidates {
		if v := r.Candidates[i].Num(k.Field); !math.IsNaN(v) {
			s = math.Max(s, math.Abs(v))
		}
	}
	if s == 0 {
		return 1
	}
	return s
}

func (r *PlanResult) unmet() {
	for _, k := range r.Plan.Constraints {
		met, best, at := false, math.NaN(), -1
		for i := range r.Candidates {
			c := &r.Candidates[i]
			v := c.Num(k.Field)
			if math.IsNaN(v) {
				continue
			}
			if k.Met(v) {
				met = true
				break
			}
			if at < 0 || k.Excess(v) < k.Excess(best) {
				best, at = v, i
			}
		}
		if !met && at >= 0 {
			r.Unmet = append(r.Unmet, Unmet{Constraint: k, Best: best, Candidate: at})
		}
	}
}

// Bottleneck describes what limits a run candidate: each kernel's
// bottleneck and whether communication is exposed.
func (c *Candidate) Bottleneck() string {
	if !c.Ran() {
		return ""
	}
	d, cb := c.Fields.Str["dispatch.bottleneck"], c.Fields.Str["combine.bottleneck"]
	k := d + " (dispatch), " + cb + " (combine)"
	if d == cb {
		k = d + " (dispatch and combine)"
	}
	if e := c.Num("overlap.exposed_comm_us"); e > 0 {
		return fmt.Sprintf("%s; %.1f µs of communication exposed", k, e)
	}
	return k + "; communication hidden"
}

// Why says in words why a candidate is not feasible.
func (c *Candidate) Why() string {
	var parts []string
	for _, v := range c.Violations {
		if math.IsNaN(v.Value) {
			parts = append(parts, "fails "+v.Constraint.String())
		} else {
			parts = append(parts, fmt.Sprintf("%s = %.4g fails %s", v.Constraint.Field, v.Value, v.Constraint))
		}
	}
	s := strings.Join(parts, "; ")
	if c.Status == StatusPruned {
		s += " (implied by " + c.PrunedBy + ")"
	}
	return s
}
