package combine

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Warp counts of DeepEP V1's combine kernels (567632d).
const (
	// combineForwarderWarps is internode.cu's kNumCombineForwarderWarps:
	// the forwarder SM splits 24 warps over the source nodes, at least one
	// each, and the sender SM keeps as many minus its 8 NVL senders as
	// RDMA receivers.
	combineForwarderWarps = 24
	nvlSenderWarps        = 8
	// intranodeRecvWarps: intranode.cu's combine runs 768 threads per
	// block; on the receiver SM one warp moves the queue heads and 23 sum.
	intranodeRecvWarps = 768/32 - 1
)

// kernel is one combine run: the engine, the warp roles of every (GPU,
// channel), and the routes and SM ports they use.
//
// SM layout (DeepEP V1 end): channel c owns SMs 2c and 2c+1. Across nodes
// the even SM holds the NVL senders and the RDMA receivers (and a
// coordinator that returns RDMA credits), the odd SM the forwarders (and a
// coordinator that returns NVL credits). Within a node the even SM sends
// and the odd SM receives. Coordinators poll shared memory and cost no SM
// time here; each role's copies and sums queue on its SM's one port, so
// copy and reduce work of the warps sharing an SM serialize.
type kernel struct {
	eng       *sim.Engine
	cl        *topology.Cluster
	lay       *dispatch.Layout
	cfg       dispatch.Config
	rec       int64 // bytes per combine record
	payload   int   // bytes per row as DeepEP's tests count them
	gpn       int
	nodes     int
	ch        int
	internode bool
	// parts is the number of NVL ring partitions per (channel, sender) on
	// the consumer: one per source node across nodes, one within a node.
	parts int
	// nvlSlots is the size of one NVL ring partition.
	nvlSlots int
	// fwdWarps is the forwarder warps per source node (a "large warp"),
	// recvWarps the reducing warps of a receiver: the most tokens either
	// sums at once.
	fwdWarps, recvWarps int
	// costs are the warps' per-record, per-chunk and per-message costs
	// and the reduce rate.
	costs dispatch.Costs
	smPs  [][]*sim.Port // [rank][sm]

	senders []*nvlSender // [rank*ch+c]
	// sendParts holds every sender warp's partitions with rows, warp
	// after warp in (rank, channel, warp) order.
	sendParts []sendPart
	forwards  []*forwarder // [rank*ch+c], internode only
	receivers []*receiver  // [rank*ch+c]
	// The queues' slabs: tok and need hold every receiver's and
	// forwarder group's tokens and per-token stream lists, recvSt the
	// receivers' streams, fwdSt and fwdIDs the forwarder groups' streams
	// and their local GPUs; queues index them by offset.
	tok    []int32
	need   []uint16
	recvSt []streamState
	fwdSt  []streamState
	fwdIDs []uint8
	// fwdMask, where nodes have at most 8 GPUs, holds the forwarder
	// groups' per-token streams as one bit mask per token instead of
	// lists in need (a group's q.off then indexes fwdMask): a seventh of
	// the bytes, which the groups' takes read out of cache.
	fwdMask []uint8
	// round is the NVL round being built, flyPool the buffers of the
	// round rings that are empty.
	round   []flyPart
	flyPool flyPool

	nvlRoutes  []topology.Route // [src*gpn+dstLocal]
	railRoutes []topology.Route // [src*nodes+dstNode]: same local index

	tracer sim.Tracer
	verify *verifier
}

func (k *kernel) sender(rank, c int) *nvlSender { return k.senders[rank*k.ch+c] }
func (k *kernel) fwd(rank, c int) *forwarder    { return k.forwards[rank*k.ch+c] }
func (k *kernel) recv(rank, c int) *receiver    { return k.receivers[rank*k.ch+c] }
func (k *kernel) sm(rank, i int) *sim.Port      { return k.smPs[rank][i] }

// slab is the i-th of the n-long pieces s is cut into.
func slab[T any](s []T, i, n int) []T { return s[i*n : (i+1)*n : (i+1)*n] }

// span is the i-th piece of s cut at the offsets off.
func span[T any](s []T, off []int32, i int) []T { return s[off[i]:off[i+1]:off[i+1]] }

