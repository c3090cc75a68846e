package schedule

import (
	"fmt"
	"strings"

	"github.com/moesim/moesim/scenarios/compute"
	"github.com/moesim/moesim/sim"
)

// The layer schedules: one layer's compute and communication ops on two
// streams, run on the sim engine.
//
// Invariants:
//   - Each stream (compute, comm) runs its ops one at a time, in the order
//     the schedule lists them.
//   - An op starts at the first instant its stream is free and every op it
//     depends on has ended; so start(op) = max(end of its stream
//     predecessor, end of each dependency), and the makespan is the longest
//     path through the graph of stream and dependency edges.
//   - Every start and every end is an engine event; a graph that cannot
//     complete (a dependency on a later op of the same stream, a cycle) is
//     an error naming the stuck ops, never a hang.

// ScheduleKind names a layer schedule (the scenario field schedule.kind).
type ScheduleKind string

// The schedules.
const (
	// ScheduleSerial: one micro-batch, no overlap:
	//
	//	compute: |AttnFwd|        |MLPFwd|
	//	comm:            |Dispatch|      |Combine|
	ScheduleSerial ScheduleKind = "serial"
	// ScheduleTwoMicroBatch: prefill with two micro-batches A and B,
	// forward only (DeepSeek-V3 §3.4; the DeepSeek inference system
	// overview, open-infra-index day 6, prefill figure; profile-data's
	// prefill trace). One period of the steady state, one layer:
	//
	//	compute: | Attn A  | Attn B  |  MLP A  |  MLP B  |
	//	comm:    |Combine B'|Disp A  | Disp B  |Combine A|
	//
	// B' is micro-batch B's combine of the previous layer: B's attention
	// needs it, and it hides under A's attention, as in DeepSeek's figure
	// ("ATTN of micro-batch 0 while micro-batch 1 combines"). Each comm op
	// hides under the next compute op of the other micro-batch. Listing
	// Combine B last instead would leave it exposed at the end of every
	// layer; rotating it to the front gives the per-layer period with a
	// barrier at each layer boundary (exact when either stream dominates).
	// Dependencies: Disp A after Attn A, Attn B after Combine B', Disp B
	// after Attn B, MLP X after Disp X, Combine A after MLP A. Phases hold
	// one micro-batch's durations, so the layer covers two micro-batches.
	ScheduleTwoMicroBatch ScheduleKind = "two-microbatch"
	// ScheduleDualPipe: training, a forward chunk F and a backward chunk B
	// overlapped (DeepSeek-V3 §3.2.1, Figure 4), one layer of each:
	//
	//	compute: |AttnFwd F|MLPBwdIn B|MLPBwdW B|MLPFwd F|AttnBwdIn B|AttnBwdW B|
	//	comm:    |CombineBwd B|Dispatch F|DispatchBwd B|    Combine F    |
	//
	// Figure 4 orders the compute row ATTN(F), MLP(B), MLP(W), MLP(F),
	// ATTN(B), ATTN(W) and the comm row DISPATCH(F), DISPATCH(B),
	// COMBINE(F), PP, COMBINE(B); the layer boundaries of the two chunks are
	// not aligned, so the comm row is rotated to start with COMBINE(B), the
	// backward chunk's first all-to-all (the gradient of combine), which
	// hides under ATTN(F). PP communication is not modelled. Dependencies:
	// MLPBwdIn and MLPBwdW after CombineBwd; Dispatch F after AttnFwd;
	// DispatchBwd after MLPBwdIn; MLPFwd after Dispatch F; AttnBwdIn and
	// AttnBwdW after DispatchBwd; Combine F after MLPFwd. Weight gradients
	// have no consumer in the layer, so they fill the gaps where the other
	// chunk's all-to-all is still running.
	ScheduleDualPipe ScheduleKind = "dualpipe"
)

// ScheduleKinds lists the schedules.
func ScheduleKinds() []ScheduleKind {
	return []ScheduleKind{ScheduleSerial, ScheduleTwoMicroBatch, ScheduleDualPipe}
}

