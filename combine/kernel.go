package combine

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Warp counts of DeepEP V1's combine kernels (567632d).
const (
	// combineForwarderWarps is internode.cu's kNumCombineForwarderWarps:
	// the forwarder SM splits 24 warps over the source nodes, at least one
	// each, and the sender SM keeps as many minus its 8 NVL senders as
	// RDMA receivers.
	combineForwarderWarps = 24
	nvlSenderWarps        = 8
	// intranodeRecvWarps: intranode.cu's combine runs 768 threads per
	// block; on the receiver SM one warp moves the queue heads and 23 sum.
	intranodeRecvWarps = 768/32 - 1
)

// kernel is one combine run: the engine, the warp roles of every (GPU,
// channel), and the routes and SM ports they use.
//
// SM layout (DeepEP V1 end): channel c owns SMs 2c and 2c+1. Across nodes
// the even SM holds the NVL senders and the RDMA receivers (and a
// coordinator that returns RDMA credits), the odd SM the forwarders (and a
// coordinator that returns NVL credits). Within a node the even SM sends
// and the odd SM receives. Coordinators poll shared memory and cost no SM
// time here; each role's copies and sums queue on its SM's one port, so
// copy and reduce work of the warps sharing an SM serialize.
type kernel struct {
	eng       *sim.Engine
	cl        *topology.Cluster
	lay       *dispatch.Layout
	cfg       dispatch.Config
	rec       int64 // bytes per combine record
	payload   int   // bytes per row as DeepEP's tests count them
	gpn       int
	nodes     int
	ch        int
	internode bool
	// parts is the number of NVL ring partitions per (channel, sender) on
	// the consumer: one per source node across nodes, one within a node.
	parts int
	// nvlSlots is the size of one NVL ring partition.
	nvlSlots int
	// fwdWarps is the forwarder warps per source node (a "large warp"),
	// recvWarps the reducing warps of a receiver: the most tokens either
	// sums at once.
	fwdWarps, recvWarps int
	// reduceScale turns bytes summed into bytes of SM copy time, since a
	// reduction and a copy share the SM's one port.
	reduceScale float64
	smPs        [][]*sim.Port // [rank][sm]

	senders   []*nvlSender // [rank*ch+c]
	forwards  []*forwarder // [rank*ch+c], internode only
	receivers []*receiver  // [rank*ch+c]

	nvlRoutes  []topology.Route // [src*gpn+dstLocal]
	railRoutes []topology.Route // [src*nodes+dstNode]: same local index

	tracer sim.Tracer
	verify *verifier
}

func (k *kernel) sender(rank, c int) *nvlSender { return k.senders[rank*k.ch+c] }
func (k *kernel) fwd(rank, c int) *forwarder    { return k.forwards[rank*k.ch+c] }
func (k *kernel) recv(rank, c int) *receiver    { return k.receivers[rank*k.ch+c] }
func (k *kernel) sm(rank, i int) *sim.Port      { return k.smPs[rank][i] }
func (k *kernel) nodeOf(rank int) int           { return rank / k.gpn }

// reduceBytes is the SM port time of summing rows records, in bytes at the
// SM's copy rate.
func (k *kernel) reduceBytes(rows int) int64 {
	b := int64(rows) * k.rec
	if k.reduceScale == 1 {
		return b
	}
	return int64(math.Ceil(float64(b) * k.reduceScale))
}

