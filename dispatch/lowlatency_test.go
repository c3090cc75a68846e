package dispatch

import (
	"testing"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// llSetup is 2 nodes × 8 GPUs, 64 tokens per GPU, top-8 of 256 experts
// anywhere: every GPU talks to GPUs of its node and of the other node.
func llSetup(t *testing.T) testSetup {
	t.Helper()
	return setup(t, "h800", 2, 64, 8, 2, 7)
}

// runLL runs the low-latency kernel in one direction on a fresh cluster.
func runLL(t *testing.T, s testSetup, cfg Config, dir llDirection, tr sim.Tracer) (*llKernel, *Result) {
	t.Helper()
	s.cl.Reset()
	f := fp8(t)
	if dir == llCombine {
		f, _ = FormatNamed("", "bf16")
	}
	k := newLowLatency(s.cl, s.lay, cfg, f, 7168, dir, Options{Verify: true, Tracer: tr})
	res, err := Execute(dir.String(), k)
	if err != nil {
		t.Fatal(err)
	}
	return k, res
}

// pairs counts the layout's (token, expert) pairs: all of them, those
// whose expert is on another node, and those on another GPU of the node.
func pairs(lay *Layout) (all, crossNode, sameNode int64) {
	for src := range lay.Ranks {
		for t := range lay.Tokens[src] {
			slots := lay.Slots(src, t)
			for i, d := range lay.Targets(src, t) {
				n := int64(slots[i])
				all += n
				switch {
				case int(d)/lay.GPUsPerNode != src/lay.GPUsPerNode:
					crossNode += n
				case int(d) != src:
					sameNode += n
				}
			}
		}
	}
	return all, crossNode, sameNode
}

// TestLowLatencyMessagesAndBytesExact: one message per (token, expert),
// never deduplicated, of DeepEP's size (dispatch: FP8 payload + scales +
// 16 B header = 7408 B; combine: the BF16 row, 14336 B); one signal per
// (expert, GPU) pair in each direction; and the links carry exactly
// those bytes: the NICs the cross-node messages and signals, NVLink the
// same-node messages (signals over NVLink are single stores).
func TestLowLatencyMessagesAndBytesExact(t *testing.T) {
	s := llSetup(t)
	all, cross, same := pairs(s.lay)
	if all != int64(8*64*16) {
		t.Fatalf("layout has %d (token, expert) pairs, want %d", all, 8*64*16)
	}
	ranks, experts := int64(s.lay.Ranks), int64(len(s.lay.ExpertTokens))
	// Signals between GPUs of different nodes: each GPU signals every
	// expert (dispatch) or every GPU once per local expert (combine).
	crossSignals := ranks * (experts / ranks) * (ranks / 2)
	for _, c := range []struct {
		dir  llDirection
		size int64
	}{{llDispatch, 7408}, {llCombine, 14336}} {
		_, res := runLL(t, s, llConfig(), c.dir, nil)
		if res.Messages != all || int64(res.RecordBytes) != c.size {
			t.Errorf("%s: %d messages of %d B, want %d of %d B", c.dir, res.Messages, res.RecordBytes, all, c.size)
		}
		if res.Signals != ranks*experts {
			t.Errorf("%s: %d signals, want one per (expert, GPU): %d", c.dir, res.Signals, ranks*experts)
		}
		if want := cross*c.size + crossSignals*llSignalBytes; res.IBBytes != want {
			t.Errorf("%s: NICs sent %d B, want %d cross-node messages and %d signals = %d B", c.dir, res.IBBytes, cross, crossSignals, want)
		}
		if want := same * c.size; res.NVLinkBytes != want {
			t.Errorf("%s: NVLink carried %d B, want %d same-node messages = %d B", c.dir, res.NVLinkBytes, same, want)
		}
		if want := float64(all*c.size) / float64(ranks); res.LogicalRDMABytes != want {
			t.Errorf("%s: DeepEP counts %.0f B per GPU, want every message: %.0f", c.dir, res.LogicalRDMABytes, want)
		}
	}
}

// TestLowLatencyOnlyCrossNodeTouchesNIC: with NVLink for same-node peers
// (DeepEP since PR #173) a NIC sends exactly its GPU's cross-node
// messages and signals; with kernel.ll_rdma_only every message to another
// GPU goes through the NICs and NVLink carries nothing.
func TestLowLatencyOnlyCrossNodeTouchesNIC(t *testing.T) {
	s := llSetup(t)
	gpn := s.lay.GPUsPerNode
	for _, rdma := range []bool{false, true} {
		cfg := llConfig()
		cfg.LLRDMAOnly = rdma
		k, _ := runLL(t, s, cfg, llDispatch, nil)
		for r := range s.lay.Ranks {
			var msgs, signals int64
			for to := range s.lay.Ranks {
				if to == r || (!rdma && to/gpn == r/gpn) {
					continue
				}
				msgs += int64(k.pairMsgs[r*k.ranks+to])
				signals += int64(k.local)
			}
			d := s.cl.Devices[r]
			if got := d.NICOut.Transfers(); got != msgs+signals {
				t.Errorf("rdma_only=%v: GPU %d's NIC sent %d messages, want %d messages + %d counts", rdma, r, got, msgs, signals)
			}
			if rdma && d.NVLinkOut.Bytes() != 0 {
				t.Errorf("rdma_only: GPU %d sent %d B over NVLink, want none", r, d.NVLinkOut.Bytes())
			}
		}
	}
}

// recorder keeps the kernel's trace records.
type recorder struct{ recs []sim.Record }

func (r *recorder) Trace(rec sim.Record) { r.recs = append(r.recs, rec) }

// TestLowLatencyReceiverWaitsForCounts: no dispatch receive group copies a
// source's tokens before that source's count has arrived, no GPU finishes
// before every source's count, a count never arrives before the data it
// follows, and combine reduces only once every expert's flag is in.
func TestLowLatencyReceiverWaitsForCounts(t *testing.T) {
	s := llSetup(t)
	for _, dir := range []llDirection{llDispatch, llCombine} {
		var tr recorder
		k, _ := runLL(t, s, llConfig(), dir, &tr)
		n := k.ranks
		var lastSignal []sim.Time
		for to := range n {
			var last sim.Time
			for from := range n {
				sig, data := k.signal[from*n+to], k.lastData[from*n+to]
				if sig < data {
					t.Fatalf("%s: the signal from %d reached %d at %v, before its data at %v", dir, from, to, sig, data)
				}
				last = max(last, sig)
			}
			lastSignal = append(lastSignal, last)
			if k.receivers[to].last < last {
				t.Errorf("%s: GPU %d finished at %v, before its last signal at %v", dir, to, k.receivers[to].last, last)
			}
		}
		copies := 0
		for _, rec := range tr.recs {
			switch rec.Event {
			case "ll recv":
				copies++
				if sig := k.signal[rec.Peer*n+rec.GPU]; rec.At < sig {
					t.Errorf("dispatch: GPU %d copied source %d's tokens at %v, before its count at %v", rec.GPU, rec.Peer, rec.At, sig)
				}
			case "ll reduce":
				copies++
				if rec.At < lastSignal[rec.GPU] {
					t.Errorf("combine: GPU %d reduced at %v, before its last flag at %v", rec.GPU, rec.At, lastSignal[rec.GPU])
				}
			}
		}
		if copies == 0 {
			t.Fatalf("%s: no receive work traced", dir)
		}
	}
}

// TestLowLatencyHookHoldsNoSM: with kernel.ll_hook the send phase ends,
// the transfer runs with no SM work anywhere, and the receive phase
// starts once everything has arrived; the receive phase alone is shorter
// than the unhooked kernel, which waits on the transfer.
func TestLowLatencyHookHoldsNoSM(t *testing.T) {
	s := llSetup(t)
	for _, dir := range []llDirection{llDispatch, llCombine} {
		cfg := llConfig()
		cfg.LLHook = true
		var tr recorder
		k, res := runLL(t, s, cfg, dir, &tr)
		var sendEnd sim.Time
		for _, t := range k.sendDone {
			sendEnd = max(sendEnd, t)
		}
		if k.hookAt <= sendEnd || res.WireTime != k.hookAt-sendEnd {
			t.Fatalf("%s: receive phase at %v, send phase ended at %v, wire %v: want a transfer between them", dir, k.hookAt, sendEnd, res.WireTime)
		}
		for _, rec := range tr.recs {
			if rec.Link != "sm" && rec.Event != "ll send" {
				continue
			}
			start, end := rec.At, rec.At+rec.Dur
			if end > k.sendDone[rec.GPU] && start < k.hookAt {
				t.Errorf("%s: GPU %d works on an SM (%s) from %v to %v, between its send phase's end %v and the receive phase at %v",
					dir, rec.GPU, rec.Event, start, end, k.sendDone[rec.GPU], k.hookAt)
			}
		}
		_, whole := runLL(t, s, llConfig(), dir, nil)
		if res.RecvTime >= whole.Time-s.cl.Config.KernelLaunch-res.SendTime {
			t.Errorf("%s: hooked receive phase %v, want shorter than the unhooked kernel's wait after its send phase (%v - %v)",
				dir, res.RecvTime, whole.Time-s.cl.Config.KernelLaunch, res.SendTime)
		}
	}
}

// TestLowLatencyCombineWorkOnTheRightGPUs: combine's sending work lands
// on the experts' GPUs and its reduction on the tokens' GPUs. A routing
// where every token of GPU 0 goes to experts on GPU 9 (another node) and
// nothing else moves: GPU 9's SMs do the sends, GPU 0's the reduction.
func TestLowLatencyCombineWorkOnTheRightGPUs(t *testing.T) {
	cfg, _ := topology.Preset("h800")
	cfg.Nodes = 2
	ranks := cfg.GPUs()
	rt := Routing{TopK: 2, Experts: make([][]int32, ranks)}
	for range 16 {
		rt.Experts[0] = append(rt.Experts[0], 9*16, 9*16+1) // GPU 9 holds experts 144..159
	}
	p, _ := ContiguousPlacement(256, ranks)
	lay, err := NewLayout(rt, p, 2, 8, 256)
	if err != nil {
		t.Fatal(err)
	}
	s := testSetup{cl: topology.Build(cfg), lay: lay}
	var tr recorder
	runLL(t, s, llConfig(), llCombine, &tr)
	sends, reduces := map[int]int{}, map[int]int{}
	for _, rec := range tr.recs {
		switch rec.Event {
		case "ll send":
			sends[rec.GPU]++
		case "ll reduce":
			reduces[rec.GPU]++
		}
	}
	if len(sends) != 1 || sends[9] != 32 {
		t.Errorf("combine sends by GPU %v, want all 32 rows from GPU 9", sends)
	}
	if len(reduces) != 1 || reduces[0] != 16 {
		t.Errorf("combine reductions by GPU %v, want GPU 0's 16 tokens", reduces)
	}
}
