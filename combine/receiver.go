package combine

import (
	"fmt"

	"github.com/moesim/moesim/sim"
)

// receiver is one channel's reducing warps on a token's source GPU: they
// walk the channel's slice of this GPU's tokens in order and sum each
// token's rows into its output row once all have arrived. Across nodes the
// streams are the RDMA rings from each node's forwarder (one reduced row
// per target node; the own node's is a local write), the warps are
// DeepEP's RDMA receivers on the even SM, and freed slots go back to the
// forwarders by RDMA atomic once a chunk's worth has been read. Within a
// node the streams are the NVL rings from each GPU (one row per target
// GPU), the warps sit on the odd SM, and the head is published as soon as
// it advances.
//
// Invariants: done <= q.pos <= q.len(); for each stream s (k.recvSt[q.st+s]),
// credited <= freed (rows read) <= tail, and tail - credited fits the
// ring. While the receiver is
// idle, wait is the stream whose row the next token lacks (waitNone when
// it has finished or not started); while it is busy, waitNone.
type receiver struct {
	k           *kernel
	rank, c     int
	local, node int // this GPU's index in its node, and the node
	// Across nodes, ids[s] is stream s's node: the streams are the nodes
	// this channel's tokens go to, in node order, and a stream's peer is
	// its group on that node's forwarder.
	ids   []uint16
	q     reduceQueue
	done  int // tokens summed into the output
	busy  bool
	until sim.Time // when the batch being summed is done, while busy
	wait  int
	last  sim.Time
}

// init sets the receiver up with its nst streams from st in k.recvSt.
func (r *receiver) init(k *kernel, rank, c int, st int32, nst int, ids []uint16) {
	*r = receiver{k: k, rank: rank, c: c, local: rank % k.gpn, node: rank / k.gpn, wait: waitNone, ids: ids}
	r.q.setStreams(st, nst)
}

// from is stream s's producer: its node across nodes, its local GPU within
// a node.
func (r *receiver) from(s int) int {
	if r.k.internode {
		return int(r.ids[s])
	}
	return s
}

func (r *receiver) smIndex() int {
	if r.k.internode {
		return 2 * r.c // beside the NVL senders
	}
	return 2*r.c + 1
}

func (r *receiver) ringSlots() int {
	if r.k.internode {
		return r.k.cfg.RDMABuffer
	}
	return r.k.nvlSlots
}

func (r *receiver) Handle(now sim.Time, arg int64) {
	kind, a, b := sim.UnpackArg(arg)
	switch kind {
	case evArrive:
		r.land(a, b)
		// Rows from a stream other than the one the next token waits for
		// (its first missing row) leave it waiting for that one, and a
		// busy receiver looks again when its batch is done.
		if r.wait != a {
			return
		}
	case evReceived:
		r.finishBatch(now)
	}
	r.step(now)
}

// arrive delivers n rows of stream s at time at. A busy receiver looks at
// its rings only when its batch is done, so rows that land before then
// are the same landed now, without an event.
func (r *receiver) arrive(at sim.Time, s, n int) {
	if r.busy && at < r.until {
		r.land(s, n)
		return
	}
	r.k.eng.At(at, r, sim.PackArg(evArrive, s, n))
}

func (r *receiver) land(s, n int) {
	st := &r.k.recvSt[int(r.q.st)+s]
	st.tail += int32(n)
	if r.k.verify != nil {
		r.k.verify.arrived(r.rank, r.c, r.from(s), n)
	}
	if int(st.tail-st.credited) > r.ringSlots() {
		panic("combine: receive ring overflow: a producer wrote past its credits")
	}
}

// step sums the next ready tokens, as many as there are warps.
func (r *receiver) step(now sim.Time) {
	if r.busy {
		return
	}
	k := r.k
	lo, off := int(r.q.pos), int(r.q.off)
	tokens, rows, blocked := r.q.take(k.recvWarps, k.need, r.q.streams(k.recvSt))
	if tokens == 0 {
		r.wait = blocked
		return
	}
	r.wait = waitNone
	if k.verify != nil {
		for i := lo; i < int(r.q.pos); i++ {
			var from []uint16
			from, off = needsAt(k.need, off)
			k.verify.received(r.rank, r.c, int(r.q.token(k.tok, i)), from)
		}
	}
	finish := now
	if rows > 0 { // a token with no expert has nothing to sum
		finish = k.costs.For(r.rank).Reduce(k.sm(r.rank, r.smIndex()), now, k.recvWarps, tokens, rows, k.rec)
	}
	r.busy, r.until = true, finish
	k.eng.At(finish, r, sim.PackArg(evReceived, 0, 0))
	role := "nvl-recv"
	if k.internode {
		role = "rdma-recv"
	}
	k.trace(now, finish, "recv_reduce", role, r.rank, r.c, -1, "sm", int64(rows)*k.rec, tokens)
}

// finishBatch marks the batch summed and returns the slots it read: per
// stream, the rows taken from it since the last batch.
func (r *receiver) finishBatch(now sim.Time) {
	k := r.k
	r.busy = false
	r.done = int(r.q.pos)
	r.last = now
	local, node := r.local, r.node
	lo, hi := r.q.batch()
	sts := r.q.streams(k.recvSt)
	for s := lo; s < hi; s++ {
		st := &sts[s]
		n := int(st.taken - st.freed)
		if n == 0 {
			continue
		}
		st.freed = st.taken
		if !k.internode {
			st.credited = st.freed
			at := now
			if s != local {
				at += k.cl.Config.NVLinkLatency
			}
			// Local GPU s's sender warp for this GPU, its one partition.
			if !k.credit(st.peer, at, n) {
				k.creditAt((r.rank-local+s)*k.ch+r.c, st.peer, at, n)
			}
			continue
		}
		// The RDMA coordinator returns heads by atomic once they have
		// advanced by a chunk.
		if back := int(st.freed - st.credited); back >= k.cfg.RDMAChunk {
			st.credited = st.freed
			at := now
			m := int(r.ids[s])
			if m != node {
				at += k.cl.Config.IBLatency
			}
			k.fwd(m*k.gpn+local, r.c).rdmaCredit(int(st.peer), at, back)
		}
	}
}

// waiting describes what the next token waits for, "" if nothing.
func (r *receiver) waiting() string {
	if r.busy || r.done == r.q.len() {
		return ""
	}
	s := r.q.waitsOn(r.k.need, r.q.streams(r.k.recvSt))
	if s < 0 {
		return ""
	}
	tok := r.q.token(r.k.tok, int(r.q.pos))
	if r.k.internode {
		return fmt.Sprintf("channel %d rank %d: RDMA receiver waits for token %d's row in its RDMA ring from node %d (%d rows arrived)",
			r.c, r.rank, tok, r.from(s), r.k.recvSt[int(r.q.st)+s].tail)
	}
	return fmt.Sprintf("channel %d rank %d: receiver waits for token %d's row in its NVL ring from rank %d (%d rows arrived)",
		r.c, r.rank, tok, s, r.k.recvSt[int(r.q.st)+s].tail)
}
