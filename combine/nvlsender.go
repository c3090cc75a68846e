package combine

import (
	"fmt"

	"github.com/moesim/moesim/dispatch"
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
//   - freed <= sent <= total;
//   - sent - freed <= nvlSlots (ring space).
type nvlSender struct {
	k           *kernel
	rank, c     int
	base, local int // the node's first rank, and this GPU's index in it
	warps       []sendWarp
	// parts is per (warp, partition), indexed warp*k.parts + partition.
	parts []sendPart
	round []int // rows of the round being built
}

type sendPart struct {
	total, sent, freed int32
}

// sendWarp is one NVL sender warp's state.
type sendWarp struct {
	busy  bool
	until sim.Time // when the round in flight is done, while busy
	s     *nvlSender
	w     int
	parts []sendPart // the warp's partitions: s.parts[w*k.parts:][:k.parts]
	fly   roundRing  // across nodes, the rounds on their way
}

// init sets the sender up with its slices of the kernel's slabs. Across
// nodes, fly holds the first flyRounds rounds in flight of each warp.
func (s *nvlSender) init(k *kernel, rank, c int, warps []sendWarp, parts []sendPart, round []int, fly []int32) {
	*s = nvlSender{k: k, rank: rank, c: c, base: rank - rank%k.gpn, local: rank % k.gpn,
		warps: warps, parts: parts, round: round}
	for w := range warps {
		warps[w] = sendWarp{s: s, w: w, parts: slab(parts, w, k.parts)}
		if len(fly) > 0 {
			warps[w].fly.counts = slab(fly, w, flyRounds*k.parts)
		}
	}
}

// flyRounds is the rounds in flight a warp's ring starts with: a power of
// two, which the ring doubles when a warp has more. At EP64 with DeepEP's
// defaults a warp has at most 8 rounds in flight, and mostly one or two.
const flyRounds = 4

// roundRing holds the rounds of one NVL sender warp on their way to its
// forwarder, oldest first: parts row counts per round, in a ring of rounds
// whose size is a power of two, starting at round head. A warp's rounds
// land in the order it sent them (each starts once the last is done, and
// lands a fixed latency after it is done), so the forwarder takes one
// round per landing event.
type roundRing struct {
	counts  []int32
	head, n int
}

// push queues the row counts of a round.
func (q *roundRing) push(counts []int) {
	parts := len(counts)
	if q.n*parts == len(q.counts) {
		rounds := len(q.counts) / parts
		grown := make([]int32, max(flyRounds, 2*rounds)*parts)
		for i := range q.n {
			r := (q.head + i) & (rounds - 1)
			copy(grown[i*parts:(i+1)*parts], q.counts[r*parts:(r+1)*parts])
		}
		q.counts, q.head = grown, 0
	}
	r := (q.head + q.n) & (len(q.counts)/parts - 1)
	dst := q.counts[r*parts : (r+1)*parts]
	for p, n := range counts {
		dst[p] = int32(n)
	}
	q.n++
}

// pop takes the oldest round, of parts counts. The counts stay valid
// until the next push.
func (q *roundRing) pop(parts int) []int32 {
	if q.n == 0 {
		panic("combine: an NVL round landed that was never sent")
	}
	r := q.head
	q.head = (r + 1) & (len(q.counts)/parts - 1)
	q.n--
	return q.counts[r*parts : (r+1)*parts]
}

func (s *nvlSender) Handle(now sim.Time, arg int64) {
	kind, a, b := sim.UnpackArg(arg)
	switch kind {
	case evSent:
		s.warps[a].busy = false
		s.step(now, a)
	case evFreed:
		s.parts[a].freed += int32(b)
		s.step(now, a/s.k.parts)
	}
}

// credit returns n slots of the warp's partition p, landing at time at.
// Most credits need no event, as the warp would do nothing with them then:
//   - when the warp is busy until after at, it looks at its credits only
//     when its round is done, so counting the credit now is the same as
//     counting it at at;
//   - when the partition has nothing left to send, the slots cannot start
//     a round: an idle warp has no partition with both rows left and room
//     (it looked when it last became idle, and every credit since to a
//     partition with rows left has made it look again), and these slots
//     give room only where there are no rows.
//
// Otherwise the credit is an event, which makes the warp look again; at
// or after the end of the round in flight it runs after the warp's own
// event, as it was scheduled after it.
func (w *sendWarp) credit(p int, at sim.Time, n int) {
	sp := &w.parts[p]
	if (w.busy && at < w.until) || sp.sent == sp.total {
		sp.freed += int32(n)
		return
	}
	s := w.s
	s.k.eng.At(at, s, sim.PackArg(evFreed, w.w*s.k.parts+p, n))
}

// step starts warp w's next round if some partition has room.
func (s *nvlSender) step(now sim.Time, w int) {
	warp := &s.warps[w]
	if warp.busy {
		return
	}
	k := s.k
	rows := 0
	parts := warp.parts
	for p := range parts {
		sp := &parts[p]
		s.round[p] = 0
		left := int(sp.total - sp.sent)
		if left == 0 {
			continue
		}
		n := min(k.cfg.NVLChunk, left)
		need := n
		if k.internode {
			need = k.cfg.NVLChunk
		}
		if k.nvlSlots-int(sp.sent-sp.freed) < need {
			continue
		}
		s.round[p] = n
		rows += n
	}
	if rows == 0 {
		return // everything sent, or waiting for a credit
	}
	dst := s.base + w
	bytes := int64(rows) * k.rec
	sm := 2 * s.c
	warps := 1
	if !k.internode {
		warps = dispatch.IntranodeWarpsPerPeer(k.gpn)
	}
	finish := k.costs.For(s.rank).CopyShared(k.sm(s.rank, sm), now, warps, rows, bytes)
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
	// The warp fences the round and stores its tails before it is free.
	finish += k.costs.For(s.rank).Handshake()
	arrive += k.costs.For(s.rank).Handshake()
	warp.busy, warp.until = true, finish
	k.eng.At(finish, s, sim.PackArg(evSent, w, 0))
	for p, n := range s.round {
		parts[p].sent += int32(n)
	}
	if k.internode {
		// One landing event for the round, which hands each partition's
		// rows to the forwarder in partition order, as one event per
		// partition scheduled back to back would.
		warp.fly.push(s.round)
		k.eng.At(arrive, k.fwd(dst, s.c), sim.PackArg(evNVLRound, s.local, 0))
	} else {
		k.recv(dst, s.c).arrive(arrive, s.local, s.round[0])
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
		dst := s.base + w
		for p := range k.parts {
			sp := s.parts[w*k.parts+p]
			if sp.sent == sp.total {
				continue
			}
			need := min(k.cfg.NVLChunk, int(sp.total-sp.sent))
			ring := fmt.Sprintf("its NVL ring on rank %d", dst)
			if k.internode {
				need = k.cfg.NVLChunk
				ring = fmt.Sprintf("its NVL ring partition for node %d on rank %d (nvl_buffer/nodes = %d slots)", p, dst, k.nvlSlots)
			}
			msg := fmt.Sprintf("channel %d rank %d: NVL sender warp for rank %d waits for %d free slots in %s, %d held, %d of %d rows sent",
				s.c, s.rank, dst, need, ring, sp.sent-sp.freed, sp.sent, sp.total)
			if need > k.nvlSlots {
				msg += fmt.Sprintf(" (the ring can never hold a chunk: DeepEP asserts nvl_buffer/nodes > nvl_chunk, want nvl_buffer >= %d)",
					(k.cfg.NVLChunk+1)*k.parts)
			}
			out = append(out, msg)
		}
	}
	return out
}
