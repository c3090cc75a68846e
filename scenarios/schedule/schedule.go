package schedule

import (
	"fmt"
	"math"
	"slices"
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
//
// The compute phases' fields are their times on the SMs communication
// leaves; LayerCompute.Info gives them on every SM too (a phase whose Info
// is zero takes its field on any SM count). The all-to-alls' durations are
// their times alone; the *HBM fields are the share of HBM bandwidth each
// takes while it runs (its copies' and DMA's HBM bytes per second over
// the GPU's HBM bandwidth), and Interference says how the two streams slow
// each other.
type Phases struct {
	compute.LayerCompute
	Dispatch, Combine, DispatchBwd, CombineBwd sim.Time
	// DispatchHBM and CombineHBM are the forward all-to-alls' HBM shares
	// in [0, 1); the backward twins take their forward twin's.
	DispatchHBM, CombineHBM float64
	Interference            Interference
	// Hook, when set, splits the forward all-to-alls into hooked
	// low-latency phases (hook.go) for the serial and two-microbatch
	// schedules.
	Hook *HookPhases
	// DispatchEpilogue and CombineEpilogue are the second kernel DeepEP V2
	// runs behind each all-to-all on every SM (its copy and reduce
	// epilogues); the backward twins take their shape's (CombineBwd the
	// dispatch's, DispatchBwd the combine's). Each runs on the compute
	// stream once its all-to-all is done, before the compute that reads
	// its output: it excludes compute and counts as exposed
	// communication. Zero for the other kernels.
	DispatchEpilogue, CombineEpilogue sim.Time
}

// Interference is how communication and computation on one GPU slow each
// other (docs/model.md, "Interference"). The zero value is none, with SMs
// carved out.
type Interference struct {
	// ClockDrop (cluster.gemm_clock_drop, [0, 1)): a communication kernel
	// beside compute runs at 1/(1 - ClockDrop × the compute's GEMM share)
	// of its speed alone.
	ClockDrop float64
	// GEMMHBMSensitivity (cluster.gemm_hbm_sensitivity): compute beside an
	// all-to-all that takes HBM share u stretches by 1 + u × (memory share
	// + GEMMHBMSensitivity × GEMM share); the all-to-all stretches by
	// 1 + u × the compute's memory share (the two share a saturated HBM).
	GEMMHBMSensitivity float64
	// NoCarveout (compute.sm_carveout: false): compute is launched over
	// every SM; a communication kernel launched while a compute phase runs
	// waits for that phase's next GEMM wave boundary plus SMWait before it
	// holds its SMs, and the phase runs on the SMs left while it does.
	NoCarveout bool
	// SMWait (cluster.comm_sm_wait_us) is the wait after the wave boundary.
	SMWait sim.Time
}

// Validate checks that no duration is negative and the interference is in
// range.
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
		{"dispatch_epilogue", p.DispatchEpilogue}, {"combine_epilogue", p.CombineEpilogue},
		{"interference.sm_wait", p.Interference.SMWait},
	} {
		if f.v < 0 {
			return fmt.Errorf("scenarios: phases.%s = %v, want >= 0", f.name, f.v)
		}
	}
	if p.Hook != nil {
		if err := p.Hook.validate(); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name   string
		v, max float64
	}{
		{"dispatch_hbm", p.DispatchHBM, 0.95}, {"combine_hbm", p.CombineHBM, 0.95},
		{"interference.clock_drop", p.Interference.ClockDrop, 0.9},
		{"interference.gemm_hbm_sensitivity", p.Interference.GEMMHBMSensitivity, 10},
	} {
		if !(f.v >= 0 && f.v <= f.max) {
			return fmt.Errorf("scenarios: phases.%s = %g, want 0..%g", f.name, f.v, f.max)
		}
	}
	return nil
}

// OpRecord is one op as it ran.
type OpRecord struct {
	Name       string // "AttnFwd[A]", "Dispatch[F]", ...
	Stream     string // StreamCompute or StreamComm
	MicroBatch int    // 0 (A, or the forward chunk F) or 1 (B, or the backward chunk)
	// Launch is when the op's stream and dependencies let it go; Start
	// when it runs (later only for a communication kernel waiting for
	// SMs without a carve-out); End when it finished.
	Launch, Start, End sim.Time
	// Alone is its duration with nothing beside it: a compute phase on
	// every SM, an all-to-all without interference.
	Alone sim.Time
	// Deps are the ops this one waits for besides its stream predecessor.
	Deps []string
}

