package schedule

import (
	"strings"
	"testing"

	"github.com/moesim/moesim/sim"
)

func stepPhases() Phases {
	var p Phases
	p.AttnFwd, p.MLPFwd, p.AttnBwdInput, p.AttnBwdWeight, p.MLPBwdInput, p.MLPBwdWeight = 30, 40, 50, 10, 60, 20
	p.Dispatch, p.Combine, p.DispatchBwd, p.CombineBwd = 15, 25, 25, 15
	return p
}

// DualPipe's step: M blocks of F&B plus DeepSeek-V3's bubble
// (PP/2-1)(F&B + B - 3W), per chunk of layers.
func TestRunStepDualPipeBubble(t *testing.T) {
	p := stepPhases()
	r := mustRun(t, ScheduleDualPipe, p)
	st, err := RunStep(ScheduleDualPipe, Step{Layers: 2, Stages: 8, MicroBatches: 16}, p, r)
	if err != nil {
		t.Fatal(err)
	}
	F := sim.Time(2 * (30 + 15 + 40 + 25))
	W := sim.Time(2 * (10 + 20))
	B := sim.Time(2*(50+60+25+15)) + W
	FB := 2 * r.Layer
	if st.F != F || st.B != B || st.W != W || st.FB != FB {
		t.Errorf("chunks F %v B %v W %v FB %v, want %v %v %v %v", st.F, st.B, st.W, st.FB, F, B, W, FB)
	}
	bubble := 3 * (FB + B - 3*W)
	if st.Bubble != bubble || st.Total != 16*FB+bubble {
		t.Errorf("bubble %v step %v, want %v and %v", st.Bubble, st.Total, bubble, 16*FB+bubble)
	}
	// The bubble exposes the lone backward chunks' all-to-alls.
	if want := 3 * 2 * (r.Exposed + 40); st.ExposedBubble != want || st.Exposed != 32*r.Exposed+want {
		t.Errorf("exposed %v (bubble %v), want %v (bubble %v)", st.Exposed, st.ExposedBubble, 32*r.Exposed+want, want)
	}
	// One stage: no bubble, the step is the blocks.
	one, _ := RunStep(ScheduleDualPipe, Step{Layers: 1, Stages: 1, MicroBatches: 1}, p, r)
	if one.Total != r.Layer || one.Bubble != 0 {
		t.Errorf("one block: step %v bubble %v, want the layer %v", one.Total, one.Bubble, r.Layer)
	}
}

func TestRunStepForwardOnly(t *testing.T) {
	p := stepPhases()
	r := mustRun(t, ScheduleTwoMicroBatch, p)
	st, err := RunStep(ScheduleTwoMicroBatch, Step{Layers: 3, Stages: 4, MicroBatches: 5}, p, r)
	if err != nil {
		t.Fatal(err)
	}
	// ceil(5/2) = 3 blocks of two micro-batches, 3 more to fill the pipe.
	if want := (3 + 3) * 3 * r.Layer; st.Total != want || st.Bubble != 3*3*r.Layer {
		t.Errorf("two-microbatch step %v bubble %v, want %v and %v", st.Total, st.Bubble, want, 3*3*r.Layer)
	}
}

func TestStepValidate(t *testing.T) {
	for _, tc := range []struct {
		st   Step
		want string
	}{
		{Step{0, 1, 1}, "schedule.layers = 0, want 1..1000"},
		{Step{1, 3, 8}, "schedule.pipeline_stages = 3, want 1 or an even number"},
		{Step{1, 8, 4}, "schedule.micro_batches = 4, want at least schedule.pipeline_stages = 8"},
		{Step{1, 1, 1 << 15}, "schedule.micro_batches = 32768, want 1..16384"},
	} {
		if err := tc.st.Validate(ScheduleDualPipe); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.st, err, tc.want)
		}
	}
	if err := (Step{1, 3, 1}).Validate(ScheduleSerial); err != nil {
		t.Errorf("serial with 3 stages: %v", err)
	}
}
