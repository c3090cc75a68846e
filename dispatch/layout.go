package dispatch

import (
	"fmt"
	"math/bits"
	"slices"
)

// Layout is where every token goes, counted the way DeepEP's
// get_dispatch_layout counts it: the distinct target ranks of each token
// (one record per target GPU, whatever its number of experts there), the
// distinct target nodes, and the totals per rank, node and expert.
//
// Invariants:
//   - Targets(src, t) is sorted ascending and has no duplicates.
//   - RecvRows[dst] counts the (token, dst) pairs with dst among the
//     token's targets.
//   - NodeTokens[src][node] counts tokens of src with a target on node.
type Layout struct {
	Ranks, Nodes, GPUsPerNode int
	TopK                      int
	// Tokens[src] is the number of tokens rank src sends.
	Tokens []int
	// start[src][t]..start[src][t+1] index targets[src] and slots[src].
	start   [][]int32
	targets [][]int32
	slots   [][]uint16
	// NodeTokens[src][node]: tokens of src that target some GPU of node.
	NodeTokens [][]int
	// RecvRows[dst]: token rows rank dst receives (the self copy included).
	RecvRows []int
	// ExpertSlots[dst]: (token, expert) pairs served by rank dst: the rows
	// its expert GEMMs process.
	ExpertSlots []int
	// ExpertTokens[e]: tokens routed to logical expert e.
	ExpertTokens []int
	// plans are what kernels derive from the layout and share.
	plans *layoutPlans
}

// NewLayout computes the layout of a routing on a cluster of nodes ×
// gpusPerNode ranks under a placement.
func NewLayout(rt Routing, p Placement, nodes, gpusPerNode, experts int) (*Layout, error) {
	total := 0
	for _, ids := range rt.Experts {
		total += len(ids)
	}
	return newLayout(rt, p, nodes, gpusPerNode, experts, workersFor(len(rt.Experts), total/max(rt.TopK, 1)))
}

// newLayout is NewLayout on workers goroutines.
func newLayout(rt Routing, p Placement, nodes, gpusPerNode, experts, workers int) (*Layout, error) {
	ranks := nodes * gpusPerNode
	if err := rt.Validate(ranks, experts); err != nil {
		return nil, err
	}
	// Ranks are laid out independently, a range of them per worker, each
	// with its own builder (its own sums) over the one layout.
	b, err := NewLayoutBuilder(p, nodes, gpusPerNode, experts, rt.TopK)
	if err != nil {
		return nil, err
	}
	parts := make([]*LayoutBuilder, workers)
	parts[0] = b
	for w := 1; w < workers; w++ {
		parts[w] = b.part()
	}
	spread(ranks, workers, func(w, lo, hi int) {
		for src := lo; src < hi; src++ {
			parts[w].Add(src, rt.Experts[src])
		}
	})
	for _, q := range parts[1:] {
		b.merge(q)
	}
	return b.Layout()
}

// Targets are the distinct ranks token t of src goes to, ascending.
func (l *Layout) Targets(src, t int) []int32 {
	return l.targets[src][l.start[src][t]:l.start[src][t+1]]
}

// Slots are the number of the token's experts on each of Targets(src, t).
func (l *Layout) Slots(src, t int) []uint16 {
	return l.slots[src][l.start[src][t]:l.start[src][t+1]]
}

// RankPeers are the (rank, rank) pairs a layout's tokens join, with the
// tokens of each: Of(r) lists r's peers ascending and, for each, the
// tokens of r that target it (or, reversed, the tokens of it that target
// r). They hold only the pairs that carry tokens, so a layout needs no
// ranks × ranks matrix.
type RankPeers struct {
	start        []int32 // Of(r) is peer[start[r]:start[r+1]]
	peer, tokens []int32
}

// Of is rank r's peers, ascending, and the tokens between r and each.
func (p *RankPeers) Of(r int) (peers, tokens []int32) {
	lo, hi := p.start[r], p.start[r+1]
	return p.peer[lo:hi:hi], p.tokens[lo:hi:hi]
}

