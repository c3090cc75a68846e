package search

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/scenarios"
)

// A plan is capacity planning as a search: a base scenario, a space of
// scenario paths and their values, constraints on result fields, an
// objective to minimize or maximize, and the seeds each point averages
// over. `moesim plan` runs the space (pruned where the plan declares a
// dimension monotone), keeps the points that meet every constraint, and
// recommends the best one. docs/capacity.md describes the file.
//
// Invariants:
//   - The space expands in file order (the first path changes slowest),
//     seeds last, as a sweep with Vary = space paths + "seed"; a point's
//     identity is its Key, so plan output files are sweep files.
//   - Every field a constraint, the objective or the figure names exists
//     (Fields), checked when the plan is decoded, before anything runs.

// Limits on a plan file.
const (
	maxPlanBytes       = 1 << 20
	maxPlanSeeds       = 1000
	maxPlanConstraints = 64
	maxRangeValues     = 10000
)

// Plan is a decoded plan file.
type Plan struct {
	Name, Description string
	Base              PlanBase
	// Space is the searched paths and their values, in file order.
	Space       []Vary
	Constraints []Constraint
	Objective   Goal
	// Figure is the Pareto front's other axis (minimized unless written
	// "maximize FIELD"); overlap.layer_us unless the plan says.
	Figure Goal
	Cost   *Cost
	Seeds  []uint64
	// Monotone maps a space path to +1 (every result constraint is no
	// harder to meet at a larger value) or -1 (at a smaller value).
	Monotone map[string]int
	// Heatmap is the two space paths of the HTML heat map.
	Heatmap [2]string
	// Uncertainty is the constants rerun at their range's ends around
	// the recommendation; nil turns the check off.
	Uncertainty []Uncertain
}

// PlanBase is the scenario every point starts from: a preset or a
// scenario file, with overrides.
type PlanBase struct {
	Preset, Scenario string
	Set              []scenarios.Override
}

// Goal is an objective: a field and its direction.
type Goal struct {
	Field    string
	Maximize bool
}

func (g Goal) String() string {
	if g.Maximize {
		return "maximize " + g.Field
	}
	return "minimize " + g.Field
}

// Better reports whether a is strictly better than b.
func (g Goal) Better(a, b float64) bool {
	if g.Maximize {
		return a > b
	}
	return a < b
}

// Constraint is FIELD OP LIMIT.
type Constraint struct {
	Field string
	Op    string
	Limit float64
}

func (c Constraint) String() string {
	return c.Field + " " + c.Op + " " + strconv.FormatFloat(c.Limit, 'g', -1, 64)
}

// Met reports whether v meets the constraint.
func (c Constraint) Met(v float64) bool {
	switch c.Op {
	case "<=":
		return v <= c.Limit
	case "<":
		return v < c.Limit
	case ">=":
		return v >= c.Limit
	case ">":
		return v > c.Limit
	}
	return v == c.Limit
}

// Excess is how far v is on the wrong side of the limit (0 when met).
func (c Constraint) Excess(v float64) float64 {
	if c.Met(v) {
		return 0
	}
	return math.Max(math.Abs(v-c.Limit), math.SmallestNonzeroFloat64)
}

var constraintOps = []string{"<=", ">=", "==", "<", ">"}

// ParseConstraint parses "FIELD OP NUMBER".
func ParseConstraint(s string) (Constraint, error) {
	for _, op := range constraintOps {
		f, v, ok := strings.Cut(s, op)
		if !ok {
			continue
		}
		f, v = strings.TrimSpace(f), strings.TrimSpace(v)
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || f == "" || math.IsNaN(x) || math.IsInf(x, 0) {
			break
		}
		if err := checkField(f); err != nil {
			return Constraint{}, err
		}
		return Constraint{Field: f, Op: op, Limit: x}, nil
	}
	return Constraint{}, fmt.Errorf("%q, want FIELD OP NUMBER with OP one of %s (for example overlap.exposed_comm_us <= 0)", s, strings.Join(constraintOps, " "))
}

