package workload

// The key-per-expert node-limited generator, production until the switch
// to orderStatGen (orderstat.go), kept here as the definition of the
// distribution: TestOrderStatRoutingDistribution compares the two, and
// TestNodeLimitedRoutingMatchesReference checks this one against full
// sorts of the exact scores.
//
// Every token scores every expert with an i.i.d. |N(0,1)|+1, as DeepEP's
// benchmark does, drawn as a uniform 64-bit key and mapped to |N(0,1)| by
// the inverse CDF, but only when its value matters. Ranking experts needs
// only the keys, since the transform is monotone. Ranking nodes needs the
// values of each node's best ceil(topk/M) keys; a table of bounds settles
// about 99% of tokens at EP64, and the rest pay for the exact values.

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/sim"
)

type nodeLimitedGen struct {
	l     routingLayout
	topk  int
	group int // best scores summed to rank a node: ceil(topk/M), at least 1

	keys    []uint64  // the token's key per expert; a higher key is a higher score
	nodeTop []uint64  // node n's best group keys, descending, at [n*group:(n+1)*group]
	nodeLo  []float64 // bounds on each node's score, from halfNormalBounds
	nodeHi  []float64
	isKept  []bool    // scratch for keptCertain, all false between calls
	keptVal []float64 // best maxNodes node scores (or their lower bounds), descending
	keptIdx []int32   // their nodes
	bestKey []uint64  // the token's topk keys, descending
	bestIdx []int32   // their experts
}

func newNodeLimitedGen(l routingLayout, topk int) *nodeLimitedGen {
	g := &nodeLimitedGen{l: l, topk: topk}
	g.group = max(1, (topk+l.maxNodes-1)/l.maxNodes)
	g.keys = make([]uint64, l.experts)
	g.nodeTop = make([]uint64, l.nodes*g.group)
	g.nodeLo = make([]float64, l.nodes)
	g.nodeHi = make([]float64, l.nodes)
	g.isKept = make([]bool, l.nodes)
	g.keptVal = make([]float64, l.maxNodes)
	g.keptIdx = make([]int32, l.maxNodes)
	g.bestKey = make([]uint64, topk)
	g.bestIdx = make([]int32, topk)
	halfNormalTable.once.Do(halfNormalTable.init)
	return g
}

// newKeySource is the node-limited generator's random source: a PCG seeded
// from the "routing" stream. Calling the concrete source rather than a
// *rand.Rand saves an interface call per score, a third of the cost.
func newKeySource(seed uint64) *rand.PCG {
	rng := sim.Stream(seed, "routing")
	return rand.NewPCG(rng.Uint64(), rng.Uint64())
}

func (g *nodeLimitedGen) generate(tokens []int, src *rand.PCG) dispatch.Routing {
	rt := allocRouting(tokens, g.topk)
	for _, ids := range rt.Experts {
		for t := 0; t < len(ids)/g.topk; t++ {
			g.token(src, ids[t*g.topk:(t+1)*g.topk])
		}
	}
	return rt
}

