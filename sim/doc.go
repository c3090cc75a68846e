// Package sim owns moesim's discrete-event engine: integer virtual time in
// picoseconds, an event queue ordered by (time, sequence), bandwidth/latency
// ports that serialize the transfers offered to them, seeded random streams
// and an opt-in trace hook.
//
// It knows nothing of GPUs or MoE, uses only the standard library, and has no
// goroutines, wall clock or map iteration, so a run is a pure function of its
// inputs.
//
// # Usage
//
//	eng := sim.NewEngine(sim.Limits{MaxEvents: 1e9})
//	link := sim.NewPort("nvl0.out", 160e9)
//	arrive := sim.Transfer(eng.Now(), 1<<20, 2*sim.Microsecond, link)
//	eng.At(arrive, handler, 0)
//	if err := eng.Run(); err != nil { ... }
package sim
