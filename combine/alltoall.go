package combine

import (
	"fmt"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// a2aPieceBytes is the piece size the baseline interleaves peers at, as in
// dispatch's baseline: NCCL moves point-to-point traffic in chunks of this
// order (NCCL_P2P_NET_CHUNKSIZE defaults to 128 KiB).
const a2aPieceBytes = 128 << 10

// a2a is the reverse all-to-allv: every expert GPU returns each source the
// rows it received from it, one message per (expert GPU, source GPU) pair.
type a2a struct {
	eng  *sim.Engine
	cl   *topology.Cluster
	last []sim.Time // per source: when its last piece landed
}

// a2aFlow is one (expert GPU, source GPU) message.
type a2aFlow struct {
	k        *a2a
	src, dst int // src holds the rows; dst is the tokens' source
	left     int64
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

// runAllToAll is the baseline a plain all-to-allv combine gives: no
// per-node reduction, so a token with three experts' GPUs on one remote
// node crosses IB three times, and inter-node messages go NIC to NIC
// whatever the rails. The sum at the source and the SMs are not modelled,
// as in dispatch's baseline.
func runAllToAll(cl *topology.Cluster, lay *dispatch.Layout, f dispatch.Format, hidden int, opt dispatch.Options) (*dispatch.Result, error) {
	eng := sim.NewEngine(defaultLimits(opt.Limits))
	k := &a2a{eng: eng, cl: cl, last: make([]sim.Time, lay.Ranks)}
	rec := int64(f.PayloadBytes(hidden))
	for src := range lay.Ranks {
		// Start each sender at a different peer so no source is hit by
		// every sender at once.
		for i := range lay.Ranks {
			dst := (src + i) % lay.Ranks
			n := int64(lay.RankTokens[dst][src]) * rec
			if n == 0 {
				continue
			}
			eng.At(0, &a2aFlow{k: k, src: src, dst: dst, left: n}, 0)
		}
	}
	if err := eng.Run(); err != nil {
		return nil, fmt.Errorf("combine: %w", err)
	}
	res := &dispatch.Result{Mode: dispatch.AllToAll, RecordBytes: int(rec), Events: eng.Steps(), RankFinish: k.last}
	var span sim.Time
	for _, t := range k.last {
		span = max(span, t)
	}
	dispatch.Summarize(res, cl, lay, f.PayloadBytes(hidden), span, nil)
	return res, nil
}
