package combine

import (
	"fmt"
	"slices"
)

// verifier checks combine's conservation law as the run goes: every row
// is read from a ring only after it arrived and in the order it was
// written, each (token, target GPU) row is summed exactly once (at the
// source within a node; at the forwarder of the GPU's node across nodes,
// which must have summed all of its node's rows before it sends the
// token on), each source sums exactly one row per target node, and every
// ring is drained at the end.
//
// The expected contents of the NVL rings are built here from the layout,
// apart from the kernel's own bookkeeping, so a row routed to the wrong
// ring, partition or channel shows up as a mismatch.
type verifier struct {
	k *kernel
	// start[src][t] indexes pairs[src] for token t's targets.
	start [][]int32
	// pairs[src][i]: times the (token, target GPU) pair i was summed.
	pairs [][]uint8
	// nodeRows[src][t]: node rows summed at the source (internode).
	nodeRows [][]uint8
	nvl      []vring // [((dst*ch+c)*gpn+srcLocal)*parts+partition]
	rdma     []vring // [(src*ch+c)*nodes+node]
	err      error
}

// vring follows one ring: what its producer writes, in order, and how far
// it has arrived and been read.
type vring struct {
	toks          []int32
	arrived, read int
}

func newVerifier(k *kernel) *verifier {
	lay, g := k.lay, k.gpn
	v := &verifier{k: k, start: make([][]int32, lay.Ranks), pairs: make([][]uint8, lay.Ranks),
		nvl: make([]vring, lay.Ranks*k.ch*g*k.parts)}
	if k.internode {
		v.nodeRows = make([][]uint8, lay.Ranks)
		v.rdma = make([]vring, lay.Ranks*k.ch*k.nodes)
	}
	for src := range lay.Ranks {
		n := lay.Tokens[src]
		st := make([]int32, n+1)
		for t := range n {
			st[t+1] = st[t] + int32(len(lay.Targets(src, t)))
		}
		v.start[src], v.pairs[src] = st, make([]uint8, st[n])
		if k.internode {
			v.nodeRows[src] = make([]uint8, n)
		}
		// Each holder d of a token of src sends its row, in token
		// order, to src itself (intranode) or to the GPU of d's node
		// with src's local index, in the partition of src's node.
		for c := range k.ch {
			lo, hi := channelRange(n, k.ch, c)
			for t := lo; t < hi; t++ {
				for _, d := range lay.Targets(src, t) {
					dst, part := src, 0
					if k.internode {
						dst, part = int(d)/g*g+src%g, src/g
					}
					i := v.nvlRing(dst, c, int(d)%g, part)
					v.nvl[i].toks = append(v.nvl[i].toks, int32(t))
				}
			}
		}
	}
	return v
}

// channelRange restates DeepEP's channel split so the verifier does not
// lean on the kernel's: [c*ceil(n/C), min((c+1)*ceil(n/C), n)).
func channelRange(n, channels, c int) (lo, hi int) {
	per := (n + channels - 1) / channels
	return min(c*per, n), min((c+1)*per, n)
}

func (v *verifier) nvlRing(dst, c, srcLocal, part int) int {
	return ((dst*v.k.ch+c)*v.k.gpn+srcLocal)*v.k.parts + part
}

func (v *verifier) rdmaRing(src, c, node int) int { return (src*v.k.ch+c)*v.k.nodes + node }

func (v *verifier) fail(format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("combine: verify: "+format, args...)
	}
}

// arrivedNVL: n rows landed in NVL ring (dst, c, from srcLocal, part).
func (v *verifier) arrivedNVL(dst, c, srcLocal, part, n int) {
	r := &v.nvl[v.nvlRing(dst, c, srcLocal, part)]
	r.arrived += n
	if r.arrived > len(r.toks) {
		v.fail("channel %d: %d rows arrived at rank %d from local GPU %d (partition %d), only %d were due",
			c, r.arrived, dst, srcLocal, part, len(r.toks))
	}
}

// arrived: n rows landed in receiver (rank, c)'s stream s.
func (v *verifier) arrived(rank, c, s, n int) {
	if v.k.internode {
		r := &v.rdma[v.rdmaRing(rank, c, s)]
		r.arrived += n
		if r.arrived > len(r.toks) {
			v.fail("channel %d: %d RDMA rows arrived at rank %d from node %d, %d were posted", c, r.arrived, rank, s, len(r.toks))
		}
		return
	}
	v.arrivedNVL(rank, c, s, 0, n)
}

// read takes token tok's row from ring r. It returns "" or what went
// wrong, for the caller to place; building context strings on every row
// would cost more than the check.
func (v *verifier) read(r *vring, tok int) string {
	r.read++
	switch {
	case r.read > r.arrived:
		return fmt.Sprintf("token %d summed before its row arrived (%d rows arrived)", tok, r.arrived)
	case r.read > len(r.toks):
		return fmt.Sprintf("token %d summed from a row that was never due (%d rows due)", tok, len(r.toks))
	case int(r.toks[r.read-1]) != tok:
		return fmt.Sprintf("next row is token %d's, token %d was summed", r.toks[r.read-1], tok)
	}
	return ""
}

