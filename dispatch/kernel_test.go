package dispatch

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

func TestConservationEveryPairArrivesOnce(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		nodes, tokens, maxNod int
		sms                   int
	}{
		{"EP8 intranode", 1, 1024, 8, 24},
		{"EP16", 2, 1024, 4, 24},
		{"EP32", 4, 512, 4, 20},
		{"EP32 two SMs", 4, 128, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := setup(t, "h800", tc.nodes, tc.tokens, 8, tc.maxNod, 7)
			res, err := Run(s.cl, s.lay, DefaultConfig(tc.nodes*8, tc.sms), fp8(t), 7168, Options{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			// Verify checked each pair; the totals must match too.
			if res.Routing.Pairs != sum(s.lay.RecvRows) || res.Routing.Pairs == 0 {
				t.Fatalf("pairs %d, layout rows %d", res.Routing.Pairs, sum(s.lay.RecvRows))
			}
		})
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// TestPhysicalBytes checks the data path: a token crosses IB once per
// remote target node and NVLink once per target GPU other than the
// forwarder (the GPU with the source's local index on that node).
func TestPhysicalBytes(t *testing.T) {
	s := setup(t, "h800", 4, 512, 8, 4, 3)
	res, err := Run(s.cl, s.lay, DefaultConfig(32, 20), fp8(t), 7168, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ib, nvl int64
	rec := int64(res.RecordBytes)
	for src := range s.lay.Ranks {
		for tok := range s.lay.Tokens[src] {
			for _, n := range s.lay.TargetNodes(nil, src, tok) {
				if n != src/8 {
					ib += rec
				}
			}
			for _, d := range s.lay.Targets(src, tok) {
				if int(d)%8 != src%8 {
					nvl += rec
				}
			}
		}
	}
	if res.IBBytes != ib || res.NVLinkBytes != nvl {
		t.Fatalf("IB bytes %d NVLink bytes %d, want %d and %d", res.IBBytes, res.NVLinkBytes, ib, nvl)
	}
	if rec != 7472 {
		t.Fatalf("FP8 record %d B, want DeepEP's 7472", rec)
	}
}

// TestNoFasterThanTheBusiestLink: the run can be no shorter than the
// busiest port's bytes over its bandwidth.
func TestNoFasterThanTheBusiestLink(t *testing.T) {
	s := setup(t, "h800", 2, 2048, 8, 4, 5)
	res, err := Run(s.cl, s.lay, DefaultConfig(16, 24), fp8(t), 7168, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var bound sim.Time
	for _, d := range s.cl.Devices {
		for _, p := range []*sim.Port{d.NVLinkOut, d.NVLinkIn, d.NICOut, d.NICIn} {
			bound = max(bound, sim.TransferTime(p.Bytes(), p.BytesPerSec))
		}
	}
	span := res.Time - s.cl.Config.KernelLaunch
	if span < bound {
		t.Fatalf("span %v shorter than the busiest port's %v", span, bound)
	}
	if span > bound*13/10 {
		t.Fatalf("span %v more than 30%% over the busiest port's %v: the pipeline stalls", span, bound)
	}
}

func TestMoreSMsNeverSlowerAndFewAreSMBound(t *testing.T) {
	s := setup(t, "h800", 4, 1024, 8, 4, 9)
	var prev sim.Time
	times := map[int]*Result{}
	for _, sms := range []int{2, 4, 8, 12, 20, 24, 32} {
		s.cl.Reset()
		res, err := Run(s.cl, s.lay, DefaultConfig(32, sms), fp8(t), 7168, Options{})
		if err != nil {
			t.Fatal(err)
		}
		times[sms] = res
		if prev != 0 && res.Time > prev+prev/50 {
			t.Errorf("%d SMs: %v, slower than fewer SMs' %v", sms, res.Time, prev)
		}
		prev = res.Time
	}
	if times[2].Bottleneck != "SM copy" {
		t.Errorf("2 SMs: bottleneck %q, want SM copy", times[2].Bottleneck)
	}
	if times[20].Bottleneck != "IB" {
		t.Errorf("20 SMs: bottleneck %q, want IB (DeepSeek-V3: 20 SMs saturate IB)", times[20].Bottleneck)
	}
	if r := float64(times[2].Time) / float64(times[24].Time); r < 3 {
		t.Errorf("2 SMs only %.1fx slower than 24", r)
	}
}

func TestDeterministic(t *testing.T) {
	a := setup(t, "h800", 2, 512, 8, 4, 11)
	b := setup(t, "h800", 2, 512, 8, 4, 11)
	ra, err := Run(a.cl, a.lay, DefaultConfig(16, 20), fp8(t), 7168, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Run(b.cl, b.lay, DefaultConfig(16, 20), fp8(t), 7168, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ra.Handle, rb.Handle = nil, nil
	if !reflect.DeepEqual(ra, rb) {
		t.Fatalf("two runs differ:\n%+v\n%+v", ra, rb)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base := DefaultConfig(32, 20)
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.NumSMs = 21 }, "kernel.num_sms = 21"},
		{func(c *Config) { c.NumSMs = 132 }, "kernel.num_sms = 132"},
		{func(c *Config) { c.RDMABuffer = 15; c.RDMAChunk = 8 }, "kernel.dispatch.rdma_buffer = 15"},
		{func(c *Config) { c.NVLBuffer = 8; c.NVLChunk = 8 }, "kernel.dispatch.nvl_buffer = 8"},
		{func(c *Config) { c.NVLChunk = 0 }, "kernel.dispatch.nvl_chunk = 0"},
		{func(c *Config) { c.Mode = "ll" }, `kernel.mode = "ll"`},
	} {
		c := base
		tc.mut(&c)
		err := c.Validate(132)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", c, err, tc.want)
		}
	}
}

// runStalled runs a dispatch kernel that must stall and returns it with
// its diagnosis, an ErrStall.
func runStalled(t *testing.T, s testSetup, cfg Config) (*kernel, error) {
	t.Helper()
	k := newKernel(s.cl, s.lay, cfg, fp8(t), 7168, Options{})
	if err := k.eng.Run(); err != nil {
		t.Fatal(err)
	}
	err := k.checkFinished()
	if !errors.Is(err, ErrStall) {
		t.Fatalf("err = %v, want ErrStall", err)
	}
	return k, err
}

// TestStallIsDiagnosed bypasses validation with an NVL ring smaller than a
// chunk: the forwarder waits forever for room, and the run must end with a
// diagnosis naming the channel, rank and ring, not hang.
func TestStallIsDiagnosed(t *testing.T) {
	s := setup(t, "h800", 2, 256, 8, 4, 1)
	cfg := DefaultConfig(16, 4)
	cfg.NVLChunk, cfg.NVLBuffer = 8, 4
	_, err := runStalled(t, s, cfg)
	for _, want := range []string{"channel", "rank", "NVL ring"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("diagnosis %q does not name the %s", err, want)
		}
	}
}

// TestAllToAllBaselineSendsMoreIB: without per-node deduplication a token
// crosses IB once per remote target GPU, not once per remote node.
func TestAllToAllBaselineSendsMoreIB(t *testing.T) {
	s := setup(t, "h800", 4, 512, 8, 4, 2)
	cfg := DefaultConfig(32, 20)
	normal, err := Run(s.cl, s.lay, cfg, fp8(t), 7168, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.cl.Reset()
	cfg.Mode = AllToAll
	a2a, err := Run(s.cl, s.lay, cfg, fp8(t), 7168, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	payload := int64(fp8(t).PayloadBytes(7168))
	for src := range s.lay.Ranks {
		for t := range s.lay.Tokens[src] {
			for _, dst := range s.lay.Targets(src, t) {
				if int(dst)/8 != src/8 {
					want += payload
				}
			}
		}
	}
	if a2a.IBBytes != want {
		t.Fatalf("alltoall IB bytes %d, want %d", a2a.IBBytes, want)
	}
	ratio := float64(a2a.IBBytes) / float64(normal.IBBytes)
	if ratio < 1.5 || a2a.Time <= normal.Time {
		t.Fatalf("alltoall moves %.2fx the IB bytes in %v vs normal %v; want more bytes and more time", ratio, a2a.Time, normal.Time)
	}
}

// TestLowLatencyClosedForm: with no latency, full-efficiency links and
// every message crossing the NIC, the low-latency kernel's time is the
// bytes one NIC sends over its bandwidth, as the ISCA'25 arithmetic has it.
func TestLowLatencyClosedForm(t *testing.T) {
	const ranks, tokens, topk, hidden = 16, 32, 9, 7000
	cfg, err := topology.Preset("h800")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Nodes, cfg.GPUsPerNode = ranks, 1
	cfg.IBLatency, cfg.NVLinkLatency, cfg.KernelLaunch = 0, 0, 0
	cfg.NICEfficiency = 1
	// Bytes over the link only: no per-warp, per-signal or per-message
	// costs.
	cfg.GPU.RecordOverhead, cfg.GPU.ChunkHandshake = 0, 0
	cfg.GPU.WarpCopyBytesPerSec, cfg.GPU.SMCopyBytesPerSec, cfg.GPU.SMReduceBytesPerSec = 1e18, 1e18, 1e18
	cfg.NICMessageRate = 1e18
	cl := topology.Build(cfg)
	// Token t of rank r picks the single expert of ranks r+1..r+9: never
	// its own rank, every NIC equally loaded.
	rt := Routing{TopK: topk, Experts: make([][]int32, ranks)}
	for r := range ranks {
		for range tokens {
			for j := 1; j <= topk; j++ {
				rt.Experts[r] = append(rt.Experts[r], int32((r+j)%ranks))
			}
		}
	}
	p, _ := ContiguousPlacement(ranks, ranks)
	lay, err := NewLayout(rt, p, ranks, 1, ranks)
	if err != nil {
		t.Fatal(err)
	}
	e4m3, _ := FormatNamed("", "e4m3")
	res, err := Run(cl, lay, llConfig(), e4m3, hidden, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Messages carry a 16 B header; the counts behind them add 4 B each.
	want := sim.TransferTime(tokens*topk*(hidden+16), 50e9) + cfg.LLKernelFixed
	if d := res.Time - want; d < 0 || d > 10*sim.Nanosecond {
		t.Fatalf("low-latency dispatch %v, want %v (+ staging)", res.Time, want)
	}
}

// TestAllToAllEvenIsAtTheBandwidthBound: on an even all-to-all the baseline
// lands within 2% of the busiest NIC's bytes over its bandwidth, plus
// latency, at 64 and 512 GPUs.
func TestAllToAllEvenIsAtTheBandwidthBound(t *testing.T) {
	for _, nodes := range []int{8, 64} {
		cfg, _ := topology.Preset("h800")
		cfg.Nodes = nodes
		cl := topology.Build(cfg)
		ranks := cfg.GPUs()
		tokens := 4 * ranks
		rt := Routing{TopK: 1, Experts: make([][]int32, ranks)}
		for r := range ranks {
			for tok := range tokens {
				rt.Experts[r] = append(rt.Experts[r], int32((r+tok)%ranks))
			}
		}
		p, _ := ContiguousPlacement(ranks, ranks)
		lay, err := NewLayout(rt, p, nodes, 8, ranks)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(cl, lay, Config{Mode: AllToAll, NumSMs: 20, NVLChunk: 1, NVLBuffer: 2, RDMAChunk: 1, RDMABuffer: 2}, fp8(t), 7168, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var bound sim.Time
		for _, d := range cl.Devices {
			for _, p := range []*sim.Port{d.NICOut, d.NICIn, d.NVLinkOut, d.NVLinkIn} {
				bound = max(bound, sim.TransferTime(p.Bytes(), p.BytesPerSec))
			}
		}
		bound += cfg.IBLatency
		span := res.Time - cfg.KernelLaunch
		if span < bound || float64(span) > 1.02*float64(bound) {
			t.Errorf("%d GPUs: all-to-all took %v, want within 2%% above the bound %v", ranks, span, bound)
		}
	}
}

// TestSmallestRingsDoNotStall: the tightest rings DeepEP allows (two RDMA
// chunks) must not deadlock. A forwarder warp that has forwarded all its
// records has to stop holding slots back, or the sender waits forever for
// credits behind it.
func TestSmallestRingsDoNotStall(t *testing.T) {
	s := setup(t, "h800", 4, 512, 8, 4, 5)
	for _, c := range [][2]int{{1, 2}, {2, 4}} {
		s.cl.Reset()
		cfg := DefaultConfig(32, 24)
		cfg.RDMAChunk, cfg.RDMABuffer = c[0], c[1]
		if _, err := Run(s.cl, s.lay, cfg, fp8(t), 7168, Options{Verify: true}); err != nil {
			t.Errorf("rdma chunk %d, buffer %d: %v", c[0], c[1], err)
		}
	}
}

// TestRDMAStallIsDiagnosed bypasses validation with an RDMA chunk larger
// than the ring: a sender blocks on the first ring it fills and, as the
// coordinator never posts a partial chunk before the slice is written,
// waits forever. The diagnosis must name the node by number, though a
// sender whose slice reaches few nodes counts only those (its targets).
func TestRDMAStallIsDiagnosed(t *testing.T) {
	const nodes = 16
	s := setup(t, "h800", nodes, 16, 8, 2, 5)
	cfg := DefaultConfig(nodes*8, 16)
	cfg.RDMAChunk, cfg.RDMABuffer = 2, 1
	k, err := runStalled(t, s, cfg)
	// The first sender, in rank and channel order, that fills a ring: a
	// token with a node already written to (one slot each) stops it.
	for _, snd := range k.senders {
		if len(snd.nodes) >= nodes {
			t.Fatalf("rank %d channel %d targets all %d nodes; the test wants few", snd.rank, snd.c, nodes)
		}
		written := map[int]bool{}
		for tok := snd.lo; tok < snd.hi; tok++ {
			for _, m := range s.lay.TargetNodes(nil, snd.rank, tok) {
				if written[m] {
					want := fmt.Sprintf("channel %d rank %d: RDMA sender waits for room in its ring to node %d (1 of 1 slots held",
						snd.c, snd.rank, m)
					if !strings.Contains(err.Error(), want) {
						t.Fatalf("diagnosis %q, want it to say %q", err, want)
					}
					return
				}
			}
			for _, m := range s.lay.TargetNodes(nil, snd.rank, tok) {
				written[m] = true
			}
		}
	}
	t.Fatal("no sender fills a ring")
}

// TestStateOnlyWhereRecordsMove: in internode mode a forwarder holds a
// queue exactly for each source node that sends its channel records, in
// ascending source, and an RDMA sender counts exactly the nodes its slice
// sends to: the state grows with the records that move, not with ranks
// times nodes.
func TestStateOnlyWhereRecordsMove(t *testing.T) {
	const nodes = 16
	s := setup(t, "h800", nodes, 16, 8, 2, 3)
	cfg := DefaultConfig(nodes*8, 16)
	k := newKernel(s.cl, s.lay, cfg, fp8(t), 7168, Options{})
	gpn := k.gpn
	// want[forwarder] is the set of source ranks with records for it;
	// targets[sender] the nodes its slice sends to.
	want := make([]map[int]bool, len(k.forwards))
	for i := range want {
		want[i] = map[int]bool{}
	}
	queues, dense := 0, 0
	for src := range s.lay.Ranks {
		for c := range k.ch {
			lo, hi := ChannelSlice(s.lay.Tokens[src], k.ch, c)
			targets := map[int]bool{}
			for tok := lo; tok < hi; tok++ {
				for _, m := range s.lay.TargetNodes(nil, src, tok) {
					targets[m] = true
					want[(m*gpn+src%gpn)*k.ch+c][src] = true
				}
			}
			snd := k.sender(src, c)
			if len(snd.nodes) != len(targets) || len(snd.per) != len(targets) {
				t.Fatalf("rank %d channel %d: %d targets (%d counts), want %d", src, c, len(snd.nodes), len(snd.per), len(targets))
			}
			for j, m := range snd.nodes {
				if !targets[int(m)] || (j > 0 && snd.nodes[j-1] >= m) {
					t.Fatalf("rank %d channel %d: targets %v are not its slice's nodes in ascending order", src, c, snd.nodes)
				}
			}
		}
	}
	for i, fw := range k.forwards {
		dense += nodes
		queues += len(fw.queues)
		if len(fw.queues) != len(want[i]) {
			t.Fatalf("rank %d channel %d: %d queues, want %d", fw.rank, fw.c, len(fw.queues), len(want[i]))
		}
		for qi, q := range fw.queues {
			if !want[i][int(q.srcRank)] || q.n == 0 || (qi > 0 && fw.queues[qi-1].srcRank >= q.srcRank) {
				t.Fatalf("rank %d channel %d: queue %d (source %d, %d records) is not a live source in order", fw.rank, fw.c, qi, q.srcRank, q.n)
			}
		}
		if len(fw.pos) != 2*len(fw.queues)*gpn {
			t.Fatalf("rank %d channel %d: %d positions for %d queues", fw.rank, fw.c, len(fw.pos), len(fw.queues))
		}
	}
	if queues*2 > dense {
		t.Errorf("%d queues of %d (source node, forwarder) pairs: the setup should leave most empty", queues, dense)
	}
	if err := k.eng.Run(); err != nil {
		t.Fatal(err)
	}
	if err := k.checkFinished(); err != nil {
		t.Fatal(err)
	}
}
