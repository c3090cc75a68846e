package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNoPhantomReservation is issue 13's case, 10 µs later so that A's
// backlog can be offered before A's transfer. GPU A's NIC is backlogged
// for 100 µs when A sends 1 MB to X at t0 = 10 µs; GPU B, idle, sends 1 MB
// to X at t0 + 1 µs. At 50 GB/s a megabyte takes 20 µs. A's bytes cannot
// reach X's ingress before t0 + 100 µs, so B's transfer must find that
// ingress idle and arrive at t0 + 21 µs (+ latency), not queue behind A's
// reservation (the old model's t0 + 40 µs). A still arrives at t0 + 120 µs.
func TestNoPhantomReservation(t *testing.T) {
	const bw, mb = 50e9, int64(1e6)
	const t0 = 10 * Microsecond
	lat := 2 * Microsecond
	aOut, bOut, xIn := NewPort("a.out", bw), NewPort("b.out", bw), NewPort("x.in", bw)
	aOut.Reserve(0, 5*mb+mb/2) // busy until t0 + 100 µs
	a := Transfer(t0, mb, lat, aOut, xIn)
	b := Transfer(t0+Microsecond, mb, lat, bOut, xIn)
	if want := t0 + 21*Microsecond + lat; b != want {
		t.Errorf("B arrives at %v, want %v: X's ingress was idle until A's bytes could reach it", b, want)
	}
	if want := t0 + 120*Microsecond + lat; a != want {
		t.Errorf("A arrives at %v, want %v: behind its own NIC's backlog", a, want)
	}
	// A third megabyte offered at t0 + 2 µs finds X busy with B until
	// t0 + 21 µs, then idle until A at t0 + 100 µs: it fits in between.
	if c := Transfer(t0+2*Microsecond, mb, 0, NewPort("c.out", bw), xIn); c != t0+41*Microsecond {
		t.Errorf("C arrives at %v, want t0+41µs (after B, before A)", c)
	}
	// Three more at t0 + 3 µs: two fit before A, [41, 61) and [61, 81);
	// a third would overlap A's [100, 120), so it goes after A.
	var d [3]Time
	for i := range d {
		d[i] = Transfer(t0+3*Microsecond, mb, 0, NewPort("d.out", bw), xIn)
	}
	if want := [3]Time{t0 + 61*Microsecond, t0 + 81*Microsecond, t0 + 140*Microsecond}; d != want {
		t.Errorf("fill-in arrivals %v, want %v", d, want)
	}
	if got, want := xIn.BusyTime(), 6*20*Microsecond; got != want {
		t.Errorf("X ingress busy %v, want %v", got, want)
	}
}

// TestTransfersOfferedTogetherShareTheNextHop: a GPU posts one message
// to each of n peers at once (an all-to-all's round), and each peer gets
// one message from each of n GPUs. The NIC serves what is posted at one
// instant together, so every ingress can take its messages back to back
// from the start, whatever order the egress queues put them in: the round
// ends at n messages' time, the bandwidth bound. (Serving each egress
// strictly in posting order would leave an ingress idle while its
// messages wait behind others and end later.)
func TestTransfersOfferedTogetherShareTheNextHop(t *testing.T) {
	const n, bw, bytes = 8, 50e9, int64(1 << 17)
	outs, ins := make([]*Port, n), make([]*Port, n)
	for i := range n {
		outs[i], ins[i] = NewPort("out", bw), NewPort("in", bw)
	}
	var last Time
	for src := range n {
		for k := range n {
			// Every source posts in the same order, so in strict FIFO
			// all of them would hit ingress k in slot k together.
			last = max(last, Transfer(0, bytes, 0, outs[src], ins[k]))
		}
	}
	if want := n * TransferTime(bytes, bw); last != want {
		t.Errorf("round ends at %v, want %v (n messages at the NIC's rate)", last, want)
	}
	// Posted later, behind a backlog, a transfer is not shared with it:
	// its next hop sees it only when the egress starts it.
	out, in := NewPort("out", bw), NewPort("in", bw)
	out.Reserve(0, 10*bytes)
	if got, want := Transfer(1, bytes, 0, out, in), 11*TransferTime(bytes, bw); got != want {
		t.Errorf("transfer behind a backlog arrives %v, want %v", got, want)
	}
	if got, want := in.BusyUntil(), 11*TransferTime(bytes, bw); got != want {
		t.Errorf("its ingress is held until %v, want %v (from when the egress starts it)", got, want)
	}
}

