package schedule

import (
	"math"
	"testing"

	"github.com/moesim/moesim/sim"
)

const us = sim.Microsecond

// gemmAndCopy is a 1000 µs GEMM of 8 waves (1150 µs on the SMs a 20-SM
// carve-out leaves) and a 100 µs copy kernel taking 20% of HBM, launched
// together.
func gemmAndCopy() []opSpec {
	return []opSpec{
		{name: "GEMM", stream: streamCompute, dur: 1150 * us, full: 1000 * us, waves: 8, carved: true},
		{name: "Copy", stream: streamComm, dur: 100 * us, hbm: 0.2},
	}
}

func recordOf(t *testing.T, r ScheduleResult, name string) OpRecord {
	t.Helper()
	for _, o := range r.Ops {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no op %s in %+v", name, r.Ops)
	return OpRecord{}
}

func near(a, b sim.Time) bool { return math.Abs(float64(a-b)) <= 2 }

// A copy kernel beside a GEMM runs slower than alone (the GEMM's power
// draw lowers the clock), and slower still from its launch without a
// carve-out, where it first waits for the GEMM's wave to end. The GEMM
// slows by the HBM share the copy takes.
func TestCopyBesideGEMMIsSlower(t *testing.T) {
	inf := Interference{ClockDrop: 0.1, GEMMHBMSensitivity: 0.5, SMWait: 2 * us}
	alone, err := runOpsWith([]opSpec{gemmAndCopy()[1]}, inf)
	if err != nil {
		t.Fatal(err)
	}
	if c := recordOf(t, alone, "Copy"); c.End-c.Launch != 100*us || alone.CommSlowdown != 1 {
		t.Fatalf("copy alone took %v (slowdown %g), want 100µs", c.End-c.Launch, alone.CommSlowdown)
	}

	carved, err := runOpsWith(gemmAndCopy(), inf)
	if err != nil {
		t.Fatal(err)
	}
	c := recordOf(t, carved, "Copy")
	// A pure GEMM beside it: 100 µs / (1 - 0.1), no HBM term for the copy.
	if want := sim.Time(math.Round(100e6 / 0.9)); c.Start != 0 || !near(c.End, want) {
		t.Errorf("copy beside a GEMM with carve-out ran %v..%v, want 0..%v", c.Start, c.End, want)
	}
	g := recordOf(t, carved, "GEMM")
	// While the copy runs the GEMM stretches by 1 + 0.2*0.5 on its
	// carved-out SMs; after it, it runs on them at 1150 µs per GEMM.
	copyEnd := float64(c.End)
	done := copyEnd / (1150e6 * 1.1)
	if want := sim.Time(math.Round(copyEnd + (1-done)*1150e6)); !near(g.End, want) {
		t.Errorf("GEMM beside the copy ended at %v, want %v", g.End, want)
	}
	if carved.ComputeSlowdown <= 1.15 || carved.CommSlowdown <= 1 {
		t.Errorf("slowdowns compute %g comm %g, want > 1.15 and > 1", carved.ComputeSlowdown, carved.CommSlowdown)
	}

	inf.NoCarveout = true
	ops := gemmAndCopy()
	ops[0].carved = false
	free, err := runOpsWith(ops, inf)
	if err != nil {
		t.Fatal(err)
	}
	n := recordOf(t, free, "Copy")
	// The GEMM's first wave (1000/8 µs on every SM) holds the SMs, then
	// 2 µs until every copy block runs, then the clock-bound copy.
	if want := 125*us + 2*us; n.Start != want {
		t.Errorf("copy without carve-out started at %v, want %v", n.Start, want)
	}
	if n.End-n.Launch <= c.End-c.Launch {
		t.Errorf("copy without carve-out took %v from launch, want more than %v with carve-out", n.End-n.Launch, c.End-c.Launch)
	}
	if free.CommSMWait != 127*us {
		t.Errorf("CommSMWait = %v, want 127µs", free.CommSMWait)
	}
}

// Without a carve-out, a communication kernel launched in the middle of a
// GEMM wave starts when that wave ends; with one it starts at once.
func TestNoCarveoutStartsAtWaveBoundary(t *testing.T) {
	ops := func(carved bool) []opSpec {
		return []opSpec{
			// 8 waves of 125 µs; the same on any SM count, so its waves
			// keep their length while the kernels beside it run.
			{name: "GEMM", stream: streamCompute, dur: 1000 * us, full: 1000 * us, waves: 8, carved: carved},
			{name: "X", stream: streamComm, dur: 300 * us},
			{name: "C", stream: streamComm, dur: 50 * us},
		}
	}
	free, err := runOpsWith(ops(false), Interference{NoCarveout: true})
	if err != nil {
		t.Fatal(err)
	}
	x, c := recordOf(t, free, "X"), recordOf(t, free, "C")
	if x.Start != 125*us || x.End != 425*us {
		t.Errorf("X ran %v..%v, want 125µs..425µs (after the first wave)", x.Start, x.End)
	}
	if c.Launch != 425*us || c.Start != 500*us {
		t.Errorf("C launched at %v, started at %v; want launch 425µs, start at the wave boundary 500µs", c.Launch, c.Start)
	}
	if c.Start%(125*us) != 0 {
		t.Errorf("C started at %v, not a wave boundary (125µs waves)", c.Start)
	}
	carved, err := runOpsWith(ops(true), Interference{})
	if err != nil {
		t.Fatal(err)
	}
	if x, c := recordOf(t, carved, "X"), recordOf(t, carved, "C"); x.Start != 0 || c.Start != 300*us || c.Start != c.Launch {
		t.Errorf("with a carve-out X started at %v and C at %v (launched %v), want 0 and 300µs at once", x.Start, c.Start, c.Launch)
	}
}

// Serial overlaps nothing, so its compute runs on every SM whatever the
// communication kernels' SM count.
func TestSerialComputeOnEverySM(t *testing.T) {
	p := Phases{Dispatch: 300 * us, Combine: 500 * us}
	p.AttnFwd, p.MLPFwd = 1150*us, 1380*us
	p.Info[0].Full, p.Info[0].Shared, p.Info[0].Waves = 1000*us, 1150*us, 8
	p.Info[1].Full, p.Info[1].Shared, p.Info[1].Waves = 1200*us, 1380*us, 9
	p.Interference = Interference{ClockDrop: 0.1, GEMMHBMSensitivity: 0.5}
	r := mustRun(t, ScheduleSerial, p)
	if r.Compute != 2200*us || r.ComputeSlowdown != 1 || r.Comm != 800*us || r.Layer != 3000*us {
		t.Errorf("serial: compute %v (slowdown %g), comm %v, layer %v; want 2200µs on every SM, 800µs, 3000µs",
			r.Compute, r.ComputeSlowdown, r.Comm, r.Layer)
	}
	// DualPipe overlaps: compute runs on the carved-out SMs and slows.
	p.MLPBwdInput, p.Info[4].Full, p.Info[4].Waves = 2000*us, 1800*us, 10
	p.AttnBwdInput, p.Info[2].Full, p.Info[2].Waves = 2000*us, 1800*us, 10
	p.CombineBwd, p.DispatchBwd = 300*us, 500*us
	d := mustRun(t, ScheduleDualPipe, p)
	if d.ComputeSlowdown <= 1 || d.CommSlowdown <= 1 {
		t.Errorf("dualpipe slowdowns compute %g comm %g, want both > 1", d.ComputeSlowdown, d.CommSlowdown)
	}
}
