package sim

// Invariants:
//   - q.items is a 4-ary min-heap under before(): earlier time first, and at
//     equal times the lower sequence number (scheduled earlier) first.
//   - Sequence numbers are unique and increase, so the order is total and
//     same-time events run first-in first-out.
//
// A 4-ary heap halves the depth of a binary one and keeps a node's children
// in one cache line; the Go runtime's timer heap makes the same choice.

type event struct {
	at  Time
	seq uint64
	h   Handler
	arg int64
}

func (a *event) before(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

type queue struct {
	items []event
}

func (q *queue) len() int { return len(q.items) }

func (q *queue) push(ev event) {
	q.items = append(q.items, ev)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !q.items[i].before(&q.items[p]) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

// pop removes and returns the earliest event. The caller checks len() first.
func (q *queue) pop() event {
	top := q.items[0]
	n := len(q.items) - 1
	q.items[0] = q.items[n]
	q.items[n] = event{} // drop the handler reference for the collector
	q.items = q.items[:n]
	i := 0
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		m := first
		last := min(first+4, n)
		for c := first + 1; c < last; c++ {
			if q.items[c].before(&q.items[m]) {
				m = c
			}
		}
		if !q.items[m].before(&q.items[i]) {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
}

func (q *queue) peek() *event { return &q.items[0] }
