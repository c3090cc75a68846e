package dispatch

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/moesim/moesim/sim"
)

// tokenQueue is the ordered stream of token records one forwarder channel
// reads from one source: in internode mode the RDMA ring filled by the
// source GPU with the same local index on one node (the own node included,
// written locally); in intranode mode the GPU's own tokens.
//
// A queue's records live in the kernel's slabs (recTok, recMask) from off,
// and its per-warp positions in its forwarder's pos (headAt, doneAt). In
// internode mode a forwarder holds queues only for the source nodes that
// send it records, in ascending source node (buildForwarders): so a queue
// index is not a node number, srcRank names the source.
//
// Invariants, for every warp d of the forwarder (head[d] = *f.headAt(qi,
// d), done[d] = *f.doneAt(qi, d)):
//   - 0 <= credited <= min(done) <= min(head) <= tail <= n.
//   - head[d] is how far forwarder warp d has scanned; done[d] how far its
//     copies have completed, so slots below min(done) may be reused.
//   - warp d's ready bit for the queue is set exactly when head[d] < tail.
//   - 0 <= lag < gpn.
//   - n > 0 in internode mode: a source node that sends the forwarder's
//     channel nothing has no queue.
type tokenQueue struct {
	off      int   // first record in the kernel's slabs
	srcRank  int32 // rank that sent these records
	n        int32 // records in all
	tail     int32 // records arrived
	credited int32 // the head last returned to the sender as RDMA credit
	// target is this forwarder's node's index in the source sender's
	// targets (its per), which the credits name.
	target int32
	// lag is the warp whose done position last held the credit back: a
	// hint only (any warp would do), looked at first as it usually
	// still does, so most credit checks read one position, not all.
	lag int32
}

// tok is the token index on srcRank of the queue's record i.
func (k *kernel) tok(q *tokenQueue, i int) int32 { return k.recTok[q.off+i] }

// has reports whether record i of q goes to local GPU local.
func (k *kernel) has(q *tokenQueue, i, local int) bool {
	return k.recMask[(q.off+i)*k.maskBytes+local/8]&(1<<(local%8)) != 0
}

// count scans q's records from h for those of local GPU d, which must be
// below 8 with one mask byte per record, as the loop over has in
// forwarder.scan does: it stops right after the need-th such record, or
// at tail, and returns where it stopped and how many it found. It reads
// eight records' mask bytes a word at a time.
func (k *kernel) count(q *tokenQueue, d, h, tail, need int) (int, int) {
	const ones = 0x0101010101010101
	masks := k.recMask[q.off : q.off+tail]
	n := 0
	for tail-h >= 8 {
		x := (binary.LittleEndian.Uint64(masks[h:]) >> d) & ones
		c := bits.OnesCount64(x)
		if n+c < need {
			n += c
			h += 8
			continue
		}
		// The need-th record is in this word: the (need-n)-th set bit.
		for ; n+1 < need; n++ {
			x &= x - 1
		}
		return h + bits.TrailingZeros64(x)/8 + 1, need
	}
	for ; h < tail && n < need; h++ {
		if masks[h]&(1<<d) != 0 {
			n++
		}
	}
	return h, n
}

// headAt is warp d's scan position in queue qi.
func (f *forwarder) headAt(qi, d int) *int32 { return &f.pos[2*qi*len(f.warps)+d] }

// doneAt is warp d's done position in queue qi.
func (f *forwarder) doneAt(qi, d int) *int32 { return &f.pos[(2*qi+1)*len(f.warps)+d] }

// dones is every warp's done position in queue qi.
func (f *forwarder) dones(qi int) []int32 {
	return f.pos[(2*qi+1)*len(f.warps) : (2*qi+2)*len(f.warps)]
}

// setReady marks queue qi as holding records warp d has not scanned.
func (f *forwarder) setReady(d, qi int) {
	f.ready[d*f.readyWords+qi/64] |= 1 << (qi % 64)
}

// clearReady marks queue qi as scanned to its tail by warp d.
func (f *forwarder) clearReady(d, qi int) {
	f.ready[d*f.readyWords+qi/64] &^= 1 << (qi % 64)
}

