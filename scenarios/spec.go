package scenarios

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/moesim/moesim/combine"
	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/compute"
	"github.com/moesim/moesim/scenarios/model"
	"github.com/moesim/moesim/scenarios/schedule"
	"github.com/moesim/moesim/scenarios/workload"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Scenario is a scenario file: what cluster, model, workload, kernels,
// compute and schedule to simulate. Zero values mean "the default": the
// hardware preset's for cluster fields, DeepSeek-V3's for model fields,
// DeepEP's for kernel fields; a field the input gave as 0 is kept at 0
// (zeros.go). Defaults are applied by WithDefaults, never by Validate.
type Scenario struct {
	Name        string   `yaml:"name,omitempty"`
	Description string   `yaml:"description,omitempty"`
	Seed        uint64   `yaml:"seed"`
	Cluster     Cluster  `yaml:"cluster"`
	Model       Model    `yaml:"model"`
	Workload    Workload `yaml:"workload"`
	Kernel      Kernel   `yaml:"kernel"`
	Compute     Compute  `yaml:"compute"`
	Schedule    Schedule `yaml:"schedule"`

	// hardware is the parsed cluster.hardware_file, if any.
	hardware *topology.Hardware
	// hardwareData is that file's bytes, for the run id.
	hardwareData []byte
	// zeros is the numeric fields the input set to 0 (zeros.go).
	zeros []string
}

// Cluster is the scenario's cluster.* section: a hardware preset and
// overrides of its constants.
//
// Every hardware constant (topology.Constants) is a field named by its
// key, so any of them can be overridden (--set cluster.warp_copy_GBps=8)
// and the effective scenario, which the run id hashes, holds them all.
// A field left out takes the hardware's value; one given as 0 is 0 where the
// constant's range allows it (zeros.go).
type Cluster struct {
	Preset string `yaml:"preset"` // cluster.preset: h800, h100, h200, h20, b200, gb200-nvl72
	// HardwareFile (cluster.hardware_file) names a hardware file, such as
	// one `moesim calibrate` wrote, instead of a preset; a relative path
	// is resolved from the scenario file's folder.
	HardwareFile string `yaml:"hardware_file,omitempty"`
	Nodes        int    `yaml:"nodes"`         // cluster.nodes
	GPUsPerNode  int    `yaml:"gpus_per_node"` // cluster.gpus_per_node
	SMs          int    `yaml:"sms,omitempty"`
	// Bandwidths in GB/s (1e9 bytes/s) per direction per GPU.
	NVLinkGBps float64 `yaml:"nvlink_GBps"`
	NICGBps    float64 `yaml:"nic_GBps"`
	// NVLinkNominalGBps is the nominal NVLink rate (link speeds summed),
	// which DeepEP V2's SM count reads; the links run at NVLinkGBps.
	NVLinkNominalGBps float64 `yaml:"nvlink_nominal_GBps,omitempty"`
	SMCopyGBps        float64 `yaml:"sm_copy_GBps,omitempty"`
	// The warps' costs (topology.Constants documents each).
	WarpCopyGBps     float64 `yaml:"warp_copy_GBps,omitempty"`
	RecordOverheadNs float64 `yaml:"record_overhead_ns,omitempty"`
	ChunkHandshakeNs float64 `yaml:"chunk_handshake_ns,omitempty"`
	// The bulk-copy path of DeepEP V2's warps.
	SMBulkCopyGBps float64 `yaml:"sm_bulk_copy_GBps,omitempty"`
	SMBulkLoadGBps float64 `yaml:"sm_bulk_load_GBps,omitempty"`
	BulkRecordNs   float64 `yaml:"bulk_record_ns,omitempty"`
	SMReduceGBps   float64 `yaml:"sm_reduce_GBps,omitempty"`
	FP8TFLOPS      float64 `yaml:"fp8_TFLOPS,omitempty"`
	BF16TFLOPS     float64 `yaml:"bf16_TFLOPS,omitempty"`
	HBMGBps        float64 `yaml:"hbm_GBps,omitempty"`
	// Shares of the link rates that kernel traffic gets (0..1].
	NVLinkEfficiency  float64 `yaml:"nvlink_efficiency,omitempty"`
	NICEfficiency     float64 `yaml:"nic_efficiency,omitempty"`
	NICMessageRateMps float64 `yaml:"nic_message_rate_Mps,omitempty"`
	NVLinkLatencyUs   float64 `yaml:"nvlink_latency_us,omitempty"`
	IBLatencyUs       float64 `yaml:"ib_latency_us,omitempty"`
	KernelLaunchUs    float64 `yaml:"kernel_launch_us,omitempty"`
	LLKernelFixedUs   float64 `yaml:"ll_kernel_fixed_us,omitempty"`
	// RailOversubscription: 1 is a non-blocking rail fabric.
	RailOversubscription float64 `yaml:"rail_oversubscription,omitempty"`
	// Interference between communication and compute on a GPU
	// (topology.Constants documents each; docs/model.md the model).
	GEMMClockDrop       float64 `yaml:"gemm_clock_drop,omitempty"`
	CopyHBMBytesPerByte float64 `yaml:"copy_hbm_bytes_per_byte,omitempty"`
	GEMMHBMSensitivity  float64 `yaml:"gemm_hbm_sensitivity,omitempty"`
	CommSMWaitUs        float64 `yaml:"comm_sm_wait_us,omitempty"`
	// Stragglers (cluster.stragglers) are slow GPUs or NICs, each named by
	// its GPU's rank: [{gpu: 3, factor: 2}, {nic: 5, factor: 1.5}].
	Stragglers []Straggler `yaml:"stragglers,omitempty"`
	// Fabric (cluster.fabric.*) is the network above the NICs.
	Fabric Fabric `yaml:"fabric,omitempty"`
}

