package sim

// Port is one direction of a link end (a GPU's NVLink egress, a NIC's
// ingress, a switch's uplink, an SM's copy engine): a resource that moves
// bytes at a fixed bandwidth and serializes what is offered to it.
//
// Invariants:
//   - Each transfer occupies an interval [start, start+hold) of the port,
//     hold = max(bytes/bandwidth + extra, MinHold), with start at or after
//     the time it was offered; no two intervals overlap, so the port never
//     moves more than its bandwidth allows over any window. A message's
//     explicit per-message time (extra) counts toward MinHold, the port's
//     own per-message floor, not on top of it: it is paid once.
//   - busyUntil is the end of the latest interval.
//   - BusyTime is the sum of the holds; it never exceeds the span from the
//     first offer to busyUntil.
//
// A port reserves capacity when a transfer is offered, not byte by byte: a
// fluid model. Models keep transfers chunk-sized so that concurrent flows
// interleave at chunk granularity. Offers normally come in time order and
// a port serves them first come first served; a later hop of a multi-hop
// transfer (Transfer) may be offered work that starts in the future, and
// the idle time that leaves before it is kept (a few gaps per port) so
// that work offered afterwards for an earlier time can still use it. So
// may the first hop, when a model posts work from an event for a time
// ahead of the engine's clock (TransferAt): successive posts then come out
// of time order, and the port keeps the idle time after the present for
// them.
type Port struct {
	// The fields every reservation reads come first, in one 64-byte
	// line; a port is 128 bytes, which Go's allocator places on a
	// 128-byte boundary, so it spans exactly two lines.

	BytesPerSec float64
	// MinHold is the least time one transfer holds the port whatever its
	// bytes: a NIC's per-message time, 1 / message rate. Zero for links
	// that are bandwidth-bound at any size. A transfer's extra time
	// (TransferMessage's msg) counts toward it.
	MinHold Time

	busyUntil Time
	bytes     int64
	busy      Time
	transfers int64

	// batchAt is the present (the offering call's now) of the latest
	// transfers offered and batchStart the earliest start the port
	// granted any of them: the transfers posted at one instant share the
	// port, so the next hop of a path sees each of them begin at
	// batchStart, or when it was offered if that is later.
	batchAt, batchStart Time

	peakBacklog Time
	// gaps are idle intervals before busyUntil, sorted by start, that a
	// later offer may fill (first fit), at most maxGaps; allocated on the
	// first gap, kept across Reset.
	gaps []gap
	// onReserve, when set (tests only), sees every interval the port
	// grants.
	onReserve func(start, end Time)
	Name      string
}

// maxGaps bounds the idle intervals a port remembers; when full it forgets
// the shortest, which only ever makes it more conservative (the port never
// grants time it has not got). A NIC's ingress offered the backlogged
// streams of a few dozen senders, each at its own future time, needs a few
// dozen: with 4 (forgetting the earliest) a low-latency dispatch's
// ingresses lost their early idle time and ended up to 15% late.
const maxGaps = 32

type gap struct{ from, to Time }

// NewPort returns an idle port. bytesPerSec must be positive.
func NewPort(name string, bytesPerSec float64) *Port {
	if !(bytesPerSec > 0) {
		panic("sim: NewPort " + name + " needs a positive bandwidth")
	}
	return &Port{Name: name, BytesPerSec: bytesPerSec}
}

// Reserve offers bytes to the port at time now and returns when the port
// has moved the last of them.
func (p *Port) Reserve(now Time, bytes int64) Time { return p.ReserveExtra(now, bytes, 0) }

// ReserveExtra is Reserve for a transfer that holds the port extra time
// beyond its bytes' share of the bandwidth: a NIC's per-message work, say.
// The extra time counts as busy time; the bytes count as bytes moved.
func (p *Port) ReserveExtra(now Time, bytes int64, extra Time) Time {
	_, end := p.reserve(now, now, bytes, extra)
	return end
}

