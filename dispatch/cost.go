package dispatch

import (
	"math"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Costs are the per-warp, per-record, per-chunk and per-message costs a
// communication kernel pays, taken from the GPU's constants (measured
// with the calibration kit where the hardware file says so). Dispatch and
// combine charge every copy, reduction and handshake through them, so the
// two kernels pay for the same work the same way.
//
// A warp's copy of n records of b bytes in all, started at now on an SM
// whose port other warps share, ends at
//
//	max(SM port done with b bytes, now + n·RecordOverhead + b/WarpCopy)
//
// so a role with few warps is latency-bound (held to the per-warp rate)
// and many warps saturate the SM. A reduction is the same with the SM's
// port time scaled from the copy rate to the reduce rate.
type Costs struct {
	warpRate  float64  // one warp's streaming rate, bytes/s
	record    sim.Time // per record, per warp
	handshake sim.Time // per chunk, per producer
	// reduceScale is SM copy bytes per byte summed: the SM port runs at
	// the copy rate, a reduction at the reduce rate.
	reduceScale float64
	msg         sim.Time // NIC time per message
	// perRank is each rank's costs with its straggler factor applied
	// (cluster.stragglers), nil when every GPU is healthy: For hands out
	// a pointer to one, computed once, instead of a copy per call.
	perRank []Costs
}

// NewCosts takes the costs from a validated config.
func NewCosts(c topology.Config) Costs {
	costs := Costs{
		warpRate:    c.GPU.WarpCopyBytesPerSec,
		record:      c.GPU.RecordOverhead,
		handshake:   c.GPU.ChunkHandshake,
		reduceScale: c.GPU.SMCopyBytesPerSec / c.GPU.SMReduceBytesPerSec,
		msg:         sim.FromSeconds(1 / c.NICMessageRate),
	}
	for _, s := range c.Stragglers {
		if s.Kind == topology.StragglerGPU {
			perRank := make([]Costs, c.GPUs())
			for r := range perRank {
				perRank[r] = costs.scaled(c.GPUFactor(r))
			}
			costs.perRank = perRank
			break
		}
	}
	return costs
}

// For returns the costs of rank's warps: a straggler GPU (its SM clock
// slowed by a factor) pays each per-warp and per-chunk cost that many
// times over; its SM port is slowed where the kernel builds it.
func (c *Costs) For(rank int) *Costs {
	if c.perRank == nil {
		return c
	}
	return &c.perRank[rank]
}

// scaled is c for a GPU slowed by factor f (c itself when f is 1).
func (c Costs) scaled(f float64) Costs {
	if f == 1 {
		return c
	}
	c.warpRate /= f
	c.record = sim.Time(math.Round(float64(c.record) * f))
	c.handshake = sim.Time(math.Round(float64(c.handshake) * f))
	return c
}

// Copy returns when one warp that starts copying n records of bytes in
// all at now is done, reserving the bytes on its SM's port.
func (c *Costs) Copy(sm *sim.Port, now sim.Time, n int, bytes int64) sim.Time {
	return c.Work(sm, now, bytes, n, bytes)
}

// CopyShared returns when w warps that split n records of bytes in all
// evenly, all starting at now, are done: the SM carries every byte, the
// slowest warp copies its ceil(n/w) records. DeepEP's intranode kernels
// give each peer a group of warps this way.
//
// It is Copy or Work written out flat: the copies of dispatch's forwarders
// and NVL receivers, a call each per event, would otherwise pay for two
// more calls that the compiler does not inline.
func (c *Costs) CopyShared(sm *sim.Port, now sim.Time, w, n int, bytes int64) sim.Time {
	per, warpBytes := n, bytes
	if w > 1 && n > 1 {
		per = (n + w - 1) / w
		warpBytes = bytes * int64(per) / int64(n)
	}
	smDone := sm.Reserve(now, bytes)
	return max(smDone, now+sim.Time(per)*c.record+sim.TransferTime(warpBytes, c.warpRate))
}

// IntranodeWarpsPerPeer is the warps DeepEP V1's intranode kernels give
// each peer GPU on one SM: blocks of 768 threads (24 warps) split evenly
// over the ranks (intranode.cu: num_threads_per_rank = kNumThreads /
// kNumRanks), 3 warps each on 8 GPUs. Across nodes a forwarder and an NVL
// receiver have one warp per peer (internode.cu's warp roles).
func IntranodeWarpsPerPeer(gpusPerNode int) int { return max(768/32/gpusPerNode, 1) }

// Work returns when warps that start at now are done, when the SM carries
// smBytes and the slowest warp copies n records of warpBytes.
func (c *Costs) Work(sm *sim.Port, now sim.Time, smBytes int64, n int, warpBytes int64) sim.Time {
	smDone := sm.Reserve(now, smBytes)
	return max(smDone, now+c.warpTime(n, warpBytes))
}

// Reduce returns when w warps that start together at now are done summing
// rows input rows of rec bytes into tokens outputs, each warp a token at a
// time: the SM's port carries the input rows at the reduce rate; each warp
// pays a record overhead per token and streams its rows.
func (c *Costs) Reduce(sm *sim.Port, now sim.Time, w, tokens, rows int, rec int64) sim.Time {
	in := int64(rows) * rec
	smBytes := in
	if c.reduceScale != 1 {
		smBytes = int64(math.Ceil(float64(in) * c.reduceScale))
	}
	smDone := sm.Reserve(now, smBytes)
	if tokens == 0 {
		return smDone
	}
	w = max(min(w, tokens), 1)
	per := (tokens + w - 1) / w
	perRows := (rows*per + tokens - 1) / tokens
	return max(smDone, now+c.warpTime(per, int64(perRows)*rec))
}

func (c *Costs) warpTime(n int, bytes int64) sim.Time {
	return sim.Time(n)*c.record + sim.TransferTime(bytes, c.warpRate)
}

// Handshake is a producer's cost per chunk published: the fence and the
// tail flag's release store.
func (c *Costs) Handshake() sim.Time { return c.handshake }

// Message is a NIC's time per message (an RDMA write or an atomic).
func (c *Costs) Message() sim.Time { return c.msg }

// ReduceSplit returns when w warps that start together at now are done
// summing rows input rows of rec bytes into one output row, each warp a
// 1/w slice of every row (DeepEP's low-latency combine: decode warps split
// the hidden dimension): the SM's port carries the input rows at the
// reduce rate; each warp pays a record overhead per row and streams its
// slice of every row.
func (c *Costs) ReduceSplit(sm *sim.Port, now sim.Time, w, rows int, rec int64) sim.Time {
	in := int64(rows) * rec
	smBytes := in
	if c.reduceScale != 1 {
		smBytes = int64(math.Ceil(float64(in) * c.reduceScale))
	}
	w = max(w, 1)
	return max(sm.Reserve(now, smBytes), now+c.warpTime(rows, (in+int64(w)-1)/int64(w)))
}
