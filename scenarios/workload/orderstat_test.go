package workload

import (
	"math"
	"testing"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/model"
	"github.com/moesim/moesim/sim"
	"pgregory.net/rapid"
)

// tokenStats are per-token facts of a routing, as sums and histograms so
// that two samples can be compared with their standard errors.
type tokenStats struct {
	n           float64
	nodes, gpus moments   // distinct target nodes and GPUs per token
	visitGPUs   moments   // distinct GPUs per (token, target node)
	firstTwo    moments   // 1 when the token's two best experts share a node
	nodeHist    []float64 // tokens by distinct target nodes
	visitHist   []float64 // node visits by experts on the node
	load        []float64 // tokens per expert
	overLimit   int
}

type moments struct{ n, sum, sumSq float64 }

func (m *moments) add(x float64) { m.n++; m.sum += x; m.sumSq += x * x }
func (m moments) mean() float64  { return m.sum / m.n }
func (m moments) variance() float64 {
	mu := m.mean()
	return m.sumSq/m.n - mu*mu
}

func collectTokenStats(rt dispatch.Routing, l routingLayout, gpusPerNode int) tokenStats {
	s := tokenStats{nodeHist: make([]float64, l.nodes+1), visitHist: make([]float64, rt.TopK+1), load: make([]float64, l.experts)}
	perNodeCount := make([]int, l.nodes)
	gpuSeen := make([]bool, l.nodes*gpusPerNode)
	for r := range rt.Experts {
		for tok := range rt.Tokens(r) {
			ids := rt.Token(r, tok)
			nn, ng := 0, 0
			for _, e := range ids {
				s.load[e]++
				node := l.nodeOf(int(e))
				if perNodeCount[node] == 0 {
					nn++
				}
				perNodeCount[node]++
				if gpu := int(e) / l.perRank; !gpuSeen[gpu] {
					gpuSeen[gpu] = true
					ng++
				}
			}
			for _, e := range ids {
				node := l.nodeOf(int(e))
				if c := perNodeCount[node]; c > 0 {
					s.visitHist[c]++
					g := 0
					for _, f := range ids {
						if gpu := int(f) / l.perRank; l.nodeOf(int(f)) == node && gpuSeen[gpu] {
							gpuSeen[gpu] = false
							g++
						}
					}
					s.visitGPUs.add(float64(g))
					perNodeCount[node] = 0
				}
			}
			s.n++
			s.nodes.add(float64(nn))
			s.gpus.add(float64(ng))
			s.nodeHist[nn]++
			if nn > l.maxNodes {
				s.overLimit++
			}
			if len(ids) >= 2 {
				same := 0.0
				if l.nodeOf(int(ids[0])) == l.nodeOf(int(ids[1])) {
					same = 1
				}
				s.firstTwo.add(same)
			}
		}
	}
	return s
}

