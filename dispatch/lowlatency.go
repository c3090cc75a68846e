package dispatch

import (
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// llHeaderBytes is the 16 B header (source token index) in front of every
// low-latency message (DeepEP internode_ll.cu: 7408 B per FP8 message at
// hidden 7168).
const llHeaderBytes = 16

// llSource issues one rank's messages: one per (token, selected expert),
// never deduplicated, token by token at the rate its SMs cast and stage
// them.
type llSource struct {
	k    *llKernel
	rank int
	next int
}

type llKernel struct {
	eng     *sim.Engine
	cl      *topology.Cluster
	lay     *Layout
	reverse bool
	rdma    bool     // every message through the NICs, same node or not
	msg     int64    // bytes per message
	perTok  sim.Time // SM time to stage one token
	last    []sim.Time
	msgs    int64
}

// Handle sends the messages of the source's next token, then schedules
// the token after it.
func (s *llSource) Handle(now sim.Time, arg int64) {
	k := s.k
	t := s.next
	s.next++
	for i, dst := range k.lay.Targets(s.rank, t) {
		from, to := s.rank, int(dst)
		if k.reverse {
			from, to = to, from
		}
		n := int64(k.lay.Slots(s.rank, t)[i])
		arrive := now
		if from != to {
			r := k.cl.Route(from, to)
			if k.rdma && r.Kind == topology.NVLink {
				// Before DeepEP's PR #173 a same-node message went NIC to
				// NIC like any other.
				r = topology.Route{Kind: topology.IB, Latency: k.cl.Config.IBLatency,
					Ports: []*sim.Port{k.cl.Devices[from].NICOut, k.cl.Devices[to].NICIn}}
			}
			for range n {
				arrive = sim.Transfer(now, k.msg, r.Latency, r.Ports...)
			}
		}
		k.msgs += n
		k.last[to] = max(k.last[to], arrive)
	}
	if s.next < k.lay.Tokens[s.rank] {
		k.eng.At(now+k.perTok, s, 0)
	}
}

// RunLowLatency simulates DeepEP's low-latency kernels (decode): every
// (token, selected expert) pair is one RDMA message straight to the
// expert's GPU (NVLink inside the node, as DeepEP does since mid-2025),
// with no per-node or per-GPU deduplication (all through the NICs with
// cfg.LLRDMAOnly). reverse runs combine: one
// message per pair from the expert's GPU back to the token's. The kernels
// use all SMs, so staging a token (a cast and a copy) costs hidden bytes at
// the whole GPU's copy rate, bounded by HBM. Per-expert completion flags
// travel behind the data on the same queue and add nothing but their
// latency, which the last message already pays.
func RunLowLatency(cl *topology.Cluster, lay *Layout, cfg Config, f Format, hidden int, reverse bool, opt Options) (*Result, error) {
	g := cl.Config.GPU
	rate := min(float64(g.SMs)*g.SMCopyBytesPerSec, g.HBMBytesPerSec)
	k := &llKernel{
		eng: sim.NewEngine(opt.EngineLimits()), cl: cl, lay: lay, reverse: reverse, rdma: cfg.LLRDMAOnly,
		msg:    int64(f.PayloadBytes(hidden) + llHeaderBytes),
		perTok: sim.TransferTime(int64(f.PayloadBytes(hidden)), rate),
		last:   make([]sim.Time, lay.Ranks),
	}
	if reverse {
		k.msg = int64(f.PayloadBytes(hidden))
	}
	for r := range lay.Ranks {
		if lay.Tokens[r] > 0 {
			k.eng.At(0, &llSource{k: k, rank: r}, 0)
		}
	}
	if err := k.eng.Run(); err != nil {
		return nil, err
	}
	res := &Result{Mode: LowLatency, RecordBytes: int(k.msg), Events: k.eng.Steps(), RankFinish: k.last,
		Handle: &Handle{Layout: lay, Config: cfg}}
	span := Summarize(res, cl, lay, f.PayloadBytes(hidden), nil)
	// DeepEP's low-latency test counts every (token, expert) message,
	// same-GPU ones included, over the kernel's duration as a profiler sees
	// it (no launch gap), and reports no NVLink figure.
	res.LogicalRDMABytes = float64(k.msgs) * float64(k.msg) / float64(lay.Ranks)
	res.RDMAGBps = res.LogicalRDMABytes / span.Seconds() / 1e9
	res.LogicalNVLBytes, res.NVLGBps = 0, 0
	return res, nil
}
