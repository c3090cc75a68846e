package dispatch

import (
	"math/rand/v2"
	"testing"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// uniformRouting is DeepEP's benchmark routing: each token keeps
// min(nodes, maxNodes) nodes chosen uniformly and picks topk distinct
// experts uniformly among theirs (contiguous placement).
func uniformRouting(seed uint64, nodes, gpn, tokens, experts, topk, maxNodes int) Routing {
	rng := sim.Stream(seed, "test-routing")
	ranks := nodes * gpn
	perNode := experts / nodes
	keep := min(nodes, maxNodes)
	rt := Routing{TopK: topk, Experts: make([][]int32, ranks)}
	pool := make([]int32, 0, keep*perNode)
	for r := range ranks {
		ids := make([]int32, 0, tokens*topk)
		for range tokens {
			pool = pool[:0]
			for _, n := range rng.Perm(nodes)[:keep] {
				for e := range perNode {
					pool = append(pool, int32(n*perNode+e))
				}
			}
			for i := range topk {
				j := i + rng.IntN(len(pool)-i)
				pool[i], pool[j] = pool[j], pool[i]
				ids = append(ids, pool[i])
			}
		}
		rt.Experts[r] = ids
	}
	return rt
}

var _ = rand.New

type testSetup struct {
	cl  *topology.Cluster
	lay *Layout
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
	rt := uniformRouting(seed, nodes, cfg.GPUsPerNode, tokens, 256, topk, maxNodes)
	p, err := ContiguousPlacement(256, cfg.GPUs())
	if err != nil {
		t.Fatal(err)
	}
	lay, err := NewLayout(rt, p, nodes, cfg.GPUsPerNode, 256)
	if err != nil {
		t.Fatal(err)
	}
	return testSetup{cl: topology.Build(cfg), lay: lay}
}

func fp8(t testing.TB) Format {
	f, err := FormatNamed("model.dispatch_dtype", "fp8")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// llConfig is a low-latency kernel config: the chunk and ring sizes are
// not used.
func llConfig() Config {
	return Config{Mode: LowLatency, NumSMs: 20, NVLChunk: 1, NVLBuffer: 2, RDMAChunk: 1, RDMABuffer: 2}
}
