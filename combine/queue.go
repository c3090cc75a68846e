package combine

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
// Invariants, for every stream s:
//   - st[s].freed <= st[s].taken <= st[s].tail;
//   - st[s].taken is the number of rows stream s holds for tokens before
//     pos, st[s].freed for tokens before the owner's done mark (the rows
//     of finished reductions);
//   - need[off] is token pos's count of streams, and need holds, for each
//     token in order, its count and then its distinct streams.
type reduceQueue struct {
	tok  []int32       // token index on its source rank, in order
	need []uint16      // per token: k, then the k stream ids it needs
	st   []streamState // per stream
	pos  int           // next token to take
	off  int           // offset in need of token pos's entry
	// lo and hi bound the streams read by the tokens taken since the
	// last call to batch: the streams in [lo, hi) include them all.
	lo, hi int
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
	// back: a forwarder stream's partition among its sender warp's, an
	// internode receiver stream's group among its forwarder's.
	peer int32
}

// setStreams gives the queue its per-stream counts, all zero.
func (q *reduceQueue) setStreams(st []streamState) { q.st, q.lo, q.hi = st, len(st), 0 }

func (q *reduceQueue) len() int { return len(q.tok) }

// needsAt is the streams of the token whose entry starts at off, and the
// offset of the next token's entry.
func (q *reduceQueue) needsAt(off int) (streams []uint16, next int) {
	n := int(q.need[off])
	return q.need[off+1 : off+1+n], off + 1 + n
}

// take takes up to most ready tokens in order and returns how many, how
// many rows they sum in all, and the stream the next token lacks a row
// from when that is what stopped it (-1 when it stopped at most or at the
// end).
func (q *reduceQueue) take(most int) (tokens, rows, blocked int) {
	off, need, st := q.off, q.need, q.st
	for tokens < most && q.pos < len(q.tok) {
		n := int(need[off])
		from := need[off+1 : off+1+n]
		for _, s := range from {
			if c := &st[s]; c.taken >= c.tail {
				q.off = off
				return tokens, rows, int(s)
			}
		}
		for _, s := range from {
			st[s].taken++
			q.lo, q.hi = min(q.lo, int(s)), max(q.hi, int(s)+1)
		}
		rows += n
		tokens++
		q.pos++
		off += 1 + n
	}
	q.off = off
	return tokens, rows, -1
}

// batch returns a range of streams [lo, hi) that holds every stream the
// tokens taken since the last call read rows from, so that the owner of a
// finished reduction need not look at every stream for the slots it
// frees, and starts the next batch.
func (q *reduceQueue) batch() (lo, hi int) {
	lo, hi = q.lo, q.hi
	q.lo, q.hi = len(q.st), 0
	return lo, hi
}

// waitsOn is the first stream whose row the next token lacks, -1 if the
// queue is done or the token is ready.
func (q *reduceQueue) waitsOn() int {
	if q.pos >= len(q.tok) {
		return -1
	}
	from, _ := q.needsAt(q.off)
	for _, s := range from {
		if q.st[s].taken >= q.st[s].tail {
			return int(s)
		}
	}
	return -1
}
