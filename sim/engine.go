package sim

import (
	"errors"
	"fmt"
)

// Handler receives an event. Models implement it on long-lived values (a
// warp, a channel) so scheduling allocates nothing; arg carries whatever
// small payload the model needs (a count, an index).
type Handler interface {
	Handle(now Time, arg int64)
}

// HandlerFunc adapts a function to Handler. Convenient off the hot path; a
// closure that captures variables allocates when it is made.
type HandlerFunc func(now Time, arg int64)

// Handle calls f(now, arg).
func (f HandlerFunc) Handle(now Time, arg int64) { f(now, arg) }

// Limits bound a run so a model that spins or never ends stops with an error
// instead of hanging. Zero means "no limit" for each field.
type Limits struct {
	MaxEvents int64 // events executed
	MaxTime   Time  // virtual time of the last event executed
}

// ErrEventLimit and ErrTimeLimit are wrapped by the errors Run returns when a
// limit is reached; test with errors.Is.
var (
	ErrEventLimit = errors.New("sim: event limit reached")
	ErrTimeLimit  = errors.New("sim: simulated time limit reached")
)

// Engine runs events in (time, sequence) order: earlier time first, and
// events at the same time in the order they were scheduled. It is
// single-threaded and deterministic: the same schedule calls give the same
// run.
type Engine struct {
	steps  int64
	q      queue // q.last, the time of the last event run, is the clock
	limits Limits
	tracer Tracer
}

// NewEngine returns an engine at time zero with the given limits.
func NewEngine(l Limits) *Engine {
	return &Engine{limits: l, q: newQueue(1024)}
}

// Now is the time of the event being run, or of the last one run.
func (e *Engine) Now() Time { return e.q.last }

// Steps is the number of events run so far.
func (e *Engine) Steps() int64 { return e.steps }

// Pending is the number of scheduled events not yet run.
func (e *Engine) Pending() int { return e.q.len() }

// At schedules h.Handle(t, arg). Scheduling in the past is a model bug and
// panics: no event may happen before its cause.
func (e *Engine) At(t Time, h Handler, arg int64) {
	e.q.push(event{at: t, h: h, arg: arg}) // small enough to inline
}

// After schedules h.Handle(now+d, arg).
func (e *Engine) After(d Time, h Handler, arg int64) { e.At(e.q.last+d, h, arg) }

// Step runs the earliest event. It reports false when there was none.
// Step does not check limits; Run and RunUntil do.
func (e *Engine) Step() bool {
	if e.q.len() == 0 {
		return false
	}
	ev := e.q.pop()
	e.steps++
	ev.h.Handle(ev.at, ev.arg)
	return true
}

// Run runs events until none are left, or a limit is reached.
func (e *Engine) Run() error { return e.RunUntil(Forever) }

// RunUntil runs the events at or before t, then leaves the clock at the last
// one run. It returns an error wrapping ErrEventLimit or ErrTimeLimit when a
// limit stops the run first.
func (e *Engine) RunUntil(t Time) error {
	for e.q.len() > 0 {
		next := e.q.minTime()
		if next > t {
			return nil
		}
		if e.limits.MaxTime > 0 && next > e.limits.MaxTime {
			return fmt.Errorf("%w: next event at %v is past the limit %v (%d events pending)",
				ErrTimeLimit, next, e.limits.MaxTime, e.q.len())
		}
		if e.limits.MaxEvents > 0 && e.steps >= e.limits.MaxEvents {
			return fmt.Errorf("%w: %d events run, limit %d, at %v",
				ErrEventLimit, e.steps, e.limits.MaxEvents, e.Now())
		}
		// Step's body, saving a call per event.
		ev := e.q.pop()
		e.steps++
		ev.h.Handle(ev.at, ev.arg)
	}
	return nil
}
