package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moesim/moesim/combine"
	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/compute"
	"github.com/moesim/moesim/scenarios/schedule"
	"github.com/moesim/moesim/scenarios/workload"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// RunOptions are inputs to a run that are not part of the scenario.
type RunOptions struct {
	// Trace is the routing trace's content when workload.routing is trace;
	// TraceName (its file name) picks the format: .npy or .csv.
	Trace     []byte
	TraceName string
	// Layout, when set, is the scenario's layout already built (by
	// Layout, or a LayoutCache) from its routing and placement: kernel,
	// compute and hardware settings leave it unchanged, so a tune's
	// points and a sweep's share it. The kernels only read it.
	Layout *dispatch.Layout
	// Verify turns on the kernels' end-to-end conservation checks.
	Verify bool
	// Tracer receives the kernels' event trace: dispatch from time zero,
	// combine after it.
	Tracer sim.Tracer
	// Progress, when set, is called after each run a search makes of
	// many (a tune's points and its reruns), from the goroutine that
	// made it, so it must be safe for concurrent use. Run itself does not
	// call it.
	Progress func()
	// SideBySide runs dispatch and combine at once, each on its own
	// goroutine, cluster and engine, with the same results as one after
	// the other: for a single run on a machine with cores to spare.
	// Sweeps, which already run their points in parallel, leave it off
	// (two kernels per point there only add memory); a Tracer turns it
	// off, so the trace keeps one timeline.
	SideBySide bool
}

// InputError marks an error in what the user gave (a scenario value, a
// trace file) found while running, as opposed to a model failure such as a
// stall: the command line exits 2 for it.
type InputError struct{ Err error }

func (e InputError) Error() string { return e.Err.Error() }
func (e InputError) Unwrap() error { return e.Err }

// Routing builds the scenario's routing: generated from the workload, or
// read from the trace.
func Routing(s Scenario, opt RunOptions) (dispatch.Routing, error) {
	c := s.Cluster
	if s.Workload.Routing != "trace" {
		if len(s.Model.Placement) == 0 {
			return workload.GenerateRouting(s.Workload, s.Model, c.Nodes, c.GPUsPerNode, s.Seed)
		}
		// Generators place experts contiguously; renumber their choices
		// onto the explicit placement, each rank's homed experts in turn.
		order, err := workload.HomeOrder(s.Model, c.Nodes*c.GPUsPerNode)
		if err != nil {
			return dispatch.Routing{}, err
		}
		m := s.Model
		m.Placement = nil
		rt, err := workload.GenerateRouting(s.Workload, m, c.Nodes, c.GPUsPerNode, s.Seed)
		if err != nil {
			return dispatch.Routing{}, err
		}
		for _, ids := range rt.Experts {
			for i, e := range ids {
				if e >= 0 {
					ids[i] = order[e]
				}
			}
		}
		return rt, nil
	}
	if opt.Trace == nil {
		return dispatch.Routing{}, fmt.Errorf("scenario: workload.routing = trace needs a trace file (workload.trace_file or --trace-routing)")
	}
	var (
		tokens, topk int
		ids          []int32
		err          error
	)
	switch name := strings.ToLower(opt.TraceName); {
	case strings.HasSuffix(name, ".npy"):
		tokens, topk, ids, err = workload.ReadRoutingNPY(bytes.NewReader(opt.Trace))
	case strings.HasSuffix(name, ".csv"):
		tokens, topk, ids, err = workload.ReadRoutingCSV(bytes.NewReader(opt.Trace))
	default:
		return dispatch.Routing{}, fmt.Errorf("scenario: workload.trace_file = %q, want a .npy or .csv file", opt.TraceName)
	}
	if err != nil {
		return dispatch.Routing{}, fmt.Errorf("%s: %w", opt.TraceName, err)
	}
	rt, err := workload.RoutingFromTrace(tokens, topk, ids, c.Nodes*c.GPUsPerNode, s.Model)
	if err != nil {
		return dispatch.Routing{}, fmt.Errorf("%s: %w", opt.TraceName, err)
	}
	return rt, nil
}

