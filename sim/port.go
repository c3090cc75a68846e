package sim

// Port is one direction of a link end (a GPU's NVLink egress, a NIC's
// ingress, a switch's uplink, an SM's copy engine): a resource that moves
// bytes at a fixed bandwidth and serializes what is offered to it.
//
// Invariants:
//   - Each transfer occupies an interval [start, start+hold) of the port,
//     hold = max(bytes/bandwidth, MinHold) + extra, with start at or after
//     the time it was offered; no two intervals overlap, so the port never
//     moves more than its bandwidth allows over any window.
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
// that work offered afterwards for an earlier time can still use it.
type Port struct {
	Name        string
	BytesPerSec float64
	// MinHold is the least time one transfer holds the port whatever its
	// bytes: a NIC's per-message time, 1 / message rate. Zero for links
	// that are bandwidth-bound at any size.
	MinHold Time

	busyUntil   Time
	bytes       int64
	busy        Time
	transfers   int64
	peakBacklog Time
	firstOffer  Time
	offered     bool

	// batchOffer is the offer time of the latest transfers offered and
	// batchStart the earliest start the port granted any of them: the
	// transfers offered at one instant share the port, so the next hop of
	// a path sees all of them begin at batchStart.
	batchOffer, batchStart Time

	// gaps are idle intervals before busyUntil, sorted by start, that a
	// later offer may fill (first fit); ngaps of them are in use.
	gaps  [maxGaps]gap
	ngaps int
	// onReserve, when set (tests only), sees every interval the port
	// grants.
	onReserve func(start, end Time)
}

// maxGaps bounds the idle intervals a port remembers; when full it forgets
// the earliest, which only ever makes it more conservative (the port never
// grants time it has not got).
const maxGaps = 4

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
// Transfers offered to a port at one instant are served together, as a
// NIC serves the queue pairs posted at once and a switch port interleaves
// the packets of the flows that reach it together: each starts moving at
// the earliest start among them, though the port's serialization still
// sets when each one's last byte leaves. Work offered later queues behind.
func (p *Port) pass(offer, floor Time, bytes int64, extra Time) (avail, end Time) {
	s, e := p.reserve(offer, floor, bytes, extra)
	if p.transfers > 1 && offer == p.batchOffer {
		p.batchStart = min(p.batchStart, s)
	} else {
		p.batchOffer, p.batchStart = offer, s
	}
	return p.batchStart, e
}

// hold is how long a transfer of bytes holds the port.
func (p *Port) hold(bytes int64, extra Time) Time {
	return max(TransferTime(bytes, p.BytesPerSec), p.MinHold) + extra
}

// reserve grants the earliest interval that starts at or after offer and
// fits the transfer: in a remembered gap, or after busyUntil. floor is the
// time of the call that offers it (the start of a multi-hop transfer):
// idle time before floor is treated as past and not remembered.
func (p *Port) reserve(offer, floor Time, bytes int64, extra Time) (start, end Time) {
	d := TransferTime(bytes, p.BytesPerSec)
	if d < p.MinHold {
		d = p.MinHold
	}
	d += extra
	if !p.offered {
		p.offered, p.firstOffer = true, offer
	}
	p.bytes += bytes
	p.busy += d
	p.transfers++
	start = p.busyUntil
	if p.ngaps > 0 {
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
	for i := 0; i < p.ngaps; i++ {
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
// gap, forgetting the earliest gap when full.
func (p *Port) addGap(from, to Time) {
	if p.ngaps == maxGaps {
		p.removeGap(0)
	}
	p.gaps[p.ngaps] = gap{from, to}
	p.ngaps++
}

// insertGap puts g at index i, forgetting the earliest gap when full.
func (p *Port) insertGap(i int, g gap) {
	if p.ngaps == maxGaps {
		p.removeGap(0)
		i--
		if i < 0 {
			return // g itself was the earliest
		}
	}
	copy(p.gaps[i+1:p.ngaps+1], p.gaps[i:p.ngaps])
	p.gaps[i] = g
	p.ngaps++
}

func (p *Port) removeGap(i int) {
	copy(p.gaps[i:p.ngaps-1], p.gaps[i+1:p.ngaps])
	p.ngaps--
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
	*p = Port{Name: p.Name, BytesPerSec: p.BytesPerSec, MinHold: p.MinHold}
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
	at, done := now, now
	for _, p := range ports {
		s, e := p.pass(at, now, bytes, 0)
		at, done = s, max(done, e)
	}
	return done + latency
}

// TransferMessage is Transfer for one message that also holds each end of
// the path (the first and last ports: the sending and receiving NIC) for
// msg, its per-message time. Ports between the ends (switch links) see
// only the bytes.
func TransferMessage(now Time, bytes int64, msg, latency Time, ports ...*Port) Time {
	at, done := now, now
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