// ParseGoal parses "minimize FIELD", "maximize FIELD" or "FIELD".
func ParseGoal(s string) (Goal, error) {
	w := strings.Fields(s)
	var g Goal
	switch {
	case len(w) == 1:
		g.Field = w[0]
	case len(w) == 2 && (w[0] == "minimize" || w[0] == "maximize"):
		g = Goal{Field: w[1], Maximize: w[0] == "maximize"}
	default:
		return Goal{}, fmt.Errorf("%q, want minimize FIELD or maximize FIELD (for example minimize cost)", s)
	}
	return g, checkField(g.Field)
}

// planFile is the YAML form; unknown fields are errors.
type planFile struct {
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Base        baseFile         `yaml:"base"`
	Space       yaml.Node        `yaml:"space"`
	Constraints []string         `yaml:"constraints"`
	Objective   string           `yaml:"objective"`
	Figure      string           `yaml:"figure"`
	Cost        *costFile        `yaml:"cost"`
	Seeds       []uint64         `yaml:"seeds"`
	Monotone    yaml.Node        `yaml:"monotone"`
	Heatmap     []string         `yaml:"heatmap"`
	Uncertainty *uncertaintyFile `yaml:"uncertainty"`
}

type baseFile struct {
	Preset   string    `yaml:"preset"`
	Scenario string    `yaml:"scenario"`
	Set      yaml.Node `yaml:"set"`
}

type uncertaintyFile struct {
	Off       bool        `yaml:"off"`
	Constants []Uncertain `yaml:"constants"`
}

// DecodePlan reads a plan file strictly: unknown fields, unknown scenario
// paths or result fields, and malformed values are errors that name the
// field, the value and what is allowed.
func DecodePlan(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if len(data) > maxPlanBytes {
		return nil, fmt.Errorf("plan: file is larger than %d bytes", maxPlanBytes)
	}
	var f planFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("plan: empty file; a plan needs base, space, constraints and objective sections")
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		for _, t := range []string{"search.planFile", "search.baseFile", "search.costFile", "search.uncertaintyFile", "search.Uncertain"} {
			msg = strings.ReplaceAll(msg, "in type "+t, "in this section of the plan")
		}
		return nil, fmt.Errorf("plan: %s", msg)
	}
	return f.plan()
}

func (f *planFile) plan() (*Plan, error) {
	p := &Plan{Name: f.Name, Description: f.Description}
	var err error
	if p.Base, err = f.Base.base(); err != nil {
		return nil, err
	}
	if p.Space, err = decodeSpace(&f.Space); err != nil {
		return nil, err
	}
	if len(f.Constraints) > maxPlanConstraints {
		return nil, fmt.Errorf("plan: constraints: %d of them, want at most %d", len(f.Constraints), maxPlanConstraints)
	}
	for i, s := range f.Constraints {
		c, err := ParseConstraint(s)
		if err != nil {
			return nil, fmt.Errorf("plan: constraints[%d]: %w", i, err)
		}
		p.Constraints = append(p.Constraints, c)
	}
	if f.Objective == "" {
		return nil, errors.New("plan: objective: missing; want minimize FIELD or maximize FIELD (for example minimize cost)")
	}
	if p.Objective, err = ParseGoal(f.Objective); err != nil {
		return nil, fmt.Errorf("plan: objective: %w", err)
	}
	if f.Figure == "" {
		f.Figure = "overlap.layer_us"
	}
	if p.Figure, err = ParseGoal(f.Figure); err != nil {
		return nil, fmt.Errorf("plan: figure: %w", err)
	}
	if f.Cost != nil {
		if p.Cost, err = f.Cost.cost(); err != nil {
			return nil, err
		}
	}
	for _, g := range append([]string{p.Objective.Field, p.Figure.Field}, fieldsOf(p.Constraints)...) {
		if g == FieldCost && p.Cost == nil {
			return nil, fmt.Errorf("plan: %s needs a cost: section (gpu_hour, nic_hour, fabric_hour)", g)
		}
	}
	p.Seeds = f.Seeds
	if len(p.Seeds) > maxPlanSeeds {
		return nil, fmt.Errorf("plan: seeds: %d of them, want at most %d", len(p.Seeds), maxPlanSeeds)
	}
	for i, s := range p.Seeds {
		if slices.Contains(p.Seeds[:i], s) {
			return nil, fmt.Errorf("plan: seeds: %d given twice", s)
		}
	}
	if slices.ContainsFunc(p.Space, func(v Vary) bool { return v.Path == "seed" }) {
		return nil, errors.New("plan: space: seed: list seeds under seeds:, not in the space")
	}
	if p.Monotone, err = decodeMonotone(&f.Monotone, p.Space); err != nil {
		return nil, err
	}
	switch len(f.Heatmap) {
	case 0:
		for i := 0; i < 2 && i < len(p.Space); i++ {
			p.Heatmap[i] = p.Space[i].Path
		}
	case 2:
		for i, h := range f.Heatmap {
			if !slices.ContainsFunc(p.Space, func(v Vary) bool { return v.Path == h }) {
				return nil, fmt.Errorf("plan: heatmap[%d]: %s is not a space path; space: %s", i, h, strings.Join(spacePaths(p.Space), ", "))
			}
			p.Heatmap[i] = h
		}
		if p.Heatmap[0] == p.Heatmap[1] {
			return nil, fmt.Errorf("plan: heatmap: %s twice, want two different space paths", p.Heatmap[0])
		}
	default:
		return nil, fmt.Errorf("plan: heatmap: %d paths, want two space paths", len(f.Heatmap))
	}
	p.Uncertainty = DefaultUncertainty
	if u := f.Uncertainty; u != nil {
		switch {
		case u.Off:
			p.Uncertainty = nil
		case len(u.Constants) > 0:
			p.Uncertainty = u.Constants
		}
		for i, c := range p.Uncertainty {
			if err := c.check(); err != nil {
				return nil, fmt.Errorf("plan: uncertainty.constants[%d]: %w", i, err)
			}
		}
	}
	return p, nil
}

