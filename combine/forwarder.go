package combine

import (
	"fmt"
	"slices"

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
	base, local, node int // the node's first rank, this GPU's index in it, the node
	// groups are the source nodes whose tokens in this channel come to
	// this node, in node order; a node with none has no group.
	groups []fwdGroup
	// peers[d] is local GPU d's NVL sender warp for this GPU: its rounds
	// land here (the groups return NVL slots to its partitions).
	peers []*sendWarp
}

// fwdGroup is the large warp for one source node. Its queue's streams are
// the node's local GPUs that hold rows for it, k.fwdIDs[q.st+s] being
// stream s's, in order; a stream's freed count is the NVL slots the group
// has returned to that GPU, and its peer that GPU's partition for the
// group, in k.sendParts. A group is 64 bytes, one cache line.
//
// Invariants:
//   - credit <= posted <= chunkEnd <= q.len(); done <= q.pos <= chunkEnd;
//   - posted - credit <= RDMABuffer (the source's ring);
//   - tail - freed <= nvlSlots for each stream (each NVL partition);
//   - until >= 0 exactly while the group is busy summing a batch, and is
//     then when the batch is done;
//   - wait is waitAny before the group's first step; after it, while the
//     group is idle, wait is the stream whose row the next token lacks,
//     or waitNone when rows would not move it on (it waits for RDMA
//     credit, or has finished).
type fwdGroup struct {
	q        reduceQueue
	done     int32  // tokens summed
	chunkEnd int32  // end of the chunk being summed
	posted   int32  // tokens written to the source by RDMA (chunk starts)
	credit   int32  // slots the source's receivers have returned
	srcNode  uint16 // the source's node: the source is srcNode*gpn + the forwarder's local index
	wait     int16
	// peek holds, with stream masks (k.fwdMask), the masks of the next
	// tokens from q.pos, one byte each, lowest first, as far as they were
	// read: a zero byte means not read yet (a token's mask is never zero).
	// A take reads the slab once per eight tokens, not once per call.
	peek  uint64
	until sim.Time // when the batch being summed is done, while busy; idle < 0
}

// preload reads the masks of the group's next tokens into peek where it
// has none, as its next take would. An event that will step the group
// preloads as soon as it has the group's line: the masks are a line the
// take would otherwise wait for, and the load then overlaps with the
// event's other reads instead of following them.
func (g *fwdGroup) preload(masks []uint8) {
	if g.peek == 0 && masks != nil && g.q.pos < g.q.n {
		g.peek = loadMasks(masks, int(g.q.off))
	}
}

// source is the rank group g's tokens return to.
func (f *forwarder) source(g *fwdGroup) int { return int(g.srcNode)*f.k.gpn + f.local }

// idle is fwdGroup.until while the group is not summing.
const idle = -1

// Values of fwdGroup.wait and receiver.wait besides a stream.
const (
	waitNone = -1
	waitAny  = -2
)

// init sets the forwarder up with its groups, which fill sets.
func (f *forwarder) init(k *kernel, rank, c int, groups []fwdGroup, peers []*sendWarp) {
	*f = forwarder{k: k, rank: rank, c: c, base: rank - rank%k.gpn, local: rank % k.gpn, node: rank / k.gpn,
		groups: groups, peers: peers}
}

// initGroup makes group i the one for source rank src, with the nst
// streams from st in k.fwdSt (and their local GPUs in k.fwdIDs).
func (f *forwarder) initGroup(i, src int, st int32, nst int) {
	g := &f.groups[i]
	g.srcNode = uint16(src / f.k.gpn)
	g.wait = waitAny
	g.until = idle
	g.q.setStreams(st, nst)
}

