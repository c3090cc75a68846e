package combine

import (
	"fmt"

	"github.com/moesim/moesim/sim"
)

// nvlSender is one channel's NVL sender warps on one GPU (on the channel's
// even SM): one warp per GPU of the node, each pushing the rows this GPU
// holds back over NVLink. Across nodes warp w sends to the forwarder GPU
// with local index w the rows of tokens whose source has that local index,
// into one ring partition per source node; within a node warp w sends to
// source GPU w directly. The copy to the own GPU is local (SM only).
//
// A round is DeepEP's: across nodes, every partition with at least
// NVLChunk free slots (whatever remains to send) gets a chunk of up to
// NVLChunk rows; within a node, the one ring must hold the round's rows.
// The warp copies the round, then publishes the tails, so all its rows
// land together.
//
// Invariants, per (warp, partition) j:
//   - freed[j] <= sent[j] <= total[j];
//   - sent[j] - freed[j] <= nvlSlots (ring space).
type nvlSender struct {
	k       *kernel
	rank, c int
	warps   []sendWarp
	// Per (warp, partition), indexed warp*parts + partition.
	total, sent, freed []int
	round              []int // rows of the round being built
}

type sendWarp struct {
	busy bool
}

func newNVLSender(k *kernel, rank, c int) *nvlSender {
	n := k.gpn * k.parts
	return &nvlSender{k: k, rank: rank, c: c, warps: make([]sendWarp, k.gpn),
		total: make([]int, n), sent: make([]int, n), freed: make([]int, n), round: make([]int, k.parts)}
}

func (s *nvlSender) Handle(now sim.Time, arg int64) {
	kind, a, b := unpack(arg)
	switch kind {
	case evSent:
		s.warps[a].busy = false
		s.step(now, a)
	case evFreed:
		s.freed[a] += b
		s.step(now, a/s.k.parts)
	}
}

// step starts warp w's next round if some partition has room.
func (s *nvlSender) step(now sim.Time, w int) {
	if s.warps[w].busy {
		return
	}
	k := s.k
	rows := 0
	for p := range k.parts {
		j := w*k.parts + p
		s.round[p] = 0
		left := s.total[j] - s.sent[j]
		if left == 0 {
			continue
		}
		n := min(k.cfg.NVLChunk, left)
		need := n
		if k.internode {
			need = k.cfg.NVLChunk
		}
		if k.nvlSlots-(s.sent[j]-s.freed[j]) < need {
			continue
		}
		s.round[p] = n
		rows += n
	}
	if rows == 0 {
		return // everything sent, or waiting for a credit
	}
	dst := s.rank - s.rank%k.gpn + w
	bytes := int64(rows) * k.rec
	sm := 2 * s.c
	finish := k.sm(s.rank, sm).Reserve(now, bytes)
	arrive := finish
	link := "local"
	if dst != s.rank {
		r := &k.nvlRoutes[s.rank*k.gpn+w]
		done := sim.Transfer(now, bytes, 0, r.Ports...)
		// The warp is free once the SM has copied and the link has
		// carried the round; the rows land a link latency after both.
		finish = max(finish, done)
		arrive = finish + r.Latency
		link = "nvlink"
	}
	s.warps[w].busy = true
	k.eng.At(finish, s, pack(evSent, w, 0))
	srcLocal := s.rank % k.gpn
	for p, n := range s.round {
		if n == 0 {
			continue
		}
		s.sent[w*k.parts+p] += n
		if k.internode {
			k.eng.At(arrive, k.fwd(dst, s.c), pack(evNVLArrive, p*k.gpn+srcLocal, n))
		} else {
			k.eng.At(arrive, k.recv(dst, s.c), pack(evArrive, srcLocal, n))
		}
	}
	k.trace(now, arrive, "nvl_send", "nvl-send", s.rank, s.c, dst, link, bytes, rows)
}

// waiting describes the warps that have rows left but cannot send them.
func (s *nvlSender) waiting() []string {
	k := s.k
	var out []string
	for w := range s.warps {
		if s.warps[w].busy {
			continue
		}
		dst := s.rank - s.rank%k.gpn + w
		for p := range k.parts {
			j := w*k.parts + p
			if s.sent[j] == s.total[j] {
				continue
			}
			need := min(k.cfg.NVLChunk, s.total[j]-s.sent[j])
			ring := fmt.Sprintf("its NVL ring on rank %d", dst)
			if k.internode {
				need = k.cfg.NVLChunk
				ring = fmt.Sprintf("its NVL ring partition for node %d on rank %d (nvl_buffer/nodes = %d slots)", p, dst, k.nvlSlots)
			}
			msg := fmt.Sprintf("channel %d rank %d: NVL sender warp for rank %d waits for %d free slots in %s, %d held, %d of %d rows sent",
				s.c, s.rank, dst, need, ring, s.sent[j]-s.freed[j], s.sent[j], s.total[j])
			if need > k.nvlSlots {
				msg += fmt.Sprintf(" (the ring can never hold a chunk: DeepEP asserts nvl_buffer/nodes > nvl_chunk, want nvl_buffer >= %d)",
					(k.cfg.NVLChunk+1)*k.parts)
			}
			out = append(out, msg)
		}
	}
	return out
}