// Straggler is one entry of cluster.stragglers: exactly one of GPU and NIC
// names a rank (0..nodes×gpus_per_node-1), and Factor (1..100) is how many
// times slower it runs. A slow GPU's SMs copy and compute Factor times
// slower (a throttled clock); a slow NIC moves bytes Factor times slower.
type Straggler struct {
	GPU    *int    `yaml:"gpu,omitempty"`
	NIC    *int    `yaml:"nic,omitempty"`
	Factor float64 `yaml:"factor"`
}

// topology turns the entry i into the topology's form, or says what is
// wrong with it.
func (st Straggler) topology(i int) (topology.Straggler, error) {
	field := fmt.Sprintf("cluster.stragglers[%d]", i)
	switch {
	case st.GPU != nil && st.NIC != nil:
		return topology.Straggler{}, fmt.Errorf("scenario: %s names gpu = %d and nic = %d; give one of them per entry", field, *st.GPU, *st.NIC)
	case st.GPU != nil:
		return topology.Straggler{Kind: topology.StragglerGPU, Rank: *st.GPU, Factor: st.Factor}, nil
	case st.NIC != nil:
		return topology.Straggler{Kind: topology.StragglerNIC, Rank: *st.NIC, Factor: st.Factor}, nil
	}
	return topology.Straggler{}, fmt.Errorf("scenario: %s names neither gpu nor nic; want {gpu: RANK, factor: F} or {nic: RANK, factor: F}", field)
}

// clusterConstants indexes the Cluster fields that hold hardware
// constants: a field's yaml name is its constant's key, so the index is
// read off the struct and a new constant needs only its field.
var clusterConstants = func() map[string]int {
	t := reflect.TypeFor[Cluster]()
	idx := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if _, ok := topology.ConstantNamed(name); ok {
			idx[name] = i
		}
	}
	return idx
}()

// constant returns the field holding hardware constant key, as a float64
// to read and write, or false for a key the cluster section lacks.
func (c *Cluster) constant(key string) (get func() float64, set func(float64), ok bool) {
	i, ok := clusterConstants[key]
	if !ok {
		return nil, nil, false
	}
	f := reflect.ValueOf(c).Elem().Field(i)
	if f.Kind() == reflect.Int {
		return func() float64 { return float64(f.Int()) }, func(v float64) { f.SetInt(int64(v)) }, true
	}
	return f.Float, f.SetFloat, true
}