// Run simulates a validated scenario: dispatch and combine of one MoE
// layer, the compute model at the SMs left, and the layer schedule.
func Run(s Scenario, opt RunOptions) (*Result, error) {
	b, err := build(s, opt)
	if err != nil {
		return nil, err
	}
	if s, err = withRoutingTokens(s, b.lay); err != nil {
		return nil, InputError{err}
	}
	hw, lay, dfmt, cfmt := b.hw, b.lay, b.dfmt, b.cfmt
	ranks := hw.GPUs()
	cl := topology.Build(hw)
	kopt := dispatch.Options{Verify: opt.Verify}
	if kopt.StartOffsets, err = workload.StartOffsets(s.Workload.StartSkewUs, ranks, s.Seed, "dispatch"); err != nil {
		return nil, err
	}
	if opt.Tracer != nil {
		kopt.Tracer = kernelTracer{opt.Tracer, 0, "dispatch "}
	}
	doff := kopt.StartOffsets
	coff, err := workload.StartOffsets(s.Workload.StartSkewUs, ranks, s.Seed, "combine")
	if err != nil {
		return nil, err
	}
	var (
		dres, cres     *dispatch.Result
		dports, cports PortUtil
		cerr           error
	)
	if opt.SideBySide && opt.Tracer == nil && !s.DispatchConfig().CombineReplaysDispatch() {
		// Combine reverses the dispatch's layout and config, not its
		// timing, so the two kernels run side by side, each on its own
		// cluster (a fresh one is the same as one Reset) and engine:
		// the results are those of running them one after the other.
		h := &dispatch.Handle{Layout: lay, Config: s.DispatchConfig()}
		copt := kopt
		copt.StartOffsets = coff
		done := make(chan struct{})
		go func() {
			defer close(done)
			ccl := topology.Build(hw)
			if cres, cerr = combine.Run(ccl, h, s.CombineConfig(), cfmt, s.Model.Hidden, copt); cerr == nil {
				cports = portUtil(ccl, cres)
			}
		}()
		dres, err = dispatch.Run(cl, lay, s.DispatchConfig(), dfmt, s.Model.Hidden, kopt)
		<-done
		if err != nil {
			return nil, err
		}
		if cerr != nil {
			return nil, cerr
		}
		dports = portUtil(cl, dres)
	} else {
		if dres, err = dispatch.Run(cl, lay, s.DispatchConfig(), dfmt, s.Model.Hidden, kopt); err != nil {
			return nil, err
		}
		dports = portUtil(cl, dres)
		cl.Reset()
		if opt.Tracer != nil {
			// Combine follows dispatch on one timeline.
			kopt.Tracer = kernelTracer{opt.Tracer, dres.Time, "combine "}
		}
		kopt.StartOffsets = coff
		if cres, err = combine.Run(cl, dres.Handle, s.CombineConfig(), cfmt, s.Model.Hidden, kopt); err != nil {
			return nil, err
		}
		cports = portUtil(cl, cres)
	}

	res := &Result{
		Meta:     Meta{Version: Version, Name: s.Name, Seed: s.Seed},
		Dispatch: summarizeKernel(dres, s.DispatchConfig()),
		Combine:  summarizeKernel(cres, s.CombineConfig()),
		Scenario: s,
	}
	res.Dispatch.PortUtil, res.Combine.PortUtil = dports, cports
	res.Dispatch.RankStartUs, res.Combine.RankStartUs = starts(doff), starts(coff)
	var lim *dispatch.LimitError
	if errors.As(s.V1Limits(), &lim) || errors.As(s.V2Limits(), &lim) {
		for _, k := range []*KernelSummary{&res.Dispatch, &res.Combine} {
			k.Extrapolated, k.ExtrapolationReason = true, lim.Reason()
		}
	}
	if src := s.NumSMsSource(); src != "" {
		res.Dispatch.NumSMsSource, res.Combine.NumSMsSource = src, src
	}
	st := lay.Stats()
	res.Routing = RoutingSummary{Tokens: st.Tokens, TargetNodesPerToken: st.TargetNodesPerToken,
		TargetGPUsPerToken: st.TargetGPUsPerToken, GPUsPerNodeVisit: st.GPUsPerNodeVisit,
		MaxRecvRows: st.MaxRecvRows, MeanRecvRows: st.MeanRecvRows}

	// The busiest GPU sets the pace of a synchronous layer: size the
	// expert GEMMs by the most expert slots any rank received.
	maxSlots := 0
	for _, n := range lay.ExpertSlots {
		maxSlots = max(maxSlots, n)
	}
	local := max(1, b.place.Slots()/ranks)
	commSMs := s.Kernel.NumSMs
	if s.Kernel.Mode == dispatch.LowLatency {
		// The low-latency kernels take every SM while they run and none
		// otherwise: the schedule runs their phases on the compute stream
		// (schedule.HookPhases), and compute keeps the whole GPU.
		commSMs = 0
	}
	lc, err := compute.LayerTimes(hw.GPU, commSMs, s.Model, s.Workload.TokensPerGPU, maxSlots, local, s.Compute)
	if err == nil {
		err = checkLayerTime(lc)
	}
	if err != nil {
		return nil, InputError{err}
	}
	// A synchronous layer computes at its slowest GPU's pace: a straggler
	// GPU's clock slows its compute by its factor.
	if f := hw.MaxGPUFactor(); f > 1 {
		for p := range compute.NumPhases {
			*lc.Phase(p) = compute.ScaleTime(*lc.Phase(p), f)
			in := &lc.Info[p]
			in.Full, in.Shared, in.Memory = compute.ScaleTime(in.Full, f), compute.ScaleTime(in.Shared, f), compute.ScaleTime(in.Memory, f)
		}
	}
	res.Compute = ComputeSummary{CommSMs: lc.CommSMs, ComputeSMs: lc.ComputeSMs,
		AttnFwdUs: us(lc.AttnFwd), MLPFwdUs: us(lc.MLPFwd),
		AttnBwdInputUs: us(lc.AttnBwdInput), AttnBwdWeightUs: us(lc.AttnBwdWeight),
		MLPBwdInputUs: us(lc.MLPBwdInput), MLPBwdWeightUs: us(lc.MLPBwdWeight), Slowdown: lc.Slowdown}

	// Backward all-to-alls: the gradient of combine travels the dispatch
	// path and the gradient of dispatch the combine path (DeepSeek-V3
	// §3.3.3 sends the former in FP8, like dispatch, and the latter in
	// BF16, like combine), so each takes its forward twin's time.
	g := hw.GPU
	// A V2 kernel's epilogue follows it on every SM of the GPU: the
	// schedule runs it on the compute stream after the all-to-all
	// (schedule.Phases.DispatchEpilogue).
	ph := schedule.Phases{LayerCompute: lc, Dispatch: dres.Time, Combine: cres.Time,
		CombineBwd: dres.Time, DispatchBwd: cres.Time,
		DispatchEpilogue: dres.EpilogueTime, CombineEpilogue: cres.EpilogueTime,
		DispatchHBM: hbmShare(hw, dres), CombineHBM: hbmShare(hw, cres),
		Interference: schedule.Interference{ClockDrop: g.GEMMClockDrop, GEMMHBMSensitivity: g.GEMMHBMSensitivity,
			NoCarveout: !s.Compute.Carveout(), SMWait: g.CommSMWait}}
	switch {
	case s.Kernel.Mode == dispatch.LowLatency && s.Kernel.LLHook:
		// Each hooked phase is its own launch; the transfer between
		// them holds no SM.
		launch := hw.KernelLaunch
		ph.Hook = &schedule.HookPhases{
			DispatchSend: launch + dres.SendTime, DispatchWire: dres.WireTime, DispatchRecv: launch + dres.RecvTime,
			CombineSend: launch + cres.SendTime, CombineWire: cres.WireTime, CombineRecv: launch + cres.RecvTime,
		}
	case s.Kernel.Mode == dispatch.LowLatency:
		// Unhooked, a low-latency kernel holds a block on every SM until
		// its data is in: one phase that excludes compute.
		ph.Hook = &schedule.HookPhases{DispatchSend: dres.Time, CombineSend: cres.Time}
	}
	sr, err := schedule.RunSchedule(s.Schedule.Kind, ph)
	if err != nil {
		return nil, err
	}
	res.Overlap = OverlapSummary{Schedule: string(sr.Kind), LayerUs: us(sr.Layer), ComputeUs: us(sr.Compute),
		CommUs: us(sr.Comm), HiddenCommUs: us(sr.Hidden), ExposedCommUs: us(sr.Exposed), HiddenFraction: sr.HiddenFraction,
		CommSlowdown: sr.CommSlowdown, ComputeSlowdown: sr.ComputeSlowdown, SMCarveout: s.Compute.Carveout(),
		CommSMWaitUs: us(sr.CommSMWait), DispatchHBMShare: ph.DispatchHBM, CombineHBMShare: ph.CombineHBM}
	step, err := schedule.RunStep(s.Schedule.Kind, s.Schedule.Step(), ph, sr)
	if err != nil {
		return nil, err
	}
	res.Step = StepSummary{Layers: step.Layers, PipelineStages: step.Stages, MicroBatches: step.MicroBatches,
		StepUs: us(step.Total), SteadyUs: us(step.Steady), BubbleUs: us(step.Bubble),
		ExposedCommUs: us(step.Exposed), BubbleExposedCommUs: us(step.ExposedBubble),
		ChunkFUs: us(step.F), ChunkBUs: us(step.B), ChunkWUs: us(step.W), ChunkFBUs: us(step.FB), ChunkUs: us(step.Chunk)}
	for _, op := range sr.Ops {
		res.Overlap.Ops = append(res.Overlap.Ops, OpSummary{Name: op.Name, Stream: op.Stream, StartUs: us(op.Start), EndUs: us(op.End)})
	}
	return res, nil
}