// pass reserves the transfer on one hop of a path and returns when its
// bytes begin to reach the next hop (avail) and when this hop is done.
// floor is the present of the call that posts the transfer. Transfers
// posted at one instant are served together, as a NIC serves the queue
// pairs its warps post at once and a switch port interleaves the packets
// of the flows that reach it together: each starts moving at the earliest
// start among them (or at its own offer, if later: a message whose bytes
// are ready a little after the others'), though the port's serialization
// still sets when each one's last byte leaves. The batch is the posting
// instant, not the offer time: one event's messages are ready at slightly
// different times (each warp's copy ends in turn) and are still posted
// together. Work posted later queues behind.
func (p *Port) pass(offer, floor Time, bytes int64, extra Time) (avail, end Time) {
	_, e := p.reserve(offer, floor, bytes, extra)
	return max(offer, p.batchStart), e
}

// hold is how long a transfer of bytes holds the port.
func (p *Port) hold(bytes int64, extra Time) Time {
	return max(TransferTime(bytes, p.BytesPerSec)+extra, p.MinHold)
}

// reserve grants the earliest interval that starts at or after offer and
// fits the transfer: in a remembered gap, or after busyUntil. floor is the
// present of the call that offers it (its now, at or before the offer):
// idle time before floor is treated as past and not remembered.
func (p *Port) reserve(offer, floor Time, bytes int64, extra Time) (start, end Time) {
	d := TransferTime(bytes, p.BytesPerSec) + extra
	if d < p.MinHold {
		d = p.MinHold
	}
	p.bytes += bytes
	p.busy += d
	p.transfers++
	start = p.busyUntil
	if len(p.gaps) > 0 {
		if s, ok := p.fitGap(offer, floor, d); ok {
			start = s
			goto granted
		}
	}
	if offer > start {
		// The port idles from busyUntil to offer; remember the part
		// after floor.
		if offer > floor {
			p.addGap(max(start, floor), offer)
		}
		start = offer
	}
	p.busyUntil = start + d
granted:
	// Every offer joins the batch of its instant, whether it came
	// through a path (pass) or alone (Reserve).
	if p.transfers > 1 && floor == p.batchAt {
		p.batchStart = min(p.batchStart, start)
	} else {
		p.batchAt, p.batchStart = floor, start
	}
	if b := start - offer; b > p.peakBacklog {
		p.peakBacklog = b
	}
	if p.onReserve != nil {
		p.onReserve(start, start+d)
	}
	return start, start + d
}

// fitGap finds the first remembered gap that holds [s, s+d) with s at or
// after offer, splits it around the interval and returns s. Gaps that end
// by floor are dropped as past.
func (p *Port) fitGap(offer, floor, d Time) (Time, bool) {
	for i := 0; i < len(p.gaps); i++ {
		g := p.gaps[i]
		if g.to <= floor {
			p.removeGap(i)
			i--
			continue
		}
		s := max(offer, g.from)
		if s+d > g.to {
			continue
		}
		// Left piece [g.from, s) and right piece [s+d, g.to).
		switch left, right := s > max(g.from, floor), s+d < g.to; {
		case left && right:
			p.gaps[i].to = s
			p.insertGap(i+1, gap{s + d, g.to})
		case left:
			p.gaps[i].to = s
		case right:
			p.gaps[i].from = s + d
		default:
			p.removeGap(i)
		}
		return s, true
	}
	return 0, false
}

// addGap appends [from, to), which starts at or after every remembered
// gap.
func (p *Port) addGap(from, to Time) { p.insertGap(len(p.gaps), gap{from, to}) }

// insertGap puts g at index i. When the port already remembers maxGaps it
// forgets the shortest of them and g: the least idle time, and the gap
// least likely to fit a later offer.
func (p *Port) insertGap(i int, g gap) {
	if p.gaps == nil {
		p.gaps = make([]gap, 0, maxGaps)
	}
	if len(p.gaps) == maxGaps {
		v, short := -1, g.to-g.from // -1: g itself
		for k := range p.gaps {
			if d := p.gaps[k].to - p.gaps[k].from; d < short {
				v, short = k, d
			}
		}
		if v < 0 {
			return
		}
		p.removeGap(v)
		if v < i {
			i--
		}
	}
	p.gaps = append(p.gaps, gap{})
	copy(p.gaps[i+1:], p.gaps[i:])
	p.gaps[i] = g
}