// buildForwarders makes every (rank, channel) forwarder and receiver and
// fills the forwarders' queues with the records they will see, in the
// order they are sent: each source's channel slice, in token order. The
// records are counted first, so each queue's run of the slabs is exact and
// the state is a few flat arrays.
//
// In internode mode a forwarder holds a queue only for each source node
// that sends it records: a source channel's few tokens reach a small share
// of the nodes at scale, so a queue per node would make the state grow as
// ranks times nodes, most of it empty. An empty queue is never ready, so
// walking the live queues in ascending source node visits what walking a
// queue per node would. The RDMA senders' targets (sendAt, sendNodes,
// sendPer) are the same runs seen from the source, laid out here too.
func (k *kernel) buildForwarders(internode bool) {
	lay, gpn, ranks, nodes := k.lay, k.gpn, k.lay.Ranks, k.lay.Nodes
	k.maskBytes = (gpn + 7) / 8
	n := ranks * k.ch
	plan := lay.recordPlan()
	k.recTok, k.recMask = plan.tok, plan.mask
	// runs calls f for each non-empty queue of src's records, in node
	// then channel order: the run [i, end) of its (src, node) list in the
	// record plan that channel c's slice holds. Each list is walked once,
	// cut at the channel boundaries.
	runs := func(src int, f func(node, c, i, end int)) {
		per := (lay.Tokens[src] + k.ch - 1) / k.ch
		for node := range nodes {
			i, end := int(plan.at[src*nodes+node]), int(plan.at[src*nodes+node+1])
			for i < end {
				c := int(plan.tok[i]) / per
				j, hi := i+1, int32((c+1)*per)
				for j < end && plan.tok[j] < hi {
					j++
				}
				f(node, c, i, j)
				i = j
			}
		}
	}
	// qAt[i] is forwarder i's first queue in the slab, readyAt[i] its
	// first ready word; sendAt[s] sender s's first target.
	qAt, readyAt := make([]int32, n+1), make([]int32, n+1)
	var sendAt []int32
	if internode {
		sendAt = make([]int32, n+1)
		for src := range ranks {
			runs(src, func(node, c, _, _ int) {
				qAt[(node*gpn+src%gpn)*k.ch+c+1]++
				sendAt[src*k.ch+c+1]++
			})
		}
	} else {
		for i := range n {
			qAt[i+1] = 1 // the GPU's own tokens, even if none
		}
	}
	for i := range n {
		qAt[i+1] += qAt[i]
		readyAt[i+1] = readyAt[i] + int32((qAt[i+1]-qAt[i]+63)/64)*int32(gpn)
		if sendAt != nil {
			sendAt[i+1] += sendAt[i]
		}
	}
	nq := int(qAt[n])
	fwSlab, warpSlab := make([]forwarder, n), make([]fwdWarp, n*gpn)
	queues := make([]tokenQueue, nq)
	posSlab := make([]int32, 2*nq*gpn)
	readySlab := make([]uint64, readyAt[n])
	recvSlab, freeSlab := make([]receiver, n), make([]sim.Time, n*gpn)
	k.fwdWarps = warpSlab
	k.forwards = make([]*forwarder, n)
	k.receivers = make([]*receiver, n)
	for i := range n {
		r, c := i/k.ch, i%k.ch
		fw := &fwSlab[i]
		q0, q1 := int(qAt[i]), int(qAt[i+1])
		*fw = forwarder{k: k, rank: r, c: c, local: r % gpn, base: r - r%gpn, queues: queues[q0:q1:q1], warps: warpSlab[i*gpn : (i+1)*gpn],
			pos:   posSlab[2*q0*gpn : 2*q1*gpn],
			ready: readySlab[readyAt[i]:readyAt[i+1]], readyWords: (q1 - q0 + 63) / 64,
			sm: k.sm(r, 2*c), routes: k.nvlRoutes[r*gpn : (r+1)*gpn]}
		k.forwards[i] = fw
		recvSlab[i] = receiver{k: k, rank: r, c: c, local: r % gpn, base: r - r%gpn, free: freeSlab[i*gpn : (i+1)*gpn],
			sm: k.sm(r, 2*c+1), warp0: ((r-r%gpn)*k.ch+c)*gpn + r%gpn, warpStride: k.ch * gpn}
		k.receivers[i] = &recvSlab[i]
	}
	if internode {
		// Source by source, so each forwarder's queues come in ascending
		// source node and each sender's targets in ascending node.
		k.sendAt = sendAt
		k.sendNodes = make([]uint16, sendAt[n])
		k.sendPer = make([]nodeCount, sendAt[n])
		qNext := append([]int32(nil), qAt[:n]...)
		sNext := append([]int32(nil), sendAt[:n]...)
		for src := range ranks {
			runs(src, func(node, c, i, end int) {
				f, s := (node*gpn+src%gpn)*k.ch+c, src*k.ch+c
				qi, ti := qNext[f], sNext[s]
				qNext[f]++
				sNext[s]++
				queues[qi] = tokenQueue{off: i, srcRank: int32(src), n: int32(end - i), target: ti - sendAt[s]}
				k.sendNodes[ti] = uint16(node)
				k.sendPer[ti].qi = qi - qAt[f]
			})
		}
	} else {
		for _, fw := range k.forwards {
			fw.queues[0].srcRank = int32(fw.rank)
		}
		for src := range ranks {
			runs(src, func(_, c, i, end int) {
				q := &k.fwd(src, c).queues[0]
				q.off, q.n = i, int32(end-i)
			})
		}
	}
	for _, fw := range k.forwards {
		for d := range fw.warps {
			w := &fw.warps[d]
			// Start rotated by channel: at the first live queue from
			// source node (d+c) mod nodes on, wrapping.
			from := int32(((d+fw.c)%nodes)*gpn + fw.local)
			if !internode {
				from = 0
			}
			qi, _ := slices.BinarySearchFunc(fw.queues, from, func(q tokenQueue, r int32) int { return cmp.Compare(q.srcRank, r) })
			if qi == len(fw.queues) {
				qi = 0
			}
			w.next = int32(qi)
			w.pending = w.buf[:0]
		}
	}
	// Each warp's records: the mask bits of its GPU over its queues.
	for _, fw := range k.forwards {
		for qi := range fw.queues {
			q := &fw.queues[qi]
			for j, m := range plan.mask[q.off*k.maskBytes : (q.off+int(q.n))*k.maskBytes] {
				for base := j % k.maskBytes * 8; m != 0; m &= m - 1 {
					fw.warps[base+bits.TrailingZeros8(m)].total++
				}
			}
		}
	}
	// A warp with nothing to forward never holds slots back.
	for _, fw := range k.forwards {
		for d := range fw.warps {
			if fw.warps[d].total == 0 {
				for qi := range fw.queues {
					*fw.doneAt(qi, d) = fw.queues[qi].n
				}
			}
		}
	}
}