// ScheduleResult is one layer's schedule as it ran.
type ScheduleResult struct {
	Kind    ScheduleKind
	Layer   sim.Time // makespan: the last op's end
	Compute sim.Time // busy time of the compute stream
	Comm    sim.Time // busy time of the comm stream, SM waits excluded
	// Hidden is the comm time during which the compute stream is busy (the
	// intersection of the two streams' busy intervals); Exposed is
	// Comm - Hidden.
	Hidden, Exposed sim.Time
	// HiddenFraction is Hidden/Comm in [0, 1]; 1 when Comm is 0.
	HiddenFraction float64
	// ComputeAlone and CommAlone are the streams' ops' durations with
	// nothing beside them (compute on every SM); ComputeSlowdown and
	// CommSlowdown are Compute and Comm over them (1 when nothing ran).
	ComputeAlone, CommAlone       sim.Time
	ComputeSlowdown, CommSlowdown float64
	// CommSMWait is the time communication kernels waited for SMs
	// (without a carve-out).
	CommSMWait sim.Time
	Ops        []OpRecord // in start order
}

// opSpec is an op before it runs.
type opSpec struct {
	name   string
	stream int // streamCompute or streamComm
	mb     int
	dur    sim.Time // compute: on the SMs communication leaves; comm: alone
	deps   []string
	// Compute ops: full is the duration on every SM, mem the memory-bound
	// share, waves the GEMM waves on every SM; carved says it is launched
	// on the SMs communication leaves (a carve-out in an overlapped
	// schedule). Comm ops: hbm is the HBM share.
	full   sim.Time
	mem    float64
	waves  int64
	carved bool
	hbm    float64
	// epilogue marks a communication kernel on the compute stream (a V2
	// epilogue): it holds every SM and counts as communication, all of it
	// exposed; an all-to-all beside it is not exposed a second time. A
	// comm op's epi is the epilogue withEpilogues runs after it.
	epilogue bool
	epi      sim.Time
}

// withEpilogues adds each all-to-all's epilogue (its epi, from
// Phases.DispatchEpilogue or CombineEpilogue) to ops: on the compute stream, after the all-to-all,
// before the first compute op that waited for the all-to-all (which now
// waits for the epilogue), or after the last compute op when none in the
// block reads it (a combine whose output the next layer takes).
func withEpilogues(ops []opSpec) []opSpec {
	var comms []opSpec
	for _, o := range ops {
		if o.stream == streamComm && o.epi > 0 {
			comms = append(comms, o)
		}
	}
	for _, c := range comms {
		e := opSpec{name: c.name + ".epilogue", stream: streamCompute, mb: c.mb, dur: c.epi,
			deps: []string{c.name}, mem: 1, epilogue: true}
		at := -1
		for i := range ops {
			if ops[i].stream != streamCompute || !slices.Contains(ops[i].deps, c.name) {
				continue
			}
			if at < 0 {
				at = i
			}
			deps := slices.Clone(ops[i].deps)
			deps[slices.Index(deps, c.name)] = e.name
			ops[i].deps = deps
		}
		if at < 0 {
			for i := range ops {
				if ops[i].stream == streamCompute {
					at = i + 1
				}
			}
		}
		ops = slices.Insert(ops, at, e)
	}
	return ops
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
	ops := withEpilogues(scheduleOps(kind, p))
	res, err := runOpsWith(ops, p.Interference)
	if err != nil {
		return ScheduleResult{}, fmt.Errorf("scenarios: schedule %s: %w", kind, err)
	}
	res.Kind = kind
	return res, nil
}