// token writes one token's experts into out, best score first.
func (g *nodeLimitedGen) token(src *rand.PCG, out []int32) {
	l := g.l
	if l.maxNodes == l.nodes {
		// No limit binds: the token's topk among all experts.
		for e := range l.experts {
			insertDesc(g.bestKey, g.bestIdx, e, src.Uint64(), int32(e))
		}
		copy(out, g.bestIdx)
		return
	}
	for n := range l.nodes {
		top := g.nodeTop[n*g.group : (n+1)*g.group]
		keys := g.keys[n*l.perNode : (n+1)*l.perNode]
		if len(top) == 2 {
			// DeepSeek-V3's 8 experts over 4 nodes: the best two, in
			// registers. min and max compile to conditional moves, as
			// branches on random keys would be mispredicted.
			var a, b uint64
			for j := range keys {
				k := src.Uint64()
				keys[j] = k
				a, b = max(a, k), max(b, min(a, k))
			}
			top[0], top[1] = a, b
		} else {
			clear(top)
			for j := range keys {
				k := src.Uint64()
				keys[j] = k
				for i, t := range top {
					top[i], k = max(t, k), min(t, k)
				}
			}
		}
		lo, hi := 0.0, 0.0
		for _, k := range top {
			a, b := halfNormalBounds(k)
			lo, hi = lo+a, hi+b
		}
		g.nodeLo[n], g.nodeHi[n] = lo, hi
		insertDesc(g.keptVal, g.keptIdx, n, lo, int32(n))
	}
	if !g.keptCertain() {
		for n := range l.nodes {
			score := 0.0
			for _, k := range g.nodeTop[n*g.group : (n+1)*g.group] {
				score += halfNormal(k)
			}
			insertDesc(g.keptVal, g.keptIdx, n, score, int32(n))
		}
	}
	// The kept nodes' best group keys number group*M >= topk, so no key
	// below the least of them can be in the token's topk: skip those
	// without touching the list.
	floor := ^uint64(0)
	for _, n := range g.keptIdx {
		floor = min(floor, g.nodeTop[(int(n)+1)*g.group-1])
	}
	offered := 0
	for _, n := range g.keptIdx {
		base := int(n) * l.perNode
		for j, k := range g.keys[base : base+l.perNode] {
			if k >= floor {
				insertDesc(g.bestKey, g.bestIdx, offered, k, int32(base+j))
				offered++
			}
		}
	}
	copy(out, g.bestIdx)
}

// keptCertain reports whether the nodes kept by their scores' lower
// bounds are surely the best: each kept node's lower bound beats every
// other node's upper bound. Otherwise the caller ranks by exact scores.
func (g *nodeLimitedGen) keptCertain() bool {
	for _, n := range g.keptIdx {
		g.isKept[n] = true
	}
	least := g.keptVal[len(g.keptVal)-1]
	certain := true
	for n, hi := range g.nodeHi {
		if !g.isKept[n] && hi >= least {
			certain = false
		}
	}
	for _, n := range g.keptIdx {
		g.isKept[n] = false
	}
	return certain
}

// halfNormal maps a uniform key to |N(0,1)| by the inverse CDF, through the
// tail probability so that high keys, the ones that matter, keep their
// precision.
func halfNormal(k uint64) float64 {
	p := (float64(^k>>11) + 0.5) / (1 << 53)
	return math.Sqrt2 * math.Erfcinv(p)
}

// halfNormalTable brackets halfNormal over buckets of keys, so that nodes
// can be ranked without the inverse CDF, which costs as much as drawing all
// of a token's 256 keys. A key's bucket is the position of the leading one
// of its tail ^k (an octave of tail probability) and the next
// halfNormalBits bits; within a bucket halfNormal lies between its values
// at the bucket's ends, widened by halfNormalSlack against rounding.
// Keys in the last octaves (tail probability below 2^-40) get exact values.
var halfNormalTable halfNormalBoundsTable

type halfNormalBoundsTable struct {
	once   sync.Once
	lo, hi []float64
}

const (
	halfNormalBits    = 8
	halfNormalOctaves = 40
)

func (t *halfNormalBoundsTable) init() {
	n := halfNormalOctaves << halfNormalBits
	t.lo, t.hi = make([]float64, n), make([]float64, n)
	for z := range halfNormalOctaves {
		shift := 64 - 1 - halfNormalBits - z
		for j := range 1 << halfNormalBits {
			first := uint64(1<<halfNormalBits+j) << shift // smallest tail in the bucket
			last := first + (1<<shift - 1)                // largest
			i := z<<halfNormalBits | j
			t.hi[i] = halfNormal(^first) + halfNormalSlack
			t.lo[i] = halfNormal(^last) - halfNormalSlack
		}
	}
}

// halfNormalBounds returns lo <= halfNormal(k) <= hi.
func halfNormalBounds(k uint64) (lo, hi float64) {
	tail := ^k
	z := bits.LeadingZeros64(tail)
	if z >= halfNormalOctaves {
		h := halfNormal(k)
		return h, h
	}
	i := z<<halfNormalBits | int(tail<<z>>(64-1-halfNormalBits))&(1<<halfNormalBits-1)
	return halfNormalTable.lo[i], halfNormalTable.hi[i]
}
