package dispatch

import (
	"math/bits"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// forwarder is one channel's even SM on one GPU: one warp per GPU of the
// node, each copying the records meant for its GPU from the channel's input
// queues into that GPU's NVL ring for (channel, this GPU), at most NVLChunk
// per round and only when the ring has that much room. In internode mode
// the queues are the RDMA rings from each source node and a coordinator
// returns RDMA credits; in intranode mode the single queue is the GPU's own
// tokens and the warps are DeepEP's intranode sender warps.
type forwarder struct {
	k    *kernel
	rank int
	c    int
	// This GPU's index in its node and the node's first rank: kept, as
	// integer division is slow and the hot paths would divide per event.
	local, base int
	// queues is, in internode mode, one per source node that sends this
	// channel records, in ascending source node; in intranode mode [0].
	queues []tokenQueue
	warps  []fwdWarp // indexed by destination local GPU
	// pos holds each queue's per-warp positions, the queue's heads then
	// its dones (headAt, doneAt): a round reads a head and later stores
	// the done beside it, and the coordinator's minimum reads the dones,
	// so a queue's positions share one cache line (at 8 GPUs a node).
	pos []int32
	// sm is the channel's even SM's port, every copy's: kept, as the
	// kernel's [rank][sm] table costs two dependent loads per copy.
	sm *sim.Port
	// routes is the NVLink routes from this GPU, by destination local GPU.
	routes []topology.Route
	// ready holds, per warp, one bit per queue: set while the queue holds
	// records the warp has not scanned (readyWords words per warp).
	ready      []uint64
	readyWords int
}

// fwdWarp is the forwarder warp for one destination GPU.
//
// It is 128 bytes, two cache lines of the kernel's slab: the first holds
// what a receiver's credit, from another GPU's events, reads and writes
// (the flags, pending and the first two of buf), so a credit usually
// touches one line; the second holds the counters a round reads.
//
// Invariants: sent-credited <= NVLBuffer; sent <= total.
type fwdWarp struct {
	waitNVL bool
	woken   bool // a wake-up event is scheduled
	busy    bool
	// credits the receiver has sent that may not have landed yet, in
	// landing order (one receiver SM sends them, first come first
	// served). They are applied when the warp next looks, so a credit
	// costs an event only when the warp is waiting for it.
	pending []nvlCredit
	// buf backs pending while it holds at most four credits (at EP64,
	// all but about 1 in 3,000): they then sit beside the warp instead
	// of in memory of their own.
	buf     [4]nvlCredit
	next    int32 // queue to look at first (round-robin over sources)
	sent    int32 // records copied into the destination's ring
	credit  int32 // records the destination's receiver has consumed
	total   int32 // records this warp must forward
	lastQ   int   // queue of the round in flight
	lastEnd int   // head of lastQ once the round in flight completes
}

type nvlCredit struct {
	at sim.Time
	n  int
}

// free records that n slots of warp w's ring come free at time at. It
// reports whether the warp waits for them with no wake-up scheduled: the
// caller then schedules one, so the common credit touches the warp alone,
// not its forwarder.
func (w *fwdWarp) free(at sim.Time, n int) (wake bool) {
	w.pending = append(w.pending, nvlCredit{at, n})
	if w.waitNVL && !w.woken {
		w.woken = true
		return true
	}
	return false
}

const (
	evRDMAArrive = iota + 2
	evFwdDone
	evNVLCredit
)

func (f *forwarder) Handle(now sim.Time, arg int64) {
	kind, a, b := sim.UnpackArg(arg)
	switch kind {
	case evRDMAArrive:
		q := &f.queues[a]
		q.tail += int32(b)
		for d := range f.warps {
			f.setReady(d, a)
			f.round(now, d, a)
		}
	case evFwdDone:
		w := &f.warps[a]
		w.busy = false
		*f.doneAt(w.lastQ, a) = int32(w.lastEnd)
		f.returnCredit(now, w.lastQ, int32(w.lastEnd))
		if w.sent == w.total {
			f.retire(now, a)
			return
		}
		f.round(now, a, -1)
	case evNVLCredit: // a wake-up: a credit has landed, or the first kick
		w := &f.warps[a]
		w.woken = false
		w.waitNVL = false
		f.round(now, a, -1)
	}
}

// round starts warp d's next copy, if it has records and room for them.
// grew >= 0 names the one queue that just received records. A warp that is
// neither copying nor waiting for room has already scanned every queue up
// to its tail, so only that queue can hold new work for it: scanning just
// it finds the same round (and leaves the same round-robin position) as
// scanning all of them, for a fraction of the cost.
func (f *forwarder) round(now sim.Time, d, grew int) {
	w := &f.warps[d]
	if w.busy || w.sent == w.total {
		return
	}
	only := grew >= 0 && !w.waitNVL
	k := f.k
	i := 0
	for ; i < len(w.pending) && w.pending[i].at <= now; i++ {
		w.credit += int32(w.pending[i].n)
	}
	if i > 0 {
		w.pending = append(w.pending[:0], w.pending[i:]...)
	}
	need := min(k.cfg.NVLChunk, int(w.total-w.sent))
	if k.cfg.NVLBuffer-int(w.sent-w.credit) < need {
		w.waitNVL = true
		if len(w.pending) > 0 && !w.woken {
			w.woken = true
			k.eng.At(w.pending[0].at, f, sim.PackArg(evNVLCredit, d, 0))
		}
		return
	}
	// Look at the queues round-robin from w.next, as DeepEP's warps do,
	// but only at those with records the warp has not scanned (ready):
	// the others would be passed over. The round-robin position ends
	// after the queue that gives a round, or where it started.
	nq := len(f.queues)
	if only {
		if *f.headAt(grew, d) >= f.queues[grew].tail {
			return
		}
		f.scan(now, d, grew, need)
		return
	}
	// Each ready word is read once: a scan clears only the bit of the
	// queue it reads, which the walk has passed, and nothing it calls sets
	// one.
	start := int(w.next)
	words := f.ready[d*f.readyWords : (d+1)*f.readyWords]
	for pass, lo, hi := 0, start, nq; pass < 2; pass, lo, hi = pass+1, 0, start {
		for i := lo / 64; i*64 < hi; i++ {
			cur := words[i]
			if i == lo/64 {
				cur &^= 1<<(lo%64) - 1
			}
			if end := hi - i*64; end < 64 {
				cur &= 1<<end - 1
			}
			for ; cur != 0; cur &= cur - 1 {
				if f.scan(now, d, i*64+bits.TrailingZeros64(cur), need) {
					return
				}
			}
		}
	}
}

// scan reads queue qi, which holds records warp d has not scanned, for up
// to need of the warp's records. If it finds some, it starts their copy
// and reports true; if not, the slots it read are released.
func (f *forwarder) scan(now sim.Time, d, qi, need int) bool {
	k := f.k
	w := &f.warps[d]
	nq := len(f.queues)
	q := &f.queues[qi]
	hp := f.headAt(qi, d)
	h, tail := int(*hp), int(q.tail)
	n := 0
	if k.maskBytes == 1 && k.verify == nil {
		h, n = k.count(q, d, h, tail, need)
	} else {
		for h < tail && n < need {
			if k.has(q, h, d) {
				if k.verify != nil {
					k.verify.forwarded(f.rank, f.c, d, int(q.srcRank), int(k.tok(q, h)))
				}
				n++
			}
			h++
		}
	}
	*hp = int32(h)
	if h == tail {
		f.clearReady(d, qi)
	}
	if n > 0 {
		w.next = int32((qi + 1) % nq)
		w.sent += int32(n)
		if int(w.sent-w.credit) > k.cfg.NVLBuffer {
			panic("dispatch: NVL ring overflow: a forwarder wrote past its credits")
		}
		w.busy = true
		w.lastQ, w.lastEnd = qi, h
		dst := f.base + d
		bytes := int64(n) * k.rec
		// The warp copies the chunk a record at a time, then fences and
		// stores the ring's tail.
		c := k.costs.For(f.rank)
		finish := c.CopyShared(f.sm, now, k.peerWarps, n, bytes)
		arrive := finish
		if dst != f.rank {
			// Records land when both the SM has copied them and the link
			// has carried them, plus the link's latency.
			r := &f.routes[d]
			linkDone := sim.Transfer(now, bytes, 0, r.Ports...)
			finish = max(finish, linkDone)
			arrive = finish + r.Latency
		}
		finish += c.Handshake()
		arrive += c.Handshake()
		k.eng.At(finish, f, sim.PackArg(evFwdDone, d, 0))
		if tr := k.eng.Tracer(); tr != nil {
			link := "nvlink"
			if dst == f.rank {
				link = "local"
			}
			tr.Trace(sim.Record{At: now, Dur: arrive - now, Event: "nvl_forward", Role: "forward", GPU: f.rank, Channel: f.c,
				Peer: dst, Link: link, Bytes: bytes, Tokens: n})
		}
		k.eng.At(arrive, k.recv(dst, f.c), sim.PackArg(evNVLArrive, f.local, n))
		return true
	}
	// Nothing for d in what arrived: the slots are still read and
	// released, at no copy cost.
	*f.doneAt(qi, d) = int32(h)
	f.returnCredit(now, qi, int32(h))
	return false
}

// retire marks warp d as done with every queue: it has forwarded all its
// records, and like DeepEP's forwarder warps, which walk every token of
// every source to the end, it holds no ring slot back from the credits the
// other warps return.
func (f *forwarder) retire(now sim.Time, d int) {
	for qi := range f.queues {
		// A queue the warp is already done with has returned what it
		// can (every change of a done position is followed by
		// returnCredit), so only the others need a look.
		if p := f.doneAt(qi, d); *p != f.queues[qi].n {
			*p = f.queues[qi].n
			f.returnCredit(now, qi, *p)
		}
	}
}

// returnCredit is the forwarder coordinator: once every warp has finished
// with a chunk's worth of a source's ring (or with all of it), the slots go
// back to the source's RDMA sender by an atomic add on its head. moved is
// the done position a warp has just set on queue qi: the least done
// position is at most moved, so when moved is short of a chunk past the
// last credit and of the end, so is the least, and the warps' positions
// need no look.
func (f *forwarder) returnCredit(now sim.Time, qi int, moved int32) {
	k := f.k
	if k.senders == nil {
		return
	}
	q := &f.queues[qi]
	if int(moved-q.credited) < k.cfg.RDMAChunk && moved < q.n {
		return
	}
	// Credit goes back once the least done position reaches t. The lag
	// warp usually still holds it back; if not, find the least, whose
	// warp is the likeliest to hold it back longest.
	t := min(q.credited+int32(k.cfg.RDMAChunk), q.n)
	done := f.dones(qi)
	if done[q.lag] < t {
		return
	}
	m, lag := done[0], 0
	for d, h := range done {
		if h < m {
			m, lag = h, d
		}
	}
	q.lag = int32(lag)
	n := int(m - q.credited)
	if n == 0 || (n < k.cfg.RDMAChunk && m < q.n) {
		return
	}
	q.credited = m
	src := int(q.srcRank)
	s := k.sender(src, f.c)
	at := now
	// A source on another node hears back over IB (senders exist in
	// internode mode only, where a source on this node has this GPU's
	// local index, so is this GPU).
	if src != f.rank {
		at += k.cl.Config.IBLatency
	}
	k.eng.At(at, s, sim.PackArg(evRDMACredit, int(q.target), n))
}
