package dispatch

import "github.com/moesim/moesim/sim"

// receiver is one channel's NVL receiver warps on one GPU (on the channel's
// odd SM): one per source GPU of the node, each copying the records that
// arrive in its NVL ring into their final rows and returning the freed
// slots to that source's forwarder warp.
type receiver struct {
	k    *kernel
	rank int
	c    int
	// This GPU's index in its node and the node's first rank.
	local, base int
	last        sim.Time // when the last row landed
	rows        int
	free        []sim.Time // when each source's receiver warp is next idle
	sm          *sim.Port  // the channel's odd SM's port
	// The forwarder warp of source GPU src that this receiver credits is
	// k.fwdWarps[warp0+src*warpStride]: found without a look at the
	// source's forwarder, which a credit seldom needs.
	warp0, warpStride int
}

const evNVLArrive = 5

// Handle takes a chunk that landed in the ring of source GPU src: the
// receiver warp copies it to its output rows on the channel's odd SM and,
// once copied, returns the slots to the forwarder. The SM port serializes
// the copies, so a chunk that lands while the previous one is still being
// copied waits for it, as it would for the warp; the credit reaches the
// forwarder one NVLink latency after the copy (none for the own GPU).
func (r *receiver) Handle(now sim.Time, arg int64) {
	_, src, n := sim.UnpackArg(arg)
	k := r.k
	bytes := int64(n) * k.rec
	start := max(now, r.free[src])
	finish := k.costs.For(r.rank).CopyShared(r.sm, start, k.peerWarps, n, bytes)
	r.free[src] = finish
	r.rows += n
	r.last = max(r.last, finish)
	if k.verify != nil {
		k.verify.received(r.rank, r.c, src, n)
	}
	fwd := r.base + src
	at := finish
	if fwd != r.rank {
		at += k.cl.Config.NVLinkLatency
	}
	if k.fwdWarps[r.warp0+src*r.warpStride].free(at, n) {
		k.eng.At(at, k.fwd(fwd, r.c), sim.PackArg(evNVLCredit, r.local, 0))
	}
	if tr := k.eng.Tracer(); tr != nil {
		tr.Trace(sim.Record{At: now, Dur: finish - now, Event: "nvl_recv", Role: "nvl-recv", GPU: r.rank, Channel: r.c,
			Peer: fwd, Link: "sm", Bytes: bytes, Tokens: n})
	}
}
