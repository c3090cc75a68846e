package search

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// decodePlan decodes a plan from text, failing the test on an error.
func decodePlan(t *testing.T, text string) *Plan {
	t.Helper()
	p, err := DecodePlan(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// presetEnv loads points from the plan's base preset and runs them.
func presetEnv(p *Plan, prune bool) PlanEnv {
	return PlanEnv{
		Load: func(ovs []scenarios.Override) (scenarios.Scenario, scenarios.RunOptions, error) {
			s, err := scenarios.LoadPreset(p.Base.Preset, append(slices.Clone(p.Base.Set), ovs...)...)
			return s, scenarios.RunOptions{}, err
		},
		Run:   scenarios.Run,
		Jobs:  2,
		Prune: prune,
	}
}

// The decode preset runs in a fraction of a second per point: small plans
// over it test the search, not the model. CONSTRAINT and FIGURE are filled
// in by each test (decodeTestPlan).
//
// The decode preset runs the low-latency kernels in hook mode with two
// micro-batches: the kernels only issue their sends (kernels_us does not
// depend on the NIC), and what the NIC and the node count move is the
// communication the other micro-batch's compute does not hide,
// overlap.exposed_comm_us. It grows with the node count and shrinks with
// the NIC's bandwidth, as the monotone section declares (the pruning test
// checks that this still holds).
const decodePlanYAML = `
name: test
base:
  preset: deepseek-v3-decode
  set:
    workload.tokens_per_gpu: 64
space:
  cluster.nodes: [4, 9]
  cluster.nic_GBps: [12.5, 25, 50, 100]
constraints:
  - CONSTRAINT
objective: minimize cost
figure: FIGURE
monotone:
  cluster.nic_GBps: increasing
  cluster.nodes: decreasing
cost:
  gpu_hour: 2
  nic_hour: {by: cluster.nic_GBps, values: {12.5: 0.01, 25: 0.02, 50: 0.04, 100: 0.08}}
`

// decodeTestPlan is decodePlanYAML with its constraint and figure.
func decodeTestPlan(t *testing.T, constraint, figure string) *Plan {
	t.Helper()
	return decodePlan(t, strings.NewReplacer("CONSTRAINT", constraint, "FIGURE", figure).Replace(decodePlanYAML))
}

const exposedField = "overlap.exposed_comm_us"

func feasibleLabels(r *PlanResult) []string {
	var out []string
	for _, i := range r.Feasible() {
		out = append(out, r.Candidates[i].Label())
	}
	return out
}

// figureAt is the field's value at the candidate with these node count and
// NIC values.
func figureAt(t *testing.T, r *PlanResult, field, nodes, nic string) float64 {
	t.Helper()
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if c.Values[0].Value == nodes && c.Values[1].Value == nic {
			return c.Num(field)
		}
	}
	t.Fatalf("no candidate cluster.nodes=%s cluster.nic_GBps=%s", nodes, nic)
	return 0
}

// Pruning skips only candidates a run one proves infeasible: the feasible
// set, the front and the recommendation are the exhaustive search's, from
// fewer runs. The limit is taken from the model's own figures, so the test
// keeps splitting the space as the model's constants move.
func TestPlanPruningMatchesExhaustive(t *testing.T) {
	ctx := context.Background()
	// Every point's exposed communication, from a search all points meet.
	probe := decodeTestPlan(t, exposedField+" <= 1e9", exposedField)
	all, err := RunPlan(ctx, probe, presetEnv(probe, false))
	if err != nil {
		t.Fatal(err)
	}
	// The premise of pruning: the figure is monotone as declared (fewer
	// nodes and a faster NIC never expose more).
	for i := range all.Candidates {
		for j := range all.Candidates {
			a, b := &all.Candidates[i], &all.Candidates[j]
			if numeric(a.Values[0].Value) <= numeric(b.Values[0].Value) && numeric(a.Values[1].Value) >= numeric(b.Values[1].Value) &&
				a.Num(exposedField) > b.Num(exposedField) {
				t.Fatalf("%s exposes %g µs, more than %s's %g: the model no longer makes %s monotone as the plan declares; choose another figure",
					a.Label(), a.Num(exposedField), b.Label(), b.Num(exposedField), exposedField)
			}
		}
	}
	// The limit lies between the 9-node, 50 GB/s point (the middle of its
	// line, which the first wave runs) and the next lower figure: that
	// point fails, its run prunes the slower NICs of its line, and the
	// points below the limit are feasible.
	pivot := figureAt(t, all, exposedField, "9", "50")
	lower := math.Inf(-1)
	for i := range all.Candidates {
		if v := all.Candidates[i].Num(exposedField); v < pivot {
			lower = max(lower, v)
		}
	}
	if math.IsInf(lower, -1) {
		t.Fatalf("no point exposes less than cluster.nodes=9 cluster.nic_GBps=50 (%g µs): the space no longer splits; choose another space", pivot)
	}
	limit := strconv.FormatFloat((pivot+lower)/2, 'g', 6, 64)
	p := decodeTestPlan(t, exposedField+" <= "+limit, exposedField)
	constraint := p.Constraints[0].String()
	full, err := RunPlan(ctx, p, presetEnv(p, false))
	if err != nil {
		t.Fatal(err)
	}
	pruned, err := RunPlan(ctx, p, presetEnv(p, true))
	if err != nil {
		t.Fatal(err)
	}
	if full.Ran != 8 {
		t.Fatalf("exhaustive search ran %d points, want all 8", full.Ran)
	}
	if pruned.Ran >= full.Ran {
		t.Fatalf("pruned search ran %d points, the exhaustive one %d: nothing was pruned", pruned.Ran, full.Ran)
	}
	nf, np := feasibleLabels(full), feasibleLabels(pruned)
	t.Logf("%s: pruned search ran %d of %d points; feasible %q", constraint, pruned.Ran, full.Ran, nf)
	if len(nf) == 0 || len(nf) == len(full.Candidates) {
		t.Fatalf("feasible set %q under %s: the test needs both feasible and infeasible points", nf, constraint)
	}
	if !slices.Equal(nf, np) {
		t.Fatalf("feasible set: pruned %q, exhaustive %q", np, nf)
	}
	if !slices.Equal(full.Pareto, pruned.Pareto) || full.Recommended != pruned.Recommended {
		t.Fatalf("front %v / recommendation %d pruned, %v / %d exhaustive", pruned.Pareto, pruned.Recommended, full.Pareto, full.Recommended)
	}
	for i := range pruned.Candidates {
		c := &pruned.Candidates[i]
		if c.Status == StatusPruned && full.Candidates[i].Status != StatusInfeasible {
			t.Errorf("%s pruned, but the exhaustive search finds it %s", c.Label(), full.Candidates[i].Status)
		}
	}
	// The recommendation is the cheapest feasible point, and every
	// cheaper one fails the constraint it names as binding.
	rec := &full.Candidates[full.Recommended]
	for i := range full.Candidates {
		c := &full.Candidates[i]
		if c.Status == StatusFeasible && c.Num(FieldCost) < rec.Num(FieldCost) {
			t.Errorf("%s is feasible and cheaper than the recommended %s", c.Label(), rec.Label())
		}
	}
	if full.Binding != constraint || full.BindingCount == 0 {
		t.Errorf("binding constraint %q (%d), want %s", full.Binding, full.BindingCount, constraint)
	}
	if b := rec.Bottleneck(); !strings.Contains(b, "dispatch") {
		t.Errorf("bottleneck %q names no kernel", b)
	}
}

// A plan no point meets names the constraint nobody meets, with the best
// value reached, and the closest point. (Exhaustive: the plan's monotone
// section is about exposed communication, not kernels_us.)
func TestPlanInfeasible(t *testing.T) {
	p := decodeTestPlan(t, "kernels_us <= 20", FieldKernelsUs)
	r, err := RunPlan(context.Background(), p, presetEnv(p, false))
	if err != nil {
		t.Fatal(err)
	}
	if r.Recommended >= 0 {
		t.Fatalf("recommended %s, but no point meets kernels_us <= 20", r.Candidates[r.Recommended].Label())
	}
	if len(r.Unmet) != 1 || r.Unmet[0].Constraint.String() != "kernels_us <= 20" {
		t.Fatalf("unmet %+v, want kernels_us <= 20", r.Unmet)
	}
	best := math.Inf(1)
	for i := range r.Candidates {
		if v := r.Candidates[i].Num(FieldKernelsUs); v < best {
			best = v
		}
	}
	if r.Unmet[0].Best != best || r.Closest < 0 || r.Candidates[r.Closest].Num(FieldKernelsUs) != best {
		t.Fatalf("best value %g at closest %d, want the fastest point's %g", r.Unmet[0].Best, r.Closest, best)
	}
}

func TestDecodePlanErrors(t *testing.T) {
	ok := "space: {kernel.num_sms: [8, 16]}\nconstraints: [overlap.exposed_comm_us <= 0]\nobjective: minimize overlap.layer_us\n"
	if _, err := DecodePlan(strings.NewReader(ok)); err != nil {
		t.Fatalf("a minimal plan: %v", err)
	}
	for _, c := range []struct{ text, want string }{
		{"", "empty file"},
		{ok + "colour: red\n", "field colour not found"},
		{"space: {kernel.num_sm: [8]}\nobjective: minimize cost\n", "space kernel.num_sm: no such field"},
		{"space: {kernel.num_sms: []}\nobjective: minimize gpus\n", "space.kernel.num_sms (line 1): an empty list"},
		{"space: {kernel.num_sms: [8, 8]}\nobjective: minimize gpus\n", "space.kernel.num_sms: value 8 given twice"},
		{"space: {kernel.num_sms: {from: 8, to: 4, step: 2}}\nobjective: minimize gpus\n", "range to = 4 is below from = 8"},
		{"space: {kernel.num_sms: {from: 4, to: 8}}\nobjective: minimize gpus\n", "exactly one of step"},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize gpus\nconstraints: [overlap.exposed <= 0]\n", "constraints[0]: field overlap.exposed: no such numeric result field"},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize gpus\nconstraints: [overlap.layer_us ~ 0]\n", `constraints[0]: "overlap.layer_us ~ 0", want FIELD OP NUMBER`},
		{"space: {kernel.num_sms: [8]}\n", "objective: missing"},
		{"space: {kernel.num_sms: [8]}\nobjective: shrink cost\n", `objective: "shrink cost", want minimize FIELD`},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize cost\n", "cost needs a cost: section"},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize gpus\nmonotone: {cluster.nodes: increasing}\n", "monotone.cluster.nodes: not a space path"},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize gpus\nmonotone: {kernel.num_sms: up}\n", `monotone.kernel.num_sms = "up", want increasing`},
		{"space: {kernel.mode: [normal]}\nobjective: minimize gpus\nmonotone: {kernel.mode: increasing}\n", `value "normal" is not a number`},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize cost\ncost: {gpu_hour: cheap}\n", `cost.gpu_hour: "cheap", want a price`},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize cost\ncost: {nic_hour: {by: cluster.nic, values: {50: 1}}}\n", "by: cluster.nic: no such field"},
		{"base: {preset: nope}\nspace: {kernel.num_sms: [8]}\nobjective: minimize gpus\n", `base.preset = "nope", want one of`},
		{"base: {set: {kernel.num_sm: 8}}\nspace: {kernel.num_sms: [8]}\nobjective: minimize gpus\n", "base.set kernel.num_sm: no such field"},
		{"space: {kernel.num_sms: [8], seed: [1]}\nobjective: minimize gpus\n", "list seeds under seeds:"},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize gpus\nheatmap: [kernel.num_sms, cluster.nodes]\n", "heatmap[1]: cluster.nodes is not a space path"},
		{"space: {kernel.num_sms: [8]}\nobjective: minimize gpus\nuncertainty: {constants: [{path: kernel.num_sms, pessimistic: 1, optimistic: 1}]}\n", "only cluster.* constants"},
	} {
		_, err := DecodePlan(strings.NewReader(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodePlan(%q) = %v, want an error containing %q", c.text, err, c.want)
		}
	}
}