// CheckConfig checks a combine configuration for a cluster of nodes nodes
// of GPUs with deviceSMs SMs. Beyond dispatch's checks, internode combine
// splits each NVL ring into one partition per source node, and DeepEP
// asserts each partition holds more than a chunk (internode.cu).
func CheckConfig(cfg dispatch.Config, deviceSMs, nodes int) error {
	if err := cfg.ValidateAs(deviceSMs, "kernel.combine"); err != nil {
		return err
	}
	if cfg.Mode == dispatch.Normal && nodes > 1 && cfg.NVLBuffer/nodes <= cfg.NVLChunk {
		return fmt.Errorf("combine: kernel.combine.nvl_buffer = %d gives %d slots per source node on %d nodes, not more than kernel.combine.nvl_chunk = %d; DeepEP asserts nvl_buffer/nodes > nvl_chunk: want nvl_buffer >= %d",
			cfg.NVLBuffer, cfg.NVLBuffer/nodes, nodes, cfg.NVLChunk, (cfg.NVLChunk+1)*nodes)
	}
	return nil
}

// Run simulates one normal-mode combine that reverses the dispatch
// described by h, on cluster cl (whose ports accumulate this run's
// traffic: callers pass a fresh or Reset cluster). f is the combine's wire
// format (BF16 in DeepEP). cfg.Mode AllToAll runs the plain reverse
// all-to-allv baseline instead, and LowLatency DeepEP's low-latency combine
// (both owned, with their dispatch direction, by package dispatch).
func Run(cl *topology.Cluster, h *dispatch.Handle, cfg dispatch.Config, f dispatch.Format, hidden int, opt dispatch.Options) (*dispatch.Result, error) {
	if err := CheckConfig(cfg, cl.Config.GPU.SMs, cl.Config.Nodes); err != nil {
		return nil, err
	}
	if h == nil || h.Layout == nil {
		return nil, errors.New("combine: no dispatch handle: combine reverses a dispatch and needs the layout it returned")
	}
	lay := h.Layout
	if lay.Ranks != cl.Config.GPUs() || lay.GPUsPerNode != cl.Config.GPUsPerNode {
		return nil, fmt.Errorf("combine: handle's layout is for %d ranks of %d per node, cluster has %d of %d",
			lay.Ranks, lay.GPUsPerNode, cl.Config.GPUs(), cl.Config.GPUsPerNode)
	}
	if hidden < 1 || hidden > 1<<20 {
		return nil, fmt.Errorf("combine: model.hidden = %d, want 1..%d", hidden, 1<<20)
	}
	switch cfg.Mode {
	case dispatch.AllToAll:
		return dispatch.AllToAllCombine(cl, h, f, hidden, opt)
	case dispatch.LowLatency:
		return dispatch.LowLatencyCombine(cl, h, cfg, f, hidden, opt)
	case dispatch.V2:
		return dispatch.V2Combine(cl, h, cfg, f, hidden, opt)
	}
	// DeepEP's combine reads the dispatch's per-channel prefix matrices,
	// so it asserts the same channel count (deep_ep.cpp, *_combine).
	if h.Config.Mode == dispatch.Normal && h.Config.NumSMs != 0 && h.Config.NumSMs != cfg.NumSMs {
		return nil, fmt.Errorf("combine: kernel.num_sms = %d, but the dispatch handle was made with %d; combine must use the dispatch's channels",
			cfg.NumSMs, h.Config.NumSMs)
	}
	res, err := dispatch.Execute("combine", newKernel(cl, lay, cfg, f, hidden, opt))
	if err != nil {
		return nil, err
	}
	res.Handle = h
	return res, nil
}

// The kernel as a dispatch.Kernel for dispatch.Execute.
func (k *kernel) Engine() *sim.Engine      { return k.eng }
func (k *kernel) Finished() error          { return k.checkFinished() }
func (k *kernel) Result() *dispatch.Result { return k.result() }
func (k *kernel) Verified() error {
	if k.verify == nil {
		return nil
	}
	return k.verify.check()
}

