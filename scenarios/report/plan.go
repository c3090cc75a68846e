package report

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
)

// A plan's report: the recommendation (point, objective, figure,
// constraint values, binding constraint, bottleneck, uncertainty), the
// Pareto front, each constraint's reach, the uncertainty check and the
// candidates, as the same grids in every text format; JSON holds every
// candidate; HTML adds the Pareto plot, the heat map and the recommended
// scenario's YAML. docs/capacity.md describes each part.

// maxPlanRows bounds the candidates table of the text forms (JSON has
// them all).
const maxPlanRows = 40

// ForPlan returns the reporter of one format for a plan's result.
func ForPlan(format string, r *search.PlanResult) (Reporter, error) {
	switch format {
	case "table":
		return func(w io.Writer) error { return writePlanTables(w, r, false) }, nil
	case "markdown":
		return func(w io.Writer) error { return writePlanTables(w, r, true) }, nil
	case "json":
		return func(w io.Writer) error { return writePlanJSON(w, r) }, nil
	case "html":
		return func(w io.Writer) error { return writePlanHTML(w, r) }, nil
	}
	return nil, fmt.Errorf("report: --format = %q, want one of table, markdown, json, html", format)
}

// num formats a figure: NaN (not known) as a dash, otherwise with about
// four significant digits.
func num(x float64) string {
	switch a := math.Abs(x); {
	case math.IsNaN(x):
		return "-"
	case x == math.Trunc(x) && a < 1e9:
		return fmt.Sprintf("%.0f", x)
	case a >= 1000:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case x == 0:
		return "0"
	}
	return fmt.Sprintf("%.3g", x)
}

func planHeading(r *search.PlanResult) (string, string) {
	p := r.Plan
	name := p.Name
	if name == "" {
		name = "plan"
	}
	head := "plan " + name
	if p.Description != "" {
		head += ": " + p.Description
	}
	counts := map[search.Status]int{}
	for i := range r.Candidates {
		counts[r.Candidates[i].Status]++
	}
	seeds := max(len(p.Seeds), 1)
	base := "preset " + p.Base.Preset
	if p.Base.Scenario != "" {
		base = "scenario " + p.Base.Scenario
	}
	for _, o := range p.Base.Set {
		base += ", " + o.Path + "=" + o.Value
	}
	sub := fmt.Sprintf("base %s; %d candidates × %d seed(s): %d feasible, %d infeasible, %d pruned (monotone), %d excluded before running; %d points run, %d reused; %s, figure %s; moesim %s",
		base, len(r.Candidates), seeds, counts[search.StatusFeasible], counts[search.StatusInfeasible], counts[search.StatusPruned],
		counts[search.StatusExcluded], r.Ran, r.Reused, p.Objective, p.Figure.Field, scenarios.Version)
	return head, sub
}

// planFields are the figure columns: objective, figure, then each
// constraint's field, each once.
func planFields(p *search.Plan) []string {
	fs := []string{p.Objective.Field, p.Figure.Field}
	for _, c := range p.Constraints {
		if !slices.Contains(fs, c.Field) {
			fs = append(fs, c.Field)
		}
	}
	return fs
}

func (g *grid) candidateHeader(p *search.Plan, extra ...string) {
	for _, v := range p.Space {
		g.Header = append(g.Header, v.Path)
	}
	g.Header = append(g.Header, planFields(p)...)
	g.Header = append(g.Header, extra...)
}

func candidateCells(p *search.Plan, c *search.Candidate) []string {
	var row []string
	for _, o := range c.Values {
		row = append(row, o.Value)
	}
	for _, f := range planFields(p) {
		row = append(row, num(c.Num(f)))
	}
	return row
}

func recommendationGrid(r *search.PlanResult) grid {
	p := r.Plan
	g := grid{Title: "Recommendation", Header: []string{"", "value"}, Left: true}
	add := func(k, v string) { g.Rows = append(g.Rows, []string{k, v}) }
	if r.Recommended < 0 {
		add("recommended", "none: no point meets every constraint")
		for _, u := range r.Unmet {
			add("no point meets", fmt.Sprintf("%s (best %s = %s at %s)", u.Constraint, u.Constraint.Field, num(u.Best), r.Candidates[u.Candidate].Label()))
		}
		if r.Closest >= 0 {
			c := &r.Candidates[r.Closest]
			add("closest point", c.Label())
			add("it misses by", c.Why())
			add("bottleneck", c.Bottleneck())
		}
		return g
	}
	c := &r.Candidates[r.Recommended]
	add("recommended", c.Label())
	for _, f := range planFields(p) {
		add(f, num(c.Num(f)))
	}
	if r.Binding != "" {
		add("binding constraint", fmt.Sprintf("%s (fails at %d of the points with a better %s)", r.Binding, r.BindingCount, p.Objective.Field))
	} else {
		add("binding constraint", "none: no point has a better "+p.Objective.Field)
	}
	add("bottleneck", c.Bottleneck())
	if u := r.Uncertainty; u != nil {
		add("uncertainty", u.Verdict)
	}
	return g
}

