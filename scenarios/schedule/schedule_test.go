package schedule

import (
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/moesim/moesim/scenarios/compute"
	"github.com/moesim/moesim/sim"
)

// drawPhases draws durations in [0, maxPs], zeros included.
func drawPhases(t *rapid.T, maxCompute, maxComm sim.Time) Phases {
	d := func(name string, hi sim.Time) sim.Time {
		if hi == 0 {
			return 0
		}
		// One draw in five is exactly zero.
		if rapid.IntRange(0, 4).Draw(t, name+"_zero") == 0 {
			return 0
		}
		return sim.Time(rapid.Int64Range(0, int64(hi)).Draw(t, name))
	}
	return Phases{
		LayerCompute: compute.LayerCompute{
			AttnFwd: d("attn_fwd", maxCompute), MLPFwd: d("mlp_fwd", maxCompute),
			AttnBwdInput: d("attn_bwd_in", maxCompute), AttnBwdWeight: d("attn_bwd_w", maxCompute),
			MLPBwdInput: d("mlp_bwd_in", maxCompute), MLPBwdWeight: d("mlp_bwd_w", maxCompute),
		},
		Dispatch: d("dispatch", maxComm), Combine: d("combine", maxComm),
		DispatchBwd: d("dispatch_bwd", maxComm), CombineBwd: d("combine_bwd", maxComm),
	}
}

func mustRun(t interface {
	Helper()
	Fatalf(string, ...any)
}, k ScheduleKind, p Phases) ScheduleResult {
	t.Helper()
	r, err := RunSchedule(k, p)
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return r
}

// referenceLayer is the makespan worked out by hand from each schedule's
// stream orders and dependencies: every op ends at
// max(stream predecessor's end, dependencies' ends) + its duration.
func referenceLayer(k ScheduleKind, p Phases) sim.Time {
	switch k {
	case ScheduleSerial:
		return p.AttnFwd + p.Dispatch + p.MLPFwd + p.Combine
	case ScheduleTwoMicroBatch:
		a, m, d, c := p.AttnFwd, p.MLPFwd, p.Dispatch, p.Combine
		combBp := c
		attnA := a
		attnB := max(attnA, combBp) + a
		dispA := max(combBp, attnA) + d
		dispB := max(dispA, attnB) + d
		mlpA := max(attnB, dispA) + m
		mlpB := max(mlpA, dispB) + m
		combA := max(dispB, mlpA) + c
		return max(mlpB, combA)
	default:
		combBwd := p.CombineBwd
		attnF := p.AttnFwd
		mlpBI := max(attnF, combBwd) + p.MLPBwdInput
		mlpBW := max(mlpBI, combBwd) + p.MLPBwdWeight
		dispF := max(combBwd, attnF) + p.Dispatch
		mlpF := max(mlpBW, dispF) + p.MLPFwd
		dispBwd := max(dispF, mlpBI) + p.DispatchBwd
		attnBI := max(mlpF, dispBwd) + p.AttnBwdInput
		attnBW := max(attnBI, dispBwd) + p.AttnBwdWeight
		combF := max(dispBwd, mlpF) + p.Combine
		return max(attnBW, combF)
	}
}

func TestScheduleSerialIsSumOfParts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPhases(t, sim.Second, sim.Second)
		r := mustRun(t, ScheduleSerial, p)
		sum := p.AttnFwd + p.Dispatch + p.MLPFwd + p.Combine
		if r.Layer != sum {
			t.Fatalf("serial layer %v, want the sum %v", r.Layer, sum)
		}
		if r.Hidden != 0 || r.Exposed != r.Comm {
			t.Fatalf("serial hides %v of %v", r.Hidden, r.Comm)
		}
	})
}

func TestScheduleMatchesHandWorkedReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPhases(t, 10*sim.Millisecond, 10*sim.Millisecond)
		for _, k := range ScheduleKinds() {
			r := mustRun(t, k, p)
			if want := referenceLayer(k, p); r.Layer != want {
				t.Fatalf("%s: layer %v, reference %v", k, r.Layer, want)
			}
		}
	})
}

// Tiny communication (each all-to-all at most a quarter of the shortest
// compute op) hides completely: the layer is the compute stream's busy
// time, exactly.
func TestScheduleTinyCommLayerIsCompute(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lo := sim.Time(rapid.Int64Range(4, int64(sim.Millisecond)).Draw(t, "min_compute"))
		c := func(name string) sim.Time {
			return lo + sim.Time(rapid.Int64Range(0, int64(sim.Millisecond)).Draw(t, name))
		}
		m := func(name string) sim.Time { return sim.Time(rapid.Int64Range(0, int64(lo/4)).Draw(t, name)) }
		p := Phases{
			LayerCompute: compute.LayerCompute{AttnFwd: c("a"), MLPFwd: c("m"), AttnBwdInput: c("abi"),
				AttnBwdWeight: c("abw"), MLPBwdInput: c("mbi"), MLPBwdWeight: c("mbw")},
			Dispatch: m("d"), Combine: m("c"), DispatchBwd: m("db"), CombineBwd: m("cb"),
		}
		for _, k := range []ScheduleKind{ScheduleTwoMicroBatch, ScheduleDualPipe} {
			r := mustRun(t, k, p)
			if r.Layer != r.Compute {
				t.Fatalf("%s: layer %v, compute %v (comm %v)", k, r.Layer, r.Compute, r.Comm)
			}
			if r.Hidden != r.Comm || r.HiddenFraction != 1 {
				t.Fatalf("%s: hidden %v of %v (%g)", k, r.Hidden, r.Comm, r.HiddenFraction)
			}
		}
	})
}

// With no compute, the layer is the comm stream's chain: all four
// all-to-alls back to back.
func TestScheduleZeroComputeLayerIsCommChain(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPhases(t, 0, 10*sim.Millisecond)
		for _, k := range []ScheduleKind{ScheduleTwoMicroBatch, ScheduleDualPipe} {
			r := mustRun(t, k, p)
			var chain sim.Time
			if k == ScheduleTwoMicroBatch {
				chain = 2*p.Dispatch + 2*p.Combine
			} else {
				chain = p.Dispatch + p.Combine + p.DispatchBwd + p.CombineBwd
			}
			if r.Layer != chain || r.Comm != chain {
				t.Fatalf("%s: layer %v comm %v, want the comm chain %v", k, r.Layer, r.Comm, chain)
			}
			if r.Hidden != 0 || r.Exposed != chain {
				t.Fatalf("%s: hidden %v with no compute", k, r.Hidden)
			}
		}
	})
}

func TestScheduleInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPhases(t, 10*sim.Millisecond, 10*sim.Millisecond)
		for _, k := range ScheduleKinds() {
			r := mustRun(t, k, p)
			checkScheduleResult(t, k, r)
		}
	})
}

