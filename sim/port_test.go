package sim

import (
	"testing"
	"unsafe"
)

func TestOneTransferTakesLatencyPlusBytesOverBandwidth(t *testing.T) {
	p := NewPort("link", 50e9)
	const bytes = 7392 * 1000
	lat := 2800 * Nanosecond
	got := Transfer(0, bytes, lat, p)
	want := lat + TransferTime(bytes, 50e9) // 147.84 µs + 2.8 µs
	if got != want || want != 150640*Nanosecond {
		t.Fatalf("arrival = %v, want %v (= 150.64µs)", got, want)
	}
	if p.Bytes() != bytes || p.BusyTime() != TransferTime(bytes, 50e9) {
		t.Fatalf("counters: bytes %d busy %v", p.Bytes(), p.BusyTime())
	}
}

func TestTwoTransfersOfferedTogetherSerialize(t *testing.T) {
	p := NewPort("link", 1e9)
	a := Transfer(0, 1000, 10, p) // 1 µs of bytes
	b := Transfer(0, 1000, 10, p)
	if a != Microsecond+10 || b != 2*Microsecond+10 {
		t.Fatalf("arrivals %v and %v, want 1µs+10ps and 2µs+10ps", a, b)
	}
	if p.PeakBacklog() != Microsecond {
		t.Fatalf("peak backlog %v, want 1µs", p.PeakBacklog())
	}
	// A transfer offered after the port went idle starts at once.
	if c := Transfer(5*Microsecond, 1000, 0, p); c != 6*Microsecond {
		t.Fatalf("idle-port arrival %v, want 6µs", c)
	}
}

func TestIncastIsHeldToIngressBandwidth(t *testing.T) {
	const senders, bytes = 7, int64(1 << 20)
	in := NewPort("gpu0.in", 160e9)
	var last Time
	for i := range senders {
		out := NewPort("out", 160e9)
		_ = i
		if a := Transfer(0, bytes, 0, out, in); a > last {
			last = a
		}
	}
	want := TransferTime(senders*bytes, 160e9)
	// Per-transfer rounding may add at most one picosecond each.
	if last < want || last > want+senders {
		t.Fatalf("incast finished at %v, want %v: the ingress port's rate", last, want)
	}
	if u := in.Utilization(last); u < 0.999 || u > 1 {
		t.Fatalf("ingress utilization %.4f, want 1", u)
	}
}

func TestSlowestPortSetsArrival(t *testing.T) {
	fast, slow := NewPort("fast", 100e9), NewPort("slow", 25e9)
	got := Transfer(0, 1e6, 3, fast, slow)
	if want := TransferTime(1e6, 25e9) + 3; got != want {
		t.Fatalf("arrival %v, want %v", got, want)
	}
}

// TestPortSize: a port fits the allocator's 128-byte size class, which
// puts it on a 128-byte boundary, two cache lines, the first holding what
// every reservation reads. A field more makes it 144 bytes and most ports
// then span three lines.
func TestPortSize(t *testing.T) {
	if n := unsafe.Sizeof(Port{}); n > 128 {
		t.Errorf("a Port is %d bytes, want at most 128", n)
	}
	if off := unsafe.Offsetof(Port{}.batchStart); off >= 64 {
		t.Errorf("Port.batchStart at byte %d: the hot fields no longer share the first cache line", off)
	}
}