func (f *forwarder) Handle(now sim.Time, arg int64) {
	kind, a, b := sim.UnpackArg(arg)
	switch kind {
	case evNVLRound:
		// A round of NVL sender warp a's rows has landed: its
		// partitions' rows, in partition order.
		k := f.k
		fly := &f.peers[a].fly
		for last := false; !last; {
			var n, s, rows int
			n, s, rows, last = fly.pop()
			// The rows land in group n's NVL ring partition from its
			// stream s (written out here, as a call per partition costs
			// more than the landing).
			g := &f.groups[n]
			g.preload(k.fwdMask)
			st := &k.fwdSt[int(g.q.st)+s]
			st.tail += int32(rows)
			if k.verify != nil {
				f.verifyLand(g, s, rows)
			}
			if int(st.tail-st.freed) > k.nvlSlots {
				panic("combine: NVL ring overflow: a sender wrote past its credits")
			}
			// Rows from a stream the group does not wait for leave it
			// where it is: busy, waiting for RDMA credit, or waiting for
			// another stream (the next token's first missing row).
			if int(g.wait) == s || g.wait == waitAny {
				f.step(now, n)
			}
		}
		fly.release(&k.flyPool)
	case evFwdReduced:
		f.finishBatch(now, a)
		f.step(now, a)
	case evRDMACredit:
		f.groups[a].credit += int32(b)
		f.step(now, a)
	}
}

func (f *forwarder) verifyLand(g *fwdGroup, s, rows int) {
	f.k.verify.arrivedNVL(f.rank, f.c, int(f.k.fwdIDs[int(g.q.st)+s]), int(g.srcNode), rows)
}

// rdmaCredit returns n slots of group m's source's RDMA ring, landing at
// time at. The group looks at its credit only when it is not busy and has
// tokens left to post: a credit that lands before its batch is done, or
// after it has posted every token, is counted now, without an event.
func (f *forwarder) rdmaCredit(m int, at sim.Time, n int) {
	if g := &f.groups[m]; at < g.until || g.posted == g.q.n {
		g.credit += int32(n)
		return
	}
	f.k.eng.At(at, f, sim.PackArg(evRDMACredit, m, n))
}

// step moves group n on: post a finished chunk, open the next one when the
// source's ring has room, and sum the next ready tokens of the chunk.
func (f *forwarder) step(now sim.Time, n int) {
	g := &f.groups[n]
	if g.until >= 0 {
		return // busy
	}
	k := f.k
	g.wait = waitNone
	if g.done == g.chunkEnd {
		if g.chunkEnd > g.posted {
			f.post(now, n)
		}
		if g.posted == g.q.n {
			return
		}
		m := min(int32(k.cfg.RDMAChunk), g.q.n-g.posted)
		if int32(k.cfg.RDMABuffer)-(g.posted-g.credit) < m {
			return // wait for the source's receivers to free slots
		}
		g.chunkEnd = g.posted + m
	}
	lo, off := int(g.q.pos), int(g.q.off)
	most := min(k.fwdWarps, int(g.chunkEnd-g.q.pos))
	var tokens, rows, blocked int
	if k.fwdMask != nil {
		tokens, rows, blocked = g.q.takeMask(most, k.fwdMask, g.q.streams(k.fwdSt), &g.peek)
	} else {
		tokens, rows, blocked = g.q.take(most, k.need, g.q.streams(k.fwdSt))
	}
	if tokens == 0 {
		g.wait = int16(blocked) // wait for NVL rows
		return
	}
	if k.verify != nil {
		for i := lo; i < int(g.q.pos); i++ {
			var from []uint16
			if k.fwdMask != nil {
				from, off = maskStreams(k.fwdMask[off]), off+1
			} else {
				from, off = needsAt(k.need, off)
			}
			locals := make([]uint16, len(from))
			for j, s := range from {
				locals[j] = uint16(k.fwdIDs[int(g.q.st)+int(s)])
			}
			k.verify.forwarded(f.rank, f.c, f.source(g), int(g.q.token(k.tok, i)), locals)
		}
	}
	finish := k.costs.For(f.rank).Reduce(k.sm(f.rank, 2*f.c+1), now, k.fwdWarps, tokens, rows, k.rec)
	g.until = finish
	k.eng.At(finish, f, sim.PackArg(evFwdReduced, n, 0))
	k.trace(now, finish, "fwd_reduce", "forward", f.rank, f.c, -1, "sm", int64(rows)*k.rec, tokens)
}