func checkScheduleResult(t *rapid.T, k ScheduleKind, r ScheduleResult) {
	if r.Kind != k {
		t.Fatalf("kind %q, want %q", r.Kind, k)
	}
	if r.HiddenFraction < 0 || r.HiddenFraction > 1 {
		t.Fatalf("%s: HiddenFraction %g", k, r.HiddenFraction)
	}
	if r.Comm == 0 && r.HiddenFraction != 1 {
		t.Fatalf("%s: no comm, HiddenFraction %g, want 1", k, r.HiddenFraction)
	}
	if r.Hidden < 0 || r.Hidden > r.Comm || r.Hidden > r.Compute || r.Exposed != r.Comm-r.Hidden {
		t.Fatalf("%s: hidden %v exposed %v comm %v compute %v", k, r.Hidden, r.Exposed, r.Comm, r.Compute)
	}
	if r.Layer < max(r.Compute, r.Comm) || r.Layer > r.Compute+r.Comm {
		t.Fatalf("%s: layer %v outside [max, sum] of compute %v comm %v", k, r.Layer, r.Compute, r.Comm)
	}
	// The layer covers at least the union of the two streams' busy time.
	if r.Layer < r.Compute+r.Comm-r.Hidden {
		t.Fatalf("%s: layer %v shorter than compute+comm-hidden %v", k, r.Layer, r.Compute+r.Comm-r.Hidden)
	}
	end := make(map[string]sim.Time, len(r.Ops))
	var busy [2]sim.Time
	var last [2]sim.Time
	var lastEnd sim.Time
	for i, o := range r.Ops {
		if i > 0 && o.Start < r.Ops[i-1].Start {
			t.Fatalf("%s: ops not in start order at %s", k, o.Name)
		}
		if o.End < o.Start {
			t.Fatalf("%s: %s ends before it starts", k, o.Name)
		}
		s := 0
		switch o.Stream {
		case StreamCompute:
		case StreamComm:
			s = 1
		default:
			t.Fatalf("%s: %s on stream %q", k, o.Name, o.Stream)
		}
		if o.Start < last[s] {
			t.Fatalf("%s: %s starts at %v, before the previous %s op ends at %v", k, o.Name, o.Start, o.Stream, last[s])
		}
		last[s] = o.End
		busy[s] += o.End - o.Start
		lastEnd = max(lastEnd, o.End)
		end[o.Name] = o.End
	}
	for _, o := range r.Ops {
		for _, d := range o.Deps {
			e, ok := end[d]
			if !ok {
				t.Fatalf("%s: %s depends on %s, which did not run", k, o.Name, d)
			}
			if o.Start < e {
				t.Fatalf("%s: %s starts at %v before its dependency %s ends at %v", k, o.Name, o.Start, d, e)
			}
		}
	}
	if busy[0] != r.Compute || busy[1] != r.Comm || lastEnd != r.Layer {
		t.Fatalf("%s: ops busy %v/%v end %v; result compute %v comm %v layer %v",
			k, busy[0], busy[1], lastEnd, r.Compute, r.Comm, r.Layer)
	}
}

func TestScheduleOpCounts(t *testing.T) {
	p := Phases{LayerCompute: compute.LayerCompute{AttnFwd: 1, MLPFwd: 2, AttnBwdInput: 3, AttnBwdWeight: 4,
		MLPBwdInput: 5, MLPBwdWeight: 6}, Dispatch: 7, Combine: 8, DispatchBwd: 9, CombineBwd: 10}
	for k, want := range map[ScheduleKind]int{ScheduleSerial: 4, ScheduleTwoMicroBatch: 8, ScheduleDualPipe: 10} {
		r := mustRun(t, k, p)
		if len(r.Ops) != want {
			t.Errorf("%s: %d ops, want %d", k, len(r.Ops), want)
		}
	}
	// Dualpipe's compute busy time is the full forward and backward chunk.
	r := mustRun(t, ScheduleDualPipe, p)
	if r.Compute != 1+2+3+4+5+6 || r.Comm != 7+8+9+10 {
		t.Errorf("dualpipe compute %v comm %v", r.Compute, r.Comm)
	}
}

