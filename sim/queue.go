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
	items := q.items
	i := len(items) - 1
	// Move the hole up rather than swapping: one copy per level.
	for i > 0 {
		p := (i - 1) / 4
		if !ev.before(&items[p]) {
			break
		}
		items[i] = items[p]
		i = p
	}
	items[i] = ev
}

// pop removes and returns the earliest event. The caller checks len() first.
func (q *queue) pop() event {
	items := q.items
	top := items[0]
	n := len(items) - 1
	last := items[n]
	items[n] = event{} // drop the handler reference for the collector
	items = items[:n]
	q.items = items
	if n == 0 {
		return top
	}
	i := 0
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		m := first
		end := min(first+4, n)
		for c := first + 1; c < end; c++ {
			if items[c].before(&items[m]) {
				m = c
			}
		}
		if !items[m].before(&last) {
			break
		}
		items[i] = items[m]
		i = m
	}
	items[i] = last
	return top
}

func (q *queue) peek() *event { return &q.items[0] }
