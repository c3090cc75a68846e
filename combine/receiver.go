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
// Invariants: done <= q.pos <= q.len(); credited[s] <= consumed[s] <=
// q.tail[s]; q.tail[s] - credited[s] fits the ring.
type receiver struct {
	k        *kernel
	rank, c  int
	q        reduceQueue
	done     int // tokens summed into the output
	busy     bool
	consumed []int // rows read, per stream
	credited []int // rows returned to the producer, per stream
	counts   []int // scratch
	last     sim.Time
}

func newReceiver(k *kernel, rank, c, streams int) *receiver {
	return &receiver{k: k, rank: rank, c: c, q: newReduceQueue(streams),
		consumed: make([]int, streams), credited: make([]int, streams), counts: make([]int, streams)}
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
	kind, a, b := unpack(arg)
	switch kind {
	case evArrive:
		r.q.tail[a] += b
		if r.k.verify != nil {
			r.k.verify.arrived(r.rank, r.c, a, b)
		}
		if r.q.tail[a]-r.credited[a] > r.ringSlots() {
			panic("combine: receive ring overflow: a producer wrote past its credits")
		}
	case evReceived:
		r.finishBatch(now)
	}
	r.step(now)
}

// step sums the next ready tokens, as many as there are warps.
func (r *receiver) step(now sim.Time) {
	if r.busy {
		return
	}
	k := r.k
	lo := r.q.pos
	tokens, rows := r.q.take(k.recvWarps)
	if tokens == 0 {
		return
	}
	if k.verify != nil {
		for i := lo; i < r.q.pos; i++ {
			k.verify.received(r.rank, r.c, int(r.q.tok[i]), r.q.needs(i))
		}
	}
	r.busy = true
	finish := now
	if rows > 0 { // a token with no expert has nothing to sum
		finish = k.sm(r.rank, r.smIndex()).Reserve(now, k.reduceBytes(rows))
	}
	k.eng.At(finish, r, pack(evReceived, 0, 0))
	role := "nvl-recv"
	if k.internode {
		role = "rdma-recv"
	}
	k.trace(now, finish, "recv_reduce", role, r.rank, r.c, -1, "sm", int64(rows)*k.rec, tokens)
}

// finishBatch marks the batch summed and returns the slots it read.
func (r *receiver) finishBatch(now sim.Time) {
	k := r.k
	r.busy = false
	clear(r.counts)
	r.q.count(r.done, r.q.pos, r.counts)
	r.done = r.q.pos
	r.last = now
	local, node := r.rank%k.gpn, k.nodeOf(r.rank)
	for s, n := range r.counts {
		if n == 0 {
			continue
		}
		r.consumed[s] += n
		if !k.internode {
			r.credited[s] += n
			at := now
			if s != local {
				at += k.cl.Config.NVLinkLatency
			}
			k.eng.At(at, k.sender(r.rank-local+s, r.c), pack(evFreed, local, n))
			continue
		}
		// The RDMA coordinator returns heads by atomic once they have
		// advanced by a chunk.
		if back := r.consumed[s] - r.credited[s]; back >= k.cfg.RDMAChunk {
			r.credited[s] = r.consumed[s]
			at := now
			if s != node {
				at += k.cl.Config.IBLatency
			}
			k.eng.At(at, k.fwd(s*k.gpn+local, r.c), pack(evRDMACredit, node, back))
		}
	}
}

// waiting describes what the next token waits for, "" if nothing.
func (r *receiver) waiting() string {
	if r.busy || r.done == r.q.len() {
		return ""
	}
	s := r.q.waitsOn()
	if s < 0 {
		return ""
	}
	tok := r.q.tok[r.q.pos]
	if r.k.internode {
		return fmt.Sprintf("channel %d rank %d: RDMA receiver waits for token %d's row in its RDMA ring from node %d (%d rows arrived)",
			r.c, r.rank, tok, s, r.q.tail[s])
	}
	return fmt.Sprintf("channel %d rank %d: receiver waits for token %d's row in its NVL ring from rank %d (%d rows arrived)",
		r.c, r.rank, tok, s, r.q.tail[s])
}
