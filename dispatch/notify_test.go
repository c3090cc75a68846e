package dispatch

import (
	"errors"
	"strings"
	"testing"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

func h800(t *testing.T, nodes int) topology.Config {
	t.Helper()
	c, err := topology.Preset("h800")
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes = nodes
	return c
}

// TestNotifyGrowsWithNodes: notify_dispatch's barriers and count exchange
// span every node, so it takes strictly longer with more nodes, and it is
// never shorter than its three sequential RDMA barriers' one-way trips
// (a dissemination barrier needs ceil(log2 n) of them) plus the count
// put's round trip.
func TestNotifyGrowsWithNodes(t *testing.T) {
	var last sim.Time
	for i, nodes := range []int{1, 2, 4, 8, 16, 20, 32} {
		c := h800(t, nodes)
		notify, cached := notifyTimes(topology.Build(c), 256)
		if i > 0 && notify <= last {
			t.Errorf("%d nodes: notify %v, not above %v at fewer nodes", nodes, notify, last)
		}
		last = notify
		rounds := 0
		for 1<<rounds < nodes {
			rounds++
		}
		floor := c.KernelLaunch + hostSync + sim.Time(3*rounds)*c.IBLatency
		if nodes > 1 {
			floor += 2 * c.IBLatency
		}
		if notify < floor {
			t.Errorf("%d nodes: notify %v below its barriers' trips %v", nodes, notify, floor)
		}
		if cached >= notify {
			t.Errorf("%d nodes: cached notify %v not below notify %v", nodes, cached, notify)
		}
	}
}

// TestNotifyReportedByDispatch: a dispatch run carries the notify of its
// cluster and the layout kernel's estimate, apart from the kernel time.
func TestNotifyReportedByDispatch(t *testing.T) {
	s := setup(t, "h800", 2, 64, 8, 4, 1)
	res, err := Run(s.cl, s.lay, DefaultConfig(16, 24), fp8(t), 7168, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := notifyTimes(s.cl, 256)
	if res.NotifyTime != want || res.LayoutTime <= s.cl.Config.KernelLaunch {
		t.Errorf("notify %v (want %v), layout %v", res.NotifyTime, want, res.LayoutTime)
	}
}

// TestLayoutGrowsWithTokens: get_dispatch_layout scans every token's top-k
// ids, so it takes longer with more tokens; at DeepEP's test shape (4096
// tokens, top-8, 256 experts, EP16 and EP32) it is within the 54-74 µs
// that test_internode prints (DeepEP issues #13, #137, #158, #261), give
// or take a quarter.
func TestLayoutGrowsWithTokens(t *testing.T) {
	var last sim.Time
	for i, tokens := range []int{128, 1024, 4096, 16384, 65536} {
		s := setup(t, "h800", 2, tokens, 8, 4, 1)
		lt := LayoutTime(s.cl.Config, s.lay)
		if i > 0 && lt <= last {
			t.Errorf("%d tokens: layout %v, not above %v with fewer", tokens, lt, last)
		}
		last = lt
	}
	for _, nodes := range []int{2, 4} {
		s := setup(t, "h800", nodes, 4096, 8, 4, 1)
		if lt := LayoutTime(s.cl.Config, s.lay).Microseconds(); lt < 0.75*54 || lt > 1.25*74 {
			t.Errorf("%d nodes, 4096 tokens: layout %.1f µs, DeepEP's tests print 54-74 µs", nodes, lt)
		}
	}
}

// TestRecordBytes checks the bytes per row against DeepEP's own sums.
func TestRecordBytes(t *testing.T) {
	bf16, err := FormatNamed("", "bf16")
	if err != nil {
		t.Fatal(err)
	}
	f8 := fp8(t)
	for _, c := range []struct {
		name      string
		got, want int
	}{
		// get_num_bytes_per_token: align16(7168 + 8 SourceMeta + 224
		// scales + 32 idx + 32 weights) (reference §3.2).
		{"internode dispatch FP8", f8.DispatchRecordBytes(7168, 8), 7472},
		{"internode dispatch BF16", bf16.DispatchRecordBytes(7168, 8), 14416},
		// combine: align16(14336 + 8 SourceMeta + 32 weights).
		{"internode combine BF16", bf16.CombineRecordBytes(7168, 8), 14384},
		// intranode dispatch: x + x_scales + int32 src_idx + int64
		// topk_idx + fp32 topk_weights, separate arrays, no alignment.
		{"intranode dispatch FP8", f8.IntranodeDispatchBytes(7168, 8), 7168 + 56*4 + 4 + 8*8 + 8*4},
		{"intranode dispatch BF16", bf16.IntranodeDispatchBytes(7168, 8), 14336 + 4 + 8*8 + 8*4},
		// intranode combine: x + int32 src_idx + fp32 topk_weights.
		{"intranode combine BF16", bf16.IntranodeCombineBytes(7168, 8), 14336 + 4 + 8*4},
		{"normal dispatch, one node", f8.NormalDispatchBytes(7168, 8, 1), 7492},
		{"normal combine, two nodes", bf16.NormalCombineBytes(7168, 8, 2), 14384},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d B, want %d", c.name, c.got, c.want)
		}
	}
}

func v1Shape(t *testing.T, nodes, gpn int) V1Shape {
	t.Helper()
	bf16, err := FormatNamed("", "bf16")
	if err != nil {
		t.Fatal(err)
	}
	ranks := nodes * gpn
	return V1Shape{Nodes: nodes, GPUsPerNode: gpn, Hidden: 7168, TopK: 8, Experts: 256,
		Dispatch: fp8(t), Combine: bf16,
		DispatchCfg: DefaultConfig(ranks, 24), CombineCfg: DefaultCombineConfig(ranks, 24)}
}

// TestV1LimitsAcceptDeepEPsOwnRuns: every rank count in DeepEP's config
// table, with its default chunk sizes and DeepSeek-V3's shape, is within
// the limits (DeepEP's tests run them).
func TestV1LimitsAcceptDeepEPsOwnRuns(t *testing.T) {
	for _, row := range dispatchDefaults {
		nodes, gpn := row.ranks/NumMaxNVLPeers, NumMaxNVLPeers
		if row.ranks <= NumMaxNVLPeers {
			nodes, gpn = 1, row.ranks
		}
		s := v1Shape(t, nodes, gpn)
		if row.ranks == 96 || row.ranks == 48 || row.ranks == 24 || row.ranks == 144 || row.ranks == 160 {
			s.Experts = 2 * row.ranks // 256 does not divide
		}
		if err := CheckV1Limits(s); err != nil {
			t.Errorf("EP%d: %v", row.ranks, err)
		}
	}
}

// TestV1LimitsName: each configuration beyond DeepEP V1 is refused with
// the field and DeepEP's constant.
func TestV1LimitsName(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(*V1Shape)
		field  string
		symbol string
	}{
		{"NVL72 domain", func(s *V1Shape) { s.Nodes, s.GPUsPerNode = 1, 72 }, "cluster.gpus_per_node", "NUM_MAX_NVL_PEERS"},
		{"4 GPUs per node across nodes", func(s *V1Shape) { s.GPUsPerNode = 4 }, "cluster.gpus_per_node", "NUM_MAX_NVL_PEERS"},
		{"6 GPUs in one node", func(s *V1Shape) { s.Nodes, s.GPUsPerNode = 1, 6 }, "cluster.gpus_per_node", "SWITCH_RANKS"},
		{"5 nodes", func(s *V1Shape) { s.Nodes = 5 }, "cluster.nodes", "SWITCH_RDMA_RANKS"},
		{"EP2048", func(s *V1Shape) { s.Nodes = 256; s.Experts = 2048 }, "cluster.nodes", "NUM_MAX_RDMA_PEERS"},
		{"rank count not in the config table", func(s *V1Shape) { s.Nodes = 5 }, "cluster.nodes", "get_dispatch_config"},
		{"top-36", func(s *V1Shape) { s.TopK = 36 }, "model.topk", "num_topk <= 32"},
		{"FP8 combine", func(s *V1Shape) { s.Combine = fp8(t) }, "model.combine_dtype", "CUDA_R_16BF"},
		{"hidden 8192 in BF16 across nodes", func(s *V1Shape) { s.Hidden = 8192; s.Dispatch = s.Combine }, "model.hidden", "kNumTMABytesPerWarp"},
		{"hidden 7176", func(s *V1Shape) { s.Hidden = 7176 }, "model.hidden", "sizeof(int4)"},
		{"2048 experts per GPU", func(s *V1Shape) { s.Experts = 2048 * 32 }, "model.experts", "NUM_MAX_LOCAL_EXPERTS"},
		{"256 experts per GPU in one node", func(s *V1Shape) { s.Nodes = 1; s.Experts = 2048 }, "model.experts", "kNumThreads (intranode notify_dispatch)"},
		{"combine ring not split evenly", func(s *V1Shape) { s.CombineCfg.NVLBuffer = 290 }, "kernel.combine.nvl_buffer", "internode combine host asserts"},
		{"combine RDMA chunk under the forwarder's warps", func(s *V1Shape) { s.CombineCfg.RDMAChunk = 4 }, "kernel.combine.rdma_chunk", "internode combine host asserts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := v1Shape(t, 4, 8)
			c.edit(&s)
			err := CheckV1Limits(s)
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LimitError", err)
			}
			found := false
			for _, l := range le.Limits {
				found = found || (l.Field == c.field && l.Name == c.symbol)
			}
			if !found || !strings.Contains(err.Error(), "kernel.extrapolate") {
				t.Errorf("limits %+v lack %s (%s), or the error does not say how to extrapolate: %v", le.Limits, c.field, c.symbol, err)
			}
		})
	}
}

// TestDefaultRow: a rank count DeepEP's table lacks is flagged, and takes
// the next listed row (or the largest).
func TestDefaultRow(t *testing.T) {
	for _, c := range []struct{ ranks, row int }{{8, 8}, {40, 48}, {72, 96}, {2048, 160}} {
		row, exact := DefaultRow(c.ranks)
		if row != c.row || exact != (c.ranks == c.row) {
			t.Errorf("DefaultRow(%d) = %d, %v; want %d", c.ranks, row, exact, c.row)
		}
	}
}
