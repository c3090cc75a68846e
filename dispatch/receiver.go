package dispatch

import "github.com/moesim/moesim/sim"

// receiver is one channel's NVL receiver warps on one GPU (on the channel's
// odd SM): one per source GPU of the node, each copying the records that
// arrive in its NVL ring into their final rows and returning the freed
// slots to that source's forwarder warp.
type receiver struct {
	k     *kernel
	rank  int
	c     int
	rings []nvlRing // indexed by source local GPU
	last  sim.Time  // when the last row landed
	rows  int
}

// nvlRing is the ring one source's forwarder fills on this GPU.
//
// Invariants: head <= tail; tail-head <= NVLBuffer.
type nvlRing struct {
	tail, head int
	busy       bool
	n          int // rows in the copy in flight
}

const (
	evNVLArrive = iota + 5
	evRecvDone
)

func (r *receiver) Handle(now sim.Time, arg int64) {
	kind, src, n := unpack(arg)
	ring := &r.rings[src]
	switch kind {
	case evNVLArrive:
		ring.tail += n
		if ring.tail-ring.head > r.k.cfg.NVLBuffer {
			panic("dispatch: NVL ring overflow: a forwarder wrote past its credits")
		}
	case evRecvDone:
		ring.busy = false
		ring.head += ring.n
		r.rows += ring.n
		r.last = now
		if r.k.verify != nil {
			r.k.verify.received(r.rank, r.c, src, ring.n)
		}
		fwd := r.rank - r.rank%r.k.gpn + src
		at := now
		if fwd != r.rank {
			at += r.k.cl.Config.NVLinkLatency
		}
		r.k.eng.At(at, r.k.fwd(fwd, r.c), pack(evNVLCredit, r.rank%r.k.gpn, ring.n))
	}
	if !ring.busy && ring.tail > ring.head {
		ring.n = ring.tail - ring.head
		ring.busy = true
		bytes := int64(ring.n) * r.k.rec
		finish := r.k.sm(r.rank, 2*r.c+1).Reserve(now, bytes)
		r.k.eng.At(finish, r, pack(evRecvDone, src, 0))
		if tr := r.k.eng.Tracer(); tr != nil {
			tr.Trace(sim.Record{At: now, Dur: finish - now, Event: "nvl_recv", Role: "nvl-recv", GPU: r.rank, Channel: r.c,
				Peer: r.rank - r.rank%r.k.gpn + src, Link: "sm", Bytes: bytes, Tokens: ring.n})
		}
	}
}
