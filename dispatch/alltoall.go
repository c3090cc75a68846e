package dispatch

import (
	"slices"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// a2aPieceBytes is the piece size the baseline all-to-all interleaves
// peers at: NCCL moves point-to-point traffic in chunks of this order
// (NCCL_P2P_NET_CHUNKSIZE defaults to 128 KiB).
const a2aPieceBytes = 128 << 10

// a2aFlow is one (sending GPU, receiving GPU) message of the baseline.
type a2aFlow struct {
	k        *a2a
	from, to int
	left     int64
}

type a2a struct {
	eng  *sim.Engine
	cl   *topology.Cluster
	last []sim.Time // per receiving GPU: when its last piece landed
	// routeBuf backs the ports of the route of the piece being sent.
	routeBuf []*sim.Port
}

// Handle sends the flow's next piece when the previous one has left the
// sender: one piece in flight per flow, as a proxy with one buffer slot.
func (f *a2aFlow) Handle(now sim.Time, arg int64) {
	if arg == 1 { // a piece landed
		f.k.last[f.to] = max(f.k.last[f.to], now)
		return
	}
	if f.left == 0 {
		return
	}
	n := min(f.left, a2aPieceBytes)
	f.left -= n
	// Routed per piece into one reused slice, not kept per flow.
	r := f.k.cl.RouteInto(f.k.routeBuf, f.from, f.to)
	arrive := now
	if r.Kind != topology.Local {
		arrive = sim.Transfer(now, n, r.Latency, r.Ports...)
	}
	f.k.eng.At(arrive, f, 1)
	f.k.eng.At(arrive-r.Latency, f, 0)
}

// a2aDirection says which way the baseline moves rows: a dispatch sends
// each token's row to its target GPUs, a combine sends each target GPU's
// row back to the token's GPU.
type a2aDirection uint8

const (
	a2aDispatch a2aDirection = iota
	a2aCombine
)

// allToAll is one run of the baseline, as a Kernel for Execute.
type allToAll struct {
	*a2a
	lay *Layout
	rec int64
}

// newAllToAll sets up the baseline a plain all-to-allv gives, as NCCL runs
// it for token dispatchers that do not forward: one message per (source
// GPU, target GPU) carrying the source's tokens for that GPU, so a token
// with three target GPUs on one remote node crosses IB three times;
// inter-node messages go NIC to NIC whatever the rails. Combine's baseline
// returns the rows from each target GPU to the token's GPU, where they are
// summed (the sum is not modelled). Flows are driven by the engine in
// pieces so they share ports fairly. SMs are not modelled: NCCL's kernels
// use their own few SMs and are rarely copy-bound.
func newAllToAll(cl *topology.Cluster, lay *Layout, f Format, hidden int, dir a2aDirection, opt Options) *allToAll {
	eng := sim.NewEngine(opt.EngineLimits())
	k := &allToAll{a2a: &a2a{eng: eng, cl: cl, last: make([]sim.Time, lay.Ranks), routeBuf: make([]*sim.Port, 0, topology.MaxRoutePorts)}, lay: lay,
		rec: int64(f.PayloadBytes(hidden))}
	peers := lay.RankPeers(dir == a2aCombine)
	// The flows, one per (sender, receiver) pair that carries rows, in
	// one slab rather than an object each.
	n := 0
	for from := range lay.Ranks {
		to, _ := peers.Of(from)
		n += len(to)
	}
	flows := make([]a2aFlow, 0, n)
	for from := range lay.Ranks {
		// Start each sender at a different peer so no GPU is hit by every
		// sender at once: its peers from itself up, then from 0.
		to, tokens := peers.Of(from)
		first, _ := slices.BinarySearch(to, int32(from))
		for i := range to {
			j := (first + i) % len(to)
			flows = append(flows, a2aFlow{k: k.a2a, from: from, to: int(to[j]), left: int64(tokens[j]) * k.rec})
			eng.At(0, &flows[len(flows)-1], 0)
		}
	}
	return k
}

// AllToAllCombine runs combine's all-to-all baseline: the reverse of the
// dispatch whose handle is h.
func AllToAllCombine(cl *topology.Cluster, h *Handle, f Format, hidden int, opt Options) (*Result, error) {
	res, err := Execute("combine", newAllToAll(cl, h.Layout, f, hidden, a2aCombine, opt))
	if err != nil {
		return nil, err
	}
	res.Handle = h
	return res, nil
}

func (k *allToAll) Engine() *sim.Engine { return k.eng }
func (k *allToAll) Verified() error     { return nil }

// Finished: every flow sends until it is empty, so a run that ends is
// complete.
func (k *allToAll) Finished() error { return nil }

func (k *allToAll) Result() *Result {
	res := &Result{Mode: AllToAll, RecordBytes: int(k.rec), Events: k.eng.Steps(), RankFinish: k.last}
	Summarize(res, k.cl, k.lay, int(k.rec), nil)
	return res
}