func paretoGrid(r *search.PlanResult) grid {
	p := r.Plan
	g := grid{Title: fmt.Sprintf("Pareto front (%s against %s)", p.Objective, p.Figure)}
	g.candidateHeader(p, "bottleneck")
	for _, i := range r.Pareto {
		c := &r.Candidates[i]
		g.Rows = append(g.Rows, append(candidateCells(p, c), c.Bottleneck()))
	}
	return g
}

func constraintGrid(r *search.PlanResult) grid {
	g := grid{Title: "Constraints", Header: []string{"constraint", "met by", "of evaluated", "best value", "at"}}
	for _, k := range r.Plan.Constraints {
		met, n, best, at := 0, 0, math.NaN(), -1
		for i := range r.Candidates {
			c := &r.Candidates[i]
			v := c.Num(k.Field)
			if math.IsNaN(v) {
				continue
			}
			n++
			if k.Met(v) {
				met++
			}
			if at < 0 || k.Excess(v) < k.Excess(best) || (k.Excess(v) == 0 && k.Excess(best) == 0 && math.Abs(v-k.Limit) < math.Abs(best-k.Limit)) {
				best, at = v, i
			}
		}
		row := []string{k.String(), fmt.Sprint(met), fmt.Sprint(n), num(best), "-"}
		if at >= 0 {
			row[4] = r.Candidates[at].Label()
		}
		g.Rows = append(g.Rows, row)
	}
	return g
}

func uncertaintyGrids(r *search.PlanResult) []grid {
	u := r.Uncertainty
	if u == nil {
		return nil
	}
	p := r.Plan
	cg := grid{Title: "Uncertain constants (factors on each point's value)", Header: []string{"constant", "pessimistic", "optimistic", "cap", "source"}}
	for _, k := range u.Constants {
		capv := "-"
		if k.Max > 0 {
			capv = num(k.Max)
		}
		cg.Rows = append(cg.Rows, []string{k.Path, num(k.Pessimistic), num(k.Optimistic), capv, k.Source})
	}
	g := grid{Title: "Uncertainty: the recommendation and its neighbours at both ends of the constants' ranges"}
	for _, v := range p.Space {
		g.Header = append(g.Header, v.Path)
	}
	g.Header = append(g.Header, "role", "feasible (nominal / pessimistic / optimistic)")
	fs := planFields(p)
	for _, f := range fs[1:] {
		g.Header = append(g.Header, f+" pess.", f+" opt.")
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	for i, row := range u.Rows {
		c := &r.Candidates[row.Candidate]
		var cells []string
		for _, o := range c.Values {
			cells = append(cells, o.Value)
		}
		role := "neighbour"
		if i == 0 {
			role = "recommended"
		}
		cells = append(cells, role, yes(row.Nominal)+" / "+yes(row.PessimisticOK)+" / "+yes(row.OptimisticOK))
		for _, f := range fs[1:] {
			cells = append(cells, num(fieldOr(row.Pessimistic, f)), num(fieldOr(row.Optimistic, f)))
		}
		g.Rows = append(g.Rows, cells)
	}
	return []grid{cg, g}
}

func fieldOr(f search.Fields, k string) float64 {
	if v, ok := f.Num[k]; ok {
		return v
	}
	return math.NaN()
}

// candidateOrder is feasible (best first), then infeasible, pruned and
// excluded candidates, each by index.
func candidateOrder(r *search.PlanResult) []int {
	order := r.Feasible()
	for _, st := range []search.Status{search.StatusInfeasible, search.StatusPruned, search.StatusExcluded} {
		for i := range r.Candidates {
			if r.Candidates[i].Status == st {
				order = append(order, i)
			}
		}
	}
	return order
}

func candidatesGrid(r *search.PlanResult, limit int) grid {
	p := r.Plan
	g := grid{Title: "Candidates (feasible best first, then the rest)"}
	g.candidateHeader(p, "status", "bottleneck or why not")
	order := candidateOrder(r)
	for n, i := range order {
		if limit > 0 && n == limit {
			g.Title += fmt.Sprintf("; the first %d of %d (--format json has them all)", limit, len(order))
			break
		}
		c := &r.Candidates[i]
		why := c.Bottleneck()
		if c.Status != search.StatusFeasible {
			why = c.Why()
		}
		g.Rows = append(g.Rows, append(candidateCells(p, c), c.Status.String(), why))
	}
	return g
}

func planGrids(r *search.PlanResult, limit int) []grid {
	gs := []grid{recommendationGrid(r)}
	if len(r.Pareto) > 0 {
		gs = append(gs, paretoGrid(r))
	}
	gs = append(gs, constraintGrid(r))
	gs = append(gs, uncertaintyGrids(r)...)
	return append(gs, candidatesGrid(r, limit))
}

func writePlanTables(w io.Writer, r *search.PlanResult, markdown bool) error {
	head, sub := planHeading(r)
	return writeGrids(w, markdown, head, sub, planGrids(r, maxPlanRows))
}

// RecommendedYAML is the recommended point's effective scenario as YAML,
// empty when there is none.
func RecommendedYAML(r *search.PlanResult) (string, error) {
	if r.Recommended < 0 {
		return "", nil
	}
	return scenarioYAML(r.Candidates[r.Recommended].Scenario)
}