// TestPathRunsAtItsSlowestHop: one transfer over idle hops of different
// rates arrives after the slowest hop's time, whichever position it has.
func TestPathRunsAtItsSlowestHop(t *testing.T) {
	const bytes = int64(1 << 20)
	for slow := range 3 {
		ports := []*Port{NewPort("0", 100e9), NewPort("1", 100e9), NewPort("2", 100e9)}
		ports[slow] = NewPort("slow", 25e9)
		if got, want := Transfer(0, bytes, 7, ports...), TransferTime(bytes, 25e9)+7; got != want {
			t.Errorf("slow hop %d: arrival %v, want %v", slow, got, want)
		}
	}
}

// TestLaterHopContention: two flows share only their last hop. Offered
// together they serialize there; the second flow's own first hop is not
// held for the first flow.
func TestLaterHopContention(t *testing.T) {
	const bw, bytes = 1e9, int64(1000) // 1 µs each
	a, b, shared := NewPort("a", bw), NewPort("b", bw), NewPort("shared", bw)
	x := Transfer(0, bytes, 0, a, shared)
	y := Transfer(0, bytes, 0, b, shared)
	if x != Microsecond || y != 2*Microsecond {
		t.Fatalf("arrivals %v, %v; want 1µs and 2µs", x, y)
	}
	// b's own port only carried 1 µs of bytes: a transfer on b alone is
	// not delayed by the shared hop's queue.
	if z := Transfer(Microsecond, bytes, 0, b); z != 2*Microsecond {
		t.Fatalf("b-only transfer arrives %v, want 2µs", z)
	}
}

// TestMinHoldBoundsMessageRate: a port with a per-message time carries
// small messages at its message rate, not its bandwidth; large messages
// are bandwidth-bound as before.
func TestMinHoldBoundsMessageRate(t *testing.T) {
	const rate = 200e6 // messages per second: 5 ns each
	out, in := NewPort("nic.out", 50e9), NewPort("nic.in", 50e9)
	out.MinHold, in.MinHold = FromSeconds(1/rate), FromSeconds(1/rate)
	var last Time
	const n = 10000
	for range n {
		last = Transfer(0, 8, 0, out, in) // 8 B: 0.16 ns of bandwidth
	}
	if want := Time(n) * 5 * Nanosecond; last != want {
		t.Errorf("%d 8-byte messages done at %v, want messages/rate = %v", n, last, want)
	}
	big := Transfer(last, 1e6, 0, out, in)
	if want := last + TransferTime(1e6, 50e9); big != want {
		t.Errorf("1 MB message done at %v, want %v: bandwidth-bound", big, want)
	}
	out.Reset()
	if out.MinHold != 5*Nanosecond {
		t.Errorf("Reset dropped MinHold: %v", out.MinHold)
	}
}