// pair counts one sum of token tok of src's row from rank d; it returns ""
// or what went wrong.
func (v *verifier) pair(src, tok, d int) string {
	targets := v.k.lay.Targets(src, tok)
	j, ok := slices.BinarySearch(targets, int32(d))
	if !ok {
		return fmt.Sprintf("summed a row of token %d of rank %d from rank %d, which the token does not target", tok, src, d)
	}
	i := int(v.start[src][tok]) + j
	v.pairs[src][i]++
	if v.pairs[src][i] > 1 {
		return fmt.Sprintf("token %d of rank %d: the row from rank %d was summed %d times", tok, src, d, v.pairs[src][i])
	}
	return ""
}

// forwarded: forwarder f summed token tok of src from its node's GPUs
// locals.
func (v *verifier) forwarded(f, c, src, tok int, locals []uint16) {
	g := v.k.gpn
	if f%g != src%g {
		v.fail("channel %d forwarder rank %d: forwards token %d of rank %d, which is on another rail", c, f, tok, src)
	}
	for _, d := range locals {
		from := f - f%g + int(d)
		if msg := v.read(&v.nvl[v.nvlRing(f, c, int(d), src/g)], tok); msg != "" {
			v.fail("channel %d forwarder rank %d, NVL ring from rank %d: %s", c, f, from, msg)
		}
		if msg := v.pair(src, tok, from); msg != "" {
			v.fail("channel %d forwarder rank %d: %s", c, f, msg)
		}
	}
}

// posted: forwarder f wrote toks to src's RDMA ring; each must have had
// all of f's node's rows summed.
func (v *verifier) posted(f, c, src int, toks []int32) {
	g := v.k.gpn
	node := f / g
	r := &v.rdma[v.rdmaRing(src, c, node)]
	for _, t := range toks {
		targets := v.k.lay.Targets(src, int(t))
		for j, d := range targets {
			if int(d)/g == node && v.pairs[src][int(v.start[src][t])+j] != 1 {
				v.fail("channel %d forwarder rank %d: sent token %d of rank %d on before summing the row from rank %d", c, f, t, src, d)
			}
		}
		r.toks = append(r.toks, t)
	}
}

// received: the source summed token tok's rows from streams.
func (v *verifier) received(src, c, tok int, streams []uint16) {
	if !v.k.internode {
		for _, d := range streams {
			from := src - src%v.k.gpn + int(d)
			if msg := v.read(&v.nvl[v.nvlRing(src, c, int(d), 0)], tok); msg != "" {
				v.fail("channel %d receiver rank %d, NVL ring from rank %d: %s", c, src, from, msg)
			}
			if msg := v.pair(src, tok, from); msg != "" {
				v.fail("channel %d receiver rank %d: %s", c, src, msg)
			}
		}
		return
	}
	r := v.k.recv(src, c)
	for _, s := range streams {
		m := r.from(int(s))
		if msg := v.read(&v.rdma[v.rdmaRing(src, c, m)], tok); msg != "" {
			v.fail("channel %d receiver rank %d, RDMA ring from node %d: %s", c, src, m, msg)
		}
		v.nodeRows[src][tok]++
	}
}

func (v *verifier) check() error {
	if v.err != nil {
		return v.err
	}
	lay := v.k.lay
	var nodes []int
	for src := range lay.Ranks {
		for t := range lay.Tokens[src] {
			targets := lay.Targets(src, t)
			for j, d := range targets {
				if n := v.pairs[src][int(v.start[src][t])+j]; n != 1 {
					return fmt.Errorf("combine: verify: token %d of rank %d: the row from rank %d was summed %d times, want once", t, src, d, n)
				}
			}
			if v.nodeRows != nil {
				nodes = lay.TargetNodes(nodes[:0], src, t)
				if n := int(v.nodeRows[src][t]); n != len(nodes) {
					return fmt.Errorf("combine: verify: token %d of rank %d summed %d node rows, want one per target node (%d)", t, src, n, len(nodes))
				}
			}
		}
	}
	for i := range v.nvl {
		if r := &v.nvl[i]; r.read != len(r.toks) || r.arrived != len(r.toks) {
			return fmt.Errorf("combine: verify: NVL ring %d: %d rows due, %d arrived, %d read", i, len(r.toks), r.arrived, r.read)
		}
	}
	for i := range v.rdma {
		if r := &v.rdma[i]; r.read != len(r.toks) || r.arrived != len(r.toks) {
			return fmt.Errorf("combine: verify: RDMA ring %d: %d rows posted, %d arrived, %d read", i, len(r.toks), r.arrived, r.read)
		}
	}
	return nil
}
