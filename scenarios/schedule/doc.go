// Package schedule owns the layer schedules: one layer's compute and
// communication ops on two streams (serial; two micro-batches in prefill;
// DualPipe's forward and backward chunks in training), run as events on
// the sim engine, and the overlap they achieve (hidden and exposed
// communication). It takes durations (compute.LayerCompute and the
// kernels' times) and knows nothing of how they were made.
//
// # Usage
//
//	r, err := schedule.RunSchedule(schedule.ScheduleDualPipe, schedule.Phases{LayerCompute: l, Dispatch: d, ...})
//	fmt.Println(r.Layer, r.HiddenFraction)
//
// Imports: sim, scenarios/compute.
package schedule
