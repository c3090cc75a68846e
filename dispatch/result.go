package dispatch

import (
	"slices"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Result is what one dispatch (or combine, which shares the shape) run
// reports.
type Result struct {
	Mode Mode
	// Time is the kernel's duration as a profiler sees it: launch plus the
	// span until the last row lands in its output buffer.
	Time sim.Time
	// NotifyTime is notify_dispatch: the barrier and exchange of counts
	// before the first dispatch of a layout, reported apart.
	NotifyTime sim.Time
	// LayoutTime is get_dispatch_layout, the kernel that counts tokens per
	// rank, node and expert before a new layout's notify: reported apart,
	// set by normal-mode dispatch only (an estimate; docs/model.md).
	LayoutTime sim.Time
	// CachedNotifyTime is cached_notify (barrier plus buffer cleaning),
	// which runs before every dispatch that reuses a handle; DeepEP's
	// benchmarks time it together with the kernel.
	CachedNotifyTime sim.Time
	// RankFinish is when each rank's last row landed, from kernel start.
	RankFinish []sim.Time

	// DeepEP's logical accounting, per rank (mean over ranks): RDMA counts
	// every (token, target node) pair including the own node, NVL every
	// received row including the self copy, both at the payload size.
	LogicalRDMABytes float64
	LogicalNVLBytes  float64
	// RDMAGBps and NVLGBps are the logical bytes over Time + CachedNotify,
	// as DeepEP's test_internode/test_intranode print them.
	RDMAGBps, NVLGBps float64

	// Physical bytes that crossed each link class, all ranks.
	IBBytes, NVLinkBytes int64
	// SMBytes is what the kernel's SMs copied and read to reduce, all
	// ranks: with IBBytes, the HBM traffic it adds beside compute.
	SMBytes int64
	// Utilization of each resource class over the kernel span.
	IB, NVLink, SM Utilization
	// Spine is the utilization of the fabric's leaf-to-spine links
	// (cluster.fabric), zero when the fabric has no spine.
	Spine Utilization
	// Bottleneck is the resource class with the highest peak utilization:
	// "IB", "NVLink", "SM copy", "spine" (the fabric's leaf uplinks), or
	// "latency" when none is busy most of
	// the time.
	Bottleneck string

	// The low-latency kernels' (token, expert) data messages and their
	// counts or flags (one per (expert, GPU) pair), all GPUs.
	Messages, Signals int64
	// SendTime is the low-latency send phase (kernel start to the last
	// GPU's SMs free), RecvTime its receive phase; with kernel.ll_hook
	// WireTime is the transfer between them, when no SM is held.
	SendTime, WireTime, RecvTime sim.Time

	// EpilogueTime is DeepEP V2's second kernel, launched behind the main
	// one on every SM of the GPU: the copy epilogue of dispatch (receive
	// buffer to the user's tensors) or the reduce epilogue of combine.
	// DeepEP's benchmark times the main kernel alone, so Time leaves it
	// out; the schedule runs it on the compute stream.
	EpilogueTime sim.Time
	// V2Path is the route a V2 kernel took ("hybrid", "direct"); QPs its
	// queue pairs per GPU (DeepEP's get_theoretical_num_qps).
	V2Path V2Path
	QPs    int

	Routing     Stats
	RecordBytes int
	Events      int64
	Handle      *Handle
}

// Utilization summarizes busy time over the kernel span across the ports
// of one class.
type Utilization struct {
	Mean, Max float64
}

// Handle is what combine needs from the dispatch that preceded it: the
// layout (who received which token) and the channel split.
type Handle struct {
	Layout *Layout
	Config Config
	// v2 is a hybrid V2 dispatch's forwarding order, which its combine
	// replays.
	v2 *v2Forwarding
}

func utilization(ports []*sim.Port, span sim.Time) Utilization {
	var u Utilization
	if len(ports) == 0 {
		return u
	}
	for _, p := range ports {
		x := p.Utilization(span)
		u.Mean += x
		u.Max = max(u.Max, x)
	}
	u.Mean /= float64(len(ports))
	return u
}

// bottleneckThreshold: a class is the bottleneck only when some port of it
// is busy this share of the span; below it the time goes to latency
// (pipeline fill, credit round trips).
const bottleneckThreshold = 0.7

// Summarize fills the fields every kernel reports from res.RankFinish (the
// span is kernel start to the last rank's finish), the cluster's port
// counters and the SM ports the kernel used: times, DeepEP's logical byte
// accounting at payloadBytes per row, physical bytes, utilization and the
// bottleneck. It returns the span.
func Summarize(res *Result, cl *topology.Cluster, lay *Layout, payloadBytes int, sms []*sim.Port) sim.Time {
	var span sim.Time
	for _, t := range res.RankFinish {
		span = max(span, t)
	}
	res.Routing = lay.Stats()
	res.NotifyTime, res.CachedNotifyTime = notifyTimes(cl, len(lay.ExpertTokens))
	res.Time = cl.Config.KernelLaunch + span
	payload := float64(payloadBytes)
	var rdma, nvl float64
	for src := range lay.Ranks {
		for _, n := range lay.NodeTokens[src] {
			rdma += float64(n)
		}
		nvl += float64(lay.RecvRows[src])
	}
	res.LogicalRDMABytes = rdma * payload / float64(lay.Ranks)
	res.LogicalNVLBytes = nvl * payload / float64(lay.Ranks)
	bench := (res.Time + res.CachedNotifyTime).Seconds()
	if lay.Nodes > 1 {
		res.RDMAGBps = res.LogicalRDMABytes / bench / 1e9
	}
	res.NVLGBps = res.LogicalNVLBytes / bench / 1e9

	var nics, nvls []*sim.Port
	for i := range cl.Devices {
		d := &cl.Devices[i]
		for p := range d.NICOuts { // every plane's port
			nics = append(nics, d.NICOuts[p], d.NICIns[p])
		}
		nvls = append(nvls, d.NVLinkOut, d.NVLinkIn)
		res.IBBytes += d.NICBytes()
		res.NVLinkBytes += d.NVLinkOut.Bytes()
	}
	res.IB = utilization(nics, span)
	res.NVLink = utilization(nvls, span)
	res.SM = utilization(sms, span)
	var spine []*sim.Port
	for _, links := range cl.Uplinks() {
		spine = append(spine, links...)
	}
	for _, links := range cl.Downlinks() {
		spine = append(spine, links...)
	}
	res.Spine = utilization(spine, span)
	for _, p := range sms {
		res.SMBytes += p.Bytes()
	}
	res.Bottleneck = "latency"
	best := bottleneckThreshold
	for _, c := range []struct {
		name string
		u    float64
	}{{"IB", res.IB.Max}, {"NVLink", res.NVLink.Max}, {"SM copy", res.SM.Max}, {"spine", res.Spine.Max}} {
		if c.u > best {
			best, res.Bottleneck = c.u, c.name
		}
	}
	return span
}

func (k *kernel) result() *Result {
	res := &Result{Mode: Normal, RecordBytes: int(k.rec), Events: k.eng.Steps(),
		RankFinish: make([]sim.Time, k.lay.Ranks),
		Handle:     &Handle{Layout: k.lay, Config: k.cfg}}
	for _, r := range k.receivers {
		res.RankFinish[r.rank] = max(res.RankFinish[r.rank], r.last)
	}
	Summarize(res, k.cl, k.lay, k.fmt.PayloadBytes(k.hidden), slices.Concat(k.smPs...))
	res.LayoutTime = LayoutTime(k.cl.Config, k.lay)
	return res
}
