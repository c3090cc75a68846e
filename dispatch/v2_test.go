package dispatch

import (
	"testing"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

func bf16(t testing.TB) Format {
	f, err := FormatNamed("model.combine_dtype", "bf16")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// runV2 runs a V2 dispatch and its combine on s, each on a fresh cluster.
func runV2(t *testing.T, s testSetup, cfg Config) (d, c *Result) {
	t.Helper()
	s.cl.Reset()
	d, err := Run(s.cl, s.lay, cfg, fp8(t), 7168, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	s.cl.Reset()
	c, err = V2Combine(s.cl, d.Handle, cfg, bf16(t), 7168, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

// remotePairs counts the layout's (token, GPU in another node) and
// (token, other node) pairs and its (token, other GPU of the node) pairs.
func remotePairs(lay *Layout) (rankPairs, nodePairs, nvlPairs int64) {
	for src := range lay.Ranks {
		own := src / lay.GPUsPerNode
		for n, c := range lay.NodeTokens[src] {
			if n != own {
				nodePairs += int64(c)
			}
		}
		for t := range lay.Tokens[src] {
			for _, r := range lay.Targets(src, t) {
				switch {
				case int(r)/lay.GPUsPerNode != own:
					rankPairs++
				case int(r) != src:
					nvlPairs++
				}
			}
		}
	}
	return
}

// TestV2Conservation runs both paths both ways with verification: every
// row lands once (Verified), and the bytes on the wires are the records
// each path sends: hybrid one record per (token, other node) over RDMA
// plus a signal per 6 and the finishes, direct one per (token, GPU in
// another node).
func TestV2Conservation(t *testing.T) {
	s := setup(t, "h800", 2, 512, 8, 2, 3)
	rank, node, _ := remotePairs(s.lay)
	rec := int64(V2DispatchBytes(fp8(t), 7168, 8))
	if rec != 7520 {
		t.Fatalf("dispatch record = %d B, want DeepEP V2's 7520", rec)
	}
	if c := V2CombineBytes(bf16(t), 7168, 8); c != 14400 {
		t.Fatalf("combine record = %d B, want DeepEP V2's 14400", c)
	}
	for _, path := range []V2Path{V2Hybrid, V2Direct} {
		cfg := Config{Mode: V2, NumSMs: 12, V2Path: path}
		d, c := runV2(t, s, cfg)
		if d.V2Path != path || c.V2Path != path {
			t.Errorf("%s: ran path %s / %s", path, d.V2Path, c.V2Path)
		}
		if path == V2Direct {
			if d.IBBytes != rank*rec {
				t.Errorf("direct dispatch IB bytes = %d, want %d records of %d B", d.IBBytes, rank, rec)
			}
			if want := rank * 14400; c.IBBytes != want {
				t.Errorf("direct combine IB bytes = %d, want %d", c.IBBytes, want)
			}
			continue
		}
		data := node * rec
		if d.IBBytes < data || d.IBBytes > data+data/v2ScaleoutInterval/100+int64(s.lay.Ranks*64*2*v2SignalBytes) {
			t.Errorf("hybrid dispatch IB bytes = %d, want the %d B of records plus a few signals", d.IBBytes, data)
		}
		if sums := node * 14400; c.IBBytes < sums || c.IBBytes > sums+int64(s.lay.Ranks*96*2*v2SignalBytes) {
			t.Errorf("hybrid combine IB bytes = %d, want %d B of sums plus finishes", c.IBBytes, sums)
		}
		if d.EpilogueTime <= 0 || c.EpilogueTime <= 0 {
			t.Errorf("hybrid epilogues %v, %v: want positive", d.EpilogueTime, c.EpilogueTime)
		}
	}
}

// TestV2HybridVersusDirect: under node-limited routing (tokens reach at
// most 2 of 4 nodes, several GPUs in each), hybrid sends a token once per
// node and forwards it over NVLink, so it moves fewer IB bytes than
// direct, which sends it once per GPU; direct moves fewer NVLink bytes.
func TestV2HybridVersusDirect(t *testing.T) {
	s := setup(t, "h800", 4, 256, 8, 2, 5)
	h, _ := runV2(t, s, Config{Mode: V2, NumSMs: 12, V2Path: V2Hybrid})
	d, _ := runV2(t, s, Config{Mode: V2, NumSMs: 12, V2Path: V2Direct})
	if h.IBBytes >= d.IBBytes {
		t.Errorf("IB bytes: hybrid %d, direct %d; want hybrid fewer", h.IBBytes, d.IBBytes)
	}
	if d.NVLinkBytes >= h.NVLinkBytes {
		t.Errorf("NVLink bytes: direct %d, hybrid %d; want direct fewer", d.NVLinkBytes, h.NVLinkBytes)
	}
}

// TestV2OneRowClosedForm: one token from GPU 0 to GPU 1 of one node is the
// prologue (grid sync, NVLink barrier), the warp's per-record time (its
// bulk load's latency), one NVLink transfer (latency + bytes / bandwidth)
// and the end barrier, after the launch.
func TestV2OneRowClosedForm(t *testing.T) {
	cfg, err := topology.Preset("h800")
	if err != nil {
		t.Fatal(err)
	}
	cfg.GPUsPerNode = 2
	cl := topology.Build(cfg)
	rt := Routing{TopK: 1, Experts: [][]int32{{1}, {}}}
	p, err := ContiguousPlacement(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	lay, err := NewLayout(rt, p, 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(cl, lay, Config{Mode: V2, NumSMs: 4, V2Path: V2Hybrid}, fp8(t), 7168, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.V2Path != V2Direct {
		t.Errorf("one node ran %s, want direct (DeepEP runs hybrid only across nodes)", res.V2Path)
	}
	lat := cfg.NVLinkLatency
	rec := int64(V2DispatchBytes(fp8(t), 7168, 1))
	bw := cfg.GPU.NVLinkBytesPerSec * cfg.NVLinkEfficiency
	want := cfg.KernelLaunch + (v2GridSync + lat) + cfg.GPU.BulkRecordOverhead + (lat + sim.TransferTime(rec, bw)) + (v2GridSync + lat)
	if res.Time != want {
		t.Errorf("time = %v, want launch + prologue + the warp's per-record time + one transfer + end barrier = %v", res.Time, want)
	}
}

// TestV2MoreSMsNeverSlower: the hybrid kernels' time does not grow with
// SMs beyond the link-bound knee (more channels only split the same
// links), and shrinks from a starved count.
func TestV2MoreSMsNeverSlower(t *testing.T) {
	s := setup(t, "h800", 2, 1024, 8, 2, 9)
	var prev sim.Time
	for i, sms := range []int{2, 6, 12, 24} {
		d, _ := runV2(t, s, Config{Mode: V2, NumSMs: sms, V2Path: V2Hybrid})
		if i > 0 && float64(d.Time) > 1.03*float64(prev) {
			t.Errorf("%d SMs: dispatch %v, slower than %v at fewer SMs", sms, d.Time, prev)
		}
		prev = d.Time
	}
}

// TestV2CombineNeedsItsDispatch: V2's combine reuses the dispatch's SMs
// and channels, as DeepEP's handle does, and replays a V2 dispatch only.
func TestV2CombineNeedsItsDispatch(t *testing.T) {
	s := setup(t, "h800", 2, 64, 8, 2, 1)
	d, _ := runV2(t, s, Config{Mode: V2, NumSMs: 12, V2Path: V2Hybrid})
	if _, err := V2Combine(s.cl, d.Handle, Config{Mode: V2, NumSMs: 14, V2Path: V2Hybrid}, bf16(t), 7168, Options{}); err == nil {
		t.Error("combine with other SMs than its dispatch ran, want an error")
	}
	h := &Handle{Layout: s.lay, Config: Config{Mode: Normal, NumSMs: 12}}
	if _, err := V2Combine(s.cl, h, Config{Mode: V2, NumSMs: 12, V2Path: V2Hybrid}, bf16(t), 7168, Options{}); err == nil {
		t.Error("V2 combine of a normal-mode handle ran, want an error")
	}
}
