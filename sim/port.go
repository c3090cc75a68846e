package sim

// Port is one direction of a link end (a GPU's NVLink egress, a NIC's
// ingress, an SM's copy engine): a resource that moves bytes at a fixed
// bandwidth and serializes what is offered to it, first come first served.
//
// Invariants:
//   - busyUntil is the time the port finishes the last transfer offered.
//   - Each transfer occupies [start, start+bytes/bandwidth) with start at or
//     after the offer time and at or after the previous transfer's end, so the
//     port never moves more than its bandwidth allows over any interval.
//   - BusyTime is the sum of those occupancies; it never exceeds the span from
//     the first offer to busyUntil.
//
// A port reserves capacity when a transfer is offered, not byte by byte: a
// fluid first-come-first-served model. Models keep transfers chunk-sized so
// that concurrent flows interleave at chunk granularity.
type Port struct {
	Name        string
	BytesPerSec float64

	busyUntil   Time
	bytes       int64
	busy        Time
	transfers   int64
	peakBacklog Time
	firstOffer  Time
	offered     bool
}

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
	start := now
	if p.busyUntil > start {
		if b := p.busyUntil - now; b > p.peakBacklog {
			p.peakBacklog = b
		}
		start = p.busyUntil
	}
	if !p.offered {
		p.offered, p.firstOffer = true, now
	}
	d := TransferTime(bytes, p.BytesPerSec) + extra
	p.busyUntil = start + d
	p.bytes += bytes
	p.busy += d
	p.transfers++
	return p.busyUntil
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

// Reset returns the port to idle with zeroed counters, keeping its name and
// bandwidth, so a cluster can be reused across runs.
func (p *Port) Reset() {
	*p = Port{Name: p.Name, BytesPerSec: p.BytesPerSec}
}

// Transfer offers bytes at time now to every port on a path (for example
// GPU egress, a switch, GPU ingress) and returns the arrival time: when the
// slowest port has moved the last byte, plus the path latency. Each port
// serializes independently, as in a cut-through network where the slowest
// hop sets the pace.
func Transfer(now Time, bytes int64, latency Time, ports ...*Port) Time {
	done := now
	for _, p := range ports {
		if f := p.Reserve(now, bytes); f > done {
			done = f
		}
	}
	return done + latency
}

// TransferMessage is Transfer for one message that also holds each end of
// the path (the first and last ports: the sending and receiving NIC) for
// msg, its per-message time. Ports between the ends (a shared switch
// fabric) see only the bytes.
func TransferMessage(now Time, bytes int64, msg, latency Time, ports ...*Port) Time {
	done := now
	for i, p := range ports {
		extra := Time(0)
		if i == 0 || i == len(ports)-1 {
			extra = msg
		}
		if f := p.ReserveExtra(now, bytes, extra); f > done {
			done = f
		}
	}
	return done + latency
}