func newKernel(cl *topology.Cluster, lay *dispatch.Layout, cfg dispatch.Config, f dispatch.Format, hidden int, opt dispatch.Options) *kernel {
	ranks, gpn, nodes := lay.Ranks, lay.GPUsPerNode, lay.Nodes
	k := &kernel{
		eng: sim.NewEngine(opt.EngineLimits()),
		cl:  cl, lay: lay, cfg: cfg,
		rec:     int64(f.NormalCombineBytes(hidden, lay.TopK, nodes)),
		payload: f.PayloadBytes(hidden),
		gpn:     gpn, nodes: nodes, ch: cfg.Channels(),
		internode: nodes > 1,
		costs:     dispatch.NewCosts(cl.Config),
		tracer:    opt.Tracer,
	}
	k.eng.SetTracer(opt.Tracer)
	if k.internode {
		// DeepEP splits the NVL ring of each (channel, sender) into one
		// partition per source node, "to avoid deadlocks":
		// num_max_nvl_chunked_recv_tokens / kNumRDMARanks slots each.
		k.parts = nodes
		k.nvlSlots = cfg.NVLBuffer / nodes
		k.fwdWarps = max(combineForwarderWarps/nodes, 1)
		k.recvWarps = max(nodes*k.fwdWarps-nvlSenderWarps, 1)
	} else {
		k.parts = 1
		k.nvlSlots = cfg.NVLBuffer
		k.recvWarps = intranodeRecvWarps
	}

	k.smPs = make([][]*sim.Port, ranks)
	smSlab, smPorts := make([]*sim.Port, ranks*cfg.NumSMs), make([]sim.Port, ranks*cfg.NumSMs)
	for r := range ranks {
		k.smPs[r] = slab(smSlab, r, cfg.NumSMs)
		for i := range cfg.NumSMs {
			p := &smPorts[r*cfg.NumSMs+i]
			*p = *dispatch.NewSMPort(cl.Config, r, i, opt)
			k.smPs[r][i] = p
		}
	}
	k.nvlRoutes = make([]topology.Route, ranks*gpn)
	k.railRoutes = make([]topology.Route, ranks*nodes)
	for src := range ranks {
		base := src - src%gpn
		for d := range gpn {
			k.nvlRoutes[src*gpn+d] = cl.Route(src, base+d)
		}
		for m := range nodes {
			k.railRoutes[src*nodes+m] = cl.Route(src, m*gpn+src%gpn)
		}
	}

	// The warp roles and their state are carved out of a few slabs, so a
	// run allocates little and each role's state sits together; fill
	// gives them the partitions, groups and streams that carry rows.
	n := ranks * k.ch
	k.senders = make([]*nvlSender, n)
	k.receivers = make([]*receiver, n)
	sendSlab, warpSlab, recvSlab := make([]nvlSender, n), make([]sendWarp, n*gpn), make([]receiver, n)
	for i := range n {
		sendSlab[i].init(k, i/k.ch, i%k.ch, slab(warpSlab, i, gpn))
		k.senders[i] = &sendSlab[i]
		k.receivers[i] = &recvSlab[i]
	}
	if k.internode {
		k.forwards = make([]*forwarder, n)
		fwdSlab := make([]forwarder, n)
		for i := range n {
			k.forwards[i] = &fwdSlab[i]
		}
		k.round = make([]flyPart, 0, nodes)
		// At most one smallest buffer per warp is ever made (a ring takes
		// one only when the pool has none), so the pool's list of them
		// never outgrows this; grown by append it would allocate several
		// times its final size over a run.
		k.flyPool.free[0] = make([][]flyPart, 0, n*gpn)
	}
	k.fill()
	if opt.Verify {
		k.verify = newVerifier(k)
	}
	// A GPU's sender warps run side by side; the model starts them one
	// after another on their SM's queue, so each GPU starts at its next
	// peer and no GPU is everyone's first (or last) destination.
	for _, s := range k.senders {
		for i := range s.warps {
			w := (s.rank + 1 + i) % len(s.warps)
			k.eng.At(opt.Offset(s.rank), s, sim.PackArg(evSent, w, 0))
		}
	}
	for _, r := range k.receivers {
		k.eng.At(opt.Offset(r.rank), r, sim.PackArg(evKick, 0, 0))
	}
	return k
}

