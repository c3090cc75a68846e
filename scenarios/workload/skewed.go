package workload

// Skewed routing: load imbalance on purpose.
//
// Expert popularity follows a Zipf-like law: the expert at popularity rank
// p (0 = most popular) has weight 1/(p+1)^s, with the popularity order a
// random permutation of the experts drawn from the "skew" stream, so which
// GPUs are hot depends on the seed, not on expert numbering.
//
// A token draws its experts one after another without replacement, each
// draw with probability proportional to weight among the experts still
// allowed. With a hot expert, the token first takes it with probability
// hot_expert_share, and the hot expert is left out of the Zipf draws, so
// exactly that share of tokens (in expectation) picks it.
//
// Node limit: once a token's picks span M nodes, only experts on those
// nodes stay allowed. The kept nodes are thus the first M nodes the draw
// reaches, the hot expert's node first: the nodes holding the earliest,
// most probable picks. This is DeepEP's max-score rule applied to the draw
// order (sequential weighted draws are ordered like Efraimidis-Spirakis
// keys). With zipf_s = 0 it is DeepEP's test routing in distribution, the
// reference table's EP64 row (TestNodeLimitedRoutingExpectations).

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/model"
	"github.com/moesim/moesim/sim"
)

// skewMaxTries bounds rejection sampling of one pick before falling back
// to an exact scan; rejections pile up only when the allowed experts carry
// little of the weight (large zipf_s, or a tight node limit).
const skewMaxTries = 32

func generateSkewed(w Workload, m model.Model, l routingLayout, seed uint64, rng *rand.Rand) (dispatch.Routing, error) {
	if err := checkTopK(m, l); err != nil {
		return dispatch.Routing{}, err
	}
	if !(w.ZipfS >= 0 && w.ZipfS <= MaxZipfS) {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.zipf_s = %g, want 0..%d (0 = uniform popularity)", w.ZipfS, MaxZipfS)
	}
	if !(w.HotExpertShare >= 0 && w.HotExpertShare <= 1) {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.hot_expert_share = %g, want 0..1 (the share of tokens that pick workload.hot_expert)", w.HotExpertShare)
	}
	if w.HotExpertShare > 0 && (w.HotExpert < 0 || w.HotExpert >= l.experts) {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.hot_expert = %d, want 0..%d (model.experts = %d)", w.HotExpert, l.experts-1, l.experts)
	}
	tokens := uniformTokens(l.ranks, w.TokensPerGPU)
	if f := w.HotRankFactor; f != 0 {
		if !(f > 0) || math.IsInf(f, 0) {
			return dispatch.Routing{}, fmt.Errorf("scenarios: workload.hot_rank_factor = %g, want a positive finite number (0 = off)", f)
		}
		if w.HotRank < 0 || w.HotRank >= l.ranks {
			return dispatch.Routing{}, fmt.Errorf("scenarios: workload.hot_rank = %d, want 0..%d (the cluster's GPUs)", w.HotRank, l.ranks-1)
		}
		n := math.Round(float64(w.TokensPerGPU) * f)
		if n < 1 || n > MaxTokensPerGPU {
			return dispatch.Routing{}, fmt.Errorf("scenarios: workload.hot_rank_factor = %g gives rank %d %.0f tokens (workload.tokens_per_gpu = %d), want 1..%d",
				f, w.HotRank, n, w.TokensPerGPU, MaxTokensPerGPU)
		}
		tokens[w.HotRank] = int(n)
	}
	if err := checkSlots(tokens, m.TopK); err != nil {
		return dispatch.Routing{}, err
	}

	g := &skewGen{
		l: l, topk: m.TopK, hot: -1, hotShare: w.HotExpertShare,
		popOrder:   make([]int32, l.experts),
		weight:     make([]float64, l.experts),
		expertMark: make([]uint32, l.experts),
		nodeMark:   make([]uint32, l.nodes),
	}
	for p, e := range sim.Stream(seed, "skew").Perm(l.experts) {
		g.popOrder[p] = int32(e)
		g.weight[e] = math.Pow(float64(p+1), -w.ZipfS)
	}
	if w.HotExpertShare > 0 {
		g.hot = int32(w.HotExpert)
		g.weight[g.hot] = 0
	}
	g.alias = newAliasTable(g.weight)

	rt := allocRouting(tokens, g.topk)
	for _, ids := range rt.Experts {
		for t := 0; t < len(ids)/g.topk; t++ {
			g.token(rng, ids[t*g.topk:(t+1)*g.topk])
		}
	}
	return rt, nil
}

