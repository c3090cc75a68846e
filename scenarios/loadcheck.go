package scenarios

import (
	"fmt"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/compute"
	"github.com/moesim/moesim/scenarios/workload"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Tokens per GPU and the load-time check of the compute model.
//
// Invariants:
//   - A run's tokens per GPU are the routing's: workload.tokens_per_gpu
//     for a generated routing, the trace's tokens / GPUs for a trace. The
//     compute model, the report's header and the JSON all read
//     Result.Scenario.Workload.TokensPerGPU, which Run sets to that count.
//   - With routing: trace, tokens_per_gpu is 0 (take the trace's) or must
//     equal the trace's count; a mismatch is an InputError, never a
//     silent choice of one of them.

// withRoutingTokens returns s with workload.tokens_per_gpu set to the
// tokens each GPU of lay sends, or an error when the scenario asked for a
// different count. It reads the layout, not the routing: runs that share
// a layout (a tune's points) are given no routing.
func withRoutingTokens(s Scenario, lay *dispatch.Layout) (Scenario, error) {
	if s.Workload.Routing != workload.RoutingTrace || lay == nil || lay.Ranks == 0 {
		return s, nil
	}
	n := lay.Tokens[0]
	if want := s.Workload.TokensPerGPU; want != 0 && want != n {
		return s, fmt.Errorf("scenario: workload.tokens_per_gpu = %d, but the routing trace %s has %d tokens per GPU (%d tokens over %d GPUs): set workload.tokens_per_gpu to 0 (or leave it out) to take the trace's count",
			want, s.Workload.TraceFile, n, n*lay.Ranks, lay.Ranks)
	}
	s.Workload.TokensPerGPU = n
	return s, nil
}

// CheckTokens reports, as an InputError, a scenario whose
// workload.tokens_per_gpu differs from the count its layout's routing
// trace gives, as Run would: for callers that build a layout once for
// many runs and want the error once, before them.
func CheckTokens(s Scenario, lay *dispatch.Layout) error {
	if _, err := withRoutingTokens(s, lay); err != nil {
		return InputError{err}
	}
	return nil
}

// checkCompute runs the compute model once on a balanced estimate of the
// layer (every token's top-k experts spread evenly), so a model, compute
// or hardware value it cannot time (a field out of its range, a layer
// longer than the engine's time range) is refused at load, with exit
// status 2, rather than midway through a run or a sweep.
func (s Scenario) checkCompute(hw topology.Config) error {
	tokens := max(s.Workload.TokensPerGPU, 1)
	ranks := hw.GPUs()
	slots := s.Model.Experts + s.Model.RedundantExperts
	local := max(1, slots/ranks)
	commSMs := s.Kernel.NumSMs
	if s.Kernel.Mode == dispatch.LowLatency {
		commSMs = 0
	}
	lc, err := compute.LayerTimes(hw.GPU, commSMs, s.Model, tokens, tokens*s.Model.TopK, local, s.Compute)
	if err != nil {
		return err
	}
	if err := checkLayerTime(lc); err != nil {
		return err
	}
	return s.checkCommTime(hw, tokens)
}

// MaxSimTime bounds any one phase of a run (a kernel, a compute phase):
// about 2.5 hours of simulated time, so that the schedule's sums of
// phases and the engine's event times stay far inside int64 picoseconds.
const MaxSimTime = sim.Forever / 1024

// checkLayerTime refuses compute phases beyond MaxSimTime (the compute
// model saturates at sim.Forever rather than overflow).
func checkLayerTime(lc compute.LayerCompute) error {
	total := float64(lc.AttnFwd) + float64(lc.MLPFwd) + float64(lc.AttnBwdInput) + float64(lc.AttnBwdWeight) +
		float64(lc.MLPBwdInput) + float64(lc.MLPBwdWeight)
	if total >= float64(MaxSimTime) {
		return fmt.Errorf("scenario: one layer's compute takes %.3g s at these model.*, compute.* and cluster.* values, beyond the %v a run can simulate; check compute.efficiency, cluster.fp8_TFLOPS/bf16_TFLOPS and the model's sizes",
			total/float64(sim.Second), MaxSimTime)
	}
	return nil
}

// checkCommTime bounds the busiest GPU's communication: its bytes (every
// token to top-k GPUs, at BF16 plus scales, hot rank included) over the
// slowest rate any of them meets, plus a per-record and per-chunk cost
// per slot, must stay within MaxSimTime. It is a coarse upper bound of
// what the kernels move, so a scenario that passes cannot overflow the
// engine's clock.
func (s Scenario) checkCommTime(hw topology.Config, tokens int) error {
	m := s.Model
	rows := float64(tokens) * float64(max(m.TopK, 1)) * max(1, s.Workload.HotRankFactor)
	bytes := rows * float64(m.Hidden) * 4
	g := hw.GPU
	rate := min(g.NVLinkBytesPerSec*hw.NVLinkEfficiency, g.NICBytesPerSec*hw.NICEfficiency/max(hw.RailOversubscription, 1),
		g.WarpCopyBytesPerSec, g.SMCopyBytesPerSec, g.SMReduceBytesPerSec)
	perRow := float64(g.RecordOverhead) + float64(g.ChunkHandshake) + float64(sim.FromSeconds(1/hw.NICMessageRate))
	t := bytes/rate*float64(sim.Second) + rows*perRow + float64(hw.NVLinkLatency+hw.IBLatency+hw.KernelLaunch)
	if !(t < float64(MaxSimTime)) {
		return fmt.Errorf("scenario: dispatch and combine could take up to %.3g s at these model.*, workload.* and cluster.* values (%.3g bytes per GPU at %.3g GB/s), beyond the %v a run can simulate; check the cluster's rates and the model's sizes",
			t/float64(sim.Second), bytes, rate/1e9, MaxSimTime)
	}
	return nil
}

// HardwareFileData is the content of the scenario's cluster.hardware_file
// as it was read, nil without one: an input the run id covers.
func (s Scenario) HardwareFileData() []byte { return s.hardwareData }
