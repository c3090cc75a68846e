package combine

// Events carry a kind and two small integers packed into the engine's int64
// argument (sim.PackArg), so scheduling allocates nothing.

// Event kinds. Each handler type receives its own subset.
const (
	// nvlSender
	evSent  = iota // a = warp: its round's copies are done (or the start)
	evFreed        // a = partition (in k.sendParts), b = slots the consumer freed

	// forwarder
	evNVLRound   // a = sender local GPU: its oldest round in flight has landed
	evFwdReduced // a = group: its batch is summed
	evRDMACredit // a = group, b = RDMA slots returned

	// receiver
	evKick     // start: tokens with nothing to wait for
	evArrive   // a = stream (sender local GPU, or node's stream), b = rows
	evReceived // the batch is summed into the output
)