// Kernel is the scenario's kernel.* section: DeepEP's Config for dispatch
// and combine. Chunk and buffer sizes left at zero take DeepEP's defaults
// for the rank count.
type Kernel struct {
	Mode     dispatch.Mode `yaml:"mode"`    // kernel.mode: normal (default) or alltoall
	NumSMs   int           `yaml:"num_sms"` // kernel.num_sms: even; num_sms/2 channels
	Dispatch Chunks        `yaml:"dispatch,omitempty"`
	Combine  Chunks        `yaml:"combine,omitempty"`
	// LLRDMAOnly (kernel.ll_rdma_only) sends low-latency messages between
	// GPUs of one node through the NICs, as DeepEP did before mid-2025.
	LLRDMAOnly bool `yaml:"ll_rdma_only,omitempty"`
	// LLHook (kernel.ll_hook) runs the low-latency kernels as DeepEP's
	// return_recv_hook does: send and receive phases apart, the transfer
	// between them holding no SM, so a schedule can overlap it.
	LLHook bool `yaml:"ll_hook,omitempty"`
	// Extrapolate (kernel.extrapolate) runs a normal-mode scenario that
	// DeepEP V1 cannot (dispatch.CheckV1Limits), and the report flags it
	// as an extrapolation; without it such a scenario is refused.
	Extrapolate bool `yaml:"extrapolate,omitempty"`
	// V2 (kernel.v2.*) is the V2 kernels' options; kernel.mode v2 only.
	V2 KernelV2 `yaml:"v2,omitempty"`
}

// KernelV2 is the scenario's kernel.v2 section: DeepEP V2's ElasticBuffer
// options that change its kernels.
type KernelV2 struct {
	// Path (kernel.v2.path) is hybrid (allow_hybrid_mode, the default:
	// one RDMA copy per target node, forwarded over NVLink) or direct
	// (every target GPU straight from the source). One node always runs
	// the direct kernels, as DeepEP does.
	Path dispatch.V2Path `yaml:"path,omitempty"`
	// PreferOverlap (kernel.v2.prefer_overlap) is ElasticBuffer's
	// prefer_overlap_with_compute, true by default; false asks for at
	// least 64 SMs when the count is analytical (DeepEP's "Max perf").
	PreferOverlap *bool `yaml:"prefer_overlap,omitempty"`
}

// preferOverlap is kernel.v2.prefer_overlap with its default, true.
func (v KernelV2) preferOverlap() bool { return v.PreferOverlap == nil || *v.PreferOverlap }

// Chunks are one kernel's chunk and ring sizes, in tokens.
type Chunks struct {
	NVLChunk   int `yaml:"nvl_chunk,omitempty"`
	NVLBuffer  int `yaml:"nvl_buffer,omitempty"`
	RDMAChunk  int `yaml:"rdma_chunk,omitempty"`
	RDMABuffer int `yaml:"rdma_buffer,omitempty"`
}

// Schedule is the scenario's schedule.* section.
type Schedule struct {
	Kind ScheduleKind `yaml:"kind"` // schedule.kind: serial, two-microbatch, dualpipe
	// The step beyond one block (schedule.Step): MoE layers per pipeline
	// stage, pipeline stages and micro-batches per step; 1 each by
	// default, which makes the step one block.
	Layers         int `yaml:"layers,omitempty"`
	PipelineStages int `yaml:"pipeline_stages,omitempty"`
	MicroBatches   int `yaml:"micro_batches,omitempty"`
}

// Step is the schedule's pipeline shape.
func (s Schedule) Step() schedule.Step {
	return schedule.Step{Layers: s.Layers, Stages: s.PipelineStages, MicroBatches: s.MicroBatches}
}