// TestOrderStatRoutingDistribution pins the distribution, not the
// sample, of node-limited routing: the order-statistics generator and the
// key-per-expert generator (nodeLimitedGen, the definition) give the same
// mean target nodes and GPUs per token, GPUs per node visit, histograms
// of nodes per token and experts per node visit, the chance that a
// token's two best experts share a node (which checks the order of the
// slots), and a per-expert load spread of a uniform multinomial, within
// 5 standard errors, and neither breaks the node limit.
func TestOrderStatRoutingDistribution(t *testing.T) {
	cases := []struct {
		name              string
		nodes, gpus, topk int
		experts, maxNodes int
		tokens            int
	}{
		{"DeepSeek-V3 EP64", 8, 8, 8, 256, 4, 2048},
		{"EP512 (64 nodes, 512 experts)", 64, 8, 8, 512, 4, 256},
		{"EP2048-like (256 nodes, 1 expert per GPU)", 256, 8, 8, 2048, 4, 32},
		{"no limit", 2, 8, 8, 256, 4, 2048},
		{"one node per token", 4, 2, 3, 16, 1, 4096},
		{"top-3 per node", 6, 2, 8, 48, 3, 4096},
		{"topk fills the nodes", 4, 2, 8, 16, 2, 4096},
		{"max-score rule (group 1)", 5, 1, 3, 20, 3, 8192},
		{"two nodes of 32", 16, 4, 6, 512, 2, 1024},
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := model.Model{Experts: c.experts, TopK: c.topk, MaxNodesPerToken: c.maxNodes}
			l, err := newRoutingLayout(m, c.nodes, c.gpus)
			if err != nil {
				t.Fatal(err)
			}
			tokens := uniformTokens(l.ranks, c.tokens)
			oldRt := newNodeLimitedGen(l, c.topk).generate(tokens, newKeySource(11))
			newRt := newOrderStatGen(l, c.topk).generate(tokens, sim.Stream(12, "routing"), nil)
			a := collectTokenStats(oldRt, l, c.gpus)
			b := collectTokenStats(newRt, l, c.gpus)
			if a.overLimit+b.overLimit > 0 {
				t.Fatalf("tokens over the node limit: old %d, new %d", a.overLimit, b.overLimit)
			}
			same := func(what string, x, y moments) {
				t.Helper()
				se := math.Sqrt(x.variance()/x.n + y.variance()/y.n)
				if d := math.Abs(x.mean() - y.mean()); d > 5*se+1e-12 {
					t.Errorf("%s: old %.5f, new %.5f (%.1f standard errors)", what, x.mean(), y.mean(), d/se)
				}
			}
			same("nodes per token", a.nodes, b.nodes)
			same("GPUs per token", a.gpus, b.gpus)
			same("GPUs per node visit", a.visitGPUs, b.visitGPUs)
			same("two best on one node", a.firstTwo, b.firstTwo)
			hist := func(what string, x, y []float64, nx, ny float64) {
				t.Helper()
				for i := range x {
					px, py := x[i]/nx, y[i]/ny
					se := math.Sqrt(px*(1-px)/nx + py*(1-py)/ny)
					if d := math.Abs(px - py); d > 5*se+1e-12 {
						t.Errorf("%s = %d: old %.5f, new %.5f (%.1f standard errors)", what, i, px, py, d/se)
					}
				}
			}
			hist("nodes per token", a.nodeHist, b.nodeHist, a.n, b.n)
			hist("experts per node visit", a.visitHist, b.visitHist, a.visitGPUs.n, b.visitGPUs.n)
			// Every expert is equally likely (the scores are i.i.d.), so a
			// count is Binomial(tokens, topk/experts): variance over mean
			// 1-topk/experts, estimated with relative error sqrt(2/experts).
			for i, s := range []tokenStats{a, b} {
				name := []string{"old", "new"}[i]
				var mo moments
				for _, x := range s.load {
					mo.add(x)
				}
				want := 1 - float64(c.topk)/float64(c.experts)
				got := mo.variance() / mo.mean()
				if tol := 5 * math.Sqrt(2/float64(c.experts)) * want; math.Abs(got-want) > tol {
					t.Errorf("%s: per-expert load variance/mean %.4f, want %.4f ± %.4f", name, got, want, tol)
				}
			}
		})
	}
}

// BenchmarkNodeLimitedGenerators compares the key-per-expert generator
// with the order-statistics one on the same layouts: DeepSeek-V3 at EP64
// (4096 tokens per GPU) and EP2048 (256 nodes x 8, 2048 experts, 256
// tokens per GPU).
func BenchmarkNodeLimitedGenerators(b *testing.B) {
	cases := []struct {
		name                 string
		nodes, experts, toks int
	}{
		{"EP64", 8, 256, 4096},
		{"EP2048", 256, 2048, 256},
	}
	for _, c := range cases {
		m := model.Model{Experts: c.experts, TopK: 8, MaxNodesPerToken: 4}
		l, err := newRoutingLayout(m, c.nodes, 8)
		if err != nil {
			b.Fatal(err)
		}
		tokens := uniformTokens(l.ranks, c.toks)
		b.Run(c.name+"/keys", func(b *testing.B) {
			for b.Loop() {
				newNodeLimitedGen(l, 8).generate(tokens, newKeySource(1))
			}
		})
		b.Run(c.name+"/orderstat", func(b *testing.B) {
			for b.Loop() {
				newOrderStatGen(l, 8).generate(tokens, sim.Stream(1, "routing"), nil)
			}
		})
	}
}

// TestLogTailBounds: the L-indexed buckets bracket the score they stand
// for, at any log-survival L, including bucket edges, the ends of the
// table and L outside it, and are tight enough to prune (a bucket is
// 1/256 of a binade of L wide).
func TestLogTailBounds(t *testing.T) {
	logTailTable.once.Do(logTailTable.init)
	rapid.Check(t, func(t *rapid.T) {
		var L float64
		if rapid.Bool().Draw(t, "edge") {
			// A bucket's lower edge, or the float just below it.
			z := rapid.IntRange(-logTailLow-2, logTailHigh+1).Draw(t, "binade")
			j := rapid.IntRange(0, 1<<tailBits-1).Draw(t, "bucket")
			L = math.Ldexp(1+float64(j)/(1<<tailBits), z)
			if rapid.Bool().Draw(t, "below") {
				L = math.Nextafter(L, 0)
			}
		} else {
			L = math.Exp2(rapid.Float64Range(-logTailLow-4, logTailHigh+2).Draw(t, "log2 L"))
		}
		lo, hi := logTailBounds(L)
		score := halfNormalTail(-math.Expm1(-L))
		if !(lo <= score && score <= hi) {
			t.Fatalf("L = %v: score %v outside the bounds [%v, %v]", L, score, lo, hi)
		}
		if hi-lo > 0.05 {
			t.Fatalf("L = %v: bounds [%v, %v] too wide to prune", L, lo, hi)
		}
	})
}
