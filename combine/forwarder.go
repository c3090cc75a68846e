package combine

import (
	"fmt"

	"github.com/moesim/moesim/sim"
)

// forwarder is one channel's forwarder warps on one GPU in internode mode
// (on the channel's odd SM). For each source node n there is a group of
// fwdWarps warps (DeepEP's "large warp") that walks, in order, the tokens
// of source rank (n, this GPU's local index) in the channel's slice that go
// to this node. A token is ready when every GPU of the node that holds it
// has delivered its row into its NVL ring partition for n. The group sums
// the token's rows on the SM and writes one row into its RDMA send ring to
// the source, a chunk at a time: it opens a chunk of up to RDMAChunk tokens
// only when the source's ring has room for all of it, and posts the chunk
// as one RDMA write (a local copy for the own node) once every token in it
// is summed.
//
// The freed NVL slots go back to each sender as the tokens are summed (the
// forwarder SM's coordinator publishes heads as soon as they advance).
type forwarder struct {
	k                 *kernel
	rank, c           int
	base, local, node int        // the node's first rank, this GPU's index in it, the node
	groups            []fwdGroup // indexed by source node
	// peers[d] is local GPU d's NVL sender warp for this GPU: its rounds
	// land here, and the groups return NVL slots to it.
	peers []*sendWarp
}

// fwdGroup is the large warp for one source node. Its queue's streams are
// the node's local GPUs; a stream's freed count is the NVL slots the group
// has returned to that GPU.
//
// Invariants:
//   - credit <= posted <= chunkEnd <= q.len(); done <= q.pos <= chunkEnd;
//   - posted - credit <= RDMABuffer (the source's ring);
//   - q.st[d].tail - q.st[d].freed <= nvlSlots (each NVL partition);
//   - wait is waitAny before the group's first step; after it, while the
//     group is idle, wait is the stream whose row the next token lacks,
//     or waitNone when rows would not move it on (it waits for RDMA
//     credit, or has finished).
type fwdGroup struct {
	q        reduceQueue
	src      int // the source rank these tokens return to
	done     int // tokens summed
	chunkEnd int // end of the chunk being summed
	posted   int // tokens written to the source by RDMA (chunk starts)
	credit   int // slots the source's receivers have returned
	busy     bool
	until    sim.Time // when the batch being summed is done, while busy
	wait     int
}

// Values of fwdGroup.wait and receiver.wait besides a stream.
const (
	waitNone = -1
	waitAny  = -2
)

func (f *forwarder) init(k *kernel, rank, c int, groups []fwdGroup, peers []*sendWarp, st []streamState) {
	*f = forwarder{k: k, rank: rank, c: c, base: rank - rank%k.gpn, local: rank % k.gpn, node: rank / k.gpn,
		groups: groups, peers: peers}
	for n := range f.groups {
		g := &f.groups[n]
		g.src = n*k.gpn + f.local
		g.wait = waitAny
		g.q.setStreams(slab(st, n, k.gpn))
	}
}

func (f *forwarder) Handle(now sim.Time, arg int64) {
	kind, a, b := sim.UnpackArg(arg)
	switch kind {
	case evNVLRound:
		// A round of NVL sender warp a's rows has landed.
		for n, rows := range f.peers[a].fly.pop(len(f.groups)) {
			if rows == 0 {
				continue
			}
			g := &f.groups[n]
			f.land(n, a, int(rows))
			// Rows from a stream the group does not wait for leave it
			// where it is: busy, waiting for RDMA credit, or waiting for
			// another stream (the next token's first missing row).
			if g.wait == a || g.wait == waitAny {
				f.step(now, n)
			}
		}
	case evFwdReduced:
		f.finishBatch(now, a)
		f.step(now, a)
	case evRDMACredit:
		f.groups[a].credit += b
		f.step(now, a)
	}
}

// land puts rows from local GPU d into group n's NVL ring partition.
func (f *forwarder) land(n, d, rows int) {
	g := &f.groups[n]
	st := &g.q.st[d]
	st.tail += int32(rows)
	if f.k.verify != nil {
		f.k.verify.arrivedNVL(f.rank, f.c, d, n, rows)
	}
	if int(st.tail-st.freed) > f.k.nvlSlots {
		panic("combine: NVL ring overflow: a sender wrote past its credits")
	}
}

// rdmaCredit returns n slots of source node m's RDMA ring, landing at
// time at. The group looks at its credit only when it is not busy and has
// tokens left to post: a credit that lands before its batch is done, or
// after it has posted every token, is counted now, without an event.
func (f *forwarder) rdmaCredit(m int, at sim.Time, n int) {
	if g := &f.groups[m]; (g.busy && at < g.until) || g.posted == g.q.len() {
		g.credit += n
		return
	}
	f.k.eng.At(at, f, sim.PackArg(evRDMACredit, m, n))
}

