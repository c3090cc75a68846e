package sim

import "testing"

// pinger keeps a fixed population of events in flight, each rescheduling
// itself a little later, like warps polling rings.
type pinger struct {
	e *Engine
}

func (p *pinger) Handle(now Time, arg int64) {
	p.e.After(1+Time(arg%97), p, arg+1)
}

// BenchmarkEngine measures events per second and allocations per event in
// steady state, with 1024 events pending.
func BenchmarkEngine(b *testing.B) {
	e := NewEngine(Limits{})
	p := &pinger{e: e}
	for i := range 1024 {
		e.At(Time(i), p, int64(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// spreader keeps many events in flight at spread-out times, like dispatch's
// RDMA arrivals queued far ahead behind FIFO port reservations: most delays
// between 0.1 and 8 µs, one in sixteen at the current time.
type spreader struct {
	e *Engine
	x uint64 // xorshift state
}

func (s *spreader) Handle(now Time, arg int64) {
	s.x ^= s.x << 13
	s.x ^= s.x >> 7
	s.x ^= s.x << 17
	var d Time
	if s.x&15 != 0 {
		d = 100*Nanosecond + Time(s.x>>8)%(8*Microsecond)
	}
	s.e.After(d, s, arg)
}

// BenchmarkEngineManyPending measures the cost per event with 100k events
// pending, most of them far in the future.
func BenchmarkEngineManyPending(b *testing.B) {
	e := NewEngine(Limits{})
	s := &spreader{e: e, x: 88172645463325252}
	for i := range 100_000 {
		e.At(Time(i)*80, s, int64(i))
	}
	for range 1_000_000 { // warm up: reach the steady-state spread
		e.Step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func TestEngineSteadyStateAllocatesNothing(t *testing.T) {
	e := NewEngine(Limits{})
	p := &pinger{e: e}
	for i := range 1024 {
		e.At(Time(i), p, int64(i))
	}
	for range 10000 { // warm up: let the heap reach its size
		e.Step()
	}
	if a := testing.AllocsPerRun(10000, func() { e.Step() }); a != 0 {
		t.Fatalf("%.2f allocations per event, want 0", a)
	}
}

// BenchmarkPortReserve is the cost a model pays per hop of a transfer.
func BenchmarkPortReserve(b *testing.B) {
	p := NewPort("p", 50e9)
	var now Time
	b.ReportAllocs()
	for b.Loop() {
		now = p.Reserve(now, 7392*8) - 100
	}
}
