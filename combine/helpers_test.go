package combine

import (
	"math"
	"slices"
	"testing"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/internal/testroute"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// uniformRouting is DeepEP's benchmark routing (internal/testroute,
// shared by dispatch's and combine's tests).
func uniformRouting(seed uint64, nodes, gpn, tokens, experts, topk, maxNodes int) dispatch.Routing {
	k, ids := testroute.Uniform(seed, nodes, gpn, tokens, experts, topk, maxNodes)
	return dispatch.Routing{TopK: k, Experts: ids}
}

type testSetup struct {
	cl  *topology.Cluster
	lay *dispatch.Layout
}

func setup(t testing.TB, preset string, nodes, tokens, topk, maxNodes int, seed uint64) testSetup {
	t.Helper()
	cfg, err := topology.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes = nodes
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return setupRouting(t, preset, nodes, uniformRouting(seed, nodes, cfg.GPUsPerNode, tokens, 256, topk, maxNodes))
}

func format(t testing.TB, name string) dispatch.Format {
	f, err := dispatch.FormatNamed("model.combine_dtype", name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// handle is what a dispatch of the layout with cfg's channels returns.
func (s testSetup) handle(cfg dispatch.Config) *dispatch.Handle {
	return &dispatch.Handle{Layout: s.lay, Config: cfg}
}

// combine runs a combine of the setup's layout on a reset cluster.
func (s testSetup) combine(t testing.TB, cfg dispatch.Config, opt dispatch.Options) *dispatch.Result {
	t.Helper()
	s.cl.Reset()
	res, err := Run(s.cl, s.handle(cfg), cfg, format(t, "bf16"), 7168, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// deepepRouting is test_internode.py's routing: every expert scores
// |N(0,1)|+1, the token keeps the min(nodes, groups) nodes with the highest
// best score, then its topk best experts among theirs. It gives 3.98 nodes
// per token at EP64 (reference §2.1), the figure DeepEP's EP64 row has.
func deepepRouting(seed uint64, nodes, gpn, tokens, experts, topk, groups int) dispatch.Routing {
	rng := sim.Stream(seed, "test-deepep-routing")
	ranks := nodes * gpn
	perNode := experts / nodes
	keep := min(nodes, groups)
	rt := dispatch.Routing{TopK: topk, Experts: make([][]int32, ranks)}
	score := make([]float64, experts)
	best := make([]float64, nodes)
	var top [64]int32 // the token's best experts so far, best first
	for r := range ranks {
		ids := make([]int32, 0, tokens*topk)
		for range tokens {
			for e := range score {
				score[e] = math.Abs(rng.NormFloat64()) + 1
			}
			for n := range nodes {
				best[n] = slices.Max(score[n*perNode : (n+1)*perNode])
			}
			// A node is kept if fewer than keep nodes beat its best.
			k := 0
			for n := range nodes {
				beaten := 0
				for m := range nodes {
					if best[m] > best[n] || (best[m] == best[n] && m < n) {
						beaten++
					}
				}
				if beaten >= keep {
					continue
				}
				for e := n * perNode; e < (n+1)*perNode; e++ {
					if k == topk && score[e] <= score[top[k-1]] {
						continue
					}
					i := min(k, topk-1)
					for i > 0 && score[top[i-1]] < score[e] {
						top[i] = top[i-1]
						i--
					}
					top[i] = int32(e)
					k = min(k+1, topk)
				}
			}
			ids = append(ids, top[:topk]...)
		}
		rt.Experts[r] = ids
	}
	return rt
}

// setupRouting builds a cluster and layout for a given routing.
func setupRouting(t testing.TB, preset string, nodes int, rt dispatch.Routing) testSetup {
	t.Helper()
	cfg, err := topology.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes = nodes
	p, err := dispatch.ContiguousPlacement(256, cfg.GPUs())
	if err != nil {
		t.Fatal(err)
	}
	lay, err := dispatch.NewLayout(rt, p, nodes, cfg.GPUsPerNode, 256)
	if err != nil {
		t.Fatal(err)
	}
	return testSetup{cl: topology.Build(cfg), lay: lay}
}
