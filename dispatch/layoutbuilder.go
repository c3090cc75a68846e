package dispatch

import (
	"fmt"
	"slices"
)

// LayoutBuilder lays a routing out one rank at a time, so that a caller
// drawing the routing rank by rank can lay each rank out as soon as it is
// drawn, on another goroutine (scenarios does, for a single run). The
// layout is the one NewLayout computes from the whole routing.
//
// A builder is used by one goroutine at a time; Add takes each rank once,
// in any order.
type LayoutBuilder struct {
	l    *Layout
	p    Placement
	topK int
	// The rows received, expert slots and expert tokens counted by this
	// builder: a part (LayoutBuilder.part) counts its own, added in by
	// merge.
	recv, slots, experts []int
	buf                  []int32
	lastNode             []int
	added                []bool // shared with the parts, which add other ranks
	err                  error
}

// NewLayoutBuilder starts the layout of a routing of topK experts per
// token on a cluster of nodes × gpusPerNode ranks under a placement.
func NewLayoutBuilder(p Placement, nodes, gpusPerNode, experts, topK int) (*LayoutBuilder, error) {
	ranks := nodes * gpusPerNode
	if topK < 1 {
		return nil, fmt.Errorf("dispatch: routing top-k = %d, want >= 1", topK)
	}
	if err := p.Validate(experts, ranks); err != nil {
		return nil, err
	}
	l := &Layout{
		Ranks: ranks, Nodes: nodes, GPUsPerNode: gpusPerNode, TopK: topK,
		Tokens:       make([]int, ranks),
		start:        make([][]int32, ranks),
		targets:      make([][]int32, ranks),
		slots:        make([][]uint16, ranks),
		NodeTokens:   make([][]int, ranks),
		RecvRows:     make([]int, ranks),
		ExpertSlots:  make([]int, ranks),
		ExpertTokens: make([]int, experts),
		plans:        &layoutPlans{},
	}
	return &LayoutBuilder{l: l, p: p, topK: topK, recv: l.RecvRows, slots: l.ExpertSlots, experts: l.ExpertTokens,
		lastNode: make([]int, nodes), added: make([]bool, ranks)}, nil
}

// part is a builder for other ranks of b's layout, with sums of its own,
// for another goroutine; merge adds them in. Ranks a part adds are not
// checked off: the caller adds each rank to one builder.
func (b *LayoutBuilder) part() *LayoutBuilder {
	l := b.l
	return &LayoutBuilder{l: l, p: b.p, topK: b.topK, recv: make([]int, l.Ranks), slots: make([]int, l.Ranks),
		experts: make([]int, len(l.ExpertTokens)), lastNode: make([]int, l.Nodes), added: b.added}
}

// merge adds part q's sums and first error into b.
func (b *LayoutBuilder) merge(q *LayoutBuilder) {
	for i, n := range q.recv {
		b.recv[i] += n
	}
	for i, n := range q.slots {
		b.slots[i] += n
	}
	for i, n := range q.experts {
		b.experts[i] += n
	}
	if b.err == nil {
		b.err = q.err
	}
}

// Add lays out rank src's tokens, ids holding topK expert slots per token
// (Routing.Experts[src]). An invalid rank or id is reported by Layout.
func (b *LayoutBuilder) Add(src int, ids []int32) {
	if b.err != nil {
		return
	}
	if src < 0 || src >= b.l.Ranks {
		b.err = fmt.Errorf("dispatch: routing rank %d, the cluster has %d", src, b.l.Ranks)
		return
	}
	if b.err = validateRank(src, ids, b.topK, len(b.l.ExpertTokens)); b.err != nil {
		return
	}
	if b.added[src] {
		b.err = fmt.Errorf("dispatch: routing rank %d laid out twice", src)
		return
	}
	b.added[src] = true
	b.layRank(src, ids)
}

// Layout is the finished layout: every rank added by b (or by its parts,
// merged), or the first error Add met.
func (b *LayoutBuilder) Layout() (*Layout, error) {
	if b.err != nil {
		return nil, b.err
	}
	if i := slices.Index(b.added, false); i >= 0 {
		return nil, fmt.Errorf("dispatch: routing rank %d of %d was never added to the layout", i, b.l.Ranks)
	}
	return b.l, nil
}

// layRank lays out rank src's tokens, adding their rows, expert slots and
// expert tokens to b's sums.
func (b *LayoutBuilder) layRank(src int, ids []int32) {
	l, p, topK := b.l, b.p, b.topK
	n := len(ids) / topK
	l.Tokens[src] = n
	l.start[src] = make([]int32, n+1)
	l.NodeTokens[src] = make([]int, l.Nodes)
	tg := make([]int32, 0, n*min(topK, 8))
	sl := make([]uint16, 0, cap(tg))
	lastNode := b.lastNode
	for i := range lastNode {
		lastNode[i] = -1
	}
	buf := b.buf
	for t := range n {
		buf = buf[:0]
		for _, e := range ids[t*topK : (t+1)*topK] {
			if e < 0 {
				continue
			}
			b.experts[e]++
			buf = append(buf, int32(p.RankOf(e, src, t)))
		}
		slices.Sort(buf)
		for i, r := range buf {
			if i > 0 && buf[i-1] == r {
				sl[len(sl)-1]++
				continue
			}
			tg = append(tg, r)
			sl = append(sl, 1)
			b.recv[r]++
			if node := int(r) / l.GPUsPerNode; lastNode[node] != t {
				lastNode[node] = t
				l.NodeTokens[src][node]++
			}
		}
		for _, r := range buf {
			b.slots[r]++
		}
		l.start[src][t+1] = int32(len(tg))
	}
	b.buf = buf
	l.targets[src], l.slots[src] = tg, sl
}
