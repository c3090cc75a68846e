package dispatch

import (
	"math"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// DeepEP V2's epilogue kernels (impls/dispatch_copy_epilogue.cuh,
// combine_reduce_epilogue.cuh), as closed forms. Each runs on every SM of
// the GPU, launched behind the main kernel with programmatic dependent
// launch, so its launch overlaps the main kernel and it costs its copy.
const (
	// v2CopyEpilogueWarps: the copy epilogue's warps per SM, as many FP8
	// records as shared memory holds, at most 32 (30 at hidden 7168).
	v2CopyEpilogueWarps = 32
	// v2ReduceEpilogueWarps: the reduce epilogue's warps per SM, a BF16
	// row each (16 at hidden 7168).
	v2ReduceEpilogueWarps = 32
)

// v2CopyEpilogue is the dispatch copy epilogue on the busiest GPU: every
// received record is loaded from the receive buffer and its row, scales
// and ids stored to the user's tensors, a warp per record.
func v2CopyEpilogue(c topology.Config, lay *Layout, rec int64) sim.Time {
	warps := c.GPU.SMs * v2Warps(int(rec), 0, v2CopyEpilogueWarps)
	var worst sim.Time
	for r, rows := range lay.RecvRows {
		bytes := int64(rows) * rec
		worst = max(worst, v2EpilogueOn(c, r, bytes, bytes, rows, warps))
	}
	return worst
}

// v2ReduceEpilogue is the combine reduce epilogue on the busiest GPU:
// each token's rows (one per target node, hybrid, or per target GPU,
// direct: multiple reduction has summed within each) are read and their
// BF16 sum written, a warp per token.
func v2ReduceEpilogue(c topology.Config, lay *Layout, rec int64, hybrid bool) sim.Time {
	warps := c.GPU.SMs * v2Warps(int(rec), 0, v2ReduceEpilogueWarps)
	var worst sim.Time
	for s := range lay.Ranks {
		in := int64(lay.start[s][lay.Tokens[s]])
		if hybrid {
			in = 0
			for _, n := range lay.NodeTokens[s] {
				in += int64(n)
			}
		}
		tokens := lay.Tokens[s]
		worst = max(worst, v2EpilogueOn(c, s, in*rec, int64(tokens)*rec, tokens, warps))
	}
	return worst
}

// v2EpilogueOn is an epilogue's time on rank's GPU: read and write bytes
// through HBM and through every SM's bulk load and store ports, and
// records records over warps warps, each paying the per-record time;
// bound by the slowest of them.
func v2EpilogueOn(c topology.Config, rank int, read, write int64, records, warps int) sim.Time {
	f := c.GPUFactor(rank)
	t := max(sim.TransferTime(read+write, c.GPU.HBMBytesPerSec),
		sim.TransferTime(read, float64(c.GPU.SMs)*c.GPU.SMBulkLoadBytesPerSec/f),
		sim.TransferTime(write, float64(c.GPU.SMs)*c.GPU.SMBulkCopyBytesPerSec/f))
	return max(t, sim.Time((records+warps-1)/warps)*sim.Time(math.Round(float64(c.GPU.BulkRecordOverhead)*f)))
}
