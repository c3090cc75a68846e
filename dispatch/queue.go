package dispatch

import (
	"encoding/binary"
	"math/bits"

	"github.com/moesim/moesim/sim"
)

// tokenQueue is the ordered stream of token records one forwarder channel
// reads from one source: in internode mode the RDMA ring filled by the
// source GPU with the same local index on one node (the own node included,
// written locally); in intranode mode the GPU's own tokens.
//
// A queue's records live in the kernel's slabs (recTok, recMask) from off,
// and its per-warp positions in its forwarder's pos (headAt, doneAt): a
// queue is a few words, so a forwarder can hold one per source node at any
// scale.
//
// Invariants, for every warp d of the forwarder (head[d] = *f.headAt(qi,
// d), done[d] = *f.doneAt(qi, d)):
//   - 0 <= credited <= min(done) <= min(head) <= tail <= n.
//   - head[d] is how far forwarder warp d has scanned; done[d] how far its
//     copies have completed, so slots below min(done) may be reused.
//   - warp d's ready bit for the queue is set exactly when head[d] < tail.
//   - 0 <= lag < gpn.
type tokenQueue struct {
	off      int   // first record in the kernel's slabs
	srcRank  int32 // rank that sent these records
	n        int32 // records in all
	tail     int32 // records arrived
	credited int32 // the head last returned to the sender as RDMA credit
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
func (k *kernel) buildForwarders(internode bool) {
	lay, gpn, ranks := k.lay, k.gpn, k.lay.Ranks
	nq := 1
	if internode {
		nq = lay.Nodes
	}
	k.maskBytes = (gpn + 7) / 8
	n := ranks * k.ch
	fwSlab, warpSlab := make([]forwarder, n), make([]fwdWarp, n*gpn)
	queues := make([]tokenQueue, n*nq)
	posSlab := make([]int32, 2*n*nq*gpn)
	readyWords := (nq + 63) / 64
	readySlab := make([]uint64, n*gpn*readyWords)
	recvSlab, freeSlab := make([]receiver, n), make([]sim.Time, n*gpn)
	k.fwdWarps = warpSlab
	k.forwards = make([]*forwarder, n)
	k.receivers = make([]*receiver, n)
	for i := range n {
		r, c := i/k.ch, i%k.ch
		fw := &fwSlab[i]
		*fw = forwarder{k: k, rank: r, c: c, node: r / gpn, local: r % gpn, base: r - r%gpn, queues: queues[i*nq : (i+1)*nq], warps: warpSlab[i*gpn : (i+1)*gpn],
			pos:   posSlab[2*i*nq*gpn : 2*(i+1)*nq*gpn],
			ready: readySlab[i*gpn*readyWords : (i+1)*gpn*readyWords], readyWords: readyWords,
			sm: k.sm(r, 2*c), routes: k.nvlRoutes[r*gpn : (r+1)*gpn]}
		for qi := range nq {
			fw.queues[qi].srcRank = int32(qi*gpn + r%gpn)
		}
		if !internode {
			fw.queues[0].srcRank = int32(r)
		}
		for d := range gpn {
			w := &fw.warps[d]
			w.next = int32((d + c) % nq) // start rotated by channel
			w.pending = w.buf[:0]
		}
		k.forwards[i] = fw
		recvSlab[i] = receiver{k: k, rank: r, c: c, local: r % gpn, base: r - r%gpn, free: freeSlab[i*gpn : (i+1)*gpn],
			sm: k.sm(r, 2*c+1), warp0: ((r-r%gpn)*k.ch+c)*gpn + r%gpn, warpStride: k.ch * gpn}
		k.receivers[i] = &recvSlab[i]
	}
	// Each queue is a run of its (source, node) list in the layout's
	// record plan: the list's records whose tokens are in the channel's
	// slice. Walk each list once, cutting it at the channel boundaries.
	plan := lay.recordPlan()
	k.recTok, k.recMask = plan.tok, plan.mask
	for src := range ranks {
		per := (lay.Tokens[src] + k.ch - 1) / k.ch
		for node := range nq {
			fwdRank, qi := node*gpn+src%gpn, src/gpn
			if !internode {
				fwdRank, qi = src, 0
			}
			i, end := int(plan.at[src*nq+node]), int(plan.at[src*nq+node+1])
			for c := range k.ch {
				hi := min((c+1)*per, lay.Tokens[src])
				q := &k.fwd(fwdRank, c).queues[qi]
				q.off = i
				for i < end && int(plan.tok[i]) < hi {
					i++
				}
				q.n = int32(i - q.off)
			}
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