// TestMultiHopConservation drives random transfers over random paths of a
// small network, offered at random times in no particular order, and
// checks every interval each port grants: none overlaps another (so no
// port moves more than its bandwidth over any window), each starts at or
// after the offer and lasts its hold, none ends after the arrival, and
// each transfer arrives no sooner than its slowest hop's time after the
// offer.
func TestMultiHopConservation(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 300 {
		ports := make([]*Port, 6)
		spans := make([][][2]Time, len(ports))
		for i := range ports {
			ports[i] = NewPort("p", 1e9+rng.Float64()*1e11)
			if rng.IntN(3) == 0 {
				ports[i].MinHold = Time(rng.Int64N(int64(Microsecond)))
			}
			i := i
			ports[i].onReserve = func(s, e Time) { spans[i] = append(spans[i], [2]Time{s, e}) }
		}
		var now Time
		for range 200 {
			// Offers mostly move forward, sometimes a little back, as
			// a model's calls do (a handshake ahead, then now).
			now += Time(rng.Int64N(int64(2*Microsecond))) - Microsecond/2
			now = max(now, 0)
			hops := 1 + rng.IntN(4)
			path := make([]*Port, 0, hops)
			idx := rng.Perm(len(ports))[:hops]
			for _, i := range idx {
				path = append(path, ports[i])
			}
			bytes := 1 + rng.Int64N(1<<20)
			before := make([]int, len(ports))
			for i := range ports {
				before[i] = len(spans[i])
			}
			arrive := Transfer(now, bytes, 0, path...)
			var slowest Time
			for _, i := range idx {
				s := spans[i][before[i]]
				if s[0] < now {
					t.Fatalf("trial %d: hop started at %v, before the offer (%v)", trial, s[0], now)
				}
				if want := ports[i].hold(bytes, 0); s[1]-s[0] != want {
					t.Fatalf("trial %d: hop held %v, want %v", trial, s[1]-s[0], want)
				}
				if s[1] > arrive {
					t.Fatalf("trial %d: arrival %v before a hop finished (%v)", trial, arrive, s[1])
				}
				slowest = max(slowest, ports[i].hold(bytes, 0))
			}
			if arrive-now < slowest {
				t.Fatalf("trial %d: arrived %v after the offer, faster than its slowest hop (%v)", trial, arrive-now, slowest)
			}
		}
		for i, ss := range spans {
			ss = slices.Clone(ss)
			slices.SortFunc(ss, func(a, b [2]Time) int { return int(a[0] - b[0]) })
			var busy Time
			for k := range ss {
				busy += ss[k][1] - ss[k][0]
				if k > 0 && ss[k][0] < ss[k-1][1] {
					t.Fatalf("trial %d, port %d: intervals %v and %v overlap", trial, i, ss[k-1], ss[k])
				}
			}
			if busy != ports[i].BusyTime() {
				t.Fatalf("trial %d, port %d: BusyTime %v, intervals sum to %v", trial, i, ports[i].BusyTime(), busy)
			}
		}
	}
}

// TestTransferAllocatesNothing: a multi-hop transfer on the hot path,
// gaps and all, allocates nothing.
func TestTransferAllocatesNothing(t *testing.T) {
	ports := []*Port{NewPort("a", 50e9), NewPort("b", 40e9), NewPort("c", 50e9)}
	var now Time
	if a := testing.AllocsPerRun(10000, func() {
		now += 100 * Nanosecond
		Transfer(now, 7392*8, 0, ports...)
		Transfer(now, 7392, 0, ports[2], ports[0])
	}); a != 0 {
		t.Fatalf("%v allocations per transfer, want 0", a)
	}
}

// BenchmarkTransferThreeHops is a transfer over NIC, switch link, NIC.
func BenchmarkTransferThreeHops(b *testing.B) {
	ports := []*Port{NewPort("a", 50e9), NewPort("b", 50e9), NewPort("c", 50e9)}
	var now Time
	b.ReportAllocs()
	for b.Loop() {
		now = Transfer(now, 7392*8, 0, ports...) - 100
	}
}

