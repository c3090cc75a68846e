package schedule

import (
	"fmt"

	"github.com/moesim/moesim/scenarios/compute"
	"github.com/moesim/moesim/sim"
)

// A step beyond one block: schedule.layers MoE layers per pipeline stage
// (a chunk), schedule.pipeline_stages stages and schedule.micro_batches
// micro-batches, with the pipeline's bubble as DeepSeek-V3's report
// (arXiv 2412.19437, §3.2.1, Table 2) gives it. Per device, with F, B, W
// and F&B a chunk's forward, full backward, weight backward and
// overlapped forward-and-backward time:
//
//	dualpipe:        step = M × F&B + (PP/2 - 1)(F&B + B - 3W)
//	serial:          step = (M + PP - 1) × chunk           (forward only)
//	two-microbatch:  step = (ceil(M/2) + PP - 1) × chunk   (forward only;
//	                 one block covers two micro-batches)
//
// A chunk's F&B is layers × the DualPipe block's makespan; F and B run
// alone (every SM, all-to-alls exposed) and W is the weight-gradient
// compute. The bubble is 0 with one stage. Communication exposed in the
// step: every block's exposed share, plus, in a DualPipe bubble, the
// lone backward chunk's all-to-alls. Not modelled: the pipeline's own
// point-to-point traffic, the dense (non-MoE) layers, embedding and head,
// and the optimizer step.

// Step is the pipeline's shape: layers per stage, stages, micro-batches.
type Step struct {
	Layers, Stages, MicroBatches int
}

// Limits of the step's shape.
const (
	MaxLayers       = 1000
	MaxStages       = 1024
	MaxMicroBatches = 1 << 14 // with MaxLayers, keeps a step far from overflowing picoseconds
)

// Validate checks the shape for the schedule kind; an error names the
// field, its value and what is allowed.
func (st Step) Validate(kind ScheduleKind) error {
	for _, f := range []struct {
		name   string
		v, max int
	}{{"schedule.layers", st.Layers, MaxLayers}, {"schedule.pipeline_stages", st.Stages, MaxStages}, {"schedule.micro_batches", st.MicroBatches, MaxMicroBatches}} {
		if f.v < 1 || f.v > f.max {
			return fmt.Errorf("scenarios: %s = %d, want 1..%d", f.name, f.v, f.max)
		}
	}
	if kind == ScheduleDualPipe && st.Stages > 1 {
		if st.Stages%2 != 0 {
			return fmt.Errorf("scenarios: schedule.pipeline_stages = %d, want 1 or an even number for dualpipe (each device holds two mirrored stages)", st.Stages)
		}
		if st.MicroBatches < st.Stages {
			return fmt.Errorf("scenarios: schedule.micro_batches = %d, want at least schedule.pipeline_stages = %d for dualpipe's bubble formula", st.MicroBatches, st.Stages)
		}
	}
	return nil
}

// StepResult is one training or inference step on one device.
type StepResult struct {
	Step
	// Chunk times: F, B and W alone, FB overlapped (dualpipe); Chunk is
	// the chunk's block time for the forward-only schedules.
	F, B, W, FB, Chunk sim.Time
	// Total is the step: Steady (the micro-batches' blocks) plus Bubble.
	Total, Steady, Bubble sim.Time
	// Exposed is the communication time the step exposes, ExposedBubble
	// the part of it in the bubble.
	Exposed, ExposedBubble sim.Time
}

// RunStep computes the step from one block's schedule result r and its
// phases p.
func RunStep(kind ScheduleKind, st Step, p Phases, r ScheduleResult) (StepResult, error) {
	if err := st.Validate(kind); err != nil {
		return StepResult{}, err
	}
	full := func(ph compute.Phase) sim.Time {
		if f := p.Info[ph].Full; f > 0 {
			return f
		}
		return *p.LayerCompute.Phase(ph)
	}
	L := int64(st.Layers)
	out := StepResult{Step: st}
	mul := func(t sim.Time, n int64) sim.Time { return sim.Time(int64(t) * n) }
	out.F = mul(full(compute.PhaseAttnFwd)+p.Dispatch+p.DispatchEpilogue+full(compute.PhaseMLPFwd)+p.Combine+p.CombineEpilogue, L)
	out.W = mul(full(compute.PhaseAttnBwdWeight)+full(compute.PhaseMLPBwdWeight), L)
	bwdComm := p.CombineBwd + p.DispatchEpilogue + p.DispatchBwd + p.CombineEpilogue
	out.B = mul(full(compute.PhaseAttnBwdInput)+full(compute.PhaseMLPBwdInput)+bwdComm, L) + out.W
	M, PP := int64(st.MicroBatches), int64(st.Stages)
	switch kind {
	case ScheduleDualPipe:
		out.FB = mul(r.Layer, L)
		out.Steady = mul(out.FB, M)
		out.Exposed = mul(r.Exposed, L*M)
		if PP > 1 {
			out.Bubble = max(0, mul(out.FB+out.B-3*out.W, PP/2-1))
			out.ExposedBubble = mul(mul(r.Exposed+bwdComm, L), PP/2-1)
		}
	default:
		out.Chunk = mul(r.Layer, L)
		blocks := M
		if kind == ScheduleTwoMicroBatch {
			blocks = (M + 1) / 2
		}
		out.Steady = mul(out.Chunk, blocks)
		out.Bubble = mul(out.Chunk, PP-1)
		out.Exposed = mul(r.Exposed, L*blocks)
		out.ExposedBubble = mul(r.Exposed, L*(PP-1))
	}
	out.Total = out.Steady + out.Bubble
	out.Exposed += out.ExposedBubble
	return out, nil
}