func (p *Port) removeGap(i int) {
	p.gaps = append(p.gaps[:i], p.gaps[i+1:]...)
}

// Hold keeps the port from starting any transfer before until, without
// counting bytes or busy time: an SM whose kernel has not started yet.
func (p *Port) Hold(until Time) {
	if until > p.busyUntil {
		p.busyUntil = until
	}
}

// BusyUntil is when the port finishes the work offered so far.
func (p *Port) BusyUntil() Time { return p.busyUntil }

// Bytes is the total moved (or committed to move) by the port.
func (p *Port) Bytes() int64 { return p.bytes }

// BusyTime is the total time the port spends moving bytes.
func (p *Port) BusyTime() Time { return p.busy }

// Transfers is the number of transfers offered.
func (p *Port) Transfers() int64 { return p.transfers }

// PeakBacklog is the longest wait any transfer had before the port started
// on it: the deepest queue, in time.
func (p *Port) PeakBacklog() Time { return p.peakBacklog }

// Utilization is BusyTime over the span [0, end]; 0 when end is not positive.
func (p *Port) Utilization(end Time) float64 {
	if end <= 0 {
		return 0
	}
	return float64(p.busy) / float64(end)
}

// Reset returns the port to idle with zeroed counters, keeping its name,
// bandwidth and MinHold, so a cluster can be reused across runs.
func (p *Port) Reset() {
	*p = Port{Name: p.Name, BytesPerSec: p.BytesPerSec, MinHold: p.MinHold, gaps: p.gaps[:0]}
}

// Transfer moves bytes offered at time now along a path of ports (GPU
// egress, switch links, GPU ingress, in path order) and returns the
// arrival time: when the last hop has moved the last byte, plus the path
// latency.
//
// The path is cut-through: hop i starts on the transfer at the earliest
// time it is free at or after hop i-1 started on it, and holds for its own
// bytes over bandwidth; the transfer arrives when the latest hop finishes.
// So a busy later hop delays the transfer without holding earlier hops for
// others, and a busy earlier hop reserves a later one only from when the
// bytes can reach it (no phantom reservation at the offer time). A single
// idle port gives exactly latency + bytes/bandwidth, and a path never
// beats its slowest hop.
func Transfer(now Time, bytes int64, latency Time, ports ...*Port) Time {
	return TransferAt(now, now, bytes, latency, ports...)
}

// TransferAt is Transfer for bytes that a call at time now (the present:
// the event that posts them) offers for when they are ready, at or after
// now: a warp's copy that ends ahead of the engine's clock, say. Offers
// from successive calls may then come out of time order; the ports keep
// the idle time after now for them, and the transfers one instant posts
// share each port as posted together (whatever their ready times), as
// Transfer's offered at one time do. A ready time before now is taken as
// the present.
func TransferAt(now, ready Time, bytes int64, latency Time, ports ...*Port) Time {
	return transfer(min(now, ready), ready, bytes, 0, latency, ports)
}

// TransferMessage is Transfer for one message that also holds each end of
// the path (the first and last ports: the sending and receiving NIC) for
// msg, its per-message time. Ports between the ends (switch links) see
// only the bytes. The per-message time counts toward a port's MinHold
// (the NIC's message rate), not on top of it: a message pays it once.
func TransferMessage(now Time, bytes int64, msg, latency Time, ports ...*Port) Time {
	return transfer(now, now, bytes, msg, latency, ports)
}

// TransferMessageAt is TransferMessage posted at now for when its bytes
// are ready (TransferAt).
func TransferMessageAt(now, ready Time, bytes int64, msg, latency Time, ports ...*Port) Time {
	return transfer(min(now, ready), ready, bytes, msg, latency, ports)
}

// transfer moves bytes ready at ready along ports, posted at now (now <=
// ready), each end holding msg more.
func transfer(now, ready Time, bytes int64, msg, latency Time, ports []*Port) Time {
	at, done := ready, ready
	last := len(ports) - 1
	for i, p := range ports {
		extra := Time(0)
		if i == 0 || i == last {
			extra = msg
		}
		s, e := p.pass(at, now, bytes, extra)
		at, done = s, max(done, e)
	}
	return done + latency
}