// fill gives every warp role its work: each source rank's channel slice,
// in token order, as DeepEP's prefix matrices lay it out. A channel slice
// of a source feeds that source's receiver, one forwarder group per node
// its tokens go to, and one partition of the sender warp for its rail on
// each GPU its tokens go to, and nothing else. fill counts those first,
// so that only the ones that carry rows get state, then builds each
// slice's queues in scratch buffers and copies them into two slabs sized
// by the layout's totals.
func (k *kernel) fill() {
	lay, gpn, nodes, ch := k.lay, k.gpn, k.nodes, k.ch
	n := lay.Ranks * ch
	// node[r] is rank r's node: a table, as integer division is slow.
	node := make([]int32, lay.Ranks)
	for r := range lay.Ranks {
		node[r] = int32(r / gpn)
	}
	// plan: across nodes of at most 8 GPUs, a slice's forwarder groups
	// are runs of the layout's node records (dispatch's forwarder
	// records, with each token's GPU mask), which fill walks instead of
	// routing every token again.
	plan := k.internode && gpn <= 8 && !needLists
	recs := newNodeRecords(lay)
	// Count, then turn the counts into offsets: partsAt for the sender
	// warps, indexed (rank*ch+c)*gpn+warp; groupsAt and fwdStreamsAt for
	// the forwarders' groups and their streams, and streamsAt for the
	// receivers (across nodes), indexed rank*ch+c. A forwarder stream is
	// a sender partition seen from its consumer, so they count alike.
	// lastSrc[warp] is the last source (+1) that gave the warp a
	// partition, seen[node] the last slice (+1) whose tokens went there.
	partsAt, groupsAt, streamsAt := make([]int32, n*gpn+1), make([]int32, n+1), make([]int32, n+1)
	fwdStreamsAt := make([]int32, n+1)
	lastSrc, seen := make([]int32, n*gpn), make([]int32, nodes)
	for src := range lay.Ranks {
		srcLocal := src % gpn
		if plan {
			recs.source(src)
		}
		for c := range ch {
			slice := src*ch + c
			lo, hi := dispatch.ChannelSlice(lay.Tokens[src], ch, c)
			if plan {
				for m := range nodes {
					_, masks := recs.run(m, lo, hi)
					if len(masks) == 0 {
						continue
					}
					var set uint8
					for _, x := range masks {
						set |= x
					}
					streamsAt[slice]++
					fi := (m*gpn+srcLocal)*ch + c
					groupsAt[fi]++
					for ; set != 0; set &= set - 1 {
						partsAt[((m*gpn+bits.TrailingZeros8(set))*ch+c)*gpn+srcLocal]++
						fwdStreamsAt[fi]++
					}
				}
				continue
			}
			for t := lo; t < hi; t++ {
				for _, d := range lay.Targets(src, t) {
					if m := node[d]; seen[m] != int32(slice+1) {
						seen[m] = int32(slice + 1)
						streamsAt[slice]++
						groupsAt[(int(m)*gpn+srcLocal)*ch+c]++
					}
					if w := (int(d)*ch+c)*gpn + srcLocal; lastSrc[w] != int32(src+1) {
						lastSrc[w] = int32(src + 1)
						partsAt[w]++
						fwdStreamsAt[(int(node[d])*gpn+srcLocal)*ch+c]++
					}
				}
			}
		}
	}
	for _, a := range [][]int32{partsAt, groupsAt, streamsAt, fwdStreamsAt} {
		var sum int32
		for i, c := range a {
			a[i], sum = sum, sum+c
		}
	}
	if partsAt[n*gpn] >= 1<<30 {
		// An evFreed names its partition in the event's 30-bit field.
		panic(fmt.Sprintf("combine: %d NVL sender partitions, more than an event can name (2^30)", partsAt[n*gpn]))
	}
	k.sendParts = make([]sendPart, partsAt[n*gpn])
	for i, s := range k.senders {
		for w := range s.warps {
			parts := span(k.sendParts, partsAt, i*gpn+w)
			for p := range parts {
				parts[p].w = uint8(w)
			}
			s.warps[w].parts = parts
		}
	}
	var ids []uint16
	var groupSlab []fwdGroup
	var peerSlab []*sendWarp
	if k.internode {
		k.recvSt, ids = make([]streamState, streamsAt[n]), make([]uint16, streamsAt[n])
		groupSlab = make([]fwdGroup, groupsAt[n])
		k.fwdSt, k.fwdIDs = make([]streamState, fwdStreamsAt[n]), make([]uint8, fwdStreamsAt[n])
		peerSlab = make([]*sendWarp, n*gpn)
	} else {
		k.recvSt = make([]streamState, n*gpn)
	}
	fwdSt, fwdIDs := k.fwdSt, k.fwdIDs
	for i := range n {
		r, c := i/ch, i%ch
		if !k.internode {
			k.receivers[i].init(k, r, c, int32(i*gpn), gpn, nil)
			// Stream d returns slots to local GPU d's sender warp for r,
			// whose one partition, if it has rows, is its first.
			for d := range gpn {
				k.recvSt[i*gpn+d].peer = partsAt[((r-r%gpn+d)*ch+c)*gpn+r%gpn]
			}
			continue
		}
		// peers[d]: local GPU d's sender warp for r in channel c, whose
		// rounds land on r's forwarder.
		peers := slab(peerSlab, i, gpn)
		for d := range gpn {
			peers[d] = &k.sender(r-r%gpn+d, c).warps[r%gpn]
		}
		k.receivers[i].init(k, r, c, streamsAt[i], int(streamsAt[i+1]-streamsAt[i]), span(ids, streamsAt, i))
		k.forwards[i].init(k, r, c, span(groupSlab, groupsAt, i), peers)
	}

	// Every queue holds, per token, a count and then its streams.
	var tokens, pairs, visits int
	for src := range lay.Ranks {
		tokens += lay.Tokens[src]
		pairs += lay.RecvRows[src]
		for _, n := range lay.NodeTokens[src] {
			visits += n
		}
	}
	tokSlab, needSlab := tokens, tokens+pairs
	if k.internode {
		// Receivers need one row per target node; forwarder groups hold
		// one token per (token, node) with one row per target GPU, as a
		// mask of their streams where a node has at most 8 GPUs.
		tokSlab, needSlab = tokens+visits, tokens+visits+visits+pairs
		if gpn <= 8 && !needLists {
			needSlab = tokens + visits
			k.fwdMask = make([]uint8, 0, visits)
		}
	}
	masks := k.fwdMask != nil
	// The totals are exact for a layout made by NewLayout; should they
	// fall short, append grows the slabs.
	k.tok, k.need = make([]int32, 0, tokSlab), make([]uint16, 0, needSlab)
	place := func(q *reduceQueue, t []int32, n []uint16) {
		q.tok, q.n, q.off = int32(len(k.tok)), int32(len(t)), int32(len(k.need))
		k.tok, k.need = append(k.tok, t...), append(k.need, n...)
	}
	// The second pass makes the partitions, groups and streams in the
	// order the first counted them: partsMade, groupsMade and
	// fwdStreamsMade count them per warp and per forwarder. Per slice,
	// group[m] is its group on node m's forwarder, locals[m] the GPUs of
	// node m its tokens go to, stream[m] its receiver's stream from node
	// m, and visited the nodes its tokens go to.
	clear(lastSrc)
	clear(seen)
	partsMade, groupsMade, fwdStreamsMade := make([]int32, n*gpn), make([]int32, n), make([]int32, n)
	group, stream, locals := make([]int32, nodes), make([]int32, nodes), make([]localSet, nodes)
	visited := make([]int32, 0, nodes)
	// Scratch: the receiver's queue, then each node's forwarder group's.
	scratch := make([]scratchQueue, 1+nodes)
	var pl planScratch
	if plan {
		pl = newPlanScratch(lay, ch)
	}
	for src := range lay.Ranks {
		srcLocal := src % gpn
		if plan {
			recs.source(src)
		}
		for c := range ch {
			slice := src*ch + c
			lo, hi := dispatch.ChannelSlice(lay.Tokens[src], ch, c)
			if plan {
				k.fillSlice(&recs, &pl, src, c, lo, hi, partsAt, partsMade, groupsMade, fwdStreamsAt, fwdStreamsMade)
				continue
			}
			for _, m := range visited {
				scratch[1+m].tok, scratch[1+m].need = scratch[1+m].tok[:0], scratch[1+m].need[:0]
			}
			visited = visited[:0]
			recv := &scratch[0]
			recv.tok, recv.need = recv.tok[:0], recv.need[:0]
			// part counts a row of slice (src, c) in its partition on
			// d's warp for src's rail, made when d first appears, feeding
			// group grp.
			part := func(d int32, grp uint16) {
				w := (int(d)*ch+c)*gpn + srcLocal
				if lastSrc[w] != int32(src+1) {
					lastSrc[w] = int32(src + 1)
					partsMade[w]++
					k.sendParts[partsAt[w]+partsMade[w]-1].grp = grp
				}
				k.sendParts[partsAt[w]+partsMade[w]-1].total++
			}
			for t := lo; t < hi; t++ {
				targets := lay.Targets(src, t)
				recv.tok = append(recv.tok, int32(t))
				if !k.internode {
					recv.need = append(recv.need, uint16(len(targets)))
					for _, d := range targets {
						recv.need = append(recv.need, uint16(d))
						// d's warp for src, the one partition.
						part(d, 0)
					}
					continue
				}
				count := len(recv.need)
				recv.need = append(recv.need, 0)
				for i := 0; i < len(targets); {
					m := node[targets[i]]
					if seen[m] != int32(slice+1) {
						seen[m] = int32(slice + 1)
						visited = append(visited, m)
						fi := (int(m)*gpn+srcLocal)*ch + c
						group[m] = groupsMade[fi]
						groupsMade[fi]++
						locals[m] = localSet{}
					}
					recv.need = append(recv.need, uint16(m))
					q := &scratch[1+m]
					q.tok = append(q.tok, int32(t))
					base := m * int32(gpn)
					if masks {
						// One entry per token: the mask of its local
						// GPUs, made a mask of streams below.
						var mask uint16
						for ; i < len(targets) && node[targets[i]] == m; i++ {
							d := targets[i]
							mask |= 1 << (d - base)
							part(d, uint16(group[m]))
						}
						q.need = append(q.need, mask)
						locals[m][0] |= uint64(mask)
						continue
					}
					fc := len(q.need)
					q.need = append(q.need, 0)
					for ; i < len(targets) && node[targets[i]] == m; i++ {
						d := targets[i]
						q.need = append(q.need, uint16(d-base))
						locals[m].add(int(d - base))
						// d's warp for forwarder (m, srcLocal), partition
						// srcNode.
						part(d, uint16(group[m]))
					}
					q.need[fc] = uint16(len(q.need) - fc - 1)
				}
				recv.need[count] = uint16(len(recv.need) - count - 1)
			}
			r := k.recv(src, c)
			if k.internode {
				// The receiver's streams are the visited nodes in order;
				// its queue names them by stream.
				slices.Sort(visited)
				for s, m := range visited {
					stream[m] = int32(s)
					r.ids[s] = uint16(m)
					k.recvSt[int(r.q.st)+s].peer = group[m]
					// The group's streams are the GPUs of node m its
					// tokens come from, in order, each returning slots to
					// its partition on that GPU's sender warp; its queue
					// names them by stream.
					fi := (int(m)*gpn+srcLocal)*ch + c
					set := &locals[m]
					lo := fwdStreamsAt[fi] + fwdStreamsMade[fi]
					hi := lo + int32(set.len())
					fwdStreamsMade[fi] = hi - fwdStreamsAt[fi]
					st, stIDs := fwdSt[lo:hi:hi], fwdIDs[lo:hi:hi]
					f := k.forwards[fi]
					f.initGroup(int(group[m]), src, lo, int(hi-lo))
					j := 0
					for d := range gpn {
						if set.has(d) {
							stIDs[j] = uint8(d)
							w := ((int(m)*gpn+d)*ch+c)*gpn + srcLocal
							st[j].peer = partsAt[w] + partsMade[w] - 1
							k.sendParts[partsAt[w]+partsMade[w]-1].st = uint8(j)
							j++
						}
					}
					q := &scratch[1+m]
					if masks {
						// Local GPUs to streams: the streams are the
						// set's members in order, so a full set maps
						// each GPU to itself.
						if full := uint64(1)<<gpn - 1; set[0] != full {
							for j, lm := range q.need {
								var sm uint16
								for ; lm != 0; lm &= lm - 1 {
									sm |= 1 << set.rank(bits.TrailingZeros16(lm))
								}
								q.need[j] = sm
							}
						}
						continue
					}
					for off := 0; off < len(q.need); {
						cnt := int(q.need[off])
						for j := off + 1; j <= off+cnt; j++ {
							q.need[j] = uint16(set.rank(int(q.need[j])))
						}
						off += 1 + cnt
					}
				}
				for off := 0; off < len(recv.need); {
					cnt := int(recv.need[off])
					for j := off + 1; j <= off+cnt; j++ {
						recv.need[j] = uint16(stream[recv.need[j]])
					}
					off += 1 + cnt
				}
			}
			place(&r.q, recv.tok, recv.need)
			for _, m := range visited {
				q := &scratch[1+m]
				g := &k.fwd(int(m)*gpn+srcLocal, c).groups[group[m]].q
				if k.fwdMask == nil {
					place(g, q.tok, q.need)
					continue
				}
				// One mask per token: its streams, at most 8.
				g.tok, g.n, g.off = int32(len(k.tok)), int32(len(q.tok)), int32(len(k.fwdMask))
				k.tok = append(k.tok, q.tok...)
				for _, sm := range q.need {
					k.fwdMask = append(k.fwdMask, uint8(sm))
				}
			}
		}
	}
}