// WithDefaults returns s with every unset field filled: the hardware
// preset's constants, DeepSeek-V3's shape, DeepEP's kernel defaults.
func (s Scenario) WithDefaults() Scenario {
	held := s.heldZeros()
	if s.Seed == 0 {
		s.Seed = sim.DefaultSeed
	}
	c := &s.Cluster
	if c.Preset == "" && s.hardware == nil {
		c.Preset = "h800"
	}
	if hw, err := s.baseHardware(); err == nil {
		if c.Nodes == 0 {
			c.Nodes = 1
		}
		for _, spec := range topology.Constants {
			if get, set, ok := c.constant(spec.Key); ok && get() == 0 {
				set(spec.Get(&hw))
			}
		}
		setF(&c.RailOversubscription, hw.RailOversubscription)
	}
	c.Fabric = c.Fabric.withDefaults()
	m, d := &s.Model, model.DeepSeekV3()
	setInt(&m.Hidden, d.Hidden)
	setInt(&m.Experts, d.Experts)
	setInt(&m.TopK, d.TopK)
	setInt(&m.ExpertIntermediate, d.ExpertIntermediate)
	setInt(&m.Heads, d.Heads)
	setInt(&m.HeadDim, d.HeadDim)
	setInt(&m.RopeHeadDim, d.RopeHeadDim)
	setInt(&m.KVLoraRank, d.KVLoraRank)
	setInt(&m.QLoraRank, d.QLoraRank)
	setInt(&m.SeqLen, d.SeqLen)
	setInt(&m.Layers, d.Layers)
	if m.DispatchType == "" {
		m.DispatchType = d.DispatchType
	}
	if m.CombineType == "" {
		m.CombineType = d.CombineType
	}
	w := &s.Workload
	if w.Routing != workload.RoutingTrace {
		setInt(&w.TokensPerGPU, 4096) // a trace gives its own count (withRoutingTokens)
	}
	if w.Routing == "" {
		w.Routing = "node-limited"
	}
	k := &s.Kernel
	if k.Mode == "" {
		k.Mode = dispatch.Normal
	}
	ranks := c.Nodes * c.GPUsPerNode
	if k.Mode == dispatch.V2 {
		// DeepEP V2 sizes its kernels itself: the analytical SM count when
		// num_sms is unset, and no chunks or rings (Validate refuses them).
		if k.V2.Path == "" {
			k.V2.Path = dispatch.V2Hybrid
		}
		if k.V2.PreferOverlap == nil {
			t := true
			k.V2.PreferOverlap = &t
		}
		if k.NumSMs == 0 {
			k.NumSMs = dispatch.V2NumSMs(s.V2Shape())
		}
	}
	userNVLBuffer := k.Combine.NVLBuffer
	if k.Mode != dispatch.V2 {
		setInt(&k.NumSMs, dispatch.DefaultNumSMs)
		k.Dispatch = k.Dispatch.withDefaults(dispatch.DefaultConfig(ranks, k.NumSMs))
		k.Combine = k.Combine.withDefaults(dispatch.DefaultCombineConfig(ranks, k.NumSMs))
	}
	if k.Extrapolate && k.Mode == dispatch.Normal && userNVLBuffer == 0 {
		// DeepEP's table stops at 20 nodes; past it, its largest ring
		// splits into too few slots per node for combine to run. An
		// extrapolated run takes the smallest ring its asserts accept.
		k.Combine.NVLBuffer = dispatch.CombineNVLBufferFor(k.Combine.NVLBuffer, s.CombineConfig(), c.Nodes)
	}
	s.Compute = computeWithDefaults(s.Compute)
	if s.Schedule.Kind == "" {
		s.Schedule.Kind = schedule.ScheduleSerial
	}
	setInt(&s.Schedule.Layers, 1)
	setInt(&s.Schedule.PipelineStages, 1)
	setInt(&s.Schedule.MicroBatches, 1)
	s.keepZeros(held)
	return s
}

