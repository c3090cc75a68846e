package dispatch

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Options control a run without changing the model.
type Options struct {
	// Limits bound the engine; zero fields get generous defaults.
	Limits sim.Limits
	// Verify tracks every (token, target GPU) record end to end and fails
	// the run if one is lost, duplicated or misdelivered. It costs memory
	// and time; tests turn it on.
	Verify bool
	// Tracer, when set, receives one record per chunk moved.
	Tracer sim.Tracer
	// StartOffsets, when set, is each rank's kernel start after time zero
	// (rank skew): a rank's warp roles start then and its SMs take no work
	// before it. Nil starts every rank at zero. Normal-mode kernels only.
	StartOffsets []sim.Time
}

// Offset is rank's start offset (0 without StartOffsets).
func (o Options) Offset(rank int) sim.Time {
	if rank < len(o.StartOffsets) {
		return o.StartOffsets[rank]
	}
	return 0
}

// NewSMPort is SM i of rank's copy port: the GPU's per-SM copy rate over
// the rank's straggler factor, held until the rank's kernel starts.
func NewSMPort(c topology.Config, rank, i int, opt Options) *sim.Port {
	p := sim.NewPort(smPortName(rank, i, ""), c.GPU.SMCopyBytesPerSec/c.GPUFactor(rank))
	p.Hold(opt.Offset(rank))
	return p
}

// smPortName is the name of GPU rank's SM i's port, "gpu<rank>.sm<i>" and
// then suffix: built by hand, as a kernel at thousands of GPUs names
// hundreds of thousands of ports and fmt.Sprintf costs several times as
// much.
func smPortName(rank, i int, suffix string) string {
	var buf [32]byte
	b := append(buf[:0], "gpu"...)
	b = strconv.AppendInt(b, int64(rank), 10)
	b = append(b, ".sm"...)
	b = strconv.AppendInt(b, int64(i), 10)
	return string(append(b, suffix...))
}

// ErrStall wraps the error of a run that stopped with work left: a
// configuration that cannot make progress. The message names what waits.
// Package combine wraps it too.
var ErrStall = errors.New("stalled with work left")

type kernel struct {
	eng    *sim.Engine
	cl     *topology.Cluster
	lay    *Layout
	cfg    Config
	fmt    Format
	hidden int
	rec    int64 // physical bytes per record
	gpn    int
	ch     int
	smPs   [][]*sim.Port // [rank][sm]

	senders  []*rdmaSender // [rank*ch+c], nil in intranode mode
	forwards []*forwarder
	// fwdWarps is every forwarder's warps, forwarder i's (k.forwards[i])
	// at [i*gpn, (i+1)*gpn).
	fwdWarps  []fwdWarp
	receivers []*receiver

	// The cached network paths: NIC to NIC on src's rail to node
	// dstNode, and NVLink to local GPU dstLocal of src's node.
	ibRoutes  []topology.Route // [src*nodes+dstNode], same local index
	nvlRoutes []topology.Route // [src*gpn+dstLocal]

	nodeBuf []int
	nodes   *tokenNodes // the senders' tokens' target nodes
	// The RDMA senders' targets (buildForwarders): sender s's are
	// [sendAt[s], sendAt[s+1]) of sendNodes (node numbers) and sendPer
	// (counts).
	sendAt    []int32
	sendNodes []uint16
	sendPer   []nodeCount
	verify    *verifier
	costs     Costs
	// peerWarps is the warps a forwarder (intranode: sender) or an NVL
	// receiver gives each peer GPU.
	peerWarps int

	// The forwarders' queue records, every queue's a contiguous run:
	// recTok the token index, recMask maskBytes bytes of target local
	// GPUs per record.
	recTok    []int32
	recMask   []uint8
	maskBytes int
}

func (k *kernel) sm(rank, i int) *sim.Port       { return k.smPs[rank][i] }
func (k *kernel) fwd(rank, c int) *forwarder     { return k.forwards[rank*k.ch+c] }
func (k *kernel) recv(rank, c int) *receiver     { return k.receivers[rank*k.ch+c] }
func (k *kernel) sender(rank, c int) *rdmaSender { return k.senders[rank*k.ch+c] }

// ChannelSlice is the contiguous token range channel c of a rank with n
// tokens owns: [c*ceil(n/C), min((c+1)*ceil(n/C), n)), as in DeepEP.
func ChannelSlice(n, channels, c int) (lo, hi int) {
	per := (n + channels - 1) / channels
	lo = min(c*per, n)
	hi = min(lo+per, n)
	return lo, hi
}