// nodeRecords walks one source's node records (Layout.NodeRecords) slice
// after slice: a channel slice's records on node m are the run from
// cur[m] of the tokens below the slice's end.
type nodeRecords struct {
	lay  *dispatch.Layout
	tok  [][]int32
	mask [][]uint8
	cur  []int
}

func newNodeRecords(lay *dispatch.Layout) nodeRecords {
	n := lay.Nodes
	return nodeRecords{lay: lay, tok: make([][]int32, n), mask: make([][]uint8, n), cur: make([]int, n)}
}

// source starts on source src's records.
func (r *nodeRecords) source(src int) {
	for m := range r.cur {
		r.tok[m], r.mask[m] = r.lay.NodeRecords(src, m)
		r.cur[m] = 0
	}
}

// run is node m's records of the tokens in [lo, hi), which follow the
// last range asked for.
func (r *nodeRecords) run(m, lo, hi int) (tok []int32, mask []uint8) {
	t := r.tok[m]
	a := r.cur[m]
	for a < len(t) && int(t[a]) < lo {
		a++
	}
	b := a
	for b < len(t) && int(t[b]) < hi {
		b++
	}
	r.cur[m] = b
	return t[a:b], r.mask[m][a:b]
}

// planScratch is fillSlice's scratch: per node, the slice's run of
// records, its group and its set of GPUs; per token of the slice, its
// entry in the receiver's stream lists; the receiver's queue.
type planScratch struct {
	tok     [][]int32
	mask    [][]uint8
	group   []int32
	set     []uint8
	visited []int
	pos     []int32
	recvTok []int32
	need    []uint16
}