// finishBatch returns the NVL slots of group n's summed batch to their
// senders: per local GPU, the rows taken from it since the last batch.
func (f *forwarder) finishBatch(now sim.Time, n int) {
	k := f.k
	g := &f.groups[n]
	g.preload(k.fwdMask)
	g.until = idle
	g.done = g.q.pos
	lo, hi := g.q.batch()
	sts, ids := g.q.streams(k.fwdSt), k.fwdIDs[g.q.st:]
	for s := lo; s < hi; s++ {
		st := &sts[s]
		cnt := int(st.taken - st.freed)
		if cnt == 0 {
			continue
		}
		d := int(ids[s])
		st.freed = st.taken
		at := now
		if d != f.local {
			at += k.cl.Config.NVLinkLatency
		}
		// The sender's warp for this forwarder, the partition of n.
		if !k.credit(st.peer, at, cnt) {
			k.creditAt((f.base+d)*k.ch+f.c, st.peer, at, cnt)
		}
	}
}

// post writes group n's finished chunk to the source: one RDMA write and
// a tail add, or a fence and a local tail add for the own node.
func (f *forwarder) post(now sim.Time, n int) {
	k := f.k
	g := &f.groups[n]
	rows := int(g.chunkEnd - g.posted)
	if k.verify != nil {
		k.verify.posted(f.rank, f.c, f.source(g), k.tok[g.q.tok+g.posted:g.q.tok+g.chunkEnd])
	}
	g.posted = g.chunkEnd
	myNode := f.node
	src := f.source(g)
	srcNode := int(g.srcNode)
	recv := k.recv(src, f.c)
	// The source receiver's stream for this node: its streams are the
	// nodes its slice goes to, ascending.
	rs, _ := slices.BinarySearch(recv.ids, uint16(myNode))
	bytes := int64(rows) * k.rec
	if srcNode == myNode {
		recv.arrive(now, rs, rows)
		k.trace(now, now, "rdma_put", "forward", f.rank, f.c, srcNode, "local", bytes, rows)
		return
	}
	r := &k.railRoutes[f.rank*k.nodes+srcNode]
	// The chunk is fenced, then posted as two NIC messages: the RDMA
	// write and the atomic add on the source's tail.
	arrive := sim.TransferMessageAt(now, now+k.costs.For(f.rank).Handshake(), bytes, 2*k.costs.Message(), r.Latency, r.Ports...)
	recv.arrive(arrive, rs, rows)
	k.trace(now, arrive, "rdma_put", "forward", f.rank, f.c, srcNode, "ib", bytes, rows)
}

// waiting describes the groups with tokens left and what they wait for.
func (f *forwarder) waiting() []string {
	k := f.k
	var out []string
	for n := range f.groups {
		g := &f.groups[n]
		if g.until >= 0 || g.posted == g.q.n {
			continue
		}
		head := fmt.Sprintf("channel %d rank %d: forwarder for source rank %d (node %d)", f.c, f.rank, f.source(g), g.srcNode)
		if g.done == g.chunkEnd {
			out = append(out, fmt.Sprintf("%s waits for room in rank %d's RDMA ring (%d of %d slots held, %d tokens posted of %d)",
				head, f.source(g), g.posted-g.credit, k.cfg.RDMABuffer, g.posted, g.q.len()))
			continue
		}
		s := -1
		if k.fwdMask != nil {
			if g.q.pos < g.q.n {
				for _, x := range maskStreams(k.fwdMask[g.q.off]) {
					if st := &k.fwdSt[int(g.q.st)+int(x)]; st.taken >= st.tail {
						s = int(x)
						break
					}
				}
			}
		} else {
			s = g.q.waitsOn(k.need, g.q.streams(k.fwdSt))
		}
		if s >= 0 {
			from := f.base + int(k.fwdIDs[int(g.q.st)+s])
			out = append(out, fmt.Sprintf("%s waits for token %d's row in rank %d's NVL ring partition (%d rows arrived)",
				head, g.q.token(k.tok, int(g.q.pos)), from, k.fwdSt[int(g.q.st)+s].tail))
		}
	}
	return out
}