func (ch Chunks) withDefaults(d dispatch.Config) Chunks {
	setInt(&ch.NVLChunk, d.NVLChunk)
	setInt(&ch.NVLBuffer, d.NVLBuffer)
	setInt(&ch.RDMAChunk, d.RDMAChunk)
	setInt(&ch.RDMABuffer, d.RDMABuffer)
	return ch
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setF(p *float64, v float64) {
	if *p == 0 {
		*p = v
	}
}

// Topology is the cluster this scenario describes, validated.
func (s Scenario) Topology() (topology.Config, error) {
	c := s.Cluster
	hw, err := s.baseHardware()
	if err != nil {
		return topology.Config{}, err
	}
	for _, spec := range topology.Constants {
		get, _, ok := c.constant(spec.Key)
		field := "cluster." + spec.Key
		if !ok || get() == 0 {
			if ok && s.zeroKept(field) {
				spec.Set(&hw, 0) // checkRanges has refused it where 0 is out of range
			}
			continue // otherwise zero takes the hardware's value, as in WithDefaults
		}
		if err := spec.Check(field, get()); err != nil {
			return topology.Config{}, fmt.Errorf("scenario: %v", err)
		}
		spec.Set(&hw, get())
	}
	hw.Nodes = c.Nodes
	hw.RailOversubscription = c.RailOversubscription
	for i, st := range c.Stragglers {
		ts, err := st.topology(i)
		if err != nil {
			return topology.Config{}, err
		}
		hw.Stragglers = append(hw.Stragglers, ts)
	}
	if hw.Fabric, err = c.Fabric.topology(); err != nil {
		return topology.Config{}, err
	}
	return hw, hw.Validate()
}

// baseHardware is the hardware the cluster section starts from: the
// hardware file it names, or its preset.
func (s Scenario) baseHardware() (topology.Config, error) {
	if s.hardware != nil {
		cfg, err := s.hardware.Config()
		if err != nil {
			return topology.Config{}, fmt.Errorf("scenario: cluster.hardware_file %s: %w", s.Cluster.HardwareFile, err)
		}
		return cfg, nil
	}
	return topology.Preset(s.Cluster.Preset)
}

// DispatchConfig and CombineConfig are the kernels' configurations.
func (s Scenario) DispatchConfig() dispatch.Config { return s.Kernel.config(s.Kernel.Dispatch) }

// CombineConfig is the combine kernel's configuration.
func (s Scenario) CombineConfig() dispatch.Config { return s.Kernel.config(s.Kernel.Combine) }

func (k Kernel) config(ch Chunks) dispatch.Config {
	c := dispatch.Config{Mode: k.Mode, NumSMs: k.NumSMs, NVLChunk: ch.NVLChunk, NVLBuffer: ch.NVLBuffer,
		RDMAChunk: ch.RDMAChunk, RDMABuffer: ch.RDMABuffer, LLRDMAOnly: k.LLRDMAOnly, LLHook: k.LLHook}
	if k.Mode == dispatch.V2 {
		c.V2Path, c.V2MaxPerf = k.V2.Path, !k.V2.preferOverlap()
	}
	return c
}

// NumSMsSource says where kernel.num_sms comes from in kernel.mode v2:
// NumSMsAnalytical when it is DeepEP V2's analytical count for the
// scenario (kernel.num_sms left unset, or set to that same count),
// NumSMsSet when the scenario set another; "" in other modes. It is read
// off the scenario rather than remembered, so the effective scenario a
// result holds, run again, reports the same.
func (s Scenario) NumSMsSource() string {
	switch {
	case s.Kernel.Mode != dispatch.V2:
		return ""
	case s.Kernel.NumSMs == dispatch.V2NumSMs(s.V2Shape()):
		return NumSMsAnalytical
	}
	return NumSMsSet
}

// Values of KernelSummary.NumSMsSource.
const (
	// NumSMsAnalytical: DeepEP V2's get_theoretical_num_sms
	// (dispatch.V2NumSMs), which fills kernel.num_sms when it is unset.
	NumSMsAnalytical = "analytical"
	// NumSMsSet: the scenario's kernel.num_sms, another count.
	NumSMsSet = "set"
)

// V2Shape is what DeepEP V2's analytical SM and QP counts read from the
// scenario after WithDefaults: the cluster's domains, the NIC's line rate
// (DeepEP reads ibstat's rate, not what kernels achieve), the nominal
// NVLink rate, the GPU's SMs, the expert slots and top-k, and the path.
func (s Scenario) V2Shape() dispatch.V2Shape {
	c, m := s.Cluster, s.Model
	return dispatch.V2Shape{Nodes: c.Nodes, GPUsPerNode: c.GPUsPerNode, Experts: s.expertSlots(), TopK: m.TopK,
		RDMAGBps: c.NICGBps, NVLinkNominalGBps: c.NVLinkNominalGBps, DeviceSMs: c.SMs,
		Hybrid: s.Kernel.V2.Path != dispatch.V2Direct, MaxPerf: !s.Kernel.V2.preferOverlap()}
}

// formats are the dispatch and combine wire formats the model names.
func (s Scenario) formats() (dispatchFmt, combineFmt dispatch.Format, err error) {
	if dispatchFmt, err = dispatch.FormatNamed("model.dispatch_dtype", s.Model.DispatchType); err != nil {
		return
	}
	combineFmt, err = dispatch.FormatNamed("model.combine_dtype", s.Model.CombineType)
	return
}

// expertSlots is DeepEP's num_experts: expert slots, redundant replicas
// included.
func (s Scenario) expertSlots() int {
	m, c := s.Model, s.Cluster
	if p, err := workload.Placement(m, c.Nodes*c.GPUsPerNode); err == nil {
		return p.Slots()
	}
	return m.Experts + m.RedundantExperts
}

// Validate checks a scenario after WithDefaults. Every error names the
// field path, the value and what is allowed.
func (s Scenario) Validate() error {
	if _, err := s.baseHardware(); err != nil {
		return err // cluster.preset or the hardware file, before the fields it fills
	}
	if err := s.checkRanges(); err != nil {
		return err
	}
	hw, err := s.Topology()
	if err != nil {
		return err
	}
	m := s.Model
	pos := func(field string, v, max int) error {
		if v < 1 || v > max {
			return fmt.Errorf("scenario: %s = %d, want 1..%d", field, v, max)
		}
		return nil
	}
	for _, err := range []error{
		pos("model.hidden", m.Hidden, 1<<16),
		pos("model.experts", m.Experts, 1<<16),
		pos("model.topk", m.TopK, 64),
		pos("model.expert_intermediate", m.ExpertIntermediate, 1<<17),
	} {
		if err != nil {
			return err
		}
	}
	if m.MaxNodesPerToken < 0 || m.MaxNodesPerToken > hw.Nodes {
		return fmt.Errorf("scenario: model.max_nodes_per_token = %d, want 0 (no limit) or 1..%d (cluster.nodes)", m.MaxNodesPerToken, hw.Nodes)
	}
	if m.TopK > m.Experts {
		return fmt.Errorf("scenario: model.topk = %d is above model.experts = %d", m.TopK, m.Experts)
	}
	if most := m.Experts * (hw.GPUs() - 1); m.RedundantExperts < 0 || m.RedundantExperts > most {
		return fmt.Errorf("scenario: model.redundant_experts = %d, want 0..%d (model.experts × (GPUs - 1): a GPU holds at most one copy of an expert)",
			m.RedundantExperts, most)
	}
	if _, err := dispatch.FormatNamed("model.dispatch_dtype", m.DispatchType); err != nil {
		return err
	}
	if m.CombineType != "bf16" && m.CombineType != "fp8" {
		return fmt.Errorf("scenario: model.combine_dtype = %q, want bf16 or fp8", m.CombineType)
	}
	if len(m.Placement) > 0 {
		if _, err := workload.ExplicitPlacement(m, hw.GPUs()); err != nil {
			return err
		}
	} else if ranks := hw.GPUs(); (m.Experts+m.RedundantExperts)%ranks != 0 {
		return fmt.Errorf("scenario: model.experts + model.redundant_experts = %d must be a multiple of the %d GPUs (cluster.nodes × cluster.gpus_per_node) so every GPU holds the same number of experts",
			m.Experts+m.RedundantExperts, ranks)
	}
	if err := s.checkV2Fields(); err != nil {
		return err
	}
	if err := s.DispatchConfig().Validate(hw.GPU.SMs); err != nil {
		return err
	}
	// DeepEP V1's limits first: past them, the combine ring check below
	// fails for want of kernel.extrapolate, which sizes the ring.
	if err := s.V1Limits(); err != nil && !s.Kernel.Extrapolate {
		return err
	}
	if err := s.V2Limits(); err != nil && !s.Kernel.Extrapolate {
		return err
	}
	if err := combine.CheckConfig(s.CombineConfig(), hw.GPU.SMs, hw.Nodes); err != nil {
		return err
	}
	if err := s.Compute.Validate(); err != nil {
		return err
	}
	if _, err := workload.StartOffsets(s.Workload.StartSkewUs, 0, 0, ""); err != nil {
		return err
	}
	if s.Workload.StartSkewUs > 0 && s.Kernel.Mode != dispatch.Normal {
		return fmt.Errorf("scenario: workload.start_skew_us = %g needs kernel.mode = normal (the %s kernels start every rank at once)", s.Workload.StartSkewUs, s.Kernel.Mode)
	}
	if err := s.checkCompute(hw); err != nil {
		return err
	}
	if s.Workload.Routing != workload.RoutingTrace {
		// A one-token draw runs every check the generator makes on the
		// workload and model, without the cost of a full routing.
		dry := s
		dry.Workload.TokensPerGPU = 1
		if dry.Workload.HotRankFactor > 1 {
			dry.Workload.HotRankFactor = 1
		}
		if _, err := Routing(dry, RunOptions{}); err != nil {
			return err
		}
	}
	if err := s.Schedule.Kind.Validate(); err != nil {
		return err
	}
	return s.Schedule.Step().Validate(s.Schedule.Kind)
}

// V1Limits returns the *dispatch.LimitError of a normal-mode scenario
// that DeepEP V1 cannot run, or nil (for other modes too).
func (s Scenario) V1Limits() error {
	if s.Kernel.Mode != dispatch.Normal {
		return nil
	}
	m, c := s.Model, s.Cluster
	df, cf, err := s.formats()
	if err != nil {
		return err
	}
	return dispatch.CheckV1Limits(dispatch.V1Shape{Nodes: c.Nodes, GPUsPerNode: c.GPUsPerNode,
		Hidden: m.Hidden, TopK: m.TopK, Experts: s.expertSlots(), Dispatch: df, Combine: cf,
		DispatchCfg: s.DispatchConfig(), CombineCfg: s.CombineConfig()})
}

// V2Limits returns the *dispatch.LimitError of a v2-mode scenario that
// DeepEP V2 cannot run, or nil (for other modes too).
func (s Scenario) V2Limits() error {
	if s.Kernel.Mode != dispatch.V2 {
		return nil
	}
	m, c := s.Model, s.Cluster
	df, cf, err := s.formats()
	if err != nil {
		return err
	}
	return dispatch.CheckV2Limits(dispatch.V2LimitShape{Nodes: c.Nodes, GPUsPerNode: c.GPUsPerNode,
		Hidden: m.Hidden, TopK: m.TopK, Experts: s.expertSlots(), Dispatch: df, Combine: cf,
		NumSMs: s.Kernel.NumSMs, Path: s.Kernel.V2.Path})
}

// checkV2Fields refuses the kernel fields that do not apply to the
// scenario's mode: kernel.v2.* outside v2, and in v2 the chunk and ring
// sizes (V2 has no rings) and an SM count V2 could not size.
func (s Scenario) checkV2Fields() error {
	k := s.Kernel
	if k.Mode != dispatch.V2 {
		if k.V2.Path != "" || k.V2.PreferOverlap != nil {
			return fmt.Errorf("scenario: kernel.v2 is set but kernel.mode = %s; kernel.v2.path and kernel.v2.prefer_overlap apply to kernel.mode v2 only", k.Mode)
		}
		return nil
	}
	for _, ch := range []struct {
		name string
		c    Chunks
	}{{"dispatch", k.Dispatch}, {"combine", k.Combine}} {
		for _, f := range []struct {
			key string
			v   int
		}{{"nvl_chunk", ch.c.NVLChunk}, {"nvl_buffer", ch.c.NVLBuffer}, {"rdma_chunk", ch.c.RDMAChunk}, {"rdma_buffer", ch.c.RDMABuffer}} {
			if f.v != 0 {
				return fmt.Errorf("scenario: kernel.%s.%s = %d does not apply to kernel.mode v2: DeepEP V2 has no chunked rings (every source gets a region for all its tokens); remove it",
					ch.name, f.key, f.v)
			}
		}
	}
	if k.LLRDMAOnly || k.LLHook {
		return fmt.Errorf("scenario: kernel.ll_rdma_only and kernel.ll_hook apply to kernel.mode low-latency, not v2")
	}
	if k.NumSMs == 0 {
		return fmt.Errorf("scenario: kernel.num_sms is unset and DeepEP V2's analytical count (get_theoretical_num_sms) cannot size this cluster and model (experts not a multiple of the ranks, or no NIC or NVLink rate); set kernel.num_sms")
	}
	return nil
}

func computeWithDefaults(c Compute) Compute {
	d := compute.DefaultCompute()
	setF(&c.Efficiency, d.Efficiency)
	setInt(&c.TileM, d.TileM)
	setInt(&c.TileN, d.TileN)
	if c.Precision == "" {
		c.Precision = d.Precision
	}
	if c.SMCarveout == nil {
		c.SMCarveout = d.SMCarveout
	}
	return c
}
