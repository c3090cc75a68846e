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
//
// A warp keeps only the partitions it has rows for, in partition order:
// across many nodes most (source node, target GPU) pairs of a channel
// carry nothing.
type nvlSender struct {
	k           *kernel
	rank, c     int
	base, local int // the node's first rank, and this GPU's index in it
	warps       []sendWarp
}

// sendPart is one (warp, partition) with rows to send. Across nodes, grp
// is the forwarder group the partition feeds (the group of the
// partition's source node on the warp's forwarder) and st the group's
// stream from this GPU.
//
// until is the warp's: when its round in flight is done, or the last
// round was (0 before the first). Each partition keeps a copy so that a
// consumer returning slots reads one line, the partition's, and not the
// warp's as well: credit runs once per forwarder batch per partition it
// read (1.7M times in an EP64 run), from another GPU's roles, and the
// warp's line is then rarely in cache.
type sendPart struct {
	until              sim.Time
	total, sent, freed int32
	grp                uint16
	st                 uint8
	w                  uint8 // the warp, which a credit's event steps
}

// sendWarp is one NVL sender warp's state; its partitions hold when its
// round in flight is done.
type sendWarp struct {
	busy  bool
	parts []sendPart // the partitions with rows, in partition order
	fly   roundRing  // across nodes, the rounds on their way
}

// init sets the sender up with its warps (zero), whose partitions fill
// sets.
func (s *nvlSender) init(k *kernel, rank, c int, warps []sendWarp) {
	*s = nvlSender{k: k, rank: rank, c: c, base: rank - rank%k.gpn, local: rank % k.gpn, warps: warps}
}

// flyPart is one partition's rows in a round on its way: the forwarder
// group and stream they land in and the row count, whose roundEnd bit
// marks the round's last partition. A chunk is at most 4096 rows, a
// cluster at most 4096 nodes and a node at most 72 GPUs, so they fit.
type flyPart struct {
	grp, rows uint16
	st        uint8
}

const roundEnd = 1 << 15

// roundRing holds the rounds of one NVL sender warp on their way to its
// forwarder, oldest first, as the (group, rows) pairs of the partitions
// each round carries, in a ring whose size is a power of two, starting at
// head. A warp's rounds land in the order it sent them (each starts once
// the last is done, and lands a fixed latency after it is done), so the
// forwarder takes one round per landing event. A ring emptied by a
// landing gives its buffer back to the kernel's pool, so memory follows
// the rounds in flight, not the warps.
type roundRing struct {
	buf     []flyPart
	head, n int
}

// push queues a round of one or more partitions.
func (q *roundRing) push(pool *flyPool, round []flyPart) {
	if q.n+len(round) > len(q.buf) {
		grown := pool.get(q.n + len(round))
		for i := range q.n {
			grown[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
		}
		pool.put(q.buf)
		q.buf, q.head = grown, 0
	}
	mask := len(q.buf) - 1
	at := q.head + q.n
	for i, p := range round {
		if i == len(round)-1 {
			p.rows |= roundEnd
		}
		q.buf[(at+i)&mask] = p
	}
	q.n += len(round)
}

// pop takes the oldest round's next partition: its group, its stream in
// the group, its rows, and whether it ends the round. An emptied ring
// keeps its buffer until release, so that pop is small enough to inline
// into the forwarder's landing loop, which runs once per partition of
// every round.
func (q *roundRing) pop() (grp, st, rows int, last bool) {
	if q.n == 0 {
		panic("combine: an NVL round landed that was never sent")
	}
	p := q.buf[q.head]
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return int(p.grp), int(p.st), int(p.rows &^ roundEnd), p.rows&roundEnd != 0
}

// release gives the buffer of an empty ring back to the pool.
func (q *roundRing) release(pool *flyPool) {
	if q.n == 0 {
		pool.put(q.buf)
		q.buf, q.head = nil, 0
	}
}

// flyPool keeps the buffers of empty round rings, by power-of-two size,
// for the next ring that needs one; new buffers of the smallest size are
// cut from blocks.
type flyPool struct {
	free  [17][][]flyPart
	block []flyPart
}

// minFly is the smallest ring: at EP64 with DeepEP's defaults a warp has
// at most 8 rounds in flight, and mostly one or two.
const minFly = 16

func (p *flyPool) get(n int) []flyPart {
	size, class := minFly, 0
	for size < n {
		size, class = 2*size, class+1
	}
	if class < len(p.free) {
		if f := p.free[class]; len(f) > 0 {
			b := f[len(f)-1]
			p.free[class] = f[:len(f)-1]
			return b
		}
	}
	if class == 0 {
		if len(p.block) < minFly {
			p.block = make([]flyPart, 256*minFly)
		}
		b := p.block[:minFly:minFly]
		p.block = p.block[minFly:]
		return b
	}
	return make([]flyPart, size)
}

func (p *flyPool) put(b []flyPart) {
	if len(b) == 0 {
		return
	}
	class := 0
	for size := minFly; size < len(b); size *= 2 {
		class++
	}
	if class < len(p.free) {
		p.free[class] = append(p.free[class], b)
	}
}

func (s *nvlSender) Handle(now sim.Time, arg int64) {
	kind, a, b := sim.UnpackArg(arg)
	switch kind {
	case evSent:
		s.warps[a].busy = false
		s.step(now, a)
	case evFreed:
		sp := &s.k.sendParts[a]
		sp.freed += int32(b)
		s.step(now, int(sp.w))
	}
}

// credit returns n slots of partition p (its index in k.sendParts),
// landing at time at, and reports whether it could count them now. Most
// credits need no event, as the warp would do nothing with them then:
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
//
// The warp is busy until after at exactly when at < sp.until: while it is
// idle, until is when its last round was done, which is no later than
// now, and at is now or later.
//
// credit is small enough to inline into the consumers' loops, which
// schedule the event themselves (creditAt) where it returns false.
func (k *kernel) credit(p int32, at sim.Time, n int) bool {
	sp := &k.sendParts[p]
	if at < sp.until || sp.sent == sp.total {
		sp.freed += int32(n)
		return true
	}
	return false
}

// creditAt is the event of a credit that credit could not count now.
func (k *kernel) creditAt(s int, p int32, at sim.Time, n int) {
	k.eng.At(at, k.senders[s], sim.PackArg(evFreed, int(p), n))
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
	round := k.round[:0]
	for p := range parts {
		sp := &parts[p]
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
		sp.sent += int32(n)
		round = append(round, flyPart{grp: sp.grp, rows: uint16(n), st: sp.st})
		rows += n
	}
	k.round = round
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
	warp.busy = true
	for p := range parts {
		parts[p].until = finish
	}
	k.eng.At(finish, s, sim.PackArg(evSent, w, 0))
	if k.internode {
		// One landing event for the round, which hands each partition's
		// rows to the forwarder in partition order, as one event per
		// partition scheduled back to back would.
		warp.fly.push(&k.flyPool, round)
		k.eng.At(arrive, k.fwd(dst, s.c), sim.PackArg(evNVLRound, s.local, 0))
	} else {
		k.recv(dst, s.c).arrive(arrive, s.local, rows)
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
		for _, sp := range s.warps[w].parts {
			if sp.sent == sp.total {
				continue
			}
			p := 0 // the partition: the source node across nodes
			if k.internode {
				p = int(k.fwd(dst, s.c).groups[sp.grp].srcNode)
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
