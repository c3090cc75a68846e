package workload

// Node-limited routing by order statistics: the same distribution as
// nodeLimitedGen's key per expert per token, drawn in O(top-k) work per
// kept node plus the few nodes that could be kept.
//
// A score is |N(0,1)|+1 of a uniform tail probability t (the inverse CDF,
// as halfNormal). The best scores of a node's m experts are its smallest
// tails, the lowest order statistics of m uniforms. They are drawn in
// order in log-survival form, L = -log(1-t): by Rényi's representation the
// smallest is Exp/m and each next one adds Exp/(m-i), where i were drawn
// before; which experts hold them is a uniform draw without replacement
// (a partial Fisher-Yates shuffle of the node's experts), independent of
// the values.
//
// Nodes that could be among the best M are found without visiting every
// node. A node's score (sum of its best g scores) is at most g times its
// best score, so a node whose best tail is above p scores at most
// g*h(p). Stage j picks the nodes whose best tail is below p_j, a
// Bernoulli(q_j) event per node (q_j = 1-(1-p_j)^m), by geometric skips
// over the node numbers, and draws each picked node's best tail
// conditioned on lying below p_j (and above p_{j-1}: it was not picked
// before), then its next g-1 tails unconditionally. If M picked nodes
// score above g*h(p_j), they are the best M of all; otherwise the next
// stage doubles the expected number of picked nodes, up to all of them.
// The kept nodes' experts are then merged by tail, drawing each node's
// next order statistic only when its previous one is taken.

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/moesim/moesim/dispatch"
)

// orderStatFirstPicks is the expected number of nodes picked by the first
// stage, per node kept.
const orderStatFirstPicks = 8

type orderStatStage struct {
	lim   float64 // log-survival of p_j: picked nodes have best L below it
	prev  float64 // that of p_{j-1}, 0 for the first stage
	r     float64 // chance a node not yet picked is picked now
	logNR float64 // log(1-r), for geometric skips
	bound float64 // most a node not picked by now can score
}

type orderStatGen struct {
	l     routingLayout
	topk  int
	group int
	m     float64 // experts per node

	stages []orderStatStage

	mark    []uint32 // == stamp: node picked by this token
	stamp   uint32
	picked  []int32   // picked nodes
	pickL   []float64 // their best group L, ascending, at [i*group:(i+1)*group]
	pickLo  []float64 // bounds on their scores
	pickHi  []float64
	exact   []float64 // exact scores, NaN until computed
	keptVal []float64 // best maxNodes picks by score (or lower bound), descending
	keptIdx []int32   // their indices in picked

	perm     []int32 // per node, a permutation of its experts' local ids
	mergeL   []float64
	used     []int
	drawn    []int
	lastL    []float64
	mergeN   []int32 // node per kept slot
	nodeSize int
}

func newOrderStatGen(l routingLayout, topk int) *orderStatGen {
	logTailTable.once.Do(logTailTable.init)
	g := &orderStatGen{l: l, topk: topk}
	g.group = max(1, (topk+l.maxNodes-1)/l.maxNodes)
	g.m = float64(l.perNode)
	g.mark = make([]uint32, l.nodes)
	g.perm = make([]int32, l.experts)
	for e := range g.perm {
		g.perm[e] = int32(e % l.perNode)
	}
	slots := l.maxNodes
	g.nodeSize = l.perNode
	if l.maxNodes == l.nodes {
		// No limit binds: one pool of all experts.
		slots, g.nodeSize = 1, l.experts
		for e := range g.perm {
			g.perm[e] = int32(e)
		}
	}
	g.mergeL = make([]float64, slots)
	g.used = make([]int, slots)
	g.drawn = make([]int, slots)
	g.lastL = make([]float64, slots)
	g.mergeN = make([]int32, slots)
	g.keptVal = make([]float64, l.maxNodes)
	g.keptIdx = make([]int32, l.maxNodes)
	prevL, prevQ := 0.0, 0.0
	for j := 0; ; j++ {
		q := min(1, float64(orderStatFirstPicks*l.maxNodes<<j)/float64(l.nodes))
		st := orderStatStage{prev: prevL, r: 1, lim: math.Inf(1)}
		if q < 1 {
			st.lim = -math.Log1p(-q) / g.m
			st.r = (q - prevQ) / (1 - prevQ)
			st.logNR = math.Log1p(-st.r)
			st.bound = float64(g.group) * tailHi(-math.Expm1(-st.lim))
		}
		g.stages = append(g.stages, st)
		if q == 1 {
			break
		}
		prevL, prevQ = st.lim, q
	}
	return g
}

