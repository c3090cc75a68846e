package combine

// Events carry a kind and two small integers packed into the engine's int64
// argument, so scheduling allocates nothing: kind in the low 4 bits, a in
// the next 30, b in the top 30.

func pack(kind, a, b int) int64 { return int64(kind) | int64(a)<<4 | int64(b)<<34 }

func unpack(arg int64) (kind, a, b int) {
	return int(arg & 15), int(arg >> 4 & (1<<30 - 1)), int(arg >> 34)
}

// Event kinds. Each handler type receives its own subset.
const (
	// nvlSender
	evSent  = iota // a = warp: its round's copies are done
	evFreed        // a = warp*parts + partition, b = slots the consumer freed

	// forwarder
	evNVLRound   // a = sender local GPU: its oldest round in flight has landed
	evFwdReduced // a = source node: the group's batch is summed
	evRDMACredit // a = source node, b = RDMA slots returned

	// receiver
	evKick     // start: tokens with nothing to wait for
	evArrive   // a = stream (sender local GPU or node), b = rows
	evReceived // the batch is summed into the output
)
