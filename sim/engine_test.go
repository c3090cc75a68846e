package sim

import (
	"errors"
	"testing"
)

type recorder struct {
	eng *Engine
	got []int64
	at  []Time
}

func (r *recorder) Handle(now Time, arg int64) {
	r.got = append(r.got, arg)
	r.at = append(r.at, now)
}

func TestSameTimeEventsRunFIFO(t *testing.T) {
	e := NewEngine(Limits{})
	r := &recorder{eng: e}
	// Scheduled out of time order, with ties at t=5 in order 1,2,3.
	e.At(7, r, 9)
	e.At(5, r, 1)
	e.At(5, r, 2)
	e.At(3, r, 0)
	e.At(5, r, 3)
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	want := []int64{0, 1, 2, 3, 9}
	for i := range want {
		if r.got[i] != want[i] {
			t.Fatalf("order = %v, want %v", r.got, want)
		}
	}
	if e.Now() != 7 || e.Steps() != 5 {
		t.Fatalf("now=%v steps=%d, want 7ps and 5", e.Now(), e.Steps())
	}
}

func TestManyTiesStayFIFO(t *testing.T) {
	// Enough events to exercise every level of the 4-ary heap.
	e := NewEngine(Limits{})
	r := &recorder{}
	const n = 5000
	for i := range n {
		e.At(Time(i%7), r, int64(i))
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	last := map[Time]int64{}
	for i, arg := range r.got {
		at := r.at[i]
		if i > 0 && at < r.at[i-1] {
			t.Fatalf("time went back at %d: %v after %v", i, at, r.at[i-1])
		}
		if prev, ok := last[at]; ok && arg < prev {
			t.Fatalf("at %v: event %d ran after %d", at, arg, prev)
		}
		last[at] = arg
	}
}

type chain struct {
	e *Engine
	n int64
}

func (c *chain) Handle(now Time, arg int64) {
	if arg < c.n {
		c.e.After(1, c, arg+1)
	}
}

func TestEventLimitStopsRun(t *testing.T) {
	e := NewEngine(Limits{MaxEvents: 100})
	e.At(0, &chain{e: e, n: 1 << 40}, 0)
	err := e.Run()
	if !errors.Is(err, ErrEventLimit) {
		t.Fatalf("err = %v, want ErrEventLimit", err)
	}
	if e.Steps() != 100 {
		t.Fatalf("steps = %d, want 100", e.Steps())
	}
}

func TestTimeLimitStopsRun(t *testing.T) {
	e := NewEngine(Limits{MaxTime: Microsecond})
	e.At(0, &chain{e: e, n: 1 << 40}, 0)
	err := e.Run()
	if !errors.Is(err, ErrTimeLimit) {
		t.Fatalf("err = %v, want ErrTimeLimit", err)
	}
	if e.Now() != Microsecond {
		t.Fatalf("stopped at %v, want 1µs", e.Now())
	}
}

func TestRunUntilLeavesLaterEvents(t *testing.T) {
	e := NewEngine(Limits{})
	r := &recorder{}
	e.At(10, r, 1)
	e.At(20, r, 2)
	if err := e.RunUntil(15); err != nil {
		t.Fatal(err)
	}
	if len(r.got) != 1 || e.Pending() != 1 {
		t.Fatalf("ran %v with %d pending, want 1 run and 1 pending", r.got, e.Pending())
	}
}

func TestSchedulingInThePastPanics(t *testing.T) {
	e := NewEngine(Limits{})
	e.At(10, HandlerFunc(func(now Time, _ int64) {
		defer func() {
			if recover() == nil {
				t.Error("scheduling before now did not panic")
			}
		}()
		e.At(now-1, HandlerFunc(func(Time, int64) {}), 0)
	}), 0)
	_ = e.Run()
}

func TestTimeString(t *testing.T) {
	cases := map[Time]string{
		0: "0s", 12: "12ps", 1500: "1.5ns", 1500 * Nanosecond: "1.5µs",
		3250 * Microsecond: "3.25ms", 2 * Second: "2s", -1500: "-1.5ns",
	}
	for in, want := range cases {
		if got := in.String(); got != want {
			t.Errorf("Time(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}

func TestTransferTimeRoundsUp(t *testing.T) {
	// 1 byte at 3 B/s is 1/3 s: rounded up so the port never beats its rate.
	if got := TransferTime(1, 3); got != 333333333334 {
		t.Fatalf("TransferTime(1, 3) = %d, want 333333333334", got)
	}
	if got := TransferTime(160e9, 160e9); got != Second {
		t.Fatalf("TransferTime = %v, want 1s", got)
	}
}

func TestStreamsAreIndependentAndReproducible(t *testing.T) {
	a1, a2 := Stream(7, "routing"), Stream(7, "routing")
	b := Stream(7, "skew")
	same, diff := true, false
	for range 100 {
		x, y, z := a1.Uint64(), a2.Uint64(), b.Uint64()
		same = same && x == y
		diff = diff || x != z
	}
	if !same || !diff {
		t.Fatalf("same-name streams equal: %v, different-name streams differ: %v", same, diff)
	}
}