func newPlanScratch(lay *dispatch.Layout, ch int) planScratch {
	most := 0
	for _, n := range lay.Tokens {
		most = max(most, n)
	}
	n := lay.Nodes
	return planScratch{tok: make([][]int32, n), mask: make([][]uint8, n), group: make([]int32, n), set: make([]uint8, n),
		pos: make([]int32, (most+ch-1)/ch)}
}

// fillSlice is fill's second pass over slice (src, c), tokens [lo, hi),
// from the node records: the same partitions, groups, streams and queues,
// in the same slab order, as routing each token.
func (k *kernel) fillSlice(recs *nodeRecords, pl *planScratch, src, c, lo, hi int,
	partsAt, partsMade, groupsMade, fwdStreamsAt, fwdStreamsMade []int32) {
	gpn, ch, srcLocal := k.gpn, k.ch, src%k.gpn
	// The receiver's streams are the nodes the slice's tokens go to,
	// ascending.
	pl.visited = pl.visited[:0]
	rows := hi - lo // the receiver's stream lists: a count per token and a stream per (token, node)
	for m := range k.nodes {
		tok, mask := recs.run(m, lo, hi)
		if len(tok) == 0 {
			continue
		}
		pl.tok[m], pl.mask[m] = tok, mask
		pl.visited = append(pl.visited, m)
		rows += len(tok)
	}
	pos := pl.pos[:hi-lo]
	clear(pos)
	for _, m := range pl.visited {
		for _, t := range pl.tok[m] {
			pos[int(t)-lo]++
		}
	}
	pl.recvTok = pl.recvTok[:0]
	pl.need = slices.Grow(pl.need[:0], rows)[:rows]
	off := int32(0)
	for i, n := range pos {
		pl.recvTok = append(pl.recvTok, int32(lo+i))
		pl.need[off] = uint16(n)
		pos[i] = off + 1
		off += 1 + n
	}
	r := k.recv(src, c)
	for s, m := range pl.visited {
		for _, t := range pl.tok[m] {
			i := int(t) - lo
			pl.need[pos[i]] = uint16(s)
			pos[i]++
		}
		fi := (m*gpn+srcLocal)*ch + c
		grp := groupsMade[fi]
		groupsMade[fi]++
		pl.group[m] = grp
		r.ids[s] = uint16(m)
		k.recvSt[int(r.q.st)+s].peer = grp
		// The group's streams are the GPUs of node m its tokens come
		// from, in order, each returning slots to its partition on that
		// GPU's sender warp, whose rows are the tokens it holds.
		var per [8]int32
		var set uint8
		for _, x := range pl.mask[m] {
			set |= x
			for ; x != 0; x &= x - 1 {
				per[bits.TrailingZeros8(x)]++
			}
		}
		pl.set[m] = set
		a := fwdStreamsAt[fi] + fwdStreamsMade[fi]
		b := a + int32(bits.OnesCount8(set))
		fwdStreamsMade[fi] = b - fwdStreamsAt[fi]
		st, stIDs := k.fwdSt[a:b:b], k.fwdIDs[a:b:b]
		k.forwards[fi].initGroup(int(grp), src, a, int(b-a))
		j := 0
		for x := set; x != 0; x &= x - 1 {
			d := bits.TrailingZeros8(x)
			stIDs[j] = uint8(d)
			w := ((m*gpn+d)*ch+c)*gpn + srcLocal
			partsMade[w]++
			st[j].peer = partsAt[w] + partsMade[w] - 1
			sp := &k.sendParts[st[j].peer]
			sp.grp, sp.total, sp.st = uint16(grp), per[d], uint8(j)
			j++
		}
	}
	q := &r.q
	q.tok, q.n, q.off = int32(len(k.tok)), int32(len(pl.recvTok)), int32(len(k.need))
	k.tok, k.need = append(k.tok, pl.recvTok...), append(k.need, pl.need...)
	for _, m := range pl.visited {
		g := &k.fwd(m*gpn+srcLocal, c).groups[pl.group[m]].q
		g.tok, g.n, g.off = int32(len(k.tok)), int32(len(pl.tok[m])), int32(len(k.fwdMask))
		k.tok = append(k.tok, pl.tok[m]...)
		// One mask per token: its streams, the set's members in order,
		// so a full set maps each GPU to itself.
		set := pl.set[m]
		if set == uint8(1<<gpn-1) {
			k.fwdMask = append(k.fwdMask, pl.mask[m]...)
			continue
		}
		for _, lm := range pl.mask[m] {
			var sm uint8
			for ; lm != 0; lm &= lm - 1 {
				sm |= 1 << bits.OnesCount8(set&(1<<bits.TrailingZeros8(lm)-1))
			}
			k.fwdMask = append(k.fwdMask, sm)
		}
	}
}