// Validate reports whether k names a schedule.
func (k ScheduleKind) Validate() error {
	for _, s := range ScheduleKinds() {
		if k == s {
			return nil
		}
	}
	names := make([]string, 0, 3)
	for _, s := range ScheduleKinds() {
		names = append(names, string(s))
	}
	return fmt.Errorf("scenarios: schedule.kind = %q, want one of %s", string(k), strings.Join(names, ", "))
}

// Stream names in OpRecord.
const (
	StreamCompute = "compute"
	StreamComm    = "comm"
)

// Phases are the durations of one layer's ops for one micro-batch (or
// chunk). Dispatch and Combine are the forward all-to-alls; DispatchBwd and
// CombineBwd the backward chunk's. In backward the gradient of combine
// (CombineBwd, dispatch-shaped) runs first and the gradient of dispatch
// (DispatchBwd, combine-shaped) second; durations are taken as given.
type Phases struct {
	compute.LayerCompute
	Dispatch, Combine, DispatchBwd, CombineBwd sim.Time
	// Hook, when set, splits the forward all-to-alls into hooked
	// low-latency phases (hook.go) for the serial and two-microbatch
	// schedules.
	Hook *HookPhases
}

// Validate checks that no duration is negative.
func (p Phases) Validate() error {
	for _, f := range []struct {
		name string
		v    sim.Time
	}{
		{"attn_fwd", p.AttnFwd}, {"mlp_fwd", p.MLPFwd},
		{"attn_bwd_input", p.AttnBwdInput}, {"attn_bwd_weight", p.AttnBwdWeight},
		{"mlp_bwd_input", p.MLPBwdInput}, {"mlp_bwd_weight", p.MLPBwdWeight},
		{"dispatch", p.Dispatch}, {"combine", p.Combine},
		{"dispatch_bwd", p.DispatchBwd}, {"combine_bwd", p.CombineBwd},
	} {
		if f.v < 0 {
			return fmt.Errorf("scenarios: phases.%s = %v, want >= 0", f.name, f.v)
		}
	}
	if p.Hook != nil {
		return p.Hook.validate()
	}
	return nil
}

// OpRecord is one op as it ran.
type OpRecord struct {
	Name       string // "AttnFwd[A]", "Dispatch[F]", ...
	Stream     string // StreamCompute or StreamComm
	MicroBatch int    // 0 (A, or the forward chunk F) or 1 (B, or the backward chunk)
	Start, End sim.Time
	// Deps are the ops this one waits for besides its stream predecessor.
	Deps []string
}

// ScheduleResult is one layer's schedule as it ran.
type ScheduleResult struct {
	Kind    ScheduleKind
	Layer   sim.Time // makespan: the last op's end
	Compute sim.Time // busy time of the compute stream
	Comm    sim.Time // busy time of the comm stream
	// Hidden is the comm time during which the compute stream is busy (the
	// intersection of the two streams' busy intervals); Exposed is
	// Comm - Hidden.
	Hidden, Exposed sim.Time
	// HiddenFraction is Hidden/Comm in [0, 1]; 1 when Comm is 0.
	HiddenFraction float64
	Ops            []OpRecord // in start order
}

// opSpec is an op before it runs.
type opSpec struct {
	name   string
	stream int // streamCompute or streamComm
	mb     int
	dur    sim.Time
	deps   []string
}

const (
	streamCompute = iota
	streamComm
	numStreams
)

var streamNames = [numStreams]string{StreamCompute, StreamComm}

// RunSchedule runs one layer's ops under the schedule kind and measures the
// overlap.
func RunSchedule(kind ScheduleKind, p Phases) (ScheduleResult, error) {
	if err := kind.Validate(); err != nil {
		return ScheduleResult{}, err
	}
	if err := p.Validate(); err != nil {
		return ScheduleResult{}, err
	}
	ops := scheduleOps(kind, p)
	res, err := runOps(ops)
	if err != nil {
		return ScheduleResult{}, fmt.Errorf("scenarios: schedule %s: %w", kind, err)
	}
	res.Kind = kind
	return res, nil
}

