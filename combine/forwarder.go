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
	k       *kernel
	rank, c int
	groups  []fwdGroup // indexed by source node
	counts  []int      // scratch: rows per local GPU of a finished batch
}

// fwdGroup is the large warp for one source node.
//
// Invariants:
//   - credit <= posted <= chunkEnd <= q.len(); done <= q.pos <= chunkEnd;
//   - posted - credit <= RDMABuffer (the source's ring);
//   - q.tail[d] - freed[d] <= nvlSlots (each NVL partition).
type fwdGroup struct {
	q        reduceQueue
	src      int // the source rank these tokens return to
	done     int // tokens summed
	chunkEnd int // end of the chunk being summed
	posted   int // tokens written to the source by RDMA (chunk starts)
	credit   int // slots the source's receivers have returned
	busy     bool
	freed    []int // NVL slots freed per local GPU
}

func newForwarder(k *kernel, rank, c int) *forwarder {
	f := &forwarder{k: k, rank: rank, c: c, groups: make([]fwdGroup, k.nodes), counts: make([]int, k.gpn)}
	for n := range f.groups {
		f.groups[n] = fwdGroup{q: newReduceQueue(k.gpn), src: n*k.gpn + rank%k.gpn, freed: make([]int, k.gpn)}
	}
	return f
}

func (f *forwarder) Handle(now sim.Time, arg int64) {
	kind, a, b := unpack(arg)
	switch kind {
	case evNVLArrive:
		n, d := a/f.k.gpn, a%f.k.gpn
		g := &f.groups[n]
		g.q.tail[d] += b
		if f.k.verify != nil {
			f.k.verify.arrivedNVL(f.rank, f.c, d, n, b)
		}
		if g.q.tail[d]-g.freed[d] > f.k.nvlSlots {
			panic("combine: NVL ring overflow: a sender wrote past its credits")
		}
		f.step(now, n)
	case evFwdReduced:
		f.finishBatch(now, a)
		f.step(now, a)
	case evRDMACredit:
		f.groups[a].credit += b
		f.step(now, a)
	}
}

// step moves group n on: post a finished chunk, open the next one when the
// source's ring has room, and sum the next ready tokens of the chunk.
func (f *forwarder) step(now sim.Time, n int) {
	g := &f.groups[n]
	if g.busy {
		return
	}
	k := f.k
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
	lo := g.q.pos
	tokens, rows := g.q.take(min(k.fwdWarps, g.chunkEnd-lo))
	if tokens == 0 {
		return // wait for NVL rows
	}
	if k.verify != nil {
		for i := lo; i < g.q.pos; i++ {
			k.verify.forwarded(f.rank, f.c, g.src, int(g.q.tok[i]), g.q.needs(i))
		}
	}
	g.busy = true
	finish := k.sm(f.rank, 2*f.c+1).Reserve(now, k.reduceBytes(rows))
	k.eng.At(finish, f, pack(evFwdReduced, n, 0))
	k.trace(now, finish, "fwd_reduce", "forward", f.rank, f.c, -1, "sm", int64(rows)*k.rec, tokens)
}

// finishBatch returns the NVL slots of group n's summed batch to their
// senders.
func (f *forwarder) finishBatch(now sim.Time, n int) {
	k := f.k
	g := &f.groups[n]
	g.busy = false
	clear(f.counts)
	g.q.count(g.done, g.q.pos, f.counts)
	g.done = g.q.pos
	base := f.rank - f.rank%k.gpn
	for d, cnt := range f.counts {
		if cnt == 0 {
			continue
		}
		g.freed[d] += cnt
		at := now
		if base+d != f.rank {
			at += k.cl.Config.NVLinkLatency
		}
		// The sender's warp for this forwarder, partition n.
		k.eng.At(at, k.sender(base+d, f.c), pack(evFreed, (f.rank%k.gpn)*k.parts+n, cnt))
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
	myNode := k.nodeOf(f.rank)
	recv := k.recv(g.src, f.c)
	bytes := int64(rows) * k.rec
	if n == myNode {
		k.eng.At(now, recv, pack(evArrive, myNode, rows))
		k.trace(now, now, "rdma_put", "forward", f.rank, f.c, n, "local", bytes, rows)
		return
	}
	r := &k.railRoutes[f.rank*k.nodes+n]
	arrive := sim.Transfer(now, bytes, r.Latency, r.Ports...)
	k.eng.At(arrive, recv, pack(evArrive, myNode, rows))
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
			from := f.rank - f.rank%k.gpn + d
			out = append(out, fmt.Sprintf("%s waits for token %d's row in rank %d's NVL ring partition (%d rows arrived)",
				head, g.q.tok[g.q.pos], from, g.q.tail[d]))
		}
	}
	return out
}