// RankPeers counts the tokens of each (source, target rank) pair: per
// source when reverse is false, per target when it is true.
func (l *Layout) RankPeers(reverse bool) *RankPeers {
	p := &RankPeers{start: make([]int32, l.Ranks+1)}
	if !reverse {
		// One source at a time, counted in a row of ranks, into lists
		// sized for the most pairs there can be.
		most := 0
		for _, tg := range l.targets {
			most += len(tg)
		}
		most = min(most, l.Ranks*l.Ranks)
		p.peer, p.tokens = make([]int32, 0, most), make([]int32, 0, most)
		row := make([]int32, l.Ranks)
		for src := range l.Ranks {
			for _, d := range l.targets[src] {
				row[d]++
			}
			for d, n := range row {
				if n > 0 {
					p.peer, p.tokens = append(p.peer, int32(d)), append(p.tokens, n)
					row[d] = 0
				}
			}
			p.start[src+1] = int32(len(p.peer))
		}
		return p
	}
	// Per target: count each one's distinct sources, then fill in
	// source order, so each list comes out ascending.
	last := make([]int32, l.Ranks) // the last source (+1) seen per target
	for src := range l.Ranks {
		for _, d := range l.targets[src] {
			if last[d] != int32(src+1) {
				last[d] = int32(src + 1)
				p.start[d+1]++
			}
		}
	}
	for r := range l.Ranks {
		p.start[r+1] += p.start[r]
	}
	p.peer, p.tokens = make([]int32, p.start[l.Ranks]), make([]int32, p.start[l.Ranks])
	next := slices.Clone(p.start[:l.Ranks])
	clear(last)
	for src := range l.Ranks {
		for _, d := range l.targets[src] {
			if last[d] != int32(src+1) {
				last[d] = int32(src + 1)
				p.peer[next[d]] = int32(src)
				next[d]++
			}
			p.tokens[next[d]-1]++
		}
	}
	return p
}

// TargetNodes appends the distinct nodes token t of src goes to.
func (l *Layout) TargetNodes(dst []int, src, t int) []int {
	last := -1
	targets := l.Targets(src, t)
	if g := l.GPUsPerNode; g&(g-1) == 0 {
		// A shift: integer division is slow, and this runs per token
		// batch in the RDMA senders.
		sh := bits.TrailingZeros(uint(g))
		for _, r := range targets {
			if n := int(r) >> sh; n != last {
				dst = append(dst, n)
				last = n
			}
		}
		return dst
	}
	for _, r := range targets {
		if n := int(r) / l.GPUsPerNode; n != last {
			dst = append(dst, n)
			last = n
		}
	}
	return dst
}

// Stats are the routing figures a run reports.
type Stats struct {
	Tokens int // tokens sent, all ranks
	// Pairs: (token, target GPU) pairs = rows received in all.
	Pairs int
	// NodeVisits: (token, target node) pairs.
	NodeVisits int
	// TargetNodesPerToken = NodeVisits / Tokens.
	TargetNodesPerToken float64
	// TargetGPUsPerToken = Pairs / Tokens.
	TargetGPUsPerToken float64
	// GPUsPerNodeVisit = Pairs / NodeVisits: the figure DeepSeek-V3's 3.2
	// knee is about.
	GPUsPerNodeVisit float64
	// MaxRecvRows and MeanRecvRows show the load balance over ranks.
	MaxRecvRows  int
	MeanRecvRows float64
}

// Stats counts the layout's routing figures.
func (l *Layout) Stats() Stats {
	var s Stats
	for src := range l.Ranks {
		s.Tokens += l.Tokens[src]
		for _, c := range l.NodeTokens[src] {
			s.NodeVisits += c
		}
	}
	for _, r := range l.RecvRows {
		s.Pairs += r
		s.MaxRecvRows = max(s.MaxRecvRows, r)
	}
	if s.Tokens > 0 {
		s.TargetNodesPerToken = float64(s.NodeVisits) / float64(s.Tokens)
		s.TargetGPUsPerToken = float64(s.Pairs) / float64(s.Tokens)
	}
	if s.NodeVisits > 0 {
		s.GPUsPerNodeVisit = float64(s.Pairs) / float64(s.NodeVisits)
	}
	s.MeanRecvRows = float64(s.Pairs) / float64(l.Ranks)
	return s
}

// String summarizes the layout for errors and traces.
func (l *Layout) String() string {
	s := l.Stats()
	return fmt.Sprintf("layout: %d ranks, %d tokens, %.3f nodes/token, %.3f GPUs/node visit",
		l.Ranks, s.Tokens, s.TargetNodesPerToken, s.GPUsPerNodeVisit)
}