// TestPostedTogetherDespiteReadyJitter is the low-latency combine's
// posting: each of n GPUs posts one message to each of n peers from one
// event at time 0, each ready when its warp's copy ends (a few ns apart),
// all in the same peer order. Posted at one instant, they are served
// together whatever their ready times, so every ingress can take its
// messages back to back and the round ends at n messages' time plus the
// jitter. (Batched by ready time, each message was a batch of its own
// behind the egress's FIFO: every ingress got its n messages in one slot
// and the round ran about twice as long.)
func TestPostedTogetherDespiteReadyJitter(t *testing.T) {
	const n, bw, bytes = 8, 50e9, int64(1 << 17)
	outs, ins := make([]*Port, n), make([]*Port, n)
	for i := range n {
		outs[i], ins[i] = NewPort("out", bw), NewPort("in", bw)
	}
	msg := TransferTime(bytes, bw)
	jitter := func(k int) Time { return Time(k) * 3 * Nanosecond }
	var last Time
	for src := range n {
		for k := range n {
			last = max(last, TransferAt(0, jitter(k), bytes, 0, outs[src], ins[k]))
		}
	}
	if want := n*msg + jitter(n-1); last > want {
		t.Errorf("round ends at %v, want at most %v (n messages at the NIC's rate, plus the jitter)", last, want)
	}
	// Posted from different instants, the FIFO holds: a message posted
	// after a backlog was posted still waits for it.
	out, in := NewPort("out", bw), NewPort("in", bw)
	TransferAt(0, 0, 10*bytes, 0, out)
	if got, want := TransferAt(Nanosecond, 2*Nanosecond, bytes, 0, out, in), 11*msg; got != want {
		t.Errorf("later post arrives %v, want %v behind the backlog", got, want)
	}
}

// TestOutOfOrderFutureOffersKeepIdleTime: sixteen GPUs, their NICs
// backlogged since time 0, each send X a message at 1 µs, offered in no
// particular order, that their NICs start at 2, 4, ... 32 µs; sixteen idle
// GPUs then send X one each at 1 µs. X's ingress must keep every idle
// microsecond between the future reservations for them, [1, 2), [3, 4) ...
// [31, 32), the last ending at 32 µs. (With four gaps, forgetting the
// earliest, the idle senders queued after 33 µs.)
func TestOutOfOrderFutureOffersKeepIdleTime(t *testing.T) {
	const bw = 1e9
	const mb = int64(1000) // 1 µs at 1 GB/s
	x := NewPort("x.in", bw)
	order := rand.New(rand.NewPCG(1, 2)).Perm(16)
	for _, i := range order {
		out := NewPort("busy.out", bw)
		out.Reserve(0, int64(2*(i+1))*mb) // starts X's message at 2(i+1) µs
		if got, want := Transfer(Microsecond, mb, 0, out, x), Time(2*(i+1)+1)*Microsecond; got != want {
			t.Fatalf("backlogged sender %d arrives %v, want %v", i, got, want)
		}
	}
	var last Time
	for range 16 {
		last = max(last, Transfer(Microsecond, mb, 0, NewPort("idle.out", bw), x))
	}
	if want := 32 * Microsecond; last != want {
		t.Errorf("idle senders done at %v, want %v: X's idle time between future reservations", last, want)
	}
}

// TestMessageTimeChargedOnce: a NIC port whose MinHold is its time per
// message holds a small message that also states its message time
// (TransferMessage's msg) for that time once, not twice; a large message
// for its bytes plus the message time, as before the floor existed.
func TestMessageTimeChargedOnce(t *testing.T) {
	const bw = 50e9
	msg := 5 * Nanosecond
	out, in := NewPort("nic.out", bw), NewPort("nic.in", bw)
	out.MinHold, in.MinHold = msg, msg
	if got, want := TransferMessage(0, 4, msg, 0, out, in), TransferTime(4, bw)+msg; got != want {
		t.Errorf("4-byte message holds the NICs until %v, want %v (one message time)", got, want)
	}
	start := out.BusyUntil()
	if got, want := TransferMessage(start, 1<<20, msg, 0, out, in), start+TransferTime(1<<20, bw)+msg; got != want {
		t.Errorf("1 MiB message arrives %v, want %v (bytes plus one message time)", got, want)
	}
	// Two planes: each port's floor is two message times; a message that
	// states one is held for the floor, not floor + message.
	a, b := NewPort("plane.out", bw/2), NewPort("plane.in", bw/2)
	a.MinHold, b.MinHold = 2*msg, 2*msg
	if got := TransferMessage(0, 4, msg, 0, a, b); got != 2*msg {
		t.Errorf("4-byte message on a plane holds until %v, want %v (the floor)", got, 2*msg)
	}
}