// Run simulates one normal-mode combine that reverses the dispatch
// described by h, on cluster cl (whose ports accumulate this run's
// traffic: callers pass a fresh or Reset cluster). f is the combine's wire
// format (BF16 in DeepEP). cfg.Mode AllToAll runs the plain reverse
// all-to-allv baseline instead, and LowLatency DeepEP's low-latency combine.
func Run(cl *topology.Cluster, h *dispatch.Handle, cfg dispatch.Config, f dispatch.Format, hidden int, opt dispatch.Options) (*dispatch.Result, error) {
	if err := cfg.Validate(cl.Config.GPU.SMs); err != nil {
		return nil, err
	}
	if h == nil || h.Layout == nil {
		return nil, errors.New("combine: no dispatch handle: combine reverses a dispatch and needs the layout it returned")
	}
	lay := h.Layout
	if lay.Ranks != cl.Config.GPUs() || lay.GPUsPerNode != cl.Config.GPUsPerNode {
		return nil, fmt.Errorf("combine: handle's layout is for %d ranks of %d per node, cluster has %d of %d",
			lay.Ranks, lay.GPUsPerNode, cl.Config.GPUs(), cl.Config.GPUsPerNode)
	}
	if hidden < 1 || hidden > 1<<20 {
		return nil, fmt.Errorf("combine: model.hidden = %d, want 1..%d", hidden, 1<<20)
	}
	switch cfg.Mode {
	case dispatch.AllToAll, dispatch.LowLatency:
		run := runAllToAll
		if cfg.Mode == dispatch.LowLatency {
			// One BF16 row per (token, expert) back to the token's GPU,
			// summed there: the low-latency kernel run in reverse.
			run = func(cl *topology.Cluster, lay *dispatch.Layout, f dispatch.Format, hidden int, opt dispatch.Options) (*dispatch.Result, error) {
				return dispatch.RunLowLatency(cl, lay, f, hidden, true, opt)
			}
		}
		res, err := run(cl, lay, f, hidden, opt)
		if err != nil {
			return nil, err
		}
		res.Handle = h
		return res, nil
	}
	// DeepEP's combine reads the dispatch's per-channel prefix matrices,
	// so it asserts the same channel count (deep_ep.cpp, *_combine).
	if h.Config.Mode == dispatch.Normal && h.Config.NumSMs != 0 && h.Config.NumSMs != cfg.NumSMs {
		return nil, fmt.Errorf("combine: kernel.num_sms = %d, but the dispatch handle was made with %d; combine must use the dispatch's channels",
			cfg.NumSMs, h.Config.NumSMs)
	}
	k := newKernel(cl, lay, cfg, f, hidden, opt)
	res, err := k.run()
	if err != nil {
		return nil, err
	}
	res.Handle = h
	return res, nil
}

func (k *kernel) run() (*dispatch.Result, error) {
	if err := k.eng.Run(); err != nil {
		return nil, fmt.Errorf("combine: %w", err)
	}
	if err := k.checkFinished(); err != nil {
		return nil, err
	}
	if k.verify != nil {
		if err := k.verify.check(); err != nil {
			return nil, err
		}
	}
	return k.result(), nil
}

func defaultLimits(l sim.Limits) sim.Limits {
	if l.MaxEvents == 0 {
		l.MaxEvents = 1 << 31
	}
	if l.MaxTime == 0 {
		l.MaxTime = 60 * sim.Second
	}
	return l
}

func newKernel(cl *topology.Cluster, lay *dispatch.Layout, cfg dispatch.Config, f dispatch.Format, hidden int, opt dispatch.Options) *kernel {
	ranks, gpn, nodes := lay.Ranks, lay.GPUsPerNode, lay.Nodes
	gpu := cl.Config.GPU
	k := &kernel{
		eng: sim.NewEngine(defaultLimits(opt.Limits)),
		cl:  cl, lay: lay, cfg: cfg,
		rec:     int64(f.CombineRecordBytes(hidden, lay.TopK)),
		payload: f.PayloadBytes(hidden),
		gpn:     gpn, nodes: nodes, ch: cfg.Channels(),
		internode:   nodes > 1,
		reduceScale: gpu.SMCopyBytesPerSec / gpu.SMReduceBytesPerSec,
		tracer:      opt.Tracer,
	}
	k.eng.SetTracer(opt.Tracer)
	if k.internode {
		// DeepEP splits the NVL ring of each (channel, sender) into one
		// partition per source node, "to avoid deadlocks":
		// num_max_nvl_chunked_recv_tokens / kNumRDMARanks slots each.
		k.parts = nodes
		k.nvlSlots = cfg.NVLBuffer / nodes
		k.fwdWarps = max(combineForwarderWarps/nodes, 1)
		k.recvWarps = max(nodes*k.fwdWarps-nvlSenderWarps, 1)
	} else {
		k.parts = 1
		k.nvlSlots = cfg.NVLBuffer
		k.recvWarps = intranodeRecvWarps
	}

	k.smPs = make([][]*sim.Port, ranks)
	for r := range ranks {
		k.smPs[r] = make([]*sim.Port, cfg.NumSMs)
		for i := range cfg.NumSMs {
			k.smPs[r][i] = sim.NewPort(fmt.Sprintf("gpu%d.sm%d", r, i), gpu.SMCopyBytesPerSec)
		}
	}
	k.nvlRoutes = make([]topology.Route, ranks*gpn)
	k.railRoutes = make([]topology.Route, ranks*nodes)
	for src := range ranks {
		base := src - src%gpn
		for d := range gpn {
			k.nvlRoutes[src*gpn+d] = cl.Route(src, base+d)
		}
		for m := range nodes {
			k.railRoutes[src*nodes+m] = cl.Route(src, m*gpn+src%gpn)
		}
	}

	k.senders = make([]*nvlSender, ranks*k.ch)
	k.receivers = make([]*receiver, ranks*k.ch)
	if k.internode {
		k.forwards = make([]*forwarder, ranks*k.ch)
	}
	streams := gpn
	if k.internode {
		streams = nodes
	}
	for r := range ranks {
		for c := range k.ch {
			k.senders[r*k.ch+c] = newNVLSender(k, r, c)
			k.receivers[r*k.ch+c] = newReceiver(k, r, c, streams)
			if k.internode {
				k.forwards[r*k.ch+c] = newForwarder(k, r, c)
			}
		}
	}
	k.fill()
	if opt.Verify {
		k.verify = newVerifier(k)
	}
	for _, s := range k.senders {
		for w := range s.warps {
			k.eng.At(0, s, pack(evFreed, w*k.parts, 0))
		}
	}
	for _, r := range k.receivers {
		k.eng.At(0, r, pack(evKick, 0, 0))
	}
	return k
}

