package dispatch

import (
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// rdmaSender is one channel's odd SM on one GPU in internode mode: seven
// RDMA sender warps that write each token of the channel's slice once per
// target node into that node's send ring (the own node's straight into the
// local receive ring), and the coordinator warp that posts one RDMA write
// per chunk of ready records.
//
// The seven warps take tokens round-robin and each waits for room in all of
// its token's target rings, so they advance through the slice in order; the
// model moves them a batch of sevenWarps tokens at a time, at the SM's copy
// rate.
//
// The sender keeps counts only for its targets, the nodes its slice sends
// records to (the forwarders' live queues from its node, seen from here),
// in ascending node: a channel's few tokens reach a small share of the
// nodes at scale, and the per-event loops then touch only what can move.
//
// Invariants, per target j (per[j], node nodes[j]):
//   - credit <= issued <= written <= the records of the target's queue;
//   - written - credit <= RDMABuffer (ring space).
type rdmaSender struct {
	k       *kernel
	rank, c int
	node    int
	local   int // index in the node
	lo, hi  int // the channel's token slice
	pos     int // next token to write
	pos0    int // first token of the batch in flight
	busy    bool
	// per holds the counts per target, side by side, from a kernel-wide
	// slab: a token's check reads one place per node.
	per []nodeCount
	// nodes is each target's node number, ascending.
	nodes []uint16
	// visits is, from the token nodes' offset vbase (k.nodes.at), each
	// token's targets as indices in per: the slice's own run (newKernel),
	// or the token nodes themselves when the sender targets every node.
	visits []uint16
	vbase  int32
	// first is the target the coordinator looks at first: its node
	// order is rotated by channel, and the first target at or after the
	// rotation's start node (wrapping) comes first among the targets.
	first int
	// ib is the IB routes from this GPU, by node.
	ib []topology.Route
	// blockedOn is the target whose full ring stopped the sender, -1 if
	// none.
	blockedOn int
	done      sim.Time
}

// nodeCount is an RDMA sender's records for one target node: in the
// batch being copied (pending), written to the ring, posted by the
// coordinator (issued) and credited back by the node's forwarder; and the
// index of the forwarder's queue that holds them, which the posts name.
type nodeCount struct {
	pending, written, issued, credit int32
	qi                               int32
}

const (
	sevenWarps = 7 // kNumDispatchRDMASenderWarps in DeepEP's internode.cu

	evSendBatch = iota
	evRDMACredit
)

func (s *rdmaSender) Handle(now sim.Time, arg int64) {
	kind, a, b := sim.UnpackArg(arg)
	switch kind {
	case evSendBatch:
		s.busy = false
		for m := range s.per {
			p := &s.per[m]
			p.written += p.pending
			p.pending = 0
		}
		s.coordinate(now)
		s.step(now)
	case evRDMACredit:
		// b == 0 is the kick that starts the sender, which may have no
		// targets.
		if b > 0 {
			s.per[a].credit += int32(b)
			if s.blockedOn == a {
				s.blockedOn = -1
			}
		}
		s.step(now)
	}
}

// step starts copying the next batch of tokens, if their rings have room.
func (s *rdmaSender) step(now sim.Time) {
	if s.busy || s.pos >= s.hi {
		return
	}
	k := s.k
	var bytes int64
	widest := 0 // most target nodes of one token in the batch
	end := s.pos
	at := k.nodes.at[s.rank]
	for end < s.hi && end-s.pos < sevenWarps {
		fits := true
		targets := s.visits[at[end]-s.vbase : at[end+1]-s.vbase]
		for _, j := range targets {
			if p := &s.per[j]; int(p.written+p.pending-p.credit) >= k.cfg.RDMABuffer {
				fits = false
				s.blockedOn = int(j)
				break
			}
		}
		if !fits {
			break
		}
		for _, j := range targets {
			s.per[j].pending++
			bytes += k.rec
		}
		widest = max(widest, len(targets))
		end++
	}
	if end == s.pos {
		return // wait for a credit
	}
	s.blockedOn = -1
	s.pos0, s.pos = s.pos, end
	s.busy = true
	// Each of the seven warps takes one token of the batch: it loads the
	// record once and stores it into each target node's ring, so the
	// slowest warp pays one record overhead and streams its token's
	// copies; the SM carries every copy.
	finish := k.costs.For(s.rank).Work(k.sm(s.rank, 2*s.c+1), now, bytes, 1, int64(widest)*k.rec)
	k.eng.At(finish, s, sim.PackArg(evSendBatch, 0, 0))
	if tr := k.eng.Tracer(); tr != nil {
		tr.Trace(sim.Record{At: now, Dur: finish - now, Event: "rdma_copy", Role: "rdma-send", GPU: s.rank, Channel: s.c,
			Peer: -1, Link: "sm", Bytes: bytes, Tokens: end - s.pos0})
	}
}

// coordinate posts RDMA writes: one per chunk of written records for each
// node, or the remainder once the slice is all written.
func (s *rdmaSender) coordinate(now sim.Time) {
	k := s.k
	allWritten := s.pos >= s.hi && !s.busy
	// The coordinator's node order is rotated by channel; a node that is
	// not a target has nothing to post.
	nt := len(s.per)
	for i, j := 0, s.first; i < nt; i, j = i+1, j+1 {
		if j == nt {
			j = 0
		}
		p := &s.per[j]
		m := int(s.nodes[j])
		for {
			pend := int(p.written - p.issued)
			if pend == 0 || (pend < k.cfg.RDMAChunk && !allWritten) {
				break
			}
			n := min(pend, k.cfg.RDMAChunk)
			p.issued += int32(n)
			fwd := m*k.gpn + s.local
			f := k.fwd(fwd, s.c)
			// The coordinator fences the chunk's records before it
			// posts them.
			at := now + k.costs.For(s.rank).Handshake()
			if m == s.node {
				// Own node: a local tail add, no NIC.
				k.eng.At(at, f, sim.PackArg(evRDMAArrive, int(p.qi), n))
				continue
			}
			r := &s.ib[m]
			// Two NIC messages per chunk: the RDMA write of the records
			// and the atomic add on the remote tail.
			arrive := sim.TransferMessageAt(now, at, int64(n)*k.rec, 2*k.costs.Message(), r.Latency, r.Ports...)
			k.eng.At(arrive, f, sim.PackArg(evRDMAArrive, int(p.qi), n))
			if tr := k.eng.Tracer(); tr != nil {
				tr.Trace(sim.Record{At: now, Dur: arrive - now, Event: "rdma_put", Role: "rdma-coord", GPU: s.rank, Channel: s.c,
					Peer: m, Link: "ib", Bytes: int64(n) * k.rec, Tokens: n})
			}
		}
	}
	if allWritten && s.done == 0 {
		s.done = now
	}
}
