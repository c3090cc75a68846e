package report

import (
	"bytes"
	"encoding/json"
	"io"
	"math"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
)

// The JSON of a plan: the plan as understood, the recommendation, the
// front, every candidate with its figures (null where not known: pruned
// and excluded candidates did not run), and the uncertainty check.
// Objects keep a fixed order, so the same plan gives the same bytes.

// figuresJSON are named figures as one object, in order; NaN is null.
type figuresJSON struct {
	Names  []string
	Values []float64
}

func (f figuresJSON) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, n := range f.Names {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		buf.Write(k)
		buf.WriteByte(':')
		if v := f.Values[i]; math.IsNaN(v) || math.IsInf(v, 0) {
			buf.WriteString("null")
		} else {
			x, _ := json.Marshal(v)
			buf.Write(x)
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func figuresOf(names []string, get func(string) float64) figuresJSON {
	f := figuresJSON{Names: names}
	for _, n := range names {
		f.Values = append(f.Values, get(n))
	}
	return f
}

type candidateJSON struct {
	Index      int         `json:"index"`
	Values     values      `json:"values"`
	Status     string      `json:"status"`
	Figures    figuresJSON `json:"figures"`
	Bottleneck string      `json:"bottleneck,omitempty"`
	Why        string      `json:"why_not,omitempty"`
}

type unmetJSON struct {
	Constraint string   `json:"constraint"`
	Best       *float64 `json:"best"`
	At         values   `json:"at"`
}

type uncertainRowJSON struct {
	Values        values      `json:"values"`
	Role          string      `json:"role"`
	Feasible      bool        `json:"feasible"`
	PessimisticOK bool        `json:"pessimistic_feasible"`
	OptimisticOK  bool        `json:"optimistic_feasible"`
	Pessimistic   figuresJSON `json:"pessimistic"`
	Optimistic    figuresJSON `json:"optimistic"`
}

type uncertaintyJSON struct {
	Holds     bool               `json:"holds"`
	Verdict   string             `json:"verdict"`
	Constants []search.Uncertain `json:"constants"`
	Rows      []uncertainRowJSON `json:"rows"`
}

type planJSON struct {
	Plan struct {
		Name        string     `json:"name"`
		Description string     `json:"description"`
		Objective   string     `json:"objective"`
		Figure      string     `json:"figure"`
		Constraints []string   `json:"constraints"`
		Space       []varyJSON `json:"space"`
		Seeds       []uint64   `json:"seeds"`
	} `json:"plan"`
	Version     string           `json:"version"`
	Points      int              `json:"points"`
	Ran         int              `json:"ran"`
	Reused      int              `json:"reused"`
	Recommended *candidateJSON   `json:"recommended"`
	Binding     string           `json:"binding_constraint"`
	Pareto      []candidateJSON  `json:"pareto"`
	Unmet       []unmetJSON      `json:"unmet"`
	Closest     *candidateJSON   `json:"closest"`
	Uncertainty *uncertaintyJSON `json:"uncertainty"`
	Candidates  []candidateJSON  `json:"candidates"`
	// Scenario is the recommended point's effective scenario.
	Scenario *scenarios.Scenario `json:"recommended_scenario"`
}

func candidateOf(p *search.Plan, c *search.Candidate) candidateJSON {
	j := candidateJSON{Index: c.Index, Values: values(c.Values), Status: c.Status.String(),
		Figures: figuresOf(planFields(p), c.Num), Bottleneck: c.Bottleneck()}
	if c.Status != search.StatusFeasible {
		j.Why = c.Why()
	}
	return j
}

func nullable(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

func writePlanJSON(w io.Writer, r *search.PlanResult) error {
	p := r.Plan
	var v planJSON
	v.Plan.Name, v.Plan.Description = p.Name, p.Description
	v.Plan.Objective, v.Plan.Figure = p.Objective.String(), p.Figure.String()
	v.Plan.Constraints = []string{}
	for _, c := range p.Constraints {
		v.Plan.Constraints = append(v.Plan.Constraints, c.String())
	}
	for _, s := range p.Space {
		v.Plan.Space = append(v.Plan.Space, varyJSON{s.Path, s.Values})
	}
	v.Plan.Seeds = p.Seeds
	if v.Plan.Seeds == nil {
		v.Plan.Seeds = []uint64{}
	}
	v.Version, v.Points, v.Ran, v.Reused, v.Binding = scenarios.Version, r.Points, r.Ran, r.Reused, r.Binding
	if r.Recommended >= 0 {
		c := candidateOf(p, &r.Candidates[r.Recommended])
		v.Recommended = &c
		s := r.Candidates[r.Recommended].Scenario
		v.Scenario = &s
	}
	v.Pareto, v.Unmet = []candidateJSON{}, []unmetJSON{}
	for _, i := range r.Pareto {
		v.Pareto = append(v.Pareto, candidateOf(p, &r.Candidates[i]))
	}
	for _, u := range r.Unmet {
		v.Unmet = append(v.Unmet, unmetJSON{u.Constraint.String(), nullable(u.Best), values(r.Candidates[u.Candidate].Values)})
	}
	if r.Closest >= 0 {
		c := candidateOf(p, &r.Candidates[r.Closest])
		v.Closest = &c
	}
	if u := r.Uncertainty; u != nil {
		uj := &uncertaintyJSON{Holds: u.Holds, Verdict: u.Verdict, Constants: u.Constants}
		names := planFields(p)
		for i, row := range u.Rows {
			role := "neighbour"
			if i == 0 {
				role = "recommended"
			}
			uj.Rows = append(uj.Rows, uncertainRowJSON{Values: values(r.Candidates[row.Candidate].Values), Role: role,
				Feasible: row.Nominal, PessimisticOK: row.PessimisticOK, OptimisticOK: row.OptimisticOK,
				Pessimistic: figuresOf(names, func(k string) float64 { return fieldOr(row.Pessimistic, k) }),
				Optimistic:  figuresOf(names, func(k string) float64 { return fieldOr(row.Optimistic, k) })})
		}
		v.Uncertainty = uj
	}
	for i := range r.Candidates {
		v.Candidates = append(v.Candidates, candidateOf(p, &r.Candidates[i]))
	}
	return writeIndented(w, v)
}
