package combine

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/sim"
)

// TestConservation runs combines with Verify on: every (token, target
// GPU) row is summed exactly once, at the forwarder of its node across
// nodes, each source sums one row per target node, and every ring drains.
func TestConservation(t *testing.T) {
	cases := []struct {
		name          string
		nodes, tokens int
		short         bool
	}{
		{"EP8", 1, 512, true},
		{"EP16", 2, 512, true},
		{"EP32", 4, 512, true},
		{"EP16-full", 2, 4096, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.short && testing.Short() {
				t.Skip("full-size run")
			}
			s := setup(t, "h800", c.nodes, c.tokens, 8, 4, 7)
			cfg := dispatch.DefaultCombineConfig(c.nodes*8, 24)
			res := s.combine(t, cfg, dispatch.Options{Verify: true})
			if res.Mode != dispatch.Normal || res.Time <= 0 {
				t.Fatalf("mode %q time %v", res.Mode, res.Time)
			}
			for r, f := range res.RankFinish {
				if f <= 0 || f > res.Time {
					t.Errorf("rank %d finished at %v, kernel time %v", r, f, res.Time)
				}
			}
			want := format(t, "bf16").NormalCombineBytes(7168, 8, c.nodes)
			if res.RecordBytes != want {
				t.Errorf("record bytes %d, want %d", res.RecordBytes, want)
			}
		})
	}
}

// TestPhysicalBytes checks the combine's traffic against the layout: a
// token crosses IB once per target node other than its own, and a row
// crosses NVLink unless it is already on its forwarder (the source itself
// within a node).
func TestPhysicalBytes(t *testing.T) {
	for _, nodes := range []int{1, 2, 4} {
		s := setup(t, "h800", nodes, 512, 8, 4, 3)
		res := s.combine(t, dispatch.DefaultCombineConfig(nodes*8, 24), dispatch.Options{})
		lay, g := s.lay, s.lay.GPUsPerNode
		rec := int64(res.RecordBytes)
		var ib, nvl int64
		var buf []int
		for src := range lay.Ranks {
			for tok := range lay.Tokens[src] {
				for _, m := range lay.TargetNodes(buf[:0], src, tok) {
					if m != src/g {
						ib += rec
					}
				}
				for _, d := range lay.Targets(src, tok) {
					fwd := int(d)/g*g + src%g
					if fwd != int(d) {
						nvl += rec
					}
				}
			}
		}
		if res.IBBytes != ib || res.NVLinkBytes != nvl {
			t.Errorf("EP%d: IB %d B, NVLink %d B; want %d and %d", nodes*8, res.IBBytes, res.NVLinkBytes, ib, nvl)
		}
		if nodes == 1 && ib != 0 {
			t.Errorf("EP8 expects no IB traffic, computed %d", ib)
		}
	}
}

// TestDeterministic runs the same combine twice on fresh clusters.
func TestDeterministic(t *testing.T) {
	a := setup(t, "h800", 2, 1024, 8, 4, 5)
	b := setup(t, "h800", 2, 1024, 8, 4, 5)
	cfg := dispatch.DefaultCombineConfig(16, 24)
	ra, rb := a.combine(t, cfg, dispatch.Options{}), b.combine(t, cfg, dispatch.Options{})
	ra.Handle, rb.Handle = nil, nil // different layouts, equal contents
	if !reflect.DeepEqual(ra, rb) {
		t.Fatalf("two runs differ:\n%+v\n%+v", ra, rb)
	}
}

