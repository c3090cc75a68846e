package dispatch

import (
	"fmt"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// v2Dispatch is one V2 dispatch run (v2.go describes the kernels).
type v2Dispatch struct {
	v2Run
	rec    int64 // record on the wire
	landed []int // per rank: rows landed

	// Hybrid: each source rank's tokens bucketed by (target node,
	// channel): bucket[src][node*channels+c] .. [+1] index tokens[src].
	bucket, tokens [][]int32
	fwds           []v2Forward // [rank*channels+c]
	routes         []topology.Route
	fwd            *v2Forwarding
}

// Events.
const (
	evV2Next   = iota // a warp's next token
	evV2Tail          // a forward warp: a source's tail moved (a = source node, b = count)
	evV2Finish        // a forward warp: a source's last tail (a, b as evV2Tail)
)

func newV2Dispatch(cl *topology.Cluster, lay *Layout, shape v2Geometry, opt Options) *v2Dispatch {
	k := &v2Dispatch{v2Run: newV2Run(cl, lay, shape, opt),
		rec: int64(shape.dispRec), landed: make([]int, lay.Ranks), fwd: &v2Forwarding{shape: shape}}
	if shape.hybrid {
		k.setupHybrid()
	} else {
		k.setupDirect()
	}
	return k
}

// ---- hybrid ----

// v2ScaleOut is channel c's scale-out warp on rank src.
type v2ScaleOut struct {
	k        *v2Dispatch
	src, c   int
	next     int     // next token index (c, c+channels, ...)
	sent     []int32 // per target node: tokens sent
	signaled []int32 // per target node: tokens covered by a tail bump
	nodes    []int   // scratch: the current token's target nodes
	// lastPut[node]: when the warp's last record to node lands.
	lastPut []sim.Time
}

// v2Forward is channel c's forward warp on rank g: it takes tokens from
// the scale-out warps c of the same local index on every node.
type v2Forward struct {
	k        *v2Dispatch
	g, c     int
	visible  []int32 // per source node: tokens its tails cover
	consumed []int32
	finished []bool
	cur      int // the source node of the chunk in hand
	chunk    int // tokens left in it
	busy     bool
	over     bool
}

func (k *v2Dispatch) setupHybrid() {
	lay, ch := k.lay, k.shape.channels
	nodes := lay.Nodes
	k.bucket = make([][]int32, lay.Ranks)
	k.tokens = make([][]int32, lay.Ranks)
	for src := range lay.Ranks {
		b := make([]int32, nodes*ch+1)
		n := lay.Tokens[src]
		for t := range n {
			prev := -1
			for _, r := range lay.Targets(src, t) {
				if node := int(r) / k.gpn; node != prev {
					prev = node
					b[node*ch+t%ch+1]++
				}
			}
		}
		for i := 1; i < len(b); i++ {
			b[i] += b[i-1]
		}
		toks := make([]int32, b[len(b)-1])
		fill := append([]int32(nil), b[:len(b)-1]...)
		for t := range n {
			prev := -1
			for _, r := range lay.Targets(src, t) {
				if node := int(r) / k.gpn; node != prev {
					prev = node
					i := node*ch + t%ch
					toks[fill[i]] = int32(t)
					fill[i]++
				}
			}
		}
		k.bucket[src], k.tokens[src] = b, toks
	}
	// Each rank's scale-out puts go to the GPU of its local index on every
	// other node.
	k.routes = make([]topology.Route, lay.Ranks*nodes)
	for src := range lay.Ranks {
		for m := range nodes {
			if m != src/k.gpn {
				k.routes[src*nodes+m] = k.cl.Route(src, m*k.gpn+src%k.gpn)
			}
		}
	}
	k.fwd.src, k.fwd.tok = make([][]int32, lay.Ranks*ch), make([][]int32, lay.Ranks*ch)
	k.fwds = make([]v2Forward, lay.Ranks*ch)
	for g := range lay.Ranks {
		for c := range ch {
			f := &k.fwds[g*ch+c]
			*f = v2Forward{k: k, g: g, c: c, visible: make([]int32, nodes), consumed: make([]int32, nodes),
				finished: make([]bool, nodes), cur: nodes - 1}
		}
	}
	for src := range lay.Ranks {
		for c := range ch {
			w := &v2ScaleOut{k: k, src: src, c: c, next: c, sent: make([]int32, nodes), signaled: make([]int32, nodes),
				lastPut: make([]sim.Time, nodes)}
			k.eng.At(k.start, w, evV2Next)
		}
	}
}

// Handle sends the warp's next token, or its finish once it has none.
func (w *v2ScaleOut) Handle(now sim.Time, _ int64) {
	k := w.k
	lay, ch := k.lay, k.shape.channels
	if w.next >= lay.Tokens[w.src] {
		w.finish(now)
		return
	}
	t := w.next
	w.next += ch
	own := w.src / k.gpn
	w.nodes = w.nodes[:0]
	remote, local := false, false
	for _, r := range lay.Targets(w.src, t) {
		node := int(r) / k.gpn
		if len(w.nodes) > 0 && w.nodes[len(w.nodes)-1] == node {
			continue
		}
		w.nodes = append(w.nodes, node)
		if node == own {
			local = true
		} else {
			remote = true
		}
	}
	// One load; a staging store for the NIC when a remote node is a
	// target, a bypass store into the own node's scale-out window when
	// the own node is.
	stores := int64(0)
	if remote {
		stores++
	}
	if local {
		stores++
	}
	_, done := k.sm(w.src, w.c).copy(now, now, 1, k.rec, stores*k.rec)
	for _, node := range w.nodes {
		w.sent[node]++
		var at sim.Time
		if node == own {
			at = done
		} else {
			r := &k.routes[w.src*lay.Nodes+node]
			at = sim.TransferMessageAt(now, done, k.rec, k.msg, r.Latency, r.Ports...)
		}
		w.lastPut[node] = max(w.lastPut[node], at)
		if w.sent[node]-w.signaled[node] >= v2ScaleoutInterval {
			w.signal(now, node, done, at, evV2Tail)
		}
	}
	// The next token's load overlaps the puts: the warp waits only for its
	// own stores.
	k.eng.At(done, w, evV2Next)
}

// signal bumps node's tail for this warp's channel, posted at ready: a
// Gin signal behind the data on the same queue pair (so never before
// after, the last put it covers), or a local release for the own node.
func (w *v2ScaleOut) signal(now sim.Time, node int, ready, after sim.Time, kind int) {
	k := w.k
	w.signaled[node] = w.sent[node]
	at := max(ready, after)
	if node != w.src/k.gpn {
		r := &k.routes[w.src*k.lay.Nodes+node]
		at = max(at, sim.TransferMessageAt(now, ready, v2SignalBytes, k.msg, r.Latency, r.Ports...))
	}
	f := &k.fwds[(node*k.gpn+w.src%k.gpn)*k.shape.channels+w.c]
	k.eng.At(max(at, now), f, sim.PackArg(kind, w.src/k.gpn, int(w.sent[node])))
}

// finish sends the final tail with the finish flag to every node.
func (w *v2ScaleOut) finish(now sim.Time) {
	for node := range w.k.lay.Nodes {
		w.signal(now, node, now, w.lastPut[node], evV2Finish)
	}
}

// Handle takes a tail or finish signal, or the end of the warp's last
// token, and forwards the next token it may.
func (f *v2Forward) Handle(now sim.Time, arg int64) {
	kind, src, n := sim.UnpackArg(arg)
	switch kind {
	case evV2Tail, evV2Finish:
		f.visible[src] = max(f.visible[src], int32(n))
		if kind == evV2Finish {
			f.finished[src] = true
		}
		if f.busy {
			return
		}
	case evV2Next:
		f.busy = false
	}
	f.step(now)
}

func (f *v2Forward) step(now sim.Time) {
	k := f.k
	nodes := k.lay.Nodes
	if f.chunk == 0 || f.consumed[f.cur] >= f.visible[f.cur] {
		f.chunk = 0
		for i := 1; i <= nodes; i++ {
			s := (f.cur + i) % nodes
			if f.consumed[s] < f.visible[s] {
				f.cur, f.chunk = s, min(v2ForwardChunk, int(f.visible[s]-f.consumed[s]))
				break
			}
		}
	}
	if f.chunk == 0 {
		f.checkOver(now)
		return
	}
	s := f.cur
	src := s*k.gpn + f.g%k.gpn
	node := f.g / k.gpn
	ch := k.shape.channels
	lo := k.bucket[src][node*ch+f.c]
	t := int(k.tokens[src][lo+f.consumed[s]])
	f.consumed[s]++
	f.chunk--
	k.fwd.src[f.g*ch+f.c] = append(k.fwd.src[f.g*ch+f.c], int32(src))
	k.fwd.tok[f.g*ch+f.c] = append(k.fwd.tok[f.g*ch+f.c], int32(t))

	// One load, one bulk store per target GPU of this node; the warp
	// waits for all of them before its next token.
	stores := 0
	for _, r := range k.lay.Targets(src, t) {
		if int(r)/k.gpn == node {
			stores++
		}
	}
	loaded, done := k.sm(f.g, f.c).copy(now, now, 1, k.rec, int64(stores)*k.rec)
	for _, r := range k.lay.Targets(src, t) {
		d := int(r)
		if d/k.gpn != node {
			continue
		}
		at := done
		if d != f.g {
			at = k.nvlink(now, loaded, done, k.rec, f.g, d)
		}
		k.last[d] = max(k.last[d], at)
		k.landed[d]++
		done = max(done, at)
	}
	f.busy = true
	k.eng.At(done, f, evV2Next)
}

// checkOver ends the warp once every source node has finished and been
// drained.
func (f *v2Forward) checkOver(now sim.Time) {
	if f.over {
		return
	}
	k := f.k
	node := f.g / k.gpn
	for s := range k.lay.Nodes {
		if !f.finished[s] {
			return
		}
		src := s*k.gpn + f.g%k.gpn
		ch := k.shape.channels
		b := k.bucket[src]
		if f.consumed[s] < b[node*ch+f.c+1]-b[node*ch+f.c] {
			return
		}
	}
	f.over = true
	k.end = max(k.end, now)
}

// ---- direct ----

// v2DirectWarp is data warp w of rank src in direct dispatch: tokens w,
// w+W, ... (W = the rank's data warps).
type v2DirectWarp struct {
	k      *v2Dispatch
	src, w int
	next   int
}

func (k *v2Dispatch) setupDirect() {
	lay := k.lay
	k.shape.perSM = v2Warps(k.shape.dispRec, v2NotifyBytes(lay.Ranks, len(lay.ExpertTokens)), v2MaxDataWarps)
	warps := k.shape.sms * k.shape.perSM
	for src := range lay.Ranks {
		for w := range min(warps, lay.Tokens[src]) {
			k.eng.At(k.start, &v2DirectWarp{k: k, src: src, w: w, next: w}, evV2Next)
		}
	}
}

func (w *v2DirectWarp) Handle(now sim.Time, _ int64) {
	k := w.k
	warps := k.shape.sms * k.shape.perSM
	if w.next >= k.lay.Tokens[w.src] {
		k.end = max(k.end, now)
		return
	}
	t := w.next
	w.next += warps
	node := w.src / k.gpn
	stores, remote := 0, false
	for _, r := range k.lay.Targets(w.src, t) {
		if int(r)/k.gpn == node {
			stores++
		} else {
			remote = true
		}
	}
	if remote {
		stores++ // the staging copy the NIC reads
	}
	loaded, done := k.sm(w.src, w.w).copy(now, now, 1, k.rec, int64(stores)*k.rec)
	staged := done
	for _, r := range k.lay.Targets(w.src, t) {
		d := int(r)
		at, wait := k.land(now, loaded, staged, k.rec, w.src, d)
		if wait {
			done = max(done, at)
		}
		k.last[d] = max(k.last[d], at)
		k.landed[d]++
	}
	k.eng.At(done, w, evV2Next)
}

// ---- Kernel ----

func (k *v2Dispatch) Engine() *sim.Engine { return k.eng }

func (k *v2Dispatch) Finished() error {
	if k.shape.hybrid {
		for i := range k.fwds {
			if f := &k.fwds[i]; !f.over {
				return fmt.Errorf("dispatch: v2 forward warp %d of rank %d never finished: %w", f.c, f.g, ErrStall)
			}
		}
	}
	return nil
}

// Verified checks that every (token, target GPU) row landed once at its
// target: the counts per rank equal the layout's.
func (k *v2Dispatch) Verified() error {
	for r, n := range k.landed {
		if n != k.lay.RecvRows[r] {
			return fmt.Errorf("dispatch: v2 rank %d received %d rows, want %d", r, n, k.lay.RecvRows[r])
		}
	}
	return nil
}

func (k *v2Dispatch) Result() *Result {
	res := k.result(k.rec, k.shape.dispCounted)
	res.EpilogueTime = v2CopyEpilogue(k.cl.Config, k.lay, k.rec)
	return res
}