// The overlap the schedules are for: a concrete two-microbatch run, op by op.
func TestScheduleTwoMicroBatchTimeline(t *testing.T) {
	us := sim.Microsecond
	p := Phases{LayerCompute: compute.LayerCompute{AttnFwd: 100 * us, MLPFwd: 150 * us},
		Dispatch: 80 * us, Combine: 120 * us}
	r := mustRun(t, ScheduleTwoMicroBatch, p)
	want := map[string][2]sim.Time{
		"Combine[B']": {0, 120 * us},
		"AttnFwd[A]":  {0, 100 * us},
		"Dispatch[A]": {120 * us, 200 * us}, // comm stream busy with Combine[B'] until 120
		"AttnFwd[B]":  {120 * us, 220 * us}, // waits for Combine[B']
		"MLPFwd[A]":   {220 * us, 370 * us},
		"Dispatch[B]": {220 * us, 300 * us},
		"Combine[A]":  {370 * us, 490 * us},
		"MLPFwd[B]":   {370 * us, 520 * us},
	}
	for _, o := range r.Ops {
		if w := want[o.Name]; o.Start != w[0] || o.End != w[1] {
			t.Errorf("%s: [%v, %v], want [%v, %v]", o.Name, o.Start, o.End, w[0], w[1])
		}
	}
	// Hidden: Combine[B'] [0,120] vs Attn A [0,100] -> 100; Dispatch[A]
	// [120,200] under Attn B -> 80; Dispatch[B] [220,300] under MLP A -> 80;
	// Combine[A] [370,490] under MLP B -> 120. Total 380 of 400.
	if r.Layer != 520*us || r.Hidden != 380*us || r.Exposed != 20*us {
		t.Errorf("layer %v hidden %v exposed %v, want 520us 380us 20us", r.Layer, r.Hidden, r.Exposed)
	}
}

func TestScheduleErrors(t *testing.T) {
	if _, err := RunSchedule("pipeline", Phases{}); err == nil ||
		!strings.Contains(err.Error(), `schedule.kind = "pipeline"`) || !strings.Contains(err.Error(), "dualpipe") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := RunSchedule(ScheduleSerial, Phases{Combine: -1}); err == nil ||
		!strings.Contains(err.Error(), "phases.combine = -1ps") {
		t.Errorf("negative duration: %v", err)
	}
	// All zero is fine: a layer of nothing.
	r, err := RunSchedule(ScheduleDualPipe, Phases{})
	if err != nil || r.Layer != 0 || r.HiddenFraction != 1 {
		t.Errorf("zero phases: %+v, %v", r, err)
	}
}

// A graph that cannot complete is an error, not a hang.
func TestRunOpsStuckGraph(t *testing.T) {
	c, m := streamCompute, streamComm
	for _, tc := range []struct {
		name string
		ops  []opSpec
		want string
	}{
		{"cycle across streams", []opSpec{
			newOp("x", c, 0, 5, []string{"y"}),
			newOp("y", m, 0, 5, []string{"x"}),
		}, "cannot complete"},
		{"waits on a later op of its stream", []opSpec{
			newOp("x", c, 0, 5, []string{"z"}),
			newOp("z", c, 0, 5, nil),
		}, "compute stream stuck at x waiting for z"},
		{"unknown dependency", []opSpec{newOp("x", c, 0, 5, []string{"nope"})}, `unknown op "nope"`},
		{"self dependency", []opSpec{newOp("x", c, 0, 5, []string{"x"})}, "depends on itself"},
		{"duplicate", []opSpec{newOp("x", c, 0, 5, nil), newOp("x", m, 0, 5, nil)}, "listed twice"},
		{"negative", []opSpec{newOp("x", c, 0, -5, nil)}, "duration"},
	} {
		_, err := runOps(tc.ops)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func BenchmarkRunScheduleDualPipe(b *testing.B) {
	p := Phases{LayerCompute: compute.LayerCompute{AttnFwd: 3, MLPFwd: 3, AttnBwdInput: 5, AttnBwdWeight: 1,
		MLPBwdInput: 3, MLPBwdWeight: 3}, Dispatch: 1, Combine: 2, DispatchBwd: 1, CombineBwd: 2}
	for b.Loop() {
		if _, err := RunSchedule(ScheduleDualPipe, p); err != nil {
			b.Fatal(err)
		}
	}
}

func newOp(name string, stream, mb int, dur sim.Time, deps []string) opSpec {
	return opSpec{name: name, stream: stream, mb: mb, dur: dur, deps: deps}
}