// step moves group n on: post a finished chunk, open the next one when the
// source's ring has room, and sum the next ready tokens of the chunk.
func (f *forwarder) step(now sim.Time, n int) {
	g := &f.groups[n]
	if g.busy {
		return
	}
	k := f.k
	g.wait = waitNone
	if g.done == g.chunkEnd {
		if g.chunkEnd > g.posted {
			f.post(now, n)
		}
		if g.posted == g.q.len() {
			return
		}
		m := min(k.cfg.RDMAChunk, g.q.len()-g.posted)
		if k.cfg.RDMABuffer-(g.posted-g.credit) < m {
			return // wait for the source's receivers to free slots
		}
		g.chunkEnd = g.posted + m
	}
	lo, off := g.q.pos, g.q.off
	tokens, rows, blocked := g.q.take(min(k.fwdWarps, g.chunkEnd-lo))
	if tokens == 0 {
		g.wait = blocked // wait for NVL rows
		return
	}
	if k.verify != nil {
		for i := lo; i < g.q.pos; i++ {
			var from []uint16
			from, off = g.q.needsAt(off)
			k.verify.forwarded(f.rank, f.c, g.src, int(g.q.tok[i]), from)
		}
	}
	finish := k.costs.For(f.rank).Reduce(k.sm(f.rank, 2*f.c+1), now, k.fwdWarps, tokens, rows, k.rec)
	g.busy, g.until = true, finish
	k.eng.At(finish, f, sim.PackArg(evFwdReduced, n, 0))
	k.trace(now, finish, "fwd_reduce", "forward", f.rank, f.c, -1, "sm", int64(rows)*k.rec, tokens)
}

// finishBatch returns the NVL slots of group n's summed batch to their
// senders: per local GPU, the rows taken from it since the last batch.
func (f *forwarder) finishBatch(now sim.Time, n int) {
	k := f.k
	g := &f.groups[n]
	g.busy = false
	g.done = g.q.pos
	lo, hi := g.q.batch()
	for d := lo; d < hi; d++ {
		st := &g.q.st[d]
		cnt := int(st.taken - st.freed)
		if cnt == 0 {
			continue
		}
		st.freed = st.taken
		at := now
		if d != f.local {
			at += k.cl.Config.NVLinkLatency
		}
		// The sender's warp for this forwarder, partition n.
		f.peers[d].credit(n, at, cnt)
	}
}

// post writes group n's finished chunk to the source: one RDMA write and
// a tail add, or a fence and a local tail add for the own node.
func (f *forwarder) post(now sim.Time, n int) {
	k := f.k
	g := &f.groups[n]
	rows := g.chunkEnd - g.posted
	if k.verify != nil {
		k.verify.posted(f.rank, f.c, g.src, g.q.tok[g.posted:g.chunkEnd])
	}
	g.posted = g.chunkEnd
	myNode := f.node
	recv := k.recv(g.src, f.c)
	bytes := int64(rows) * k.rec
	if n == myNode {
		recv.arrive(now, myNode, rows)
		k.trace(now, now, "rdma_put", "forward", f.rank, f.c, n, "local", bytes, rows)
		return
	}
	r := &k.railRoutes[f.rank*k.nodes+n]
	// The chunk is fenced, then posted as two NIC messages: the RDMA
	// write and the atomic add on the source's tail.
	arrive := sim.TransferMessageAt(now, now+k.costs.For(f.rank).Handshake(), bytes, 2*k.costs.Message(), r.Latency, r.Ports...)
	recv.arrive(arrive, myNode, rows)
	k.trace(now, arrive, "rdma_put", "forward", f.rank, f.c, n, "ib", bytes, rows)
}

// waiting describes the groups with tokens left and what they wait for.
func (f *forwarder) waiting() []string {
	k := f.k
	var out []string
	for n := range f.groups {
		g := &f.groups[n]
		if g.busy || g.posted == g.q.len() {
			continue
		}
		head := fmt.Sprintf("channel %d rank %d: forwarder for source rank %d (node %d)", f.c, f.rank, g.src, n)
		if g.done == g.chunkEnd {
			out = append(out, fmt.Sprintf("%s waits for room in rank %d's RDMA ring (%d of %d slots held, %d tokens posted of %d)",
				head, g.src, g.posted-g.credit, k.cfg.RDMABuffer, g.posted, g.q.len()))
			continue
		}
		if d := g.q.waitsOn(); d >= 0 {
			from := f.base + d
			out = append(out, fmt.Sprintf("%s waits for token %d's row in rank %d's NVL ring partition (%d rows arrived)",
				head, g.q.tok[g.q.pos], from, g.q.st[d].tail))
		}
	}
	return out
}