// scheduleOps lists the ops of a schedule, each stream's in its order.
func scheduleOps(kind ScheduleKind, p Phases) []opSpec {
	if p.Hook != nil {
		if ops, ok := hookOps(kind, p); ok {
			return ops
		}
	}
	c, m := streamCompute, streamComm
	switch kind {
	case ScheduleSerial:
		return []opSpec{
			{"AttnFwd[0]", c, 0, p.AttnFwd, nil},
			{"Dispatch[0]", m, 0, p.Dispatch, []string{"AttnFwd[0]"}},
			{"MLPFwd[0]", c, 0, p.MLPFwd, []string{"Dispatch[0]"}},
			{"Combine[0]", m, 0, p.Combine, []string{"MLPFwd[0]"}},
		}
	case ScheduleTwoMicroBatch:
		return []opSpec{
			// comm: Combine[B'] Dispatch[A] Dispatch[B] Combine[A]
			{"Combine[B']", m, 1, p.Combine, nil},
			{"Dispatch[A]", m, 0, p.Dispatch, []string{"AttnFwd[A]"}},
			{"Dispatch[B]", m, 1, p.Dispatch, []string{"AttnFwd[B]"}},
			{"Combine[A]", m, 0, p.Combine, []string{"MLPFwd[A]"}},
			// compute: AttnFwd[A] AttnFwd[B] MLPFwd[A] MLPFwd[B]
			{"AttnFwd[A]", c, 0, p.AttnFwd, nil},
			{"AttnFwd[B]", c, 1, p.AttnFwd, []string{"Combine[B']"}},
			{"MLPFwd[A]", c, 0, p.MLPFwd, []string{"Dispatch[A]"}},
			{"MLPFwd[B]", c, 1, p.MLPFwd, []string{"Dispatch[B]"}},
		}
	default: // ScheduleDualPipe
		return []opSpec{
			// compute: AttnFwd[F] MLPBwdInput[B] MLPBwdWeight[B] MLPFwd[F] AttnBwdInput[B] AttnBwdWeight[B]
			{"AttnFwd[F]", c, 0, p.AttnFwd, nil},
			{"MLPBwdInput[B]", c, 1, p.MLPBwdInput, []string{"CombineBwd[B]"}},
			{"MLPBwdWeight[B]", c, 1, p.MLPBwdWeight, []string{"CombineBwd[B]"}},
			{"MLPFwd[F]", c, 0, p.MLPFwd, []string{"Dispatch[F]"}},
			{"AttnBwdInput[B]", c, 1, p.AttnBwdInput, []string{"DispatchBwd[B]"}},
			{"AttnBwdWeight[B]", c, 1, p.AttnBwdWeight, []string{"DispatchBwd[B]"}},
			// comm: CombineBwd[B] Dispatch[F] DispatchBwd[B] Combine[F]
			{"CombineBwd[B]", m, 1, p.CombineBwd, nil},
			{"Dispatch[F]", m, 0, p.Dispatch, []string{"AttnFwd[F]"}},
			{"DispatchBwd[B]", m, 1, p.DispatchBwd, []string{"MLPBwdInput[B]"}},
			{"Combine[F]", m, 0, p.Combine, []string{"MLPFwd[F]"}},
		}
	}
}

// opRunner is the engine's handler: arg = op index*2, +1 for the op's end.
type opRunner struct {
	eng     *sim.Engine
	ops     []opSpec
	deps    [][]int
	queue   [numStreams][]int // op indices in stream order
	next    [numStreams]int   // next position in queue
	busy    [numStreams]bool
	done    []bool
	record  []int // op index -> index in records
	records []OpRecord
}

func (r *opRunner) Handle(now sim.Time, arg int64) {
	i := int(arg >> 1)
	if arg&1 == 0 { // start
		o := r.ops[i]
		r.record[i] = len(r.records)
		r.records = append(r.records, OpRecord{
			Name: o.name, Stream: streamNames[o.stream], MicroBatch: o.mb,
			Start: now, Deps: append([]string(nil), o.deps...),
		})
		r.eng.After(o.dur, r, arg|1)
		return
	}
	r.done[i] = true
	r.busy[r.ops[i].stream] = false
	r.records[r.record[i]].End = now
	r.launch(now)
}