// Every built-in example decodes.
func TestPlanExamplesDecode(t *testing.T) {
	names := scenarios.PlanExampleNames()
	if len(names) < 3 {
		t.Fatalf("examples %q, want at least the three of docs/capacity.md", names)
	}
	for _, n := range names {
		data, err := scenarios.PlanExampleYAML(n)
		if err != nil {
			t.Fatal(err)
		}
		p, err := DecodePlan(strings.NewReader(string(data)))
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if p.Name != n {
			t.Errorf("%s: name %q, want the file's name", n, p.Name)
		}
	}
}

func TestSpaceRanges(t *testing.T) {
	p := decodePlan(t, "space:\n  cluster.nodes: {from: 2, to: 16, times: 2}\n  kernel.num_sms: {from: 8, to: 20, step: 4}\nobjective: minimize gpus\nseeds: [1, 2]\n")
	if got := p.Space[0].Values; !slices.Equal(got, []string{"2", "4", "8", "16"}) {
		t.Errorf("times range = %q", got)
	}
	if got := p.Space[1].Values; !slices.Equal(got, []string{"8", "12", "16", "20"}) {
		t.Errorf("step range = %q", got)
	}
	vs := p.Varies()
	if len(vs) != 3 || vs[2].Path != "seed" || !slices.Equal(vs[2].Values, []string{"1", "2"}) {
		t.Errorf("Varies = %+v, want the space then the seeds", vs)
	}
}