func fieldsOf(cs []Constraint) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Field)
	}
	return out
}

func spacePaths(vs []Vary) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Path)
	}
	return out
}

func (b baseFile) base() (PlanBase, error) {
	pb := PlanBase{Preset: b.Preset, Scenario: b.Scenario}
	if pb.Preset != "" && pb.Scenario != "" {
		return pb, fmt.Errorf("plan: base: preset = %q and scenario = %q; give one of them", pb.Preset, pb.Scenario)
	}
	if pb.Preset == "" && pb.Scenario == "" {
		pb.Preset = scenarios.DefaultPreset
	}
	if pb.Preset != "" && !slices.Contains(scenarios.PresetNames(), pb.Preset) {
		return pb, fmt.Errorf("plan: base.preset = %q, want one of %s", pb.Preset, strings.Join(scenarios.PresetNames(), ", "))
	}
	n := &b.Set
	if n.Kind == 0 {
		return pb, nil
	}
	if n.Kind != yaml.MappingNode {
		return pb, fmt.Errorf("plan: base.set (line %d): want a mapping of scenario path: value", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := scenarios.CheckPath("base.set", k.Value); err != nil {
			return pb, fmt.Errorf("plan: %w", err)
		}
		if v.Kind != yaml.ScalarNode {
			return pb, fmt.Errorf("plan: base.set.%s (line %d): want a scalar value", k.Value, v.Line)
		}
		pb.Set = append(pb.Set, scenarios.Override{Path: k.Value, Value: v.Value})
	}
	return pb, nil
}

// decodeSpace reads space: path: [v1, v2, ...] or path: {from, to,
// step | times}, in file order.
func decodeSpace(n *yaml.Node) ([]Vary, error) {
	if n.Kind == 0 {
		return nil, errors.New("plan: space: missing; want scenario paths and their values, for example space: {cluster.nic_GBps: [25, 50, 100]}")
	}
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return nil, fmt.Errorf("plan: space (line %d): want a mapping of scenario path: [values] or {from, to, step}", n.Line)
	}
	var out []Vary
	points := 1
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := "space." + k.Value
		if err := scenarios.CheckPath("space", k.Value); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		if slices.ContainsFunc(out, func(x Vary) bool { return x.Path == k.Value }) {
			return nil, fmt.Errorf("plan: %s given twice", field)
		}
		vals, err := spaceValues(v)
		if err != nil {
			return nil, fmt.Errorf("plan: %s (line %d): %w", field, v.Line, err)
		}
		for j, x := range vals {
			if slices.Contains(vals[:j], x) {
				return nil, fmt.Errorf("plan: %s: value %s given twice", field, x)
			}
		}
		points *= len(vals)
		if points > MaxSweepPoints {
			return nil, fmt.Errorf("plan: space has more than %d points; search fewer values", MaxSweepPoints)
		}
		out = append(out, Vary{Path: k.Value, Values: vals})
	}
	return out, nil
}

