package compute

import (
	"math"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// GEMM and memory timing: wave quantization of output tiles over the SMs
// left to compute, and bytes over HBM bandwidth.

// linearPeak is the dense peak for the linear layers' GEMMs.
func (c Compute) linearPeak(gpu topology.GPU) float64 {
	if c.Precision == PrecisionBF16 {
		return gpu.BF16FLOPS
	}
	return gpu.FP8FLOPS
}

// tileTime is the time one SM takes for flops at peak/gpu.SMs*eff, rounded
// up to the picosecond; sim.Forever when the rate is not positive.
func tileTime(flops float64, gpu topology.GPU, peak, eff float64) sim.Time {
	rate := peak / float64(gpu.SMs) * eff
	if !(rate > 0) || math.IsInf(rate, 0) || gpu.SMs < 1 {
		return sim.Forever
	}
	ps := math.Ceil(float64(flops*1e12) / rate)
	if ps >= float64(sim.Forever) {
		return sim.Forever
	}
	return sim.Time(ps)
}

// tileGroup is a run of equal tiles: count tiles of perTile each.
type tileGroup struct {
	count   int64
	perTile sim.Time
}

// waveTime runs tile groups on sms SMs in waves: every wave takes as long as
// its longest tile. Groups are taken longest tile first, so a wave shared by
// two groups costs the longer one. Saturates at sim.Forever.
func waveTime(groups []tileGroup, sms int) sim.Time {
	t, _ := countWaves(groups, sms)
	return t
}

// countWaves is waveTime and the number of waves it counts.
func countWaves(groups []tileGroup, sms int) (sim.Time, int64) {
	// Sort by perTile descending (insertion sort: a handful of groups).
	gs := append([]tileGroup(nil), groups...)
	for i := 1; i < len(gs); i++ {
		for j := i; j > 0 && gs[j].perTile > gs[j-1].perTile; j-- {
			gs[j], gs[j-1] = gs[j-1], gs[j]
		}
	}
	var total sim.Time
	var count int64  // waves paid for
	var filled int64 // tiles in the current, partly filled wave
	s := int64(sms)
	for _, g := range gs {
		n := g.count
		if n <= 0 || g.perTile == 0 {
			continue
		}
		if s <= 0 || g.perTile == sim.Forever {
			return sim.Forever, count
		}
		if filled > 0 { // join the open wave, already paid for
			t := min(n, s-filled)
			n -= t
			filled = (filled + t) % s
		}
		waves := n / s
		if rem := n % s; rem > 0 {
			waves++
			filled = rem
		}
		total = addSat(total, mulSat(g.perTile, waves))
		count += waves
	}
	return total, count
}

func addSat(a, b sim.Time) sim.Time {
	if a >= sim.Forever-b {
		return sim.Forever
	}
	return a + b
}

func mulSat(t sim.Time, n int64) sim.Time {
	if n == 0 || t == 0 {
		return 0
	}
	if t > sim.Forever/sim.Time(n) {
		return sim.Forever
	}
	return t * sim.Time(n)
}

func ceilDiv(a, b int) int64 { return (int64(a) + int64(b) - 1) / int64(b) }

// GEMMTime is the time of an m x n x k GEMM (2mnk FLOPs) in c's precision on
// sms SMs: tiles = ceil(m/TileM)*ceil(n/TileN), waves = ceil(tiles/sms),
// per-tile time = 2*TileM*TileN*k / (peak/gpu.SMs * Efficiency), time =
// waves x per-tile time (per-tile time rounded up to the picosecond).
// It is 0 when m, n or k is not positive, and sim.Forever when there is work
// but no SM (sms <= 0) or c is invalid.
func GEMMTime(gpu topology.GPU, sms int, m, n, k int, c Compute) sim.Time {
	return gemmTimePeak(gpu, sms, m, n, k, c, c.linearPeak(gpu))
}

func gemmTimePeak(gpu topology.GPU, sms, m, n, k int, c Compute, peak float64) sim.Time {
	t, _ := gemmWaves(gpu, sms, m, n, k, c, peak)
	return t
}

// gemmWaves is gemmTimePeak and its number of waves.
func gemmWaves(gpu topology.GPU, sms, m, n, k int, c Compute, peak float64) (sim.Time, int64) {
	if m <= 0 || n <= 0 || k <= 0 {
		return 0, 0
	}
	if c.TileM < 1 || c.TileN < 1 {
		return sim.Forever, 0
	}
	tiles := ceilDiv(m, c.TileM) * ceilDiv(n, c.TileN)
	per := tileTime(2*float64(c.TileM)*float64(c.TileN)*float64(k), gpu, peak, c.Efficiency)
	return countWaves([]tileGroup{{tiles, per}}, sms)
}

// MemoryTime is the time to move bytes through HBM (reads plus writes), at
// gpu.HBMBytesPerSec, rounded up to the picosecond; sim.Forever when the
// bandwidth is not positive.
func MemoryTime(gpu topology.GPU, bytes int64) sim.Time {
	if bytes <= 0 {
		return 0
	}
	if !(gpu.HBMBytesPerSec > 0) || math.IsInf(gpu.HBMBytesPerSec, 0) {
		return sim.Forever
	}
	return sim.TransferTime(bytes, gpu.HBMBytesPerSec)
}