// scheduleOps lists the ops of a schedule, each stream's in its order.
// With a carve-out, the overlapped schedules launch every compute phase on
// the SMs communication leaves (the carve-out is fixed for the block, as
// DeepSeek-V3 fixes its 20 SMs); serial overlaps nothing and gives compute
// every SM.
func scheduleOps(kind ScheduleKind, p Phases) []opSpec {
	if p.Hook != nil {
		if ops, ok := hookOps(kind, p); ok {
			return ops
		}
	}
	carved := kind != ScheduleSerial && !p.Interference.NoCarveout
	comp := func(name string, mb int, ph compute.Phase, deps ...string) opSpec {
		in := p.Info[ph]
		o := opSpec{name: name, stream: streamCompute, mb: mb, dur: *p.LayerCompute.Phase(ph), deps: deps,
			full: in.Full, mem: in.MemoryShare(), waves: in.Waves, carved: carved}
		if o.full == 0 || o.full > o.dur {
			o.full = o.dur // no Info: the field on any SM count
		}
		return o
	}
	// An all-to-all of dispatch's shape (dispatch, the gradient of
	// combine) or combine's takes that shape's HBM share and epilogue.
	type shape struct {
		hbm float64
		epi sim.Time
	}
	comm := func(name string, mb int, d sim.Time, sh shape, deps ...string) opSpec {
		return opSpec{name: name, stream: streamComm, mb: mb, dur: d, deps: deps, full: d, hbm: sh.hbm, epi: sh.epi}
	}
	dh, ch := shape{p.DispatchHBM, p.DispatchEpilogue}, shape{p.CombineHBM, p.CombineEpilogue}
	switch kind {
	case ScheduleSerial:
		return []opSpec{
			comp("AttnFwd[0]", 0, compute.PhaseAttnFwd),
			comm("Dispatch[0]", 0, p.Dispatch, dh, "AttnFwd[0]"),
			comp("MLPFwd[0]", 0, compute.PhaseMLPFwd, "Dispatch[0]"),
			comm("Combine[0]", 0, p.Combine, ch, "MLPFwd[0]"),
		}
	case ScheduleTwoMicroBatch:
		return []opSpec{
			// comm: Combine[B'] Dispatch[A] Dispatch[B] Combine[A]
			comm("Combine[B']", 1, p.Combine, ch),
			comm("Dispatch[A]", 0, p.Dispatch, dh, "AttnFwd[A]"),
			comm("Dispatch[B]", 1, p.Dispatch, dh, "AttnFwd[B]"),
			comm("Combine[A]", 0, p.Combine, ch, "MLPFwd[A]"),
			// compute: AttnFwd[A] AttnFwd[B] MLPFwd[A] MLPFwd[B]
			comp("AttnFwd[A]", 0, compute.PhaseAttnFwd),
			comp("AttnFwd[B]", 1, compute.PhaseAttnFwd, "Combine[B']"),
			comp("MLPFwd[A]", 0, compute.PhaseMLPFwd, "Dispatch[A]"),
			comp("MLPFwd[B]", 1, compute.PhaseMLPFwd, "Dispatch[B]"),
		}
	default: // ScheduleDualPipe
		return []opSpec{
			// compute: AttnFwd[F] MLPBwdInput[B] MLPBwdWeight[B] MLPFwd[F] AttnBwdInput[B] AttnBwdWeight[B]
			comp("AttnFwd[F]", 0, compute.PhaseAttnFwd),
			comp("MLPBwdInput[B]", 1, compute.PhaseMLPBwdInput, "CombineBwd[B]"),
			comp("MLPBwdWeight[B]", 1, compute.PhaseMLPBwdWeight, "CombineBwd[B]"),
			comp("MLPFwd[F]", 0, compute.PhaseMLPFwd, "Dispatch[F]"),
			comp("AttnBwdInput[B]", 1, compute.PhaseAttnBwdInput, "DispatchBwd[B]"),
			comp("AttnBwdWeight[B]", 1, compute.PhaseAttnBwdWeight, "DispatchBwd[B]"),
			// comm: CombineBwd[B] Dispatch[F] DispatchBwd[B] Combine[F]
			comm("CombineBwd[B]", 1, p.CombineBwd, dh),
			comm("Dispatch[F]", 0, p.Dispatch, dh, "AttnFwd[F]"),
			comm("DispatchBwd[B]", 1, p.DispatchBwd, ch, "MLPBwdInput[B]"),
			comm("Combine[F]", 0, p.Combine, ch, "MLPFwd[F]"),
		}
	}
}

// Event kinds of the op runner (the low two bits of an event's argument;
// then the op index and the op's generation, so a rescheduled end makes
// the old one stale).
const (
	evStart = iota // the op's stream and dependencies let it go
	evEnd          // the op has done its work, if the generation matches
	evSMs          // a waiting communication kernel holds its SMs
)

const opBits = 14 // at most 1<<opBits ops

func packEv(kind, op int, gen int64) int64 { return gen<<(2+opBits) | int64(op)<<2 | int64(kind) }

func unpackEv(arg int64) (kind, op int, gen int64) {
	return int(arg & 3), int(arg >> 2 & (1<<opBits - 1)), arg >> (2 + opBits)
}

