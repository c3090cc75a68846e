package dispatch

// tokenQueue is the ordered stream of token records one forwarder channel
// reads from one source: in internode mode the RDMA ring filled by the
// source GPU with the same local index on one node (the own node included,
// written locally); in intranode mode the GPU's own tokens.
//
// Invariants:
//   - 0 <= credited <= min(done) <= min(head) <= tail <= len(tok).
//   - head[d] is how far forwarder warp d has scanned; done[d] how far its
//     copies have completed, so slots below min(done) may be reused.
type tokenQueue struct {
	srcRank int     // rank that sent these records
	srcNode int     // its node: the queue's index on the forwarder
	tok     []int32 // token index on srcRank, in ring order
	mask    []uint64
	words   int // mask words per token
	tail    int // records arrived
	head    []int
	done    []int
	// credited is the head last returned to the sender as RDMA credit.
	credited int
}

func (q *tokenQueue) has(i, local int) bool {
	return q.mask[i*q.words+local/64]&(1<<(local%64)) != 0
}

func (q *tokenQueue) minDone() int {
	m := q.done[0]
	for _, h := range q.done[1:] {
		m = min(m, h)
	}
	return m
}