// fill gives every warp role its work: each source rank's channel slice,
// in token order, as DeepEP's prefix matrices lay it out.
func (k *kernel) fill() {
	lay, gpn := k.lay, k.gpn
	var locals, nodes []uint16
	for src := range lay.Ranks {
		srcNode, srcLocal := k.nodeOf(src), src%gpn
		for c := range k.ch {
			lo, hi := dispatch.ChannelSlice(lay.Tokens[src], k.ch, c)
			recv := k.recv(src, c)
			for t := lo; t < hi; t++ {
				targets := lay.Targets(src, t)
				if !k.internode {
					locals = locals[:0]
					for _, d := range targets {
						locals = append(locals, uint16(d))
						k.sender(int(d), c).total[srcLocal]++
					}
					recv.q.push(t, locals...)
					continue
				}
				nodes = nodes[:0]
				for i := 0; i < len(targets); {
					m := int(targets[i]) / gpn
					nodes = append(nodes, uint16(m))
					locals = locals[:0]
					for ; i < len(targets) && int(targets[i])/gpn == m; i++ {
						d := int(targets[i])
						locals = append(locals, uint16(d%gpn))
						// d's warp for forwarder (m, srcLocal), partition srcNode.
						k.sender(d, c).total[srcLocal*k.parts+srcNode]++
					}
					k.fwd(m*gpn+srcLocal, c).groups[srcNode].q.push(t, locals...)
				}
				recv.q.push(t, nodes...)
			}
		}
	}
}

// checkFinished returns an ErrStall diagnosis if any output token was not
// summed.
func (k *kernel) checkFinished() error {
	want, got := 0, 0
	for _, r := range k.receivers {
		want += r.q.len()
		got += r.done
	}
	if got == want {
		return nil
	}
	return fmt.Errorf("combine: %w at %v with %d of %d tokens summed: %s", dispatch.ErrStall, k.eng.Now(), got, want, k.diagnose())
}

// diagnose names the first waiting warps found, senders first (a stall
// starts where rows cannot be produced), in rank and channel order.
func (k *kernel) diagnose() string {
	var msgs []string
	const most = 3
	for _, s := range k.senders {
		for _, m := range s.waiting() {
			if msgs = append(msgs, m); len(msgs) >= most {
				return strings.Join(msgs, "; ")
			}
		}
	}
	for _, f := range k.forwards {
		for _, m := range f.waiting() {
			if msgs = append(msgs, m); len(msgs) >= most {
				return strings.Join(msgs, "; ")
			}
		}
	}
	for _, r := range k.receivers {
		if m := r.waiting(); m != "" {
			if msgs = append(msgs, m); len(msgs) >= most {
				return strings.Join(msgs, "; ")
			}
		}
	}
	if len(msgs) == 0 {
		return "no warp is waiting; rows were lost"
	}
	return strings.Join(msgs, "; ")
}

func (k *kernel) result() *dispatch.Result {
	res := &dispatch.Result{Mode: dispatch.Normal, RecordBytes: int(k.rec), Events: k.eng.Steps(),
		RankFinish: make([]sim.Time, k.lay.Ranks)}
	var span sim.Time
	for _, r := range k.receivers {
		res.RankFinish[r.rank] = max(res.RankFinish[r.rank], r.last)
		span = max(span, r.last)
	}
	var sms []*sim.Port
	for _, ps := range k.smPs {
		sms = append(sms, ps...)
	}
	dispatch.Summarize(res, k.cl, k.lay, k.payload, span, sms)
	return res
}

// trace emits one span when tracing is on. Peer is a GPU for NVLink, a
// node for RDMA, -1 for a reduction.
func (k *kernel) trace(start, end sim.Time, ev, role string, gpu, c, peer int, link string, bytes int64, tokens int) {
	if k.tracer == nil {
		return
	}
	k.tracer.Trace(sim.Record{At: start, Dur: end - start, Event: ev, Role: role, GPU: gpu, Channel: c, Peer: peer,
		Link: link, Bytes: bytes, Tokens: tokens})
}