// opState is a running op's progress: left is the share of its work not
// done at last, and per the time the whole op takes at the current rate.
type opState struct {
	running bool // started and not waiting for SMs
	waiting bool // a communication kernel waiting for SMs
	left    float64
	per     float64
	last    sim.Time
	gen     int64
}

// opRunner is the engine's handler. Each stream runs one op at a time;
// the running ops' rates depend on what runs on the other stream (the
// interference), so every start and end settles both streams' progress
// and reschedules their ends.
type opRunner struct {
	eng     *sim.Engine
	ops     []opSpec
	inf     Interference
	deps    [][]int
	queue   [numStreams][]int // op indices in stream order
	next    [numStreams]int   // next position in queue
	cur     [numStreams]int   // the stream's op, -1 when idle
	st      []opState
	done    []bool
	record  []int // op index -> index in records
	records []OpRecord
}

func (r *opRunner) Handle(now sim.Time, arg int64) {
	kind, i, gen := unpackEv(arg)
	o := r.ops[i]
	st := &r.st[i]
	switch kind {
	case evStart:
		r.record[i] = len(r.records)
		r.records = append(r.records, OpRecord{
			Name: o.name, Stream: streamNames[o.stream], MicroBatch: o.mb,
			Launch: now, Start: now, Alone: o.full, Deps: append([]string(nil), o.deps...),
		})
		r.settle(now)
		st.left, st.last = 1, now
		if wait, ok := r.smWait(now, i); ok {
			st.waiting = true
			r.eng.At(now+wait, r, packEv(evSMs, i, 0))
			return
		}
		st.running = true
		r.reschedule(now)
	case evSMs:
		r.settle(now)
		st.waiting, st.running, st.last = false, true, now
		r.records[r.record[i]].Start = now
		r.reschedule(now)
	case evEnd:
		if gen != st.gen || !st.running {
			return // a stale end: the op's rate changed since
		}
		r.settle(now)
		st.running, st.left = false, 0
		r.done[i] = true
		r.cur[o.stream] = -1
		r.records[r.record[i]].End = now
		r.reschedule(now)
		r.launch(now)
	}
}

// smWait is how long communication op i, launched at now, waits for SMs:
// without a carve-out, while a compute phase holds every SM (one launched
// at the same instant too: the compute stream launches first, and a GEMM
// grid larger than the GPU takes every SM), until that phase's next GEMM
// wave ends, plus SMWait. The phase's waves are taken as evenly spaced
// over its work (its GEMMs' mean wave), a simplification of its kernels'
// own wave times.
func (r *opRunner) smWait(now sim.Time, i int) (sim.Time, bool) {
	if !r.inf.NoCarveout || r.ops[i].stream != streamComm {
		return 0, false
	}
	j := r.cur[streamCompute]
	if j < 0 || !r.st[j].running {
		return 0, false // nothing holds the SMs
	}
	wait := r.inf.SMWait
	if w := r.ops[j].waves; w > 0 {
		// Progress through the phase, in waves; the wave under way ends
		// at the next whole number (a launch right on a boundary finds
		// the next wave's blocks placed and waits for it).
		pos := float64(float64(1-r.st[j].left) * float64(w))
		next := min(math.Floor(pos+1e-9)+1, float64(w))
		wait += sim.Time(math.Round(float64(next-pos) / float64(w) * r.st[j].per))
	}
	return wait, true
}

// settle advances every running op's progress to now.
func (r *opRunner) settle(now sim.Time) {
	for _, j := range r.cur {
		if j < 0 || !r.st[j].running {
			continue
		}
		st := &r.st[j]
		if st.per > 0 {
			st.left = max(0, st.left-float64(now-st.last)/st.per)
		} else {
			st.left = 0
		}
		st.last = now
	}
}

// reschedule recomputes the running ops' rates from what runs beside them
// and schedules their ends.
func (r *opRunner) reschedule(now sim.Time) {
	c, m := r.cur[streamCompute], r.cur[streamComm]
	commRuns := m >= 0 && r.st[m].running
	compRuns := c >= 0 && r.st[c].running
	if compRuns {
		o := r.ops[c]
		per := float64(o.full)
		if o.carved || commRuns {
			per = float64(o.dur)
		}
		if commRuns {
			u := r.ops[m].hbm
			per *= 1 + u*(o.mem+r.inf.GEMMHBMSensitivity*(1-o.mem))
		}
		r.setRate(now, c, per)
	}
	if commRuns {
		o := r.ops[m]
		per := float64(o.dur)
		if compRuns {
			g := 1 - r.ops[c].mem
			per = per / (1 - r.inf.ClockDrop*g) * (1 + o.hbm*r.ops[c].mem)
		}
		r.setRate(now, m, per)
	}
}

