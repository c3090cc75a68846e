package schedule

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/moesim/moesim/sim"
)

// TestEpilogueSerialIsSumOfParts: in the serial schedule each V2
// epilogue follows its all-to-all and precedes the compute that reads it,
// so the layer is the plain sum of every part, and every epilogue is
// exposed communication.
func TestEpilogueSerialIsSumOfParts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPhases(t, sim.Second, sim.Second)
		p.DispatchEpilogue = sim.Time(rapid.Int64Range(0, int64(sim.Millisecond)).Draw(t, "dispatch_epilogue"))
		p.CombineEpilogue = sim.Time(rapid.Int64Range(0, int64(sim.Millisecond)).Draw(t, "combine_epilogue"))
		r := mustRun(t, ScheduleSerial, p)
		sum := p.AttnFwd + p.Dispatch + p.DispatchEpilogue + p.MLPFwd + p.Combine + p.CombineEpilogue
		if r.Layer != sum {
			t.Fatalf("serial layer %v, want the sum %v", r.Layer, sum)
		}
		if comm := p.Dispatch + p.DispatchEpilogue + p.Combine + p.CombineEpilogue; r.Comm != comm || r.Exposed != comm {
			t.Fatalf("comm %v exposed %v, want both %v", r.Comm, r.Exposed, comm)
		}
	})
}

// TestEpilogueNeverHides: in every schedule the epilogues count as
// communication and all of it is exposed (an epilogue holds every SM, so
// nothing computes beside it), no more is exposed than the layer's time,
// the layer never gets shorter with them, and every epilogue runs on the
// compute stream after its all-to-all.
func TestEpilogueNeverHides(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPhases(t, 10*sim.Millisecond, 10*sim.Millisecond)
		with := p
		with.DispatchEpilogue = sim.Time(rapid.Int64Range(1, int64(sim.Millisecond)).Draw(t, "dispatch_epilogue"))
		with.CombineEpilogue = sim.Time(rapid.Int64Range(1, int64(sim.Millisecond)).Draw(t, "combine_epilogue"))
		for _, k := range ScheduleKinds() {
			a, b := mustRun(t, k, p), mustRun(t, k, with)
			if b.Layer < a.Layer {
				t.Fatalf("%s: layer %v with epilogues, %v without", k, b.Layer, a.Layer)
			}
			var epi sim.Time
			ends := map[string]sim.Time{}
			for _, o := range b.Ops {
				ends[o.Name] = o.End
			}
			for _, o := range b.Ops {
				if len(o.Name) > 9 && o.Name[len(o.Name)-9:] == ".epilogue" {
					epi += o.End - o.Start
					if o.Stream != StreamCompute || o.Start < ends[o.Name[:len(o.Name)-9]] {
						t.Fatalf("%s: %s on %s at %v, before its all-to-all ends at %v", k, o.Name, o.Stream, o.Start, ends[o.Name[:len(o.Name)-9]])
					}
				}
			}
			if epi == 0 {
				t.Fatalf("%s: no epilogue op ran", k)
			}
			if b.Exposed < epi || b.Exposed > b.Layer || b.Comm != a.Comm+epi {
				t.Fatalf("%s: exposed %v and comm %v with epilogues of %v (comm %v without); want the epilogues all exposed and counted",
					k, b.Exposed, b.Comm, epi, a.Comm)
			}
		}
	})
}