// generate draws the routing of ranks with tokens[r] tokens each, handing
// each rank's to each (when not nil) once it is drawn.
func (g *orderStatGen) generate(tokens []int, rng *rand.Rand, each func(src int, ids []int32)) dispatch.Routing {
	rt := allocRouting(tokens, g.topk)
	for src, ids := range rt.Experts {
		for t := 0; t < len(ids)/g.topk; t++ {
			g.token(rng, ids[t*g.topk:(t+1)*g.topk])
		}
		if each != nil {
			each(src, ids)
		}
	}
	return rt
}

func (g *orderStatGen) token(rng *rand.Rand, out []int32) {
	l := g.l
	if l.maxNodes == l.nodes {
		g.mergeN[0] = 0
		g.startSlot(rng, 0, rng.ExpFloat64()/float64(g.nodeSize))
		g.merge(rng, out)
		return
	}
	g.stamp++
	g.picked, g.pickL = g.picked[:0], g.pickL[:0]
	g.pickLo, g.pickHi, g.exact = g.pickLo[:0], g.pickHi[:0], g.exact[:0]
	for si, st := range g.stages {
		last := si == len(g.stages)-1
		for n := -1; ; {
			if st.r < 1 {
				skip := math.Floor(math.Log(1-rng.Float64()) / st.logNR)
				if skip >= float64(l.nodes-1-n) {
					break
				}
				n += 1 + int(skip)
			} else if n++; n >= l.nodes {
				break
			}
			if g.mark[n] == g.stamp {
				continue // picked before: its best tail is below p_{j-1}
			}
			g.mark[n] = g.stamp
			g.pick(rng, n, st)
		}
		if len(g.picked) < l.maxNodes {
			continue
		}
		bound := st.bound
		if last {
			bound = math.Inf(-1)
		}
		for i, lo := range g.pickLo {
			insertDesc(g.keptVal, g.keptIdx, i, lo, int32(i))
		}
		if g.certain(bound) {
			break
		}
		least := g.keptVal[len(g.keptVal)-1]
		n := 0
		for i := range g.picked {
			if g.pickHi[i] < least {
				continue // M picks surely score more
			}
			if math.IsNaN(g.exact[i]) {
				s := 0.0
				for _, x := range g.pickL[i*g.group : (i+1)*g.group] {
					s += halfNormalTail(-math.Expm1(-x))
				}
				g.exact[i] = s
			}
			insertDesc(g.keptVal, g.keptIdx, n, g.exact[i], int32(i))
			n++
		}
		if g.keptVal[len(g.keptVal)-1] > bound {
			break
		}
	}
	for k, i := range g.keptIdx {
		g.mergeN[k] = g.picked[i]
		g.used[k], g.drawn[k] = 0, g.group
		g.lastL[k] = g.pickL[(int(i)+1)*g.group-1]
		g.mergeL[k] = g.pickL[int(i)*g.group]
	}
	g.merge(rng, out)
}

// pick draws node n's best group tails, its best one conditioned on lying
// between the stage's previous threshold and its own.
func (g *orderStatGen) pick(rng *rand.Rand, n int, st orderStatStage) {
	L := st.prev - math.Log1p(-rng.Float64()*st.r)/g.m
	lo, hi := 0.0, 0.0
	for i := range g.group {
		if i > 0 {
			L += rng.ExpFloat64() / (g.m - float64(i))
		}
		g.pickL = append(g.pickL, L)
		a, b := logTailBounds(L)
		lo, hi = lo+a, hi+b
	}
	g.picked = append(g.picked, int32(n))
	g.pickLo = append(g.pickLo, lo)
	g.pickHi = append(g.pickHi, hi)
	g.exact = append(g.exact, math.NaN())
}

// certain reports whether the picks kept by their lower bounds surely
// score best: above every other pick's upper bound and above bound.
func (g *orderStatGen) certain(bound float64) bool {
	least := g.keptVal[len(g.keptVal)-1]
	if !(least > bound) {
		return false
	}
	// The kept picks as a bit set when there are at most 64 picks (a
	// token of DeepSeek-V3's 8 nodes picks all 8), else looked up.
	var kept uint64
	small := len(g.pickHi) <= 64
	if small {
		for _, k := range g.keptIdx {
			kept |= 1 << uint(k)
		}
	}
	for i, hi := range g.pickHi {
		if hi < least {
			continue
		}
		if small {
			if kept&(1<<uint(i)) == 0 {
				return false
			}
		} else if !slices.Contains(g.keptIdx, int32(i)) {
			return false
		}
	}
	return true
}

