package combine

import (
	"encoding/binary"
	"math/bits"
)

// reduceQueue is the ordered list of tokens one group of reducing warps
// sums: a forwarder's tokens for one source node, or a receiver's output
// tokens. Each token needs one row from each of a few input streams (the
// GPUs of a node that hold it, or the nodes it went to), and every stream
// delivers its rows in token order, so a token is ready once each of its
// streams has delivered as many rows as the earlier tokens took from it.
// Warps take ready tokens in order; DeepEP's warps stride over the tokens
// and wait on the first one not ready, which this matches up to the order
// of tokens inside one batch.
//
// The streams each token needs are stored inline, in token order, as a
// count followed by that many stream ids, so that taking tokens reads one
// array front to back.
//
// A queue is a few offsets into its kernel's slabs (the tokens in k.tok,
// the per-token stream lists in k.need, the streams in its owner's stream
// slab), so that a forwarder group, counters and all, fits one cache line:
// a run touches tens of thousands of groups in no order a cache can follow.
//
// Invariants, for every stream s (st[q.st+s] in the owner's slab):
//   - freed <= taken <= tail;
//   - taken is the number of rows stream s holds for tokens before pos,
//     freed for tokens before the owner's done mark (the rows of finished
//     reductions);
//   - need[off] is token pos's count of streams, and need from the
//     queue's first entry holds, for each token in order, its count and
//     then its distinct streams.
type reduceQueue struct {
	tok int32 // the first of the queue's tokens in k.tok (token indices on their source, in order)
	n   int32 // tokens
	pos int32 // next token to take
	off int32 // offset in k.need of token pos's entry
	st  int32 // the queue's first stream in its owner's stream slab
	nst uint16
	// lo and hi bound the streams read by the tokens taken since the
	// last call to batch: the streams in [lo, hi) include them all.
	lo, hi uint16
}

// streamState counts one input stream's rows. Counts fit an int32: a
// stream carries at most one row per token of a channel.
type streamState struct {
	tail  int32 // rows arrived
	taken int32 // rows taken by reductions started
	freed int32 // rows of reductions finished: slots the owner may free
	// credited is the rows returned to the producer (the receiver's RDMA
	// coordinator returns them a chunk at a time).
	credited int32
	// peer is the producer's index for this stream, where freed slots go
	// back: a forwarder or intranode receiver stream's partition in
	// k.sendParts, an internode receiver stream's group among its
	// forwarder's.
	peer int32
}

// setStreams gives the queue its nst streams from st in its owner's slab,
// all zero.
func (q *reduceQueue) setStreams(st int32, nst int) {
	q.st, q.nst, q.lo, q.hi = st, uint16(nst), uint16(nst), 0
}

func (q *reduceQueue) len() int { return int(q.n) }

// streams is the queue's streams in its owner's slab all.
func (q *reduceQueue) streams(all []streamState) []streamState {
	return all[q.st : q.st+int32(q.nst) : q.st+int32(q.nst)]
}

// token is the index on its source of token i, from the kernel's tokens.
func (q *reduceQueue) token(tok []int32, i int) int32 { return tok[int(q.tok)+i] }

// needsAt is the streams of the token whose entry starts at off in need,
// and the offset of the next token's entry.
func needsAt(need []uint16, off int) (streams []uint16, next int) {
	n := int(need[off])
	return need[off+1 : off+1+n], off + 1 + n
}

// take takes up to most ready tokens in order and returns how many, how
// many rows they sum in all, and the stream the next token lacks a row
// from when that is what stopped it (-1 when it stopped at most or at the
// end). need is the kernel's stream lists, st the queue's streams.
func (q *reduceQueue) take(most int, need []uint16, st []streamState) (tokens, rows, blocked int) {
	off := int(q.off)
	left := min(most, int(q.n-q.pos))
	lo, hi := int(q.lo), int(q.hi)
	for tokens < left {
		n := int(need[off])
		from := need[off+1 : off+1+n]
		for _, s := range from {
			if c := &st[s]; c.taken >= c.tail {
				q.off, q.pos, q.lo, q.hi = int32(off), q.pos+int32(tokens), uint16(lo), uint16(hi)
				return tokens, rows, int(s)
			}
		}
		for _, s := range from {
			st[s].taken++
			lo, hi = min(lo, int(s)), max(hi, int(s)+1)
		}
		rows += n
		tokens++
		off += 1 + n
	}
	q.off, q.pos, q.lo, q.hi = int32(off), q.pos+int32(tokens), uint16(lo), uint16(hi)
	return tokens, rows, -1
}

// takeMask is take for a queue whose tokens' streams are bit masks, one
// per token from q.off in masks: the same tokens, rows and blocking
// stream, as a mask lists a token's streams in the same ascending order.
// peek holds the masks of the next tokens as far as read (a zero byte is
// one not read); takeMask reads masks eight at a time when it runs out.
func (q *reduceQueue) takeMask(most int, masks []uint8, st []streamState, peek *uint64) (tokens, rows, blocked int) {
	off := int(q.off)
	left := min(most, int(q.n-q.pos))
	lo, hi := int(q.lo), int(q.hi)
	p := *peek
	for tokens < left {
		if p&0xff == 0 {
			p = loadMasks(masks, off)
		}
		m := uint8(p)
		for x := m; x != 0; x &= x - 1 {
			s := bits.TrailingZeros8(x)
			if c := &st[s]; c.taken >= c.tail {
				q.off, q.pos, q.lo, q.hi = int32(off), q.pos+int32(tokens), uint16(lo), uint16(hi)
				*peek = p
				return tokens, rows, s
			}
		}
		for x := m; x != 0; x &= x - 1 {
			st[bits.TrailingZeros8(x)].taken++
		}
		lo, hi = min(lo, bits.TrailingZeros8(m)), max(hi, bits.Len8(m))
		rows += bits.OnesCount8(m)
		tokens++
		off++
		p >>= 8
	}
	q.off, q.pos, q.lo, q.hi = int32(off), q.pos+int32(tokens), uint16(lo), uint16(hi)
	*peek = p
	return tokens, rows, -1
}

// loadMasks reads up to eight masks from off, lowest first.
func loadMasks(masks []uint8, off int) uint64 {
	if off+8 <= len(masks) {
		return binary.LittleEndian.Uint64(masks[off:])
	}
	var p uint64
	for i, m := range masks[off:] {
		p |= uint64(m) << (8 * i)
	}
	return p
}

// maskStreams is the streams of a token's mask, ascending.
func maskStreams(m uint8) []uint16 {
	var out []uint16
	for ; m != 0; m &= m - 1 {
		out = append(out, uint16(bits.TrailingZeros8(m)))
	}
	return out
}

// batch returns a range of streams [lo, hi) that holds every stream the
// tokens taken since the last call read rows from, so that the owner of a
// finished reduction need not look at every stream for the slots it
// frees, and starts the next batch.
func (q *reduceQueue) batch() (lo, hi int) {
	lo, hi = int(q.lo), int(q.hi)
	q.lo, q.hi = q.nst, 0
	return lo, hi
}

// waitsOn is the first stream whose row the next token lacks, -1 if the
// queue is done or the token is ready.
func (q *reduceQueue) waitsOn(need []uint16, st []streamState) int {
	if q.pos >= q.n {
		return -1
	}
	from, _ := needsAt(need, int(q.off))
	for _, s := range from {
		if st[s].taken >= st[s].tail {
			return int(s)
		}
	}
	return -1
}
