package sim

// PackArg packs an event kind and two small integers into a Handler's arg,
// so a model can tell its events apart without allocating: kind in the low
// 4 bits (0..15), a in the next 30 bits (0..2^30-1), b in the rest.
func PackArg(kind, a, b int) int64 { return int64(kind) | int64(a)<<4 | int64(b)<<34 }

// UnpackArg reverses PackArg.
func UnpackArg(arg int64) (kind, a, b int) {
	return int(arg & 15), int(arg >> 4 & (1<<30 - 1)), int(arg >> 34)
}
