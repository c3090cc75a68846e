package scenarios

import (
	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Version is moesim's version, printed in every report.
const Version = "0.1.0"

// Result is one scenario run as plain data. Its JSON field names are a
// contract people script against (dispatch.time_us, overlap.layer_us, ...);
// encoding/json keeps struct order, so output is stable.
type Result struct {
	Meta     Meta           `json:"meta"`
	Routing  RoutingSummary `json:"routing"`
	Dispatch KernelSummary  `json:"dispatch"`
	Combine  KernelSummary  `json:"combine"`
	Compute  ComputeSummary `json:"compute"`
	Overlap  OverlapSummary `json:"overlap"`
	Step     StepSummary    `json:"step"`
	// Scenario is the effective scenario: preset, overrides and defaults
	// applied.
	Scenario Scenario `json:"scenario"`
}

// Meta identifies a run.
type Meta struct {
	// RunID is derived from the effective scenario and seed (set by the
	// command line), so the same run has the same id.
	RunID   string `json:"run_id"`
	Version string `json:"version"`
	Name    string `json:"scenario_name"`
	Seed    uint64 `json:"seed"`
}

// RoutingSummary is the routing figures of the workload.
type RoutingSummary struct {
	Tokens              int     `json:"tokens"`
	TargetNodesPerToken float64 `json:"target_nodes_per_token"`
	TargetGPUsPerToken  float64 `json:"target_gpus_per_token"`
	GPUsPerNodeVisit    float64 `json:"gpus_per_node_visit"`
	MaxRecvRows         int     `json:"max_recv_rows"`
	MeanRecvRows        float64 `json:"mean_recv_rows"`
}

// KernelSummary is one communication kernel's figures.
type KernelSummary struct {
	Mode string `json:"mode"`
	// TimeUs is launch plus the span to the last row landed.
	TimeUs float64 `json:"time_us"`
	// NotifyUs is the count exchange before a new layout (not in TimeUs).
	NotifyUs float64 `json:"notify_us"`
	// LayoutUs is get_dispatch_layout before a new layout's notify (not in
	// TimeUs; dispatch in normal mode only, an estimate).
	LayoutUs float64 `json:"layout_us"`
	// Extrapolated is set when the scenario is beyond DeepEP V1's limits
	// (run with kernel.extrapolate: true); ExtrapolationReason names them.
	Extrapolated        bool   `json:"extrapolated"`
	ExtrapolationReason string `json:"extrapolation_reason,omitempty"`
	// RDMAGBps and NVLGBps use DeepEP's logical accounting, over TimeUs
	// plus the cached-notify barrier, as DeepEP's benchmarks print them
	// (kernel.mode v2: over TimeUs alone, as test_ep.py prints them).
	RDMAGBps float64 `json:"rdma_GBps"`
	NVLGBps  float64 `json:"nvl_GBps"`
	// LogicalRDMABytes and LogicalNVLBytes are the bytes behind those
	// figures, per GPU (mean over GPUs), as DeepEP's tests count them.
	LogicalRDMABytes float64 `json:"logical_rdma_bytes"`
	LogicalNVLBytes  float64 `json:"logical_nvl_bytes"`
	Bottleneck       string  `json:"bottleneck"`
	// Physical bytes over all GPUs and mean/peak port utilization.
	IBBytes      int64       `json:"ib_bytes"`
	NVLinkBytes  int64       `json:"nvlink_bytes"`
	IBUtil       UtilSummary `json:"ib_util"`
	NVLinkUtil   UtilSummary `json:"nvlink_util"`
	SMUtil       UtilSummary `json:"sm_util"`
	RecordBytes  int         `json:"record_bytes"`
	Events       int64       `json:"events"`
	RankFinishUs []float64   `json:"rank_finish_us"`
	// RankStartUs is each rank's kernel start (workload.start_skew_us),
	// absent when every rank starts at zero.
	RankStartUs []float64 `json:"rank_start_us,omitempty"`
	// PortUtil is each GPU's link utilization over the kernel span.
	PortUtil PortUtil `json:"port_util"`
	NumSMs   int      `json:"num_sms"`
	Chunks   Chunks   `json:"chunks"`
	// The V2 kernels' own figures (kernel.mode v2; absent otherwise).
	// NumSMsSource is "analytical" when num_sms is DeepEP V2's analytical
	// count (kernel.num_sms unset), "set" when the scenario set it.
	NumSMsSource string `json:"num_sms_source,omitempty"`
	// V2Path is the route the kernel took: "hybrid", or "direct" (one
	// node always runs direct). QPs is its queue pairs per GPU
	// (get_theoretical_num_qps).
	V2Path string `json:"v2_path,omitempty"`
	QPs    int    `json:"qps,omitempty"`
	// EpilogueUs is the epilogue kernel behind the main one, on every SM:
	// dispatch's copy epilogue or combine's reduce epilogue. TimeUs, as
	// DeepEP's test_ep.py times it, leaves it out; the schedule adds it.
	EpilogueUs float64 `json:"epilogue_us,omitempty"`
}

// PortUtil is the busy share of each GPU's link ports over a kernel's span
// (kernel start to the last row landed), indexed by rank: its NIC out and
// in (IB) and its NVSwitch links out and in.
type PortUtil struct {
	IBOut     []float64 `json:"ib_out"`
	IBIn      []float64 `json:"ib_in"`
	NVLinkOut []float64 `json:"nvlink_out"`
	NVLinkIn  []float64 `json:"nvlink_in"`
}

// UtilSummary is the mean and peak utilization over a class of ports.
type UtilSummary struct {
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// ComputeSummary is the compute model's phases for one micro-batch.
type ComputeSummary struct {
	CommSMs         int     `json:"comm_sms"`
	ComputeSMs      int     `json:"compute_sms"`
	AttnFwdUs       float64 `json:"attn_fwd_us"`
	MLPFwdUs        float64 `json:"mlp_fwd_us"`
	AttnBwdInputUs  float64 `json:"attn_bwd_input_us"`
	AttnBwdWeightUs float64 `json:"attn_bwd_weight_us"`
	MLPBwdInputUs   float64 `json:"mlp_bwd_input_us"`
	MLPBwdWeightUs  float64 `json:"mlp_bwd_weight_us"`
	// Slowdown is forward compute time with the communication SMs taken
	// over the time with every SM.
	Slowdown float64 `json:"slowdown"`
}

// OverlapSummary is the layer schedule's outcome.
type OverlapSummary struct {
	Schedule       string  `json:"schedule"`
	LayerUs        float64 `json:"layer_us"`
	ComputeUs      float64 `json:"compute_us"`
	CommUs         float64 `json:"comm_us"`
	HiddenCommUs   float64 `json:"hidden_comm_us"`
	ExposedCommUs  float64 `json:"exposed_comm_us"`
	HiddenFraction float64 `json:"hidden_fraction"`
	// CommSlowdown is the all-to-alls' time in the schedule over their
	// time alone; ComputeSlowdown the compute phases' over their time on
	// every SM with nothing beside them (SMs lent to communication and
	// interference). Both 1 when nothing overlaps.
	CommSlowdown    float64 `json:"comm_slowdown"`
	ComputeSlowdown float64 `json:"compute_slowdown"`
	// SMCarveout is compute.sm_carveout; CommSMWaitUs the time the
	// all-to-alls waited for SMs without it.
	SMCarveout   bool    `json:"sm_carveout"`
	CommSMWaitUs float64 `json:"comm_sm_wait_us"`
	// DispatchHBMShare and CombineHBMShare are the shares of HBM
	// bandwidth the kernels take while they run.
	DispatchHBMShare float64     `json:"dispatch_hbm_share"`
	CombineHBMShare  float64     `json:"combine_hbm_share"`
	Ops              []OpSummary `json:"ops"`
}

// StepSummary is one step of schedule.layers MoE layers per pipeline
// stage, schedule.pipeline_stages stages and schedule.micro_batches
// micro-batches, per device (schedule.RunStep gives the formulas).
type StepSummary struct {
	Layers         int `json:"layers"`
	PipelineStages int `json:"pipeline_stages"`
	MicroBatches   int `json:"micro_batches"`
	// StepUs = SteadyUs (the micro-batches' blocks) + BubbleUs.
	StepUs   float64 `json:"step_us"`
	SteadyUs float64 `json:"steady_us"`
	BubbleUs float64 `json:"bubble_us"`
	// ExposedCommUs is the communication the step exposes; the part in
	// the bubble is BubbleExposedCommUs.
	ExposedCommUs       float64 `json:"exposed_comm_us"`
	BubbleExposedCommUs float64 `json:"bubble_exposed_comm_us"`
	// A chunk's (one stage's layers) forward, backward and weight
	// backward alone, and forward and backward overlapped (dualpipe);
	// ChunkUs is the block time of a forward-only schedule's chunk.
	ChunkFUs  float64 `json:"chunk_f_us"`
	ChunkBUs  float64 `json:"chunk_b_us"`
	ChunkWUs  float64 `json:"chunk_w_us"`
	ChunkFBUs float64 `json:"chunk_fb_us"`
	ChunkUs   float64 `json:"chunk_us"`
}

// OpSummary is one op of the layer schedule.
type OpSummary struct {
	Name    string  `json:"name"`
	Stream  string  `json:"stream"`
	StartUs float64 `json:"start_us"`
	EndUs   float64 `json:"end_us"`
}

func summarizeKernel(r *dispatch.Result, cfg dispatch.Config) KernelSummary {
	k := KernelSummary{
		Mode: string(r.Mode), TimeUs: r.Time.Microseconds(), NotifyUs: r.NotifyTime.Microseconds(),
		LayoutUs: r.LayoutTime.Microseconds(),
		RDMAGBps: r.RDMAGBps, NVLGBps: r.NVLGBps, Bottleneck: r.Bottleneck,
		LogicalRDMABytes: r.LogicalRDMABytes, LogicalNVLBytes: r.LogicalNVLBytes,
		IBBytes: r.IBBytes, NVLinkBytes: r.NVLinkBytes,
		IBUtil:      UtilSummary(r.IB),
		NVLinkUtil:  UtilSummary(r.NVLink),
		SMUtil:      UtilSummary(r.SM),
		RecordBytes: r.RecordBytes, Events: r.Events,
		NumSMs: cfg.NumSMs,
		Chunks: Chunks{NVLChunk: cfg.NVLChunk, NVLBuffer: cfg.NVLBuffer, RDMAChunk: cfg.RDMAChunk, RDMABuffer: cfg.RDMABuffer},
	}
	for _, t := range r.RankFinish {
		k.RankFinishUs = append(k.RankFinishUs, t.Microseconds())
	}
	if r.Mode == dispatch.V2 {
		k.V2Path, k.QPs, k.EpilogueUs = string(r.V2Path), r.QPs, r.EpilogueTime.Microseconds()
		k.Chunks = Chunks{}
	}
	return k
}

// portUtil reads each GPU's port utilization from the cluster a kernel just
// ran on, over that kernel's span (its last rank's finish).
func portUtil(cl *topology.Cluster, r *dispatch.Result) PortUtil {
	var span sim.Time
	for _, t := range r.RankFinish {
		span = max(span, t)
	}
	n := len(cl.Devices)
	u := PortUtil{IBOut: make([]float64, n), IBIn: make([]float64, n),
		NVLinkOut: make([]float64, n), NVLinkIn: make([]float64, n)}
	for i := range cl.Devices {
		d := &cl.Devices[i]
		u.IBOut[i], u.IBIn[i] = d.NICUtilization(span)
		u.NVLinkOut[i] = d.NVLinkOut.Utilization(span)
		u.NVLinkIn[i] = d.NVLinkIn.Utilization(span)
	}
	return u
}

func us(t sim.Time) float64 { return t.Microseconds() }
