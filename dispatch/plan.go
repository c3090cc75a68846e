package dispatch

import "sync"

// recordPlan is the dispatch forwarders' records of a layout, laid out
// once for every channel count: for each (source rank, target node), the
// source's tokens with a target on the node, in token order, each with a
// byte mask of its target GPUs there. A channel's slice of a source is a
// contiguous token range, so a forwarder queue (one source, one node, one
// channel) is a contiguous run of its (source, node) list, and a kernel
// at any SM count finds its queues by walking the lists, where it used to
// route every token again. Kernels only read a plan, so runs in parallel
// share one.
//
// Invariants: the records of (src, m) are tok[at[src*nodes+m]:
// at[src*nodes+m+1]], ascending; mask holds maskBytes bytes per record,
// bit d of byte d/8 set when local GPU d of node m is a target.
type recordPlan struct {
	at        []int32
	tok       []int32
	mask      []uint8
	maskBytes int
}

// layoutPlans holds what kernels derive from a layout and share.
type layoutPlans struct {
	once      sync.Once
	records   *recordPlan
	nodesOnce sync.Once
	nodes     *tokenNodes
}

// recordPlan returns the layout's records, built on first use.
func (l *Layout) recordPlan() *recordPlan {
	l.plans.once.Do(func() { l.plans.records = buildRecordPlan(l, workersFor(l.Ranks, l.tokens())) })
	return l.plans.records
}

// tokenNodes is, for every token, the distinct nodes it goes to
// (TargetNodes), ascending, as 16-bit node numbers: the RDMA senders read
// them token after token, a fifth of the bytes of the targets.
//
// Invariant: of(src, t) equals TargetNodes(nil, src, t).
type tokenNodes struct {
	at    [][]int32 // per source, per token: start in nodes (Tokens+1)
	nodes []uint16
}

// of is token t of src's target nodes.
func (p *tokenNodes) of(src, t int) []uint16 {
	at := p.at[src]
	return p.nodes[at[t]:at[t+1]]
}

// tokenNodes returns the layout's per-token target nodes, built on first
// use.
func (l *Layout) tokenNodes() *tokenNodes {
	l.plans.nodesOnce.Do(func() { l.plans.nodes = buildTokenNodes(l, workersFor(l.Ranks, l.tokens())) })
	return l.plans.nodes
}

// buildTokenNodes builds l's token nodes on workers goroutines.
func buildTokenNodes(l *Layout, workers int) *tokenNodes {
	p := &tokenNodes{at: make([][]int32, l.Ranks)}
	// Two passes over the sources, each a range of them per worker:
	// count each source's (token, node) pairs, then, from each source's
	// first place in nodes, write them.
	first := make([]int32, l.Ranks+1)
	spread(l.Ranks, workers, func(_, lo, hi int) {
		var buf []int
		for src := lo; src < hi; src++ {
			at := make([]int32, l.Tokens[src]+1)
			for t := range l.Tokens[src] {
				buf = l.TargetNodes(buf[:0], src, t)
				at[t+1] = at[t] + int32(len(buf))
			}
			p.at[src] = at
			first[src+1] = at[len(at)-1]
		}
	})
	for src := range l.Ranks {
		first[src+1] += first[src]
	}
	p.nodes = make([]uint16, first[l.Ranks])
	spread(l.Ranks, workers, func(_, lo, hi int) {
		var buf []int
		for src := lo; src < hi; src++ {
			at := p.at[src]
			for t := range l.Tokens[src] {
				buf = l.TargetNodes(buf[:0], src, t)
				for i, m := range buf {
					p.nodes[first[src]+at[t]+int32(i)] = uint16(m)
				}
			}
			for t := range at {
				at[t] += first[src]
			}
		}
	})
	return p
}

// tokens is the number of tokens all ranks send.
func (l *Layout) tokens() int {
	n := 0
	for _, t := range l.Tokens {
		n += t
	}
	return n
}

// buildRecordPlan builds l's records on workers goroutines.
func buildRecordPlan(l *Layout, workers int) *recordPlan {
	gpn, nodes := l.GPUsPerNode, l.Nodes
	p := &recordPlan{at: make([]int32, l.Ranks*nodes+1), maskBytes: (gpn + 7) / 8}
	// node[r] is rank r's node: a table, as integer division is slow.
	node := make([]int32, l.Ranks)
	for r := range node {
		node[r] = int32(r / gpn)
	}
	// Two passes over the sources, each a range of them per worker:
	// count the records of each (source, node), then write them where
	// the counts' running sum puts them.
	count := p.at[1:]
	spread(l.Ranks, workers, func(_, lo, hi int) {
		for src := lo; src < hi; src++ {
			cnt := count[src*nodes : (src+1)*nodes]
			for t := range l.Tokens[src] {
				last := int32(-1)
				for _, r := range l.Targets(src, t) {
					if m := node[r]; m != last {
						cnt[m]++
						last = m
					}
				}
			}
		}
	})
	for i := range count {
		p.at[i+1] += p.at[i]
	}
	total := p.at[len(p.at)-1]
	p.tok, p.mask = make([]int32, total), make([]uint8, int(total)*p.maskBytes)
	spread(l.Ranks, workers, func(_, lo, hi int) {
		next := make([]int32, nodes)
		for src := lo; src < hi; src++ {
			copy(next, p.at[src*nodes:(src+1)*nodes])
			for t := range l.Tokens[src] {
				last, rec := int32(-1), int32(0)
				for _, r := range l.Targets(src, t) {
					m := node[r]
					if m != last {
						rec = next[m]
						next[m]++
						p.tok[rec] = int32(t)
						last = m
					}
					local := int(r) - int(m)*gpn
					p.mask[int(rec)*p.maskBytes+local/8] |= 1 << (local % 8)
				}
			}
		}
	})
	return p
}

// NodeRecords is, for a layout whose nodes have at most 8 GPUs, the tokens
// of source src with a target on node m, ascending, each with a byte mask
// of its target GPUs there (bit d for local GPU d): the dispatch
// forwarders' records, built once per layout and shared, so callers must
// not change them. Combine builds its forwarder groups from them.
func (l *Layout) NodeRecords(src, m int) (tok []int32, mask []uint8) {
	if l.GPUsPerNode > 8 {
		panic("dispatch: NodeRecords needs nodes of at most 8 GPUs")
	}
	p := l.recordPlan()
	a, b := p.at[src*l.Nodes+m], p.at[src*l.Nodes+m+1]
	return p.tok[a:b:b], p.mask[a:b:b]
}