// maxHBMShare caps an all-to-all's HBM share: a kernel that would take
// more is bound by HBM, not by its links, which the kernels do not model.
const maxHBMShare = 0.9

// hbmShare is the share of one GPU's HBM bandwidth kernel r takes while it
// runs: its SMs' copies and its NICs' DMA, cluster.copy_hbm_bytes_per_byte
// HBM bytes per byte, averaged over the GPUs and over the kernel's time.
func hbmShare(hw topology.Config, r *dispatch.Result) float64 {
	if r.Time <= 0 || hw.GPUs() == 0 {
		return 0
	}
	perGPU := float64(r.SMBytes+r.IBBytes) / float64(hw.GPUs())
	u := float64(perGPU*hw.GPU.CopyHBMBytesPerByte) / r.Time.Seconds() / hw.GPU.HBMBytesPerSec
	return min(u, maxHBMShare)
}

// kernelTracer names the kernel in each record's warp role ("dispatch
// forward", "combine forward") and moves its records later on the timeline.
type kernelTracer struct {
	t      sim.Tracer
	off    sim.Time
	prefix string
}

func (k kernelTracer) Trace(r sim.Record) {
	r.At += k.off
	r.Role = k.prefix + r.Role
	k.t.Trace(r)
}

// RunDispatch runs only the scenario's dispatch: what sweeps of the
// network side need, at half the cost of Run.
func RunDispatch(s Scenario) (*dispatch.Result, error) {
	b, err := build(s, RunOptions{})
	if err != nil {
		return nil, err
	}
	return dispatch.Run(topology.Build(b.hw), b.lay, s.DispatchConfig(), b.dfmt, s.Model.Hidden, dispatch.Options{})
}

// starts is the start offsets in µs, nil for none.
func starts(off []sim.Time) []float64 {
	if off == nil {
		return nil
	}
	out := make([]float64, len(off))
	for i, t := range off {
		out[i] = us(t)
	}
	return out
}
