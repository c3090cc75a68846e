package sim

import (
	"math"
	"strconv"
)

// Time is virtual time in picoseconds. An int64 covers about 106 days, far
// beyond any run, and integer arithmetic keeps results identical on every
// machine.
type Time int64

// Units of virtual time.
const (
	Picosecond  Time = 1
	Nanosecond       = 1000 * Picosecond
	Microsecond      = 1000 * Nanosecond
	Millisecond      = 1000 * Microsecond
	Second           = 1000 * Millisecond
)

// Forever is a time later than any event; ports report it as "never".
const Forever Time = math.MaxInt64

// Microseconds returns t as a floating-point number of microseconds.
func (t Time) Microseconds() float64 { return float64(t) / float64(Microsecond) }

// Seconds returns t as a floating-point number of seconds.
func (t Time) Seconds() float64 { return float64(t) / float64(Second) }

// String formats t like time.Duration, in the largest unit that keeps the
// integer part non-zero: "1.5µs", "12ns", "3.25ms", "0s".
func (t Time) String() string {
	if t == 0 {
		return "0s"
	}
	neg := t < 0
	u := uint64(t)
	if neg {
		u = -u
	}
	var unit string
	var div uint64
	switch {
	case u < uint64(Nanosecond):
		unit, div = "ps", 1
	case u < uint64(Microsecond):
		unit, div = "ns", uint64(Nanosecond)
	case u < uint64(Millisecond):
		unit, div = "µs", uint64(Microsecond)
	case u < uint64(Second):
		unit, div = "ms", uint64(Millisecond)
	default:
		unit, div = "s", uint64(Second)
	}
	s := strconv.FormatUint(u/div, 10)
	if frac := u % div; frac != 0 {
		digits := 0
		for d := div; d > 1; d /= 10 {
			digits++
		}
		f := strconv.FormatUint(frac, 10)
		for len(f) < digits {
			f = "0" + f
		}
		for len(f) > 0 && f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		s += "." + f
	}
	if neg {
		s = "-" + s
	}
	return s + unit
}

// FromSeconds converts seconds to Time, rounding to the nearest picosecond.
func FromSeconds(s float64) Time { return Time(math.Round(s * float64(Second))) }

// FromMicroseconds converts microseconds to Time, rounding to the nearest
// picosecond.
func FromMicroseconds(us float64) Time { return Time(math.Round(us * float64(Microsecond))) }

// TransferTime is the time to move bytes at bytesPerSec, rounded up to the
// next picosecond so that a port can never move more than its bandwidth
// allows. It is the one place bytes become time. The product is rounded
// explicitly (float64(...)) so no platform fuses it into an FMA.
func TransferTime(bytes int64, bytesPerSec float64) Time {
	if bytes <= 0 {
		return 0
	}
	if bytesPerSec <= 0 || math.IsInf(bytesPerSec, 0) || math.IsNaN(bytesPerSec) {
		panic("sim: TransferTime needs a positive finite bandwidth")
	}
	ps := float64(float64(bytes) * 1e12)
	return Time(math.Ceil(ps / bytesPerSec))
}