func spaceValues(v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return nil, errors.New("an empty list; want at least one value")
		}
		var out []string
		for _, c := range v.Content {
			if c.Kind != yaml.ScalarNode || strings.TrimSpace(c.Value) == "" {
				return nil, fmt.Errorf("value at line %d is not a scalar; want a list of values such as [25, 50, 100]", c.Line)
			}
			out = append(out, strings.TrimSpace(c.Value))
		}
		return out, nil
	case yaml.MappingNode:
		var r struct {
			From  *float64 `yaml:"from"`
			To    *float64 `yaml:"to"`
			Step  float64  `yaml:"step"`
			Times float64  `yaml:"times"`
		}
		if err := v.Decode(&r); err != nil {
			return nil, errors.New("a range is {from: A, to: B, step: S} or {from: A, to: B, times: F}")
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			if k := v.Content[i].Value; !slices.Contains([]string{"from", "to", "step", "times"}, k) {
				return nil, fmt.Errorf("range field %q, want from, to and step or times", k)
			}
		}
		switch {
		case r.From == nil || r.To == nil:
			return nil, errors.New("a range needs both from and to")
		case *r.To < *r.From:
			return nil, fmt.Errorf("range to = %g is below from = %g", *r.To, *r.From)
		case (r.Step != 0) == (r.Times != 0):
			return nil, errors.New("a range needs exactly one of step: (added) or times: (multiplied)")
		case r.Step < 0:
			return nil, fmt.Errorf("range step = %g, want more than 0", r.Step)
		case r.Times != 0 && (r.Times <= 1 || *r.From <= 0):
			return nil, fmt.Errorf("range times = %g from %g, want times > 1 and from > 0", r.Times, *r.From)
		}
		var out []string
		for i := 0; ; i++ {
			x := *r.From + float64(i)*r.Step
			if r.Times != 0 {
				x = *r.From * math.Pow(r.Times, float64(i))
			}
			if x > *r.To*(1+1e-12) {
				break
			}
			if len(out) == maxRangeValues {
				return nil, fmt.Errorf("a range of more than %d values", maxRangeValues)
			}
			out = append(out, strconv.FormatFloat(x, 'g', -1, 64))
		}
		return out, nil
	}
	return nil, errors.New("want a list [v1, v2, ...] or a range {from: A, to: B, step: S}")
}

func decodeMonotone(n *yaml.Node, space []Vary) (map[string]int, error) {
	m := map[string]int{}
	if n.Kind == 0 {
		return m, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("plan: monotone (line %d): want a mapping of space path: increasing | decreasing", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1].Value
		j := slices.IndexFunc(space, func(x Vary) bool { return x.Path == k })
		if j < 0 {
			return nil, fmt.Errorf("plan: monotone.%s: not a space path; space: %s", k, strings.Join(spacePaths(space), ", "))
		}
		switch v {
		case "increasing":
			m[k] = 1
		case "decreasing":
			m[k] = -1
		default:
			return nil, fmt.Errorf("plan: monotone.%s = %q, want increasing (constraints are easier to meet at larger values) or decreasing", k, v)
		}
		for _, x := range space[j].Values {
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return nil, fmt.Errorf("plan: monotone.%s: value %q is not a number; only numeric dimensions can be monotone", k, x)
			}
		}
	}
	return m, nil
}

// Varies is the plan's sweep: the space, then the seeds when the plan
// lists them.
func (p *Plan) Varies() []Vary {
	vs := slices.Clone(p.Space)
	if len(p.Seeds) > 0 {
		s := Vary{Path: "seed"}
		for _, x := range p.Seeds {
			s.Values = append(s.Values, strconv.FormatUint(x, 10))
		}
		vs = append(vs, s)
	}
	return vs
}
