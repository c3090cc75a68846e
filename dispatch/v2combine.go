package dispatch

import (
	"fmt"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// v2Combine is one V2 combine run (v2.go describes the kernels).
type v2Combine struct {
	v2Run
	rec      int64
	fwd      *v2Forwarding
	returned []int          // per source rank: sums (hybrid) or rows (direct) landed
	reduced  int            // hybrid: rows summed by forward warps
	ups      []v2ScaleUp    // hybrid: [rank*channels+c]
	cfws     []v2CombineFwd // hybrid: [rank*channels+c]
}

func newV2Combine(cl *topology.Cluster, h *Handle, shape v2Geometry, opt Options) *v2Combine {
	lay := h.Layout
	k := &v2Combine{v2Run: newV2Run(cl, lay, shape, opt), rec: int64(shape.combRec), fwd: h.v2,
		returned: make([]int, lay.Ranks)}
	k.notify = 0 // combine has no count exchange
	if shape.hybrid {
		k.endBarrier = 0 // finish signals end it
		k.setupHybrid()
	} else {
		k.setupDirect()
	}
	return k
}

// ---- direct ----

// v2ReturnWarp is data warp w of rank g in direct combine: it returns a
// contiguous block of the rows g received, each to its source.
type v2ReturnWarp struct {
	k       *v2Combine
	g, w    int
	left    int     // rows left in the block
	peer    int     // index into the source list
	inPeer  int     // rows of the current source still to skip or send
	sources []int32 // g's sources, ascending
	counts  []int32 // rows from each
}

func (k *v2Combine) setupDirect() {
	lay := k.lay
	k.shape.perSM = v2Warps(k.shape.combRec, 0, 32)
	warps := k.shape.sms * k.shape.perSM
	peers := lay.RankPeers(true)
	for g := range lay.Ranks {
		srcs, counts := peers.Of(g)
		rows := lay.RecvRows[g]
		if rows == 0 {
			continue
		}
		per := (rows + warps - 1) / warps
		for w := range warps {
			lo := w * per
			if lo >= rows {
				break
			}
			rw := &v2ReturnWarp{k: k, g: g, w: w, left: min(per, rows-lo), sources: srcs, counts: counts}
			// The block's first row: skip whole sources, then into one.
			off := lo
			for off >= int(counts[rw.peer]) {
				off -= int(counts[rw.peer])
				rw.peer++
			}
			rw.inPeer = int(counts[rw.peer]) - off
			k.eng.At(k.start, rw, evV2Next)
		}
	}
}

func (w *v2ReturnWarp) Handle(now sim.Time, _ int64) {
	k := w.k
	if w.left == 0 {
		k.end = max(k.end, now)
		return
	}
	for w.inPeer == 0 {
		w.peer++
		w.inPeer = int(w.counts[w.peer])
	}
	w.left--
	w.inPeer--
	s := int(w.sources[w.peer])
	loaded, done := k.sm(w.g, w.w).copy(now, now, 1, k.rec, k.rec)
	at, wait := k.land(now, loaded, done, k.rec, w.g, s)
	if wait {
		done = max(done, at)
	}
	k.last[s] = max(k.last[s], at)
	k.returned[s]++
	k.eng.At(done, w, evV2Next)
}

// ---- hybrid ----

// v2ScaleUp is channel c's scale-up warp on rank d: it returns the rows d
// received from each forwarder p of its node (channel c's) to p, one per
// forwarder per round, and releases its tails every 3 rounds.
type v2ScaleUp struct {
	k         *v2Combine
	d, c      int
	left      []int32 // per forwarder (local index): rows still to return
	sent      []int32
	released  []int32
	rounds    int
	cur       int      // the next forwarder of the round
	inRound   bool     // the round has sent a row
	remaining int      // rows still to return, all forwarders
	pending   sim.Time // the stores sent so far land
}

// v2CombineFwd is channel c's forward warp on rank p: it replays its
// dispatch order, sums each token's rows once every scale-up warp that
// holds one has released it, and puts the sum to the token's node.
type v2CombineFwd struct {
	k       *v2Combine
	p, c    int
	next    int
	tails   []int32 // per scale-up rank (local index): rows released to p
	need    []int32 // per scale-up rank: rows of tokens before next
	waiting bool
	lastPut sim.Time
	over    bool
}

func (k *v2Combine) setupHybrid() {
	lay, ch, gpn := k.lay, k.shape.channels, k.gpn
	k.ups = make([]v2ScaleUp, lay.Ranks*ch)
	k.cfws = make([]v2CombineFwd, lay.Ranks*ch)
	for g := range lay.Ranks {
		for c := range ch {
			k.ups[g*ch+c] = v2ScaleUp{k: k, d: g, c: c, left: make([]int32, gpn), sent: make([]int32, gpn), released: make([]int32, gpn)}
			k.cfws[g*ch+c] = v2CombineFwd{k: k, p: g, c: c, tails: make([]int32, gpn), need: make([]int32, gpn)}
		}
	}
	// Rows each scale-up warp returns to each forwarder: the forwarder's
	// dispatch stores to it.
	for p := range lay.Ranks {
		node := p / gpn
		for c := range ch {
			src, tok := k.fwd.src[p*ch+c], k.fwd.tok[p*ch+c]
			for i := range src {
				for _, r := range lay.Targets(int(src[i]), int(tok[i])) {
					if int(r)/gpn == node {
						u := &k.ups[int(r)*ch+c]
						u.left[p%gpn]++
						u.remaining++
					}
				}
			}
		}
	}
	for i := range k.ups {
		k.eng.At(k.start, &k.ups[i], evV2Next)
		k.eng.At(k.start, &k.cfws[i], evV2Next)
	}
}

// Handle sends the warp's next row: to the next forwarder of the round
// with rows left, one row per event, as the warp has one shared-memory
// buffer and loads a row only when the last one's store has left the SM.
// At the end of every third round (and of its last) it waits for its
// stores to land and releases each forwarder's tail.
func (u *v2ScaleUp) Handle(now sim.Time, _ int64) {
	k := u.k
	for {
		if u.cur == len(u.left) {
			u.cur = 0
			if !u.inRound {
				return // no forwarder had rows left: done
			}
			u.inRound = false
			u.rounds++
			if last := u.remaining == 0; last || u.rounds%v2ScaleupInterval == 0 {
				rel := u.release(now)
				if !last {
					k.eng.At(rel, u, evV2Next)
				}
				return
			}
		}
		pl := u.cur
		u.cur++
		if u.left[pl] == 0 {
			continue
		}
		u.inRound = true
		p := u.d/k.gpn*k.gpn + pl
		loaded, done := k.sm(u.d, u.c).copy(now, now, 1, k.rec, k.rec)
		at := done
		if p != u.d {
			at = k.nvlink(now, loaded, done, k.rec, u.d, p)
		}
		u.pending = max(u.pending, at)
		u.left[pl]--
		u.remaining--
		u.sent[pl]++
		k.eng.At(done, u, evV2Next)
		return
	}
}

// release waits for the warp's stores to land and releases each
// forwarder's tail; it returns when the warp may go on.
func (u *v2ScaleUp) release(now sim.Time) sim.Time {
	k := u.k
	rel := max(now, u.pending)
	for pl := range u.sent {
		if u.sent[pl] == u.released[pl] {
			continue
		}
		u.released[pl] = u.sent[pl]
		p := u.d/k.gpn*k.gpn + pl
		at := rel
		if p != u.d {
			at += k.cl.Config.NVLinkLatency
		}
		k.eng.At(at, &k.cfws[p*k.shape.channels+u.c], sim.PackArg(evV2Tail, u.d%k.gpn, int(u.sent[pl])))
	}
	return rel
}

func (f *v2CombineFwd) Handle(now sim.Time, arg int64) {
	kind, d, n := sim.UnpackArg(arg)
	if kind == evV2Tail {
		f.tails[d] = max(f.tails[d], int32(n))
		if !f.waiting {
			return
		}
	}
	f.waiting = false
	f.step(now)
}

func (f *v2CombineFwd) step(now sim.Time) {
	k := f.k
	ch := k.shape.channels
	order := k.fwd.src[f.p*ch+f.c]
	if f.next >= len(order) {
		f.finish(now)
		return
	}
	s, t := int(order[f.next]), int(k.fwd.tok[f.p*ch+f.c][f.next])
	node := f.p / k.gpn
	rows := 0
	for _, r := range k.lay.Targets(s, t) {
		if int(r)/k.gpn != node {
			continue
		}
		if f.tails[int(r)%k.gpn] < f.need[int(r)%k.gpn]+1 {
			f.waiting = true
			return
		}
		rows++
	}
	for _, r := range k.lay.Targets(s, t) {
		if int(r)/k.gpn == node {
			f.need[int(r)%k.gpn]++
		}
	}
	f.next++
	k.reduced += rows
	// Sum the node's rows (read from local HBM) into one record, store it
	// for the NIC (or, for the own node, straight into the scale-out
	// window), and put it to the token's GPU; the put overlaps the next
	// token's sum.
	loaded, stored := k.sm(f.p, f.c).copy(now, now, rows, int64(rows)*k.rec, k.rec)
	done := loaded
	at := stored
	if s/k.gpn != node {
		rt := k.remote.route(f.p, s)
		at = sim.TransferMessageAt(now, stored, k.rec, k.msg, rt.Latency, rt.Ports...)
	}
	f.lastPut = max(f.lastPut, at)
	k.last[s] = max(k.last[s], at)
	k.returned[s]++
	k.eng.At(done, f, evV2Next)
}

// finish flushes the warp's puts and signals every node's rail GPU that
// channel c is done; a GPU's combine ends when all have.
func (f *v2CombineFwd) finish(now sim.Time) {
	if f.over {
		return
	}
	f.over = true
	k := f.k
	c := k.cl.Config
	flushed := max(now, f.lastPut)
	if f.lastPut > now {
		flushed += c.IBLatency // the completion comes back
	}
	for n := range k.lay.Nodes {
		g := n*k.gpn + f.p%k.gpn
		at := flushed
		if n != f.p/k.gpn {
			rt := k.remote.route(f.p, g)
			at = sim.TransferMessageAt(now, flushed, v2SignalBytes, k.msg, rt.Latency, rt.Ports...)
		}
		k.last[g] = max(k.last[g], at)
	}
	k.end = max(k.end, now)
}

// ---- Kernel ----

func (k *v2Combine) Engine() *sim.Engine { return k.eng }

func (k *v2Combine) Finished() error {
	for i := range k.cfws {
		if f := &k.cfws[i]; !f.over {
			return fmt.Errorf("combine: v2 forward warp %d of rank %d waits for rows that never came: %w", f.c, f.p, ErrStall)
		}
	}
	return nil
}

// Verified checks that every row came back: direct, each source got one
// row per (token, target GPU); hybrid, one sum per (token, target node),
// and the forward warps summed every row the ranks received.
func (k *v2Combine) Verified() error {
	lay := k.lay
	for s := range lay.Ranks {
		want := 0
		if k.shape.hybrid {
			for _, n := range lay.NodeTokens[s] {
				want += n
			}
		} else {
			want = int(lay.start[s][lay.Tokens[s]])
		}
		if k.returned[s] != want {
			return fmt.Errorf("combine: v2 rank %d got %d rows back, want %d", s, k.returned[s], want)
		}
	}
	if k.shape.hybrid {
		total := 0
		for _, n := range lay.RecvRows {
			total += n
		}
		if k.reduced != total {
			return fmt.Errorf("combine: v2 forward warps summed %d rows, want %d", k.reduced, total)
		}
	}
	return nil
}

func (k *v2Combine) Result() *Result {
	res := k.result(k.rec, k.shape.combCounted)
	res.EpilogueTime = v2ReduceEpilogue(k.cl.Config, k.lay, k.rec, k.shape.hybrid)
	return res
}
