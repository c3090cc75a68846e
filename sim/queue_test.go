package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refQueue is the engine's former queue, a 4-ary heap on (time, sequence):
// the specification the radix heap must match event for event.
type refEvent struct {
	at  Time
	seq uint64
	arg int64
}

type refQueue struct {
	items []refEvent
	seq   uint64
}

func (a *refEvent) before(b *refEvent) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *refQueue) push(at Time, arg int64) {
	q.seq++
	ev := refEvent{at, q.seq, arg}
	q.items = append(q.items, ev)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !ev.before(&q.items[p]) {
			break
		}
		q.items[i] = q.items[p]
		i = p
	}
	q.items[i] = ev
}

func (q *refQueue) pop() refEvent {
	items := q.items
	top := items[0]
	n := len(items) - 1
	last := items[n]
	items = items[:n]
	q.items = items
	if n == 0 {
		return top
	}
	i := 0
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		m := first
		for c := first + 1; c < min(first+4, n); c++ {
			if items[c].before(&items[m]) {
				m = c
			}
		}
		if !items[m].before(&last) {
			break
		}
		items[i] = items[m]
		i = m
	}
	items[i] = last
	return top
}

// TestQueueMatchesHeapOrder drives the radix heap and the reference heap
// with the same random schedules, mixing events at the current time, ties,
// near and far future times and huge times, and checks that they pop the same
// events in the same order.
func TestQueueMatchesHeapOrder(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			q := newQueue(16)
			var ref refQueue
			var now Time
			var arg int64
			delay := func() Time {
				switch rng.IntN(8) {
				case 0:
					return 0
				case 1:
					return Time(rng.IntN(4))
				case 2:
					return Time(rng.IntN(1000))
				case 3:
					return Time(rng.Int64N(1 << 40))
				case 4:
					if seed%4 == 0 { // some runs reach the top bits
						return Time(rng.Int64N(math.MaxInt64 - int64(now)))
					}
					return 0
				default:
					return Time(rng.IntN(1 << (rng.IntN(30) + 1)))
				}
			}
			for step := range 20000 {
				// Grow, shrink, and burst, so blocks are taken and returned.
				pushes := rng.IntN(3)
				if step%2000 < 300 {
					pushes = rng.IntN(8)
				} else if step%2000 > 1500 {
					pushes = rng.IntN(2)
				}
				for range pushes {
					at := now + delay()
					if at < now { // overflow past Forever
						at = Forever
					}
					arg++
					q.push(event{at: at, arg: arg})
					ref.push(at, arg)
				}
				if q.len() != len(ref.items) {
					t.Fatalf("step %d: len %d, want %d", step, q.len(), len(ref.items))
				}
				if q.len() == 0 {
					continue
				}
				if got, want := q.minTime(), ref.items[0].at; got != want {
					t.Fatalf("step %d: minTime %v, want %v", step, got, want)
				}
				got, want := q.pop(), ref.pop()
				if got.at != want.at || got.arg != want.arg {
					t.Fatalf("step %d: popped (%d, arg %d), want (%d, arg %d)",
						step, got.at, got.arg, want.at, want.arg)
				}
				now = got.at
			}
			for q.len() > 0 {
				got, want := q.pop(), ref.pop()
				if got.at != want.at || got.arg != want.arg {
					t.Fatalf("drain: popped (%d, arg %d), want (%d, arg %d)",
						got.at, got.arg, want.at, want.arg)
				}
			}
		})
	}
}

// TestQueueKeepsNoStaleHandlers checks that once every event has run, no
// block still references a handler.
func TestQueueKeepsNoStaleHandlers(t *testing.T) {
	e := NewEngine(Limits{})
	r := &recorder{}
	for i := range 5000 {
		e.At(Time(i*7919%5003)*Microsecond, r, int64(i))
		e.At(Time(i%13), r, int64(i))
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	var blocks []*block
	for b := e.q.free; b != nil; b = b.next {
		blocks = append(blocks, b)
	}
	for i := range e.q.bk {
		for b := e.q.bk[i].first; b != nil; b = b.next {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) < 2 {
		t.Fatalf("%d blocks, want the run to have used several", len(blocks))
	}
	for _, b := range blocks {
		for k := range b.ev {
			if b.ev[k].h != nil {
				t.Fatalf("a block still references a handler after the run")
			}
		}
	}
}

func TestRunUntilThenScheduleEarlier(t *testing.T) {
	// RunUntil looks at the next event (t=20) without running it; an event
	// scheduled afterwards at t=16 must still run first.
	e := NewEngine(Limits{})
	r := &recorder{}
	e.At(10, r, 1)
	e.At(20, r, 3)
	e.At(1<<40, r, 4)
	if err := e.RunUntil(15); err != nil {
		t.Fatal(err)
	}
	e.At(16, r, 2)
	e.At(1<<40, r, 5)
	e.At(Forever, r, 6)
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	want := []int64{1, 2, 3, 4, 5, 6}
	if fmt.Sprint(r.got) != fmt.Sprint(want) {
		t.Fatalf("order = %v, want %v", r.got, want)
	}
	if e.Now() != Forever || e.Pending() != 0 {
		t.Fatalf("now %v, %d pending; want Forever and 0", e.Now(), e.Pending())
	}
}