type skewGen struct {
	l        routingLayout
	topk     int
	hot      int32 // -1 without a hot expert
	hotShare float64
	weight   []float64 // Zipf weight per expert, 0 for the hot expert
	popOrder []int32   // experts, most popular first
	alias    aliasTable

	// Per-token state, reset by bumping stamp rather than clearing.
	stamp      uint32
	expertMark []uint32 // == stamp: picked by this token
	nodeMark   []uint32 // == stamp: kept by this token
	kept       int
}

func (g *skewGen) token(rng *rand.Rand, out []int32) {
	g.stamp++
	g.kept = 0
	n := 0
	if g.hot >= 0 && rng.Float64() < g.hotShare {
		g.take(g.hot)
		out[n] = g.hot
		n++
	}
	for ; n < len(out); n++ {
		e := int32(-1)
		for range skewMaxTries {
			if c := g.alias.draw(rng); g.weight[c] > 0 && g.allowed(c) {
				e = c
				break
			}
		}
		if e < 0 {
			e = g.scan(rng)
		}
		g.take(e)
		out[n] = e
	}
}

func (g *skewGen) allowed(e int32) bool {
	return g.expertMark[e] != g.stamp && (g.kept < g.l.maxNodes || g.nodeMark[g.l.nodeOf(int(e))] == g.stamp)
}

func (g *skewGen) take(e int32) {
	g.expertMark[e] = g.stamp
	if node := g.l.nodeOf(int(e)); g.nodeMark[node] != g.stamp {
		g.nodeMark[node] = g.stamp
		g.kept++
	}
}

// scan draws exactly from the allowed experts' weights. If they all weigh
// nothing (the hot expert, or weights that underflowed), it takes the most
// popular allowed expert; checkTopK guarantees one exists.
func (g *skewGen) scan(rng *rand.Rand) int32 {
	sum := 0.0
	for e, w := range g.weight {
		if w > 0 && g.allowed(int32(e)) {
			sum += w
		}
	}
	if sum > 0 {
		u := rng.Float64() * sum
		last := int32(-1)
		for e, w := range g.weight {
			if w > 0 && g.allowed(int32(e)) {
				last = int32(e)
				if u -= w; u < 0 {
					return last
				}
			}
		}
		return last // u survived rounding: the last allowed expert
	}
	for _, e := range g.popOrder {
		if g.allowed(e) {
			return e
		}
	}
	panic("scenarios: skewed routing found no allowed expert; checkTopK should have refused this model")
}

// aliasTable draws index i with probability w[i]/sum(w) in O(1) (Vose's
// alias method), so a pick costs the same for 8 experts or 8192.
type aliasTable struct {
	prob  []float64
	alias []int32
}

func newAliasTable(w []float64) aliasTable {
	n := len(w)
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	a := aliasTable{prob: make([]float64, n), alias: make([]int32, n)}
	if sum == 0 {
		// Nothing to draw from: every draw is rejected by its caller.
		return a
	}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[s], a.alias[s] = scaled[s], l
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What remains is 1 up to rounding.
	for _, i := range large {
		a.prob[i], a.alias[i] = 1, i
	}
	for _, i := range small {
		if w[i] > 0 {
			a.prob[i], a.alias[i] = 1, i
		} else {
			a.prob[i], a.alias[i] = 0, i
		}
	}
	return a
}

func (a aliasTable) draw(rng *rand.Rand) int32 {
	i := rng.IntN(len(a.prob))
	if rng.Float64() < a.prob[i] {
		return int32(i)
	}
	return a.alias[i]
}
