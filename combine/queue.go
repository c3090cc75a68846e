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
// Invariants:
//   - taken[s] <= tail[s] for every stream s;
//   - taken[s] is the number of rows stream s holds for tokens before pos;
//   - start has len(tok)+1 entries and from[start[i]:start[i+1]] are the
//     distinct streams token i needs.
type reduceQueue struct {
	tok   []int32  // token index on its source rank, in order
	start []int32  // token i needs streams from[start[i]:start[i+1]]
	from  []uint16 // stream ids: a local GPU index or a node
	tail  []int    // rows arrived per stream
	taken []int    // rows taken by reductions started, per stream
	pos   int      // next token to take
}

func newReduceQueue(streams int) reduceQueue {
	return reduceQueue{start: []int32{0}, tail: make([]int, streams), taken: make([]int, streams)}
}

// push appends token t, which needs one row from each of streams.
func (q *reduceQueue) push(t int, streams ...uint16) {
	q.tok = append(q.tok, int32(t))
	q.from = append(q.from, streams...)
	q.start = append(q.start, int32(len(q.from)))
}

func (q *reduceQueue) len() int { return len(q.tok) }

// needs is the streams token i needs.
func (q *reduceQueue) needs(i int) []uint16 { return q.from[q.start[i]:q.start[i+1]] }

// take takes up to max ready tokens in order and returns how many, and how
// many rows they sum in all.
func (q *reduceQueue) take(max int) (tokens, rows int) {
	for tokens < max && q.pos < len(q.tok) {
		from := q.needs(q.pos)
		for _, s := range from {
			if q.taken[s] >= q.tail[s] {
				return tokens, rows
			}
		}
		for _, s := range from {
			q.taken[s]++
		}
		rows += len(from)
		tokens++
		q.pos++
	}
	return tokens, rows
}

// waitsOn is the first stream whose row the next token lacks, -1 if the
// queue is done or the token is ready.
func (q *reduceQueue) waitsOn() int {
	if q.pos >= len(q.tok) {
		return -1
	}
	for _, s := range q.needs(q.pos) {
		if q.taken[s] >= q.tail[s] {
			return int(s)
		}
	}
	return -1
}

// count adds to counts[s] the rows tokens [lo, hi) hold from each stream s:
// the slots a finished batch frees.
func (q *reduceQueue) count(lo, hi int, counts []int) {
	for _, s := range q.from[q.start[lo]:q.start[hi]] {
		counts[s]++
	}
}