func (g *orderStatGen) startSlot(_ *rand.Rand, k int, L float64) {
	g.used[k], g.drawn[k], g.lastL[k], g.mergeL[k] = 0, 1, L, L
}

// merge writes the topk smallest tails over the kept slots, smallest
// first, drawing each slot's next order statistic when its last is taken.
func (g *orderStatGen) merge(rng *rand.Rand, out []int32) {
	for o := range out {
		k := 0
		for i := 1; i < len(g.mergeL); i++ {
			if g.mergeL[i] < g.mergeL[k] {
				k = i
			}
		}
		base := int(g.mergeN[k]) * g.nodeSize
		c := g.used[k]
		j := c + rng.IntN(g.nodeSize-c)
		g.perm[base+c], g.perm[base+j] = g.perm[base+j], g.perm[base+c]
		out[o] = int32(base + int(g.perm[base+c]))
		g.used[k]++
		switch {
		case g.used[k] < g.drawn[k]:
			g.mergeL[k] = g.pickL[g.pickOffset(k)+g.used[k]]
		case g.drawn[k] == g.nodeSize:
			g.mergeL[k] = math.Inf(1)
		default:
			g.lastL[k] += rng.ExpFloat64() / float64(g.nodeSize-g.drawn[k])
			g.drawn[k]++
			g.mergeL[k] = g.lastL[k]
		}
	}
}

// pickOffset is where kept slot k's drawn tails start in pickL.
func (g *orderStatGen) pickOffset(k int) int { return int(g.keptIdx[k]) * g.group }

// halfNormalTail is |N(0,1)| at tail probability t (halfNormal without
// the key).
func halfNormalTail(t float64) float64 { return math.Sqrt2 * math.Erfcinv(t) }

// tailHi is an upper bound on halfNormalTail(t): its value at the lower
// end of t's bucket (the binade of t, 2^-40 up to 1, and the next tailBits
// bits of its mantissa), widened against rounding; t itself outside that
// range. A stage's bound is taken from it, and since the bound decides
// whether a token's draw goes on to the next stage, it must not change.
func tailHi(t float64) float64 {
	bits := math.Float64bits(t)
	z := -(int(bits>>52&0x7ff) - 1023) - 1 // t in [2^(-1-z), 2^-z)
	if z < 0 || z >= tailOctaves {
		return halfNormalTail(t)
	}
	j := int(bits>>(52-tailBits)) & (1<<tailBits - 1)
	return halfNormalTail(math.Ldexp(1+float64(j)/(1<<tailBits), -1-z)) + halfNormalSlack
}

// logTailTable brackets halfNormalTail(1-e^-L), a score as a function of
// its log-survival L, over buckets of L: the binade of L (2^-logTailLow up
// to 2^logTailHigh) and the next tailBits bits of its mantissa. A pick's
// bounds only prune which nodes need their exact score: any valid bounds
// give the same routing, and these save the exp of the t-indexed buckets
// they replace (a third of the draw).
var logTailTable tailBoundsTable

type tailBoundsTable struct {
	once   sync.Once
	lo, hi []float64
}

const (
	tailBits    = 8
	tailOctaves = 40
	// logTailLow and logTailHigh bound the binades of L the table holds.
	logTailLow  = 40
	logTailHigh = 8
)

func (t *tailBoundsTable) init() {
	n := (logTailLow + logTailHigh) << tailBits
	t.lo, t.hi = make([]float64, n), make([]float64, n)
	score := func(L float64) float64 { return halfNormalTail(-math.Expm1(-L)) }
	for z := range logTailLow + logTailHigh {
		for j := range 1 << tailBits {
			a := math.Ldexp(1+float64(j)/(1<<tailBits), z-logTailLow)
			b := math.Ldexp(1+float64(j+1)/(1<<tailBits), z-logTailLow)
			i := z<<tailBits | j
			// The score falls as L grows.
			t.hi[i] = score(a) + halfNormalSlack
			t.lo[i] = score(b) - halfNormalSlack
		}
	}
}

// logTailBounds returns lo <= halfNormalTail(-math.Expm1(-L)) <= hi.
func logTailBounds(L float64) (lo, hi float64) {
	bits := math.Float64bits(L)
	z := int(bits>>52&0x7ff) - 1023 + logTailLow // L in [2^(z-logTailLow), 2^(z-logTailLow+1))
	if z < 0 || z >= logTailLow+logTailHigh {
		h := halfNormalTail(-math.Expm1(-L))
		return h, h
	}
	i := z<<tailBits | int(bits>>(52-tailBits))&(1<<tailBits-1)
	return logTailTable.lo[i], logTailTable.hi[i]
}
