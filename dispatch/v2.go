package dispatch

import (
	"errors"
	"fmt"
	"math"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// DeepEP V2's expert-parallel kernels (the ElasticBuffer, deep_ep/impls
// at dd758ca), both directions and both paths. What differs from V1
// (docs/model.md, "DeepEP V2") and why it matters here:
//
//   - A token moves as one bulk (TMA) copy: one elected lane loads the
//     whole record into shared memory and each destination gets one bulk
//     store from it, over NVLink straight into the peer's receive buffer.
//     A warp is not held to V1's per-warp streaming rate: it pays the
//     bulk per-record time (cluster.bulk_record_ns) and its bytes at the
//     SM's bulk rates, and waits for its stores to complete before its
//     next token (one token in flight per warp); a few warps saturate an
//     SM (topology/probe/bulk.py measures all three).
//   - Receive buffers hold every token a source can send (no rings, no
//     credits): nothing but the SM, the links and the completion waits
//     bounds a warp.
//   - Hybrid (more than one node, allow_hybrid_mode): each SM runs 8
//     channels (4 with prefer_overlap_with_compute off); channel c's
//     scale-out warp sends its tokens (t ≡ c mod channels) once per
//     target node, over RDMA to the GPU of the same local index there,
//     and bumps a tail there every 6 tokens; that GPU's forward warp c
//     takes up to 6 visible tokens from one source node at a time and
//     stores each to its target GPUs in the node. Tokens for the own node
//     skip the NIC (a local store into the own scale-out window).
//   - Direct (one node, or allow_hybrid_mode off): 28 warps per SM (FP8
//     at hidden 7168; as many records as shared memory holds), each a
//     token at a time, one store per target GPU (NVLink) or a staging
//     store and one RDMA put per target GPU in another node.
//   - Combine reverses it: direct, 16 warps per SM return each received
//     row to its source; hybrid, scale-up warp c returns rows to the
//     forwarders round-robin and releases a tail every 3 rounds, and
//     forward warp c on the forwarder, replaying its dispatch order, sums
//     the node's rows of a token once they are all in and puts the sum to
//     the source node; finish signals end it.
//   - Notify is fused (4 warps per SM exchange counts while the data warps
//     run), and a second kernel on every SM (the copy epilogue of
//     dispatch, the reduce epilogue of combine) moves the received rows to
//     the user's tensors: reported as EpilogueTime, not in Time, as
//     DeepEP's benchmark times the main kernel only.
//
// Invariants (Verified): every (token, target GPU) row lands exactly once
// at its target in dispatch; in combine every received row returns (as
// itself, direct, or inside its node's sum, hybrid) and every (token,
// target node) sum reaches the token's GPU.

// DeepEP V2's sizes (deep_ep/include/deep_ep/common/layout.cuh,
// impls/*.cuh at dd758ca).
const (
	// v2MaxSMs is kNumMaxSMs (csrc/elastic/buffer.hpp): a hybrid kernel's
	// channel arrays are sized for 160 SMs.
	v2MaxSMs = 160
	// v2SharedMemory is the opt-in shared memory per block on H100 and
	// B200 (232448 B; device_runtime.hpp), which bounds the records a
	// block stages and so its warps.
	v2SharedMemory = 232448
	// v2MaxDataWarps: direct dispatch takes at most 32 less the 4 warps
	// of the fused count exchange.
	v2MaxDataWarps = 28
	// v2MaxChannelsPerSM caps a hybrid SM's channels (8; 4 with
	// prefer_overlap_with_compute off), buffer.hpp.
	v2MaxChannelsPerSM = 8
	v2MaxPerfChannels  = 4
	// v2ScaleoutInterval: a scale-out warp bumps a destination's tail
	// every 6 tokens (kScaleoutUpdateInterval); a forward warp takes at
	// most 6 slots of one source at a time (kNumSlotsPerForwardChunk).
	v2ScaleoutInterval = 6
	v2ForwardChunk     = 6
	// v2ScaleupInterval: combine's scale-up warp releases its tails every
	// 3 rounds (kNumScaleupUpdateInterval).
	v2ScaleupInterval = 3
	// v2Align is the TMA alignment of each part of a record
	// (kNumTMAAlignBytes).
	v2Align = 32
	// v2SignalBytes is a tail bump or finish signal: one 64-bit word.
	v2SignalBytes = 8
)

// v2GridSync is a cooperative grid barrier (arrive on a global counter,
// spin until every block has): assumed 1 µs, two L2 round trips and the
// slowest block's arrival, as the kernels' prologue and epilogue pay it.
const v2GridSync = sim.Microsecond

func (c Config) validateV2(deviceSMs int) error {
	switch c.V2Path {
	case V2Hybrid, V2Direct:
	default:
		return fmt.Errorf("dispatch: kernel.v2.path = %q, want %s or %s", c.V2Path, V2Hybrid, V2Direct)
	}
	if hi := min(deviceSMs, v2MaxSMs); c.NumSMs < 2 || c.NumSMs > hi {
		return fmt.Errorf("dispatch: kernel.num_sms = %d, want 2..%d for the V2 kernels (the GPU has %d SMs; DeepEP V2 sizes its channels for at most %d)",
			c.NumSMs, hi, deviceSMs, v2MaxSMs)
	}
	return nil
}

// v2Routes are the routes a V2 kernel's warps take between GPUs of
// different nodes, looked up once per pair as the kernel first needs it.
// The map holds pointers, so a lookup hands out the cached route rather
// than a copy the caller's pointer would move to the heap, once per
// record.
type v2Routes struct {
	cl    *topology.Cluster
	ranks int64
	m     map[int64]*topology.Route
}

func newV2Routes(cl *topology.Cluster) v2Routes {
	return v2Routes{cl: cl, ranks: int64(cl.Config.GPUs()), m: map[int64]*topology.Route{}}
}

// route is the route from src to dst, shared: callers only read it.
func (rs v2Routes) route(src, dst int) *topology.Route {
	key := int64(src)*rs.ranks + int64(dst)
	r := rs.m[key]
	if r == nil {
		rt := rs.cl.Route(src, dst)
		r = &rt
		rs.m[key] = r
	}
	return r
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// V2DispatchBytes is a V2 dispatch record on the wire: the hidden vector,
// its scales and the metadata (top-k ids and weights, the source token
// index, k linked-list slots), each part aligned to 32 B (layout.cuh
// TokenLayout): 7520 B for FP8 at hidden 7168, top-8.
func V2DispatchBytes(f Format, hidden, topk int) int {
	hid := (hidden*f.ElemBits + 7) / 8
	sf := f.PayloadBytes(hidden) - hid
	return alignUp(hid, v2Align) + alignUp(sf, v2Align) + alignUp(topk*8+(1+topk)*4, v2Align)
}

// V2CombineBytes is a V2 combine record: the BF16 row and the top-k ids
// and weights (14400 B at hidden 7168, top-8).
func V2CombineBytes(f Format, hidden, topk int) int {
	hid := (hidden*f.ElemBits + 7) / 8
	return alignUp(hid, v2Align) + alignUp(topk*8, v2Align)
}

// v2CountedBytes is what DeepEP V2's test counts per token
// (tests/elastic/test_ep.py count_bytes): dispatch the row, its scales,
// int64 top-k ids and fp32 weights (7488 B for FP8 top-8); combine the
// row and the weights (14368 B).
func v2CountedBytes(f Format, hidden, topk int, dir llDirection) int {
	if dir == llCombine {
		return f.PayloadBytes(hidden) + 4*topk
	}
	return f.PayloadBytes(hidden) + 12*topk
}

// v2Warps is the data warps per SM of a direct kernel: as many records
// of rec bytes (plus an 8 B mbarrier, aligned) as shared memory holds
// beside notify's counters, at most 28 (dispatch) or 32 (combine).
func v2Warps(rec, notifyBytes, most int) int {
	slot := alignUp(rec, v2Align) + v2Align
	return max(min((v2SharedMemory-notifyBytes)/slot, most), 1)
}

// v2ChannelsPerSM is a hybrid kernel's channels per SM (buffer.hpp): half
// the records that fit both ways, at most 8 (4 with max-perf).
func v2ChannelsPerSM(dispRec, combRec, notifyBytes int, maxPerf bool) int {
	d := (v2SharedMemory - notifyBytes) / (alignUp(dispRec, v2Align) + v2Align)
	c := v2SharedMemory / (alignUp(combRec, v2Align) + v2Align)
	n := min(d, v2MaxDataWarps, c) / 2
	if maxPerf {
		return max(min(n, v2MaxPerfChannels), 1)
	}
	return max(min(n, v2MaxChannelsPerSM), 1)
}

// v2NotifyBytes is notify's shared counters: (ranks + experts) int32,
// aligned to 128.
func v2NotifyBytes(ranks, experts int) int { return alignUp(ranks+experts, 128) * 4 }

// v2Geometry is the geometry one V2 run uses (records, SMs, channels),
// shared by both directions; V2Shape is what DeepEP's SM estimate reads.
type v2Geometry struct {
	hybrid      bool // the run is hybrid: allowed, and more than one node
	allowHybrid bool // kernel.v2.path: hybrid (DeepEP sizes its QPs by the flag)
	sms         int
	channels    int // hybrid: channels per GPU (sms × per SM)
	perSM       int // hybrid: channels per SM; direct: warps per SM
	dispRec     int // dispatch record on the wire
	combRec     int // combine record on the wire
	dispCounted int
	combCounted int
}

func newV2Geometry(c topology.Config, lay *Layout, cfg Config, dispFmt, combFmt Format, hidden int) v2Geometry {
	s := v2Geometry{
		hybrid:      cfg.V2Path == V2Hybrid && lay.Nodes > 1,
		allowHybrid: cfg.V2Path == V2Hybrid,
		sms:         cfg.NumSMs,
		dispRec:     V2DispatchBytes(dispFmt, hidden, lay.TopK),
		combRec:     V2CombineBytes(combFmt, hidden, lay.TopK),
	}
	s.dispCounted = v2CountedBytes(dispFmt, hidden, lay.TopK, llDispatch)
	s.combCounted = v2CountedBytes(combFmt, hidden, lay.TopK, llCombine)
	notify := v2NotifyBytes(lay.Ranks, len(lay.ExpertTokens))
	if s.hybrid {
		s.perSM = v2ChannelsPerSM(s.dispRec, s.combRec, notify, cfg.V2MaxPerf)
		s.channels = s.sms * s.perSM
	}
	return s
}

// v2Run is what both directions of a V2 run hold: the engine, the
// cluster and layout, the SMs, the NIC's time per message, the barriers
// and each rank's last landing.
type v2Run struct {
	eng   *sim.Engine
	cl    *topology.Cluster
	lay   *Layout
	shape v2Geometry
	sms   [][]v2SM
	smPs  [][]*sim.Port // the SMs' write ports
	gpn   int
	msg   sim.Time // NIC time per put or signal

	start, endBarrier, notify sim.Time
	last                      []sim.Time // per rank: when its last data landed
	end                       sim.Time   // the last data warp finished
	remote                    v2Routes   // routes to GPUs of other nodes
}

func newV2Run(cl *topology.Cluster, lay *Layout, shape v2Geometry, opt Options) v2Run {
	c := cl.Config
	costs := NewCosts(c)
	r := v2Run{eng: sim.NewEngine(opt.EngineLimits()), cl: cl, lay: lay, shape: shape,
		gpn: lay.GPUsPerNode, msg: costs.Message(), last: make([]sim.Time, lay.Ranks), remote: newV2Routes(cl)}
	r.sms, r.smPs = v2SMs(c, lay.Ranks, shape.sms, opt)
	r.eng.SetTracer(opt.Tracer)
	r.start, r.endBarrier, r.notify = v2Barriers(c, shape.hybrid)
	return r
}

// sm is the SM of rank r's channel (hybrid) or warp (direct) i.
func (k *v2Run) sm(r, i int) v2SM { return k.sms[r][i/k.shape.perSM%k.shape.sms] }

// land is when a record of rec bytes that GPU from has loaded at loaded
// and staged by stored (its stores have left the SM) lands on GPU to: on
// the own GPU then, over NVLink inside the node by a bulk store the warp
// waits for (wait), in another node by an RDMA put of the staged copy,
// which the warp does not wait for.
func (k *v2Run) land(now, loaded, stored sim.Time, rec int64, from, to int) (at sim.Time, wait bool) {
	switch {
	case to == from:
		return stored, false
	case to/k.gpn == from/k.gpn:
		return k.nvlink(now, loaded, stored, rec, from, to), true
	}
	rt := k.remote.route(from, to)
	return sim.TransferMessageAt(now, stored, rec, k.msg, rt.Latency, rt.Ports...), false
}

// nvlink is when a record of rec bytes that GPU from has loaded at loaded
// lands on GPU to of its node: the bulk store's NVLink transfer, never
// before floor (the warp's stores leaving its SM).
func (k *v2Run) nvlink(now, loaded, floor sim.Time, rec int64, from, to int) sim.Time {
	return max(floor, sim.TransferAt(now, loaded, rec, k.cl.Config.NVLinkLatency, k.cl.Devices[from].NVLinkOut, k.cl.Devices[to].NVLinkIn))
}

// v2Forwarding is what a V2 dispatch leaves for its combine: its shape
// (DeepEP's combine reuses the dispatch's SMs and channels) and, hybrid,
// each (GPU, channel) forward warp's tokens in the order it forwarded
// them.
type v2Forwarding struct {
	shape v2Geometry
	// src[g*channels+c], tok[g*channels+c] list (source rank, token)
	// pairs; nil for a direct dispatch.
	src, tok [][]int32
}

// v2Path is the path a run takes: hybrid needs more than one node.
func (s v2Geometry) path() V2Path {
	if s.hybrid {
		return V2Hybrid
	}
	return V2Direct
}

// v2Barriers are the prologue (before any data warp starts) and the end
// barrier of a V2 kernel, and when notify's count exchange is done,
// counted from the kernel's start.
func v2Barriers(c topology.Config, hybrid bool) (prologue, end, notify sim.Time) {
	nvl := nvlBarrier(c)
	if c.Nodes <= 1 {
		// NVLink signal barrier on SM 0 after a grid sync; notify's
		// counts go to peers by NVLink stores.
		return v2GridSync + nvl, v2GridSync + nvl, v2GridSync + 2*nvl
	}
	rdma := rdmaBarrier(c)
	prologue = v2GridSync + max(nvl, rdma) // scale-up and scale-out barriers at once
	// Counts: one Gin put per scale-out peer (and its signal), the wait
	// for the peers', then NVLink stores to the node's GPUs and their wait.
	peers := sim.Time(c.Nodes - 1)
	notify = v2GridSync + rdmaPostCost + peers*nicMessageGap + c.IBLatency + 2*nvl
	if hybrid {
		return prologue, nvl, notify // scale-up barrier only
	}
	return prologue, v2GridSync + max(nvl, rdma), notify
}

// v2SM is one SM of a V2 kernel: its bulk loads and its bulk stores
// bound apart, as DeepEP's own model of an SM has them
// (get_theoretical_num_sms takes the larger of a read and a write term)
// and as the kit measures them (topology/probe/bulk.py: an SM's bulk
// loads run at about four times its record copies, beside them). The
// write port runs at the SM's bulk copy rate, the read port at its bulk
// load rate; record is a warp's fixed time per record (the load's latency
// and the wait for its store), the GPU's straggler factor applied.
type v2SM struct {
	read, write *sim.Port
	record      sim.Time
}

// v2SMs builds each rank's SMs for a V2 kernel, and their write ports (the
// SM copy utilization a result reports).
func v2SMs(c topology.Config, ranks, sms int, opt Options) ([][]v2SM, [][]*sim.Port) {
	out := make([][]v2SM, ranks)
	writes := make([][]*sim.Port, ranks)
	for r := range out {
		f := c.GPUFactor(r)
		rec := sim.Time(math.Round(float64(c.GPU.BulkRecordOverhead) * f))
		out[r] = make([]v2SM, sms)
		writes[r] = make([]*sim.Port, sms)
		for i := range out[r] {
			w := sim.NewPort(smPortName(r, i, ""), c.GPU.SMBulkCopyBytesPerSec/f)
			w.Hold(opt.Offset(r))
			rd := sim.NewPort(smPortName(r, i, ".read"), c.GPU.SMBulkLoadBytesPerSec/f)
			out[r][i], writes[r][i] = v2SM{read: rd, write: w, record: rec}, w
		}
	}
	return out, writes
}

// copy is a warp's bulk load of loads bytes (n records) issued at at (at
// or after the engine's now), then its bulk stores of stores bytes: it
// returns when the load is in (the warp may go on) and when the stores
// have left the SM. Offers ahead of now keep the ports' idle time before
// them for other warps (sim.TransferAt).
func (sm v2SM) copy(now, at sim.Time, n int, loads, stores int64) (loaded, stored sim.Time) {
	loaded = max(sim.TransferAt(now, at, loads, 0, sm.read), at+sim.Time(n)*sm.record)
	stored = loaded
	if stores > 0 {
		stored = sim.TransferAt(now, loaded, stores, 0, sm.write)
	}
	return loaded, stored
}

// newV2 sets up a V2 dispatch.
func newV2(cl *topology.Cluster, lay *Layout, cfg Config, f Format, hidden int, opt Options) (Kernel, error) {
	if len(opt.StartOffsets) > 0 {
		return nil, errors.New("dispatch: start offsets (workload.start_skew_us) need kernel.mode = normal; the V2 kernels start every rank at once")
	}
	// The combine format is BF16 in every DeepEP test; the shape needs it
	// only for a hybrid SM's channel count, which both kernels share.
	bf16, _ := FormatNamed("model.combine_dtype", "bf16")
	shape := newV2Geometry(cl.Config, lay, cfg, f, bf16, hidden)
	return newV2Dispatch(cl, lay, shape, opt), nil
}

// V2Combine runs DeepEP V2's combine: the reverse of the V2 dispatch whose
// handle is h. f is the combine's wire format.
func V2Combine(cl *topology.Cluster, h *Handle, cfg Config, f Format, hidden int, opt Options) (*Result, error) {
	if len(opt.StartOffsets) > 0 {
		return nil, errors.New("combine: start offsets (workload.start_skew_us) need kernel.mode = normal; the V2 kernels start every rank at once")
	}
	if h.Config.Mode != V2 {
		return nil, fmt.Errorf("combine: kernel.mode = v2 needs a V2 dispatch's handle, got one from kernel.mode = %s", h.Config.Mode)
	}
	if h.Config.NumSMs != cfg.NumSMs || h.Config.V2Path != cfg.V2Path || h.Config.V2MaxPerf != cfg.V2MaxPerf {
		return nil, fmt.Errorf("combine: kernel.num_sms = %d (path %s) differs from the dispatch's %d (path %s); DeepEP V2's combine reuses the dispatch handle's SMs and channels",
			cfg.NumSMs, cfg.V2Path, h.Config.NumSMs, h.Config.V2Path)
	}
	if h.v2 == nil {
		return nil, errors.New("combine: the dispatch handle carries no V2 dispatch's shape and forwarding order")
	}
	// The dispatch's channels, this kernel's records.
	shape := h.v2.shape
	shape.combRec = V2CombineBytes(f, hidden, h.Layout.TopK)
	shape.combCounted = v2CountedBytes(f, hidden, h.Layout.TopK, llCombine)
	res, err := Execute("combine", newV2Combine(cl, h, shape, opt))
	if err != nil {
		return nil, err
	}
	res.Handle = h
	return res, nil
}

// result is a finished V2 run's Result for records of rec bytes on the
// wire and counted bytes as DeepEP's benchmark counts them: the common
// summary, then V2's own timing: no separate notify (it is fused; the
// kernel ends after it and the end barrier), the main kernel's span, and
// the benchmark bandwidth over it alone, as test_ep.py takes it (kineto's
// main kernel, no epilogue). Its scale-out figure is 0 when the logical
// scale-out domain is one: one node, or path direct.
func (k *v2Run) result(rec int64, counted int) *Result {
	res := &Result{Mode: V2, RecordBytes: int(rec), Events: k.eng.Steps(), RankFinish: k.last,
		V2Path: k.shape.path(), QPs: V2NumQPs(V2Shape{Hybrid: k.shape.allowHybrid}, k.shape.sms)}
	end := max(k.end, k.notify) + k.endBarrier
	for _, t := range k.last {
		end = max(end, t+k.endBarrier)
	}
	var ports []*sim.Port
	for _, p := range k.smPs {
		ports = append(ports, p...)
	}
	Summarize(res, k.cl, k.lay, counted, ports)
	res.NotifyTime, res.CachedNotifyTime = 0, 0
	res.Time = k.cl.Config.KernelLaunch + end
	bench := res.Time.Seconds()
	res.RDMAGBps = 0
	if res.V2Path == V2Hybrid {
		res.RDMAGBps = res.LogicalRDMABytes / bench / 1e9
	}
	res.NVLGBps = res.LogicalNVLBytes / bench / 1e9
	return res
}