// TestStallIsDiagnosed: an NVL ring split into partitions smaller than a
// chunk can never take a chunk. CheckConfig rejects it up front, as
// DeepEP's host asserts do; run anyway, it must end with ErrStall naming
// the ring, not hang.
func TestStallIsDiagnosed(t *testing.T) {
	s := setup(t, "h800", 4, 256, 8, 4, 1)
	// 8 slots over 4 source nodes: 2 per partition, chunk 4.
	cfg := dispatch.Config{Mode: dispatch.Normal, NumSMs: 8, NVLChunk: 4, NVLBuffer: 8, RDMAChunk: 8, RDMABuffer: 128}
	_, err := Run(s.cl, s.handle(cfg), cfg, format(t, "bf16"), 7168, dispatch.Options{})
	if err == nil || errors.Is(err, dispatch.ErrStall) || !strings.Contains(err.Error(), "kernel.combine.nvl_buffer = 8") {
		t.Fatalf("Run = %v, want the config rejected naming kernel.combine.nvl_buffer", err)
	}
	k := newKernel(s.cl, s.lay, cfg, format(t, "bf16"), 7168, dispatch.Options{})
	_, err = dispatch.Execute("combine", k)
	if !errors.Is(err, dispatch.ErrStall) {
		t.Fatalf("err = %v, want ErrStall", err)
	}
	for _, want := range []string{"channel ", "rank ", "NVL ring partition", "nvl_buffer/nodes = 2 slots", "want nvl_buffer >= 20"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("diagnosis %q lacks %q", err, want)
		}
	}
}

// TestVerifyCatchesMisorderedRows corrupts the kernel's bookkeeping and
// expects the verifier, not a silent result.
func TestVerifyCatchesMisorderedRows(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		s := setup(t, "h800", nodes, 256, 8, 4, 2)
		cfg := dispatch.DefaultCombineConfig(nodes*8, 24)
		k := newKernel(s.cl, s.lay, cfg, format(t, "bf16"), 7168, dispatch.Options{Verify: true})
		// Swap the labels of two tokens: the rows still flow as before,
		// but the kernel now sums them under the wrong token.
		q := &k.recv(0, 0).q
		if nodes > 1 {
			q = &k.fwd(0, 0).groups[0].q
		}
		if q.len() < 2 {
			t.Fatal("queue too short")
		}
		tok := k.tok[q.tok:]
		tok[0], tok[1] = tok[1], tok[0]
		_, err := dispatch.Execute("combine", k)
		if err == nil || !strings.Contains(err.Error(), "verify") {
			t.Fatalf("EP%d: err = %v, want a verify error", nodes*8, err)
		}
		t.Logf("EP%d: %v", nodes*8, err)
	}
}

