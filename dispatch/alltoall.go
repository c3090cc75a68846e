package dispatch

import (
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// a2aPieceBytes is the piece size the baseline all-to-all interleaves
// peers at: NCCL moves point-to-point traffic in chunks of this order
// (NCCL_P2P_NET_CHUNKSIZE defaults to 128 KiB).
const a2aPieceBytes = 128 << 10

// a2aFlow is one (source, target) message of the baseline.
type a2aFlow struct {
	k        *a2a
	src, dst int
	left     int64
}

type a2a struct {
	eng  *sim.Engine
	cl   *topology.Cluster
	last []sim.Time
}

// Handle sends the flow's next piece when the previous one has left the
// sender: one piece in flight per flow, as a proxy with one buffer slot.
func (f *a2aFlow) Handle(now sim.Time, arg int64) {
	if arg == 1 { // a piece landed
		f.k.last[f.dst] = max(f.k.last[f.dst], now)
		return
	}
	if f.left == 0 {
		return
	}
	n := min(f.left, a2aPieceBytes)
	f.left -= n
	r := f.k.cl.Route(f.src, f.dst)
	arrive := now
	if r.Kind != topology.Local {
		arrive = sim.Transfer(now, n, r.Latency, r.Ports...)
	}
	f.k.eng.At(arrive, f, 1)
	f.k.eng.At(arrive-r.Latency, f, 0)
}

// runAllToAll is the baseline: a plain all-to-allv with one message per
// (source GPU, target GPU) and no forwarding, so a token with three
// experts on one remote node crosses IB three times. Inter-node messages
// go NIC to NIC whatever the rails; flows are driven by the engine in
// pieces so that they share ports fairly. SMs are not modelled: NCCL's
// kernels use their own few SMs and are rarely copy-bound.
func runAllToAll(cl *topology.Cluster, lay *Layout, cfg Config, f Format, hidden int, opt Options) (*Result, error) {
	eng := sim.NewEngine(defaultLimits(opt.Limits))
	k := &a2a{eng: eng, cl: cl, last: make([]sim.Time, lay.Ranks)}
	rec := int64(f.PayloadBytes(hidden))
	for src := range lay.Ranks {
		// Start each source at a different peer so no target is hit by
		// every source at once.
		for i := range lay.Ranks {
			dst := (src + i) % lay.Ranks
			n := int64(lay.RankTokens[src][dst]) * rec
			if n == 0 {
				continue
			}
			eng.At(0, &a2aFlow{k: k, src: src, dst: dst, left: n}, 0)
		}
	}
	if err := eng.Run(); err != nil {
		return nil, err
	}
	res := &Result{Mode: AllToAll, RecordBytes: int(rec), Events: eng.Steps(), RankFinish: k.last,
		Handle: &Handle{Layout: lay, Config: cfg}}
	var span sim.Time
	for _, t := range k.last {
		span = max(span, t)
	}
	Summarize(res, cl, lay, f.PayloadBytes(hidden), span, nil)
	return res, nil
}