// setRate sets op j's full duration at its current rate to per and
// schedules its end.
func (r *opRunner) setRate(now sim.Time, j int, per float64) {
	st := &r.st[j]
	st.per = per
	st.gen++
	r.eng.At(now+sim.Time(math.Round(st.left*per)), r, packEv(evEnd, j, st.gen))
}

// launch starts the head op of every free stream whose dependencies are
// done, compute stream first.
func (r *opRunner) launch(now sim.Time) {
	for s := range numStreams {
		if r.cur[s] >= 0 || r.next[s] >= len(r.queue[s]) {
			continue
		}
		i := r.queue[s][r.next[s]]
		if !r.ready(i) {
			continue
		}
		r.cur[s] = i
		r.next[s]++
		r.eng.At(now, r, packEv(evStart, i, 0))
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

// runOps runs ops on the two streams without interference.
func runOps(ops []opSpec) (ScheduleResult, error) { return runOpsWith(ops, Interference{}) }

// runOpsWith runs ops on the two streams and measures the result. It
// checks the graph (unique names, known dependencies, non-negative
// durations) and reports ops that never ran.
func runOpsWith(ops []opSpec, inf Interference) (ScheduleResult, error) {
	if len(ops) >= 1<<opBits {
		return ScheduleResult{}, fmt.Errorf("%d ops, want fewer than %d", len(ops), 1<<opBits)
	}
	index := make(map[string]int, len(ops))
	for i, o := range ops {
		if _, dup := index[o.name]; dup {
			return ScheduleResult{}, fmt.Errorf("op %q listed twice", o.name)
		}
		if o.stream < 0 || o.stream >= numStreams {
			return ScheduleResult{}, fmt.Errorf("op %q: stream %d, want 0..%d", o.name, o.stream, numStreams-1)
		}
		if o.dur < 0 || o.full < 0 {
			return ScheduleResult{}, fmt.Errorf("op %q: duration %v, want >= 0", o.name, o.dur)
		}
		if o.full == 0 {
			ops[i].full = o.dur
		}
		index[o.name] = i
	}
	r := &opRunner{
		ops:    ops,
		inf:    inf,
		deps:   make([][]int, len(ops)),
		st:     make([]opState, len(ops)),
		done:   make([]bool, len(ops)),
		record: make([]int, len(ops)),
		cur:    [numStreams]int{-1, -1},
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
	// Every op has a start, at most one SM wait, and an end per rate
	// change (each start and end changes at most both streams' rates);
	// the limit only guards a bug.
	r.eng = sim.NewEngine(sim.Limits{MaxEvents: int64(12*len(ops) + 8)})
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
		res.Layer = max(res.Layer, rec.End)
		iv[o.stream] = append(iv[o.stream], [2]sim.Time{rec.Start, rec.End})
		if o.epilogue {
			// Communication that excludes compute: exposed whole. An
			// all-to-all beside it is not exposed twice over the same
			// time: the epilogue's interval stands with compute's
			// when the streams are intersected.
			res.Comm += rec.End - rec.Start
			res.CommAlone += rec.Alone
			continue
		}
		if o.stream == streamCompute {
			res.Compute += rec.End - rec.Start
			res.ComputeAlone += rec.Alone
		} else {
			res.Comm += rec.End - rec.Start
			res.CommAlone += rec.Alone
			res.CommSMWait += rec.Start - rec.Launch
		}
	}
	res.Hidden = intersection(iv[streamCompute], iv[streamComm])
	res.Exposed = res.Comm - res.Hidden
	res.HiddenFraction = 1
	if res.Comm > 0 {
		res.HiddenFraction = float64(res.Hidden) / float64(res.Comm)
	}
	res.ComputeSlowdown, res.CommSlowdown = ratio(res.Compute, res.ComputeAlone), ratio(res.Comm, res.CommAlone)
	return res, nil
}

// ratio is a/b, 1 when b is 0.
func ratio(a, b sim.Time) float64 {
	if b <= 0 {
		return 1
	}
	return float64(a) / float64(b)
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