func TestRunRejects(t *testing.T) {
	s := setup(t, "h800", 2, 64, 8, 4, 1)
	cfg := dispatch.DefaultCombineConfig(16, 24)
	bf16 := format(t, "bf16")
	other := cfg
	other.NumSMs = 20
	bad := cfg
	bad.RDMABuffer = cfg.RDMAChunk
	small := setup(t, "h800", 1, 64, 8, 4, 1)
	cases := []struct {
		name string
		h    *dispatch.Handle
		cfg  dispatch.Config
		want string
	}{
		{"no handle", nil, cfg, "no dispatch handle"},
		{"other channels", s.handle(other), cfg, "kernel.num_sms = 24, but the dispatch handle was made with 20"},
		{"invalid config", s.handle(bad), bad, "kernel.combine.rdma_buffer"},
		{"other cluster", small.handle(cfg), cfg, "cluster has 16 of 8"},
	}
	for _, c := range cases {
		_, err := Run(s.cl, c.h, c.cfg, bf16, 7168, dispatch.Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

// TestAllToAllBaseline: the reverse all-to-allv sends one row per (token,
// remote target GPU) over IB, more than normal mode's one per remote node,
// and so takes longer across nodes.
func TestAllToAllBaseline(t *testing.T) {
	s := setup(t, "h800", 4, 1024, 8, 4, 4)
	cfg := dispatch.DefaultCombineConfig(32, 24)
	normal := s.combine(t, cfg, dispatch.Options{})
	cfg.Mode = dispatch.AllToAll
	base := s.combine(t, cfg, dispatch.Options{})
	if base.Mode != dispatch.AllToAll {
		t.Fatalf("mode %q", base.Mode)
	}
	lay, g := s.lay, s.lay.GPUsPerNode
	payload := int64(format(t, "bf16").PayloadBytes(7168))
	var ib int64
	for src := range lay.Ranks {
		for tok := range lay.Tokens[src] {
			for _, d := range lay.Targets(src, tok) {
				if int(d)/g != src/g {
					ib += payload
				}
			}
		}
	}
	if base.IBBytes != ib {
		t.Errorf("baseline IB bytes %d, want %d", base.IBBytes, ib)
	}
	if base.Time <= normal.Time {
		t.Errorf("baseline %v is not slower than normal mode %v", base.Time, normal.Time)
	}
}

type recordTracer struct{ recs []sim.Record }

func (r *recordTracer) Trace(rec sim.Record) { r.recs = append(r.recs, rec) }

// TestTraceAccountsForIB: the trace's IB puts add up to the NICs' bytes.
func TestTraceAccountsForIB(t *testing.T) {
	s := setup(t, "h800", 2, 256, 8, 4, 6)
	tr := &recordTracer{}
	res := s.combine(t, dispatch.DefaultCombineConfig(16, 24), dispatch.Options{Tracer: tr})
	var ib int64
	seen := map[string]bool{}
	for _, r := range tr.recs {
		seen[r.Event] = true
		if r.Event == "rdma_put" && r.Link == "ib" {
			ib += r.Bytes
		}
	}
	if ib != res.IBBytes {
		t.Errorf("traced IB bytes %d, NIC counters %d", ib, res.IBBytes)
	}
	for _, ev := range []string{"nvl_send", "fwd_reduce", "rdma_put", "recv_reduce"} {
		if !seen[ev] {
			t.Errorf("no %q record", ev)
		}
	}
}

// TestMaskedSlotsAndIdleRanks: tokens whose slots are all -1 have nothing
// to sum, partly masked tokens sum what they have, and a rank with no
// tokens only serves others; all still conserve.
func TestMaskedSlotsAndIdleRanks(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		rt := uniformRouting(9, nodes, 8, 256, 256, 8, 4)
		for r := range rt.Experts {
			for i := range rt.Experts[r] {
				if tok := i / rt.TopK; tok%7 == 0 || (tok%5 == 0 && i%rt.TopK < 5) {
					rt.Experts[r][i] = -1
				}
			}
		}
		rt.Experts[3] = nil // rank 3 sends nothing
		s := setupRouting(t, "h800", nodes, rt)
		res := s.combine(t, dispatch.DefaultCombineConfig(nodes*8, 24), dispatch.Options{Verify: true})
		if res.RankFinish[3] != 0 {
			t.Errorf("EP%d: idle rank 3 finished at %v, want 0", nodes*8, res.RankFinish[3])
		}
	}
}

// TestForwarderMasksMatchLists runs internode combines with the forwarder
// groups' per-token streams as bit masks (nodes of at most 8 GPUs) and as
// lists, verified, and expects the same run both ways.
func TestForwarderMasksMatchLists(t *testing.T) {
	for _, nodes := range []int{2, 4} {
		s := setup(t, "h800", nodes, 512, 8, 4, 3)
		cfg := dispatch.DefaultCombineConfig(nodes*8, 24)
		masks := s.combine(t, cfg, dispatch.Options{Verify: true})
		needLists = true
		lists := s.combine(t, cfg, dispatch.Options{Verify: true})
		needLists = false
		if masks.Time != lists.Time || masks.Events != lists.Events || !slices.Equal(masks.RankFinish, lists.RankFinish) {
			t.Errorf("EP%d: masks give %v in %d events, lists %v in %d events", nodes*8, masks.Time, masks.Events, lists.Time, lists.Events)
		}
		if masks.Events == 0 {
			t.Errorf("EP%d: no events", nodes*8)
		}
	}
}

// TestForwarderGroupIsOneCacheLine holds the forwarder group's size: a run
// touches its groups in no order a cache follows, and a group that spills
// onto a second line costs a second miss.
func TestForwarderGroupIsOneCacheLine(t *testing.T) {
	if n := unsafe.Sizeof(fwdGroup{}); n != 64 {
		t.Errorf("fwdGroup is %d bytes, want 64", n)
	}
}
