package dispatch

import (
	"testing"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// runIntranode runs one intranode dispatch of 8 GPUs with the hardware
// changed by mut and the config changed by cfgMut.
func runIntranode(t *testing.T, f Format, mut func(*topology.Config), cfgMut func(*Config)) *Result {
	t.Helper()
	s := setup(t, "h800", 1, 2048, 8, 1, 3)
	c := s.cl.Config
	if mut != nil {
		mut(&c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(8, 24)
	if cfgMut != nil {
		cfgMut(&cfg)
	}
	res, err := Run(topology.Build(c), s.lay, cfg, f, 7168, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A role with a few warps per peer is held to their per-warp rate: with
// the SMs and links made fast and the per-record and per-chunk costs
// zero, one channel's sender warps for a peer (3 in DeepEP's intranode
// kernel on 8 GPUs) move its bytes at 3 × the warp's rate, no faster, and
// twice the warp rate halves the time.
func TestOneWarpPerPeerIsHeldToThePerWarpRate(t *testing.T) {
	f := fp8(t)
	fast := func(warpGBps float64) func(*topology.Config) {
		return func(c *topology.Config) {
			c.GPU.SMCopyBytesPerSec = 5000 * topology.GBps
			c.GPU.NVLinkBytesPerSec = 5000 * topology.GBps
			c.NVLinkEfficiency = 1
			c.GPU.WarpCopyBytesPerSec = warpGBps * topology.GBps
			c.GPU.RecordOverhead, c.GPU.ChunkHandshake = 0, 0
		}
	}
	oneChannel := func(c *Config) { c.NumSMs = 2 }
	slow := runIntranode(t, f, fast(2), oneChannel)
	// The busiest (source, peer) pair's bytes at 2 GB/s bound the time.
	s := setup(t, "h800", 1, 2048, 8, 1, 3)
	rec := int64(f.DispatchRecordBytes(7168, 8))
	var most int64
	for src := range 8 {
		perPeer := make([]int64, 8)
		for tok := range s.lay.Tokens[src] {
			for _, g := range s.lay.Targets(src, tok) {
				perPeer[g] += rec
			}
		}
		for _, b := range perPeer {
			most = max(most, b)
		}
	}
	warps := IntranodeWarpsPerPeer(8)
	if warps != 3 {
		t.Fatalf("DeepEP's intranode kernel gives each of 8 peers 3 warps, got %d", warps)
	}
	bound := sim.TransferTime(most, float64(warps)*2*topology.GBps)
	if slow.Time < bound {
		t.Errorf("dispatch took %v, faster than %d warps at 2 GB/s allow for %d bytes (%v)", slow.Time, warps, most, bound)
	}
	if slow.Time > bound+bound/10 {
		t.Errorf("dispatch took %v, want about the per-warp bound %v when the warp is the only limit", slow.Time, bound)
	}
	fastRes := runIntranode(t, f, fast(4), oneChannel)
	if r := float64(slow.Time) / float64(fastRes.Time); r < 1.8 || r > 2.2 {
		t.Errorf("doubling the per-warp rate sped dispatch up %.2fx, want about 2x", r)
	}
}

// Every record pays a fixed cost, so FP8 dispatch (a record about half a
// BF16 one) takes more than its bytes' share of BF16's time where warps,
// not links, bind (few SMs).
func TestFP8PaysMoreThanItsBytesShare(t *testing.T) {
	bf16, err := FormatNamed("model.dispatch_dtype", "bf16")
	if err != nil {
		t.Fatal(err)
	}
	few := func(c *Config) { c.NumSMs = 8 }
	tf := runIntranode(t, fp8(t), nil, few).Time
	tb := runIntranode(t, bf16, nil, few).Time
	bytesRatio := float64(fp8(t).DispatchRecordBytes(7168, 8)) / float64(bf16.DispatchRecordBytes(7168, 8))
	if r := float64(tf) / float64(tb); r <= bytesRatio*1.02 {
		t.Errorf("FP8/BF16 time ratio %.3f, want above the record-bytes ratio %.3f (per-record cost)", r, bytesRatio)
	}
	// With no per-record or per-chunk cost and no latency the ratio falls
	// to the bytes' share: the excess above comes from the fixed costs.
	free := func(c *topology.Config) {
		c.GPU.RecordOverhead, c.GPU.ChunkHandshake, c.NVLinkLatency, c.KernelLaunch = 0, 0, 0, 0
	}
	tf0 := runIntranode(t, fp8(t), free, few).Time
	tb0 := runIntranode(t, bf16, free, few).Time
	if r := float64(tf0) / float64(tb0); r > bytesRatio*1.02 {
		t.Errorf("without fixed costs FP8/BF16 = %.3f, want about the bytes ratio %.3f", r, bytesRatio)
	}
}

// Each chunk pays a handshake, so time falls as chunks grow, until chunks
// approach the ring and senders wait for room: the curve DeepEP's tuning
// sweep shows.
func TestChunkSizeCurveHasAKnee(t *testing.T) {
	f := fp8(t)
	times := map[int]sim.Time{}
	for _, chunk := range []int{1, 8, 200} {
		times[chunk] = runIntranode(t, f, nil, func(c *Config) { c.NVLChunk, c.NVLBuffer = chunk, 256 }).Time
	}
	if !(times[1] > times[8]*102/100) {
		t.Errorf("chunk 1 %v not slower than chunk 8 %v: handshakes should cost", times[1], times[8])
	}
	if !(times[200] > times[8]*102/100) {
		t.Errorf("chunk 200 of a 256-slot ring %v not slower than chunk 8 %v: senders should wait for room", times[200], times[8])
	}
	def := runIntranode(t, f, nil, nil).Time
	if !(times[1] > def) {
		t.Errorf("chunk 1 %v not slower than DeepEP's default chunk %v", times[1], def)
	}
}