// Run simulates one dispatch of the layout on the cluster: DeepEP's normal
// kernel, or the all-to-all baseline or the low-latency kernel as cfg.Mode
// says. The cluster's ports accumulate this run's traffic.
func Run(cl *topology.Cluster, lay *Layout, cfg Config, f Format, hidden int, opt Options) (*Result, error) {
	if err := cfg.Validate(cl.Config.GPU.SMs); err != nil {
		return nil, err
	}
	if lay.Ranks != cl.Config.GPUs() || lay.GPUsPerNode != cl.Config.GPUsPerNode {
		return nil, fmt.Errorf("dispatch: layout is for %d ranks of %d per node, cluster has %d of %d",
			lay.Ranks, lay.GPUsPerNode, cl.Config.GPUs(), cl.Config.GPUsPerNode)
	}
	var k Kernel
	switch cfg.Mode {
	case AllToAll:
		k = newAllToAll(cl, lay, f, hidden, a2aDispatch, opt)
	case LowLatency:
		k = newLowLatency(cl, lay, cfg, f, hidden, llDispatch, opt)
	case V2:
		var err error
		if k, err = newV2(cl, lay, cfg, f, hidden, opt); err != nil {
			return nil, err
		}
	default:
		k = newKernel(cl, lay, cfg, f, hidden, opt)
	}
	res, err := Execute("dispatch", k)
	if err != nil {
		return nil, err
	}
	res.Handle = &Handle{Layout: lay, Config: cfg}
	if v2, ok := k.(*v2Dispatch); ok {
		res.Handle.v2 = v2.fwd
	}
	return res, nil
}

// The normal kernel as a Kernel for Execute.
func (k *kernel) Engine() *sim.Engine { return k.eng }
func (k *kernel) Finished() error     { return k.checkFinished() }
func (k *kernel) Result() *Result     { return k.result() }
func (k *kernel) Verified() error {
	if k.verify == nil {
		return nil
	}
	return k.verify.check()
}

// EngineLimits are the options' limits with generous defaults for the
// fields left at zero: a run that needs more is spinning.
func (o Options) EngineLimits() sim.Limits {
	l := o.Limits
	if l.MaxEvents == 0 {
		l.MaxEvents = 1 << 31
	}
	if l.MaxTime == 0 {
		l.MaxTime = 60 * sim.Second
	}
	return l
}