// launch starts the head op of every free stream whose dependencies are
// done, compute stream first.
func (r *opRunner) launch(now sim.Time) {
	for s := range numStreams {
		if r.busy[s] || r.next[s] >= len(r.queue[s]) {
			continue
		}
		i := r.queue[s][r.next[s]]
		if !r.ready(i) {
			continue
		}
		r.busy[s] = true
		r.next[s]++
		r.eng.At(now, r, int64(i)<<1)
	}
}

func (r *opRunner) ready(i int) bool {
	for _, d := range r.deps[i] {
		if !r.done[d] {
			return false
		}
	}
	return true
}

// runOps runs ops on the two streams and measures the result. It checks the
// graph (unique names, known dependencies, non-negative durations) and
// reports ops that never ran.
func runOps(ops []opSpec) (ScheduleResult, error) {
	index := make(map[string]int, len(ops))
	for i, o := range ops {
		if _, dup := index[o.name]; dup {
			return ScheduleResult{}, fmt.Errorf("op %q listed twice", o.name)
		}
		if o.stream < 0 || o.stream >= numStreams {
			return ScheduleResult{}, fmt.Errorf("op %q: stream %d, want 0..%d", o.name, o.stream, numStreams-1)
		}
		if o.dur < 0 {
			return ScheduleResult{}, fmt.Errorf("op %q: duration %v, want >= 0", o.name, o.dur)
		}
		index[o.name] = i
	}
	r := &opRunner{
		ops:    ops,
		deps:   make([][]int, len(ops)),
		done:   make([]bool, len(ops)),
		record: make([]int, len(ops)),
	}
	for i, o := range ops {
		for _, d := range o.deps {
			j, ok := index[d]
			if !ok {
				return ScheduleResult{}, fmt.Errorf("op %q depends on unknown op %q", o.name, d)
			}
			if j == i {
				return ScheduleResult{}, fmt.Errorf("op %q depends on itself", o.name)
			}
			r.deps[i] = append(r.deps[i], j)
		}
		r.queue[o.stream] = append(r.queue[o.stream], i)
	}
	// Every op is one start and one end event; the limit only guards a bug.
	r.eng = sim.NewEngine(sim.Limits{MaxEvents: int64(2*len(ops) + 1)})
	r.launch(0)
	if err := r.eng.Run(); err != nil {
		return ScheduleResult{}, err
	}
	if len(r.records) != len(ops) || !allTrue(r.done) {
		return ScheduleResult{}, stuckError(r)
	}

	res := ScheduleResult{Ops: r.records}
	var iv [numStreams][][2]sim.Time
	for i, o := range ops {
		rec := r.records[r.record[i]]
		iv[o.stream] = append(iv[o.stream], [2]sim.Time{rec.Start, rec.End})
		res.Layer = max(res.Layer, rec.End)
		if o.stream == streamCompute {
			res.Compute += o.dur
		} else {
			res.Comm += o.dur
		}
	}
	res.Hidden = intersection(iv[streamCompute], iv[streamComm])
	res.Exposed = res.Comm - res.Hidden
	res.HiddenFraction = 1
	if res.Comm > 0 {
		res.HiddenFraction = float64(res.Hidden) / float64(res.Comm)
	}
	return res, nil
}

func allTrue(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

// stuckError names, for each stream, the op it waits on and that op's
// unfinished dependencies.
func stuckError(r *opRunner) error {
	var parts []string
	for s := range numStreams {
		if r.next[s] >= len(r.queue[s]) {
			continue
		}
		i := r.queue[s][r.next[s]]
		var waits []string
		for _, d := range r.deps[i] {
			if !r.done[d] {
				waits = append(waits, r.ops[d].name)
			}
		}
		parts = append(parts, fmt.Sprintf("%s stream stuck at %s waiting for %s",
			streamNames[s], r.ops[i].name, strings.Join(waits, ", ")))
	}
	return fmt.Errorf("the op graph cannot complete: %s", strings.Join(parts, "; "))
}

// intersection is the total overlap of two sets of intervals, each set
// disjoint (one stream runs one op at a time).
func intersection(a, b [][2]sim.Time) sim.Time {
	var t sim.Time
	for _, x := range a {
		for _, y := range b {
			if lo, hi := max(x[0], y[0]), min(x[1], y[1]); hi > lo {
				t += hi - lo
			}
		}
	}
	return t
}
