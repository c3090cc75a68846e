package dispatch

import (
	"testing"

	"github.com/moesim/moesim/internal/testroute"
	"github.com/moesim/moesim/topology"
)

// uniformRouting is DeepEP's benchmark routing (internal/testroute,
// shared by dispatch's and combine's tests).
func uniformRouting(seed uint64, nodes, gpn, tokens, experts, topk, maxNodes int) Routing {
	k, ids := testroute.Uniform(seed, nodes, gpn, tokens, experts, topk, maxNodes)
	return Routing{TopK: k, Experts: ids}
}

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