// needLists makes fill keep the forwarder groups' streams as lists even
// where masks fit, so a test can check that both give the same run.
var needLists = false

// scratchQueue is a queue's tokens and stream lists while fill builds
// them, before they go into the kernel's slabs.
type scratchQueue struct {
	tok  []int32
	need []uint16
}

// localSet is a set of a node's local GPUs (at most 128).
type localSet [2]uint64

func (s *localSet) add(d int)      { s[d>>6] |= 1 << (d & 63) }
func (s *localSet) has(d int) bool { return s[d>>6]>>(d&63)&1 != 0 }
func (s *localSet) len() int       { return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) }

// rank is the number of members below d.
func (s *localSet) rank(d int) int {
	if d < 64 {
		return bits.OnesCount64(s[0] & (1<<d - 1))
	}
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]&(1<<(d-64)-1))
}

// checkFinished returns an ErrStall diagnosis if any output token was not
// summed.
func (k *kernel) checkFinished() error {
	want, got := 0, 0
	for _, r := range k.receivers {
		want += r.q.len()
		got += r.done
	}
	if got == want {
		return nil
	}
	return fmt.Errorf("combine: %w at %v with %d of %d tokens summed: %s", dispatch.ErrStall, k.eng.Now(), got, want, k.diagnose())
}