func newKernel(cl *topology.Cluster, lay *Layout, cfg Config, f Format, hidden int, opt Options) *kernel {
	ranks, gpn, nodes := lay.Ranks, lay.GPUsPerNode, lay.Nodes
	k := &kernel{
		eng: sim.NewEngine(opt.EngineLimits()),
		cl:  cl, lay: lay, cfg: cfg, fmt: f,
		rec: int64(f.NormalDispatchBytes(hidden, lay.TopK, nodes)), hidden: hidden,
		gpn: gpn, ch: cfg.Channels(),
		nodeBuf: make([]int, 0, nodes),
		costs:   NewCosts(cl.Config),
	}
	k.peerWarps = 1
	if nodes == 1 {
		k.peerWarps = IntranodeWarpsPerPeer(gpn)
	}
	k.eng.SetTracer(opt.Tracer)
	if opt.Verify {
		k.verify = newVerifier(lay, k.ch)
	}
	k.smPs = make([][]*sim.Port, ranks)
	for r := range ranks {
		k.smPs[r] = make([]*sim.Port, cfg.NumSMs)
		for i := range cfg.NumSMs {
			k.smPs[r][i] = NewSMPort(cl.Config, r, i, opt)
		}
	}
	k.nvlRoutes = make([]topology.Route, ranks*gpn)
	k.ibRoutes = make([]topology.Route, ranks*nodes)
	for src := range ranks {
		base := src - src%gpn
		for d := range gpn {
			k.nvlRoutes[src*gpn+d] = cl.Route(src, base+d)
		}
		for m := range nodes {
			k.ibRoutes[src*nodes+m] = cl.Route(src, m*gpn+src%gpn)
		}
	}
	internode := nodes > 1
	k.buildForwarders(internode)
	if !internode {
		for _, fw := range k.forwards {
			fw.queues[0].tail = fw.queues[0].n
			for d := range fw.warps {
				fw.setReady(d, 0)
			}
			// A GPU's sender warps run side by side; the model starts
			// them one after another on their SM's queue, so start each
			// GPU at its next peer: every receiver then gets its first
			// chunks at once instead of GPU 0 first and the last GPU last.
			for i := range fw.warps {
				d := (fw.rank + 1 + i) % gpn
				k.eng.At(opt.Offset(fw.rank), fw, sim.PackArg(evNVLCredit, d, 0))
			}
		}
		return k
	}
	k.senders = make([]*rdmaSender, ranks*k.ch)
	k.nodes = lay.tokenNodes()
	sendSlab := make([]rdmaSender, ranks*k.ch)
	// A sender with fewer targets than nodes reads its tokens' targets
	// as indices in its per from a run of visits, mapped here once: read
	// token after token like the node numbers, where a search per target
	// would cost more. The others read the node numbers, their own
	// indices.
	sparse := 0
	for r := range ranks {
		at := k.nodes.at[r]
		for c := range k.ch {
			if i := r*k.ch + c; int(k.sendAt[i+1]-k.sendAt[i]) < nodes {
				lo, hi := ChannelSlice(lay.Tokens[r], k.ch, c)
				sparse += int(at[hi] - at[lo])
			}
		}
	}
	visits := make([]uint16, sparse)
	index := make([]uint16, nodes) // a sender's target index by node
	for r := range ranks {
		node := r / gpn
		at := k.nodes.at[r]
		for c := range k.ch {
			i := r*k.ch + c
			lo, hi := ChannelSlice(lay.Tokens[r], k.ch, c)
			t0, t1 := k.sendAt[i], k.sendAt[i+1]
			s := &sendSlab[i]
			*s = rdmaSender{k: k, rank: r, c: c, node: node, local: r % gpn, lo: lo, hi: hi, pos: lo,
				per: k.sendPer[t0:t1:t1], nodes: k.sendNodes[t0:t1:t1],
				ib: k.ibRoutes[r*nodes : (r+1)*nodes], blockedOn: -1}
			// The coordinator starts at node (c+node) mod nodes.
			from := uint16((c + node) % nodes)
			s.first, _ = slices.BinarySearch(s.nodes, from)
			if s.first == len(s.nodes) {
				s.first = 0
			}
			s.visits = k.nodes.nodes
			if len(s.nodes) < nodes {
				s.visits, visits = visits[:at[hi]-at[lo]], visits[at[hi]-at[lo]:]
				s.vbase = at[lo]
				for j, m := range s.nodes {
					index[m] = uint16(j)
				}
				// Every target node of the slice's tokens is a target.
				for v, m := range k.nodes.nodes[at[lo]:at[hi]] {
					s.visits[v] = index[m]
				}
			}
			k.senders[i] = s
			k.eng.At(opt.Offset(r), s, sim.PackArg(evRDMACredit, 0, 0))
		}
	}
	return k
}

// checkFinished returns an ErrStall diagnosis if any record did not arrive.
func (k *kernel) checkFinished() error {
	want, got := 0, 0
	for _, r := range k.lay.RecvRows {
		want += r
	}
	for _, r := range k.receivers {
		got += r.rows
	}
	if got == want {
		return nil
	}
	return fmt.Errorf("dispatch: %w at %v with %d of %d records delivered: %s", ErrStall, k.eng.Now(), got, want, k.diagnose())
}

// diagnose names the first waiting warps found, in rank and channel order.
func (k *kernel) diagnose() string {
	var msgs []string
	add := func(s string) bool {
		msgs = append(msgs, s)
		return len(msgs) >= 3
	}
	for _, s := range k.senders {
		if s.pos < s.hi && s.blockedOn >= 0 {
			p := &s.per[s.blockedOn]
			if add(fmt.Sprintf("channel %d rank %d: RDMA sender waits for room in its ring to node %d (%d of %d slots held, %d credited back)",
				s.c, s.rank, s.nodes[s.blockedOn], p.written-p.credit, k.cfg.RDMABuffer, p.credit)) {
				break
			}
		}
	}
	for _, f := range k.forwards {
		for d := range f.warps {
			w := &f.warps[d]
			if w.sent == w.total {
				continue
			}
			dst := f.rank - f.rank%k.gpn + d
			what := "records from its source rings"
			if w.waitNVL {
				what = fmt.Sprintf("room in rank %d's NVL ring (%d of %d slots held)", dst, w.sent-w.credit, k.cfg.NVLBuffer)
			}
			if add(fmt.Sprintf("channel %d rank %d: forwarder warp for rank %d waits for %s, %d of %d records forwarded",
				f.c, f.rank, dst, what, w.sent, w.total)) {
				return join(msgs)
			}
		}
	}
	if len(msgs) == 0 {
		return "no warp is waiting; records were lost"
	}
	return join(msgs)
}

func join(msgs []string) string {
	out := ""
	for i, m := range msgs {
		if i > 0 {
			out += "; "
		}
		out += m
	}
	return out
}