// diagnose names the first waiting warps found, senders first (a stall
// starts where rows cannot be produced), in rank and channel order.
func (k *kernel) diagnose() string {
	var msgs []string
	const most = 3
	for _, s := range k.senders {
		for _, m := range s.waiting() {
			if msgs = append(msgs, m); len(msgs) >= most {
				return strings.Join(msgs, "; ")
			}
		}
	}
	for _, f := range k.forwards {
		for _, m := range f.waiting() {
			if msgs = append(msgs, m); len(msgs) >= most {
				return strings.Join(msgs, "; ")
			}
		}
	}
	for _, r := range k.receivers {
		if m := r.waiting(); m != "" {
			if msgs = append(msgs, m); len(msgs) >= most {
				return strings.Join(msgs, "; ")
			}
		}
	}
	if len(msgs) == 0 {
		return "no warp is waiting; rows were lost"
	}
	return strings.Join(msgs, "; ")
}

func (k *kernel) result() *dispatch.Result {
	res := &dispatch.Result{Mode: dispatch.Normal, RecordBytes: int(k.rec), Events: k.eng.Steps(),
		RankFinish: make([]sim.Time, k.lay.Ranks)}
	for _, r := range k.receivers {
		res.RankFinish[r.rank] = max(res.RankFinish[r.rank], r.last)
	}
	dispatch.Summarize(res, k.cl, k.lay, k.payload, slices.Concat(k.smPs...))
	return res
}

// trace emits one span when tracing is on. Peer is a GPU for NVLink, a
// node for RDMA, -1 for a reduction. It inlines to the tracer check, so
// an untraced run makes no call.
func (k *kernel) trace(start, end sim.Time, ev, role string, gpu, c, peer int, link string, bytes int64, tokens int) {
	if k.tracer != nil {
		k.emit(start, end, ev, role, gpu, c, peer, link, bytes, tokens)
	}
}

func (k *kernel) emit(start, end sim.Time, ev, role string, gpu, c, peer int, link string, bytes int64, tokens int) {
	k.tracer.Trace(sim.Record{At: start, Dur: end - start, Event: ev, Role: role, GPU: gpu, Channel: c, Peer: peer,
		Link: link, Bytes: bytes, Tokens: tokens})
}
