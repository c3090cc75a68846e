package schedule

import (
	"fmt"

	"github.com/moesim/moesim/sim"
)

// HookPhases are the low-latency kernels as DeepEP's receive hook splits
// them (kernel.ll_hook, return_recv_hook): each kernel's send phase and
// receive phase are launches that hold the GPU's SMs, and the transfer
// between them holds none. The schedules put the send and receive phases
// on the compute stream, where they exclude compute, and the transfer on
// the comm stream, where compute of the other micro-batch hides it. An
// unhooked low-latency kernel is a send phase of its whole duration with
// no transfer or receive phase after it: it holds its SMs throughout.
type HookPhases struct {
	DispatchSend, DispatchWire, DispatchRecv sim.Time
	CombineSend, CombineWire, CombineRecv    sim.Time
}

func (h *HookPhases) validate() error {
	for _, f := range []struct {
		name string
		v    sim.Time
	}{
		{"dispatch_send", h.DispatchSend}, {"dispatch_wire", h.DispatchWire}, {"dispatch_recv", h.DispatchRecv},
		{"combine_send", h.CombineSend}, {"combine_wire", h.CombineWire}, {"combine_recv", h.CombineRecv},
	} {
		if f.v < 0 {
			return fmt.Errorf("scenarios: phases.hook.%s = %v, want >= 0", f.name, f.v)
		}
	}
	return nil
}

// hookOps lists the ops of a schedule whose all-to-alls are hooked
// low-latency kernels; ok is false for a schedule that takes them whole
// (DualPipe trains with the normal kernels).
//
// Serial, one micro-batch:
//
//	compute: |Attn|DSend|      |DRecv|MLP|CSend|      |CRecv|
//	comm:               |DWire|                |CWire|
//
// Two micro-batches (decode, as DeepSeek's serving overlaps them; the
// inference system overview, open-infra-index day 6, decode figure): one
// micro-batch's transfer runs under the other's attention or MLP. One
// period of the steady state, one layer, with B's combine of the previous
// layer (B') rotated to the front as in ScheduleTwoMicroBatch:
//
//	compute: |Attn A|DSend A|CRecv B'|Attn B|DSend B|DRecv A|MLP A|CSend A|DRecv B|MLP B|CSend B|CRecv A|
//	comm:    |CWire B'|      |DWire A|      |DWire B|      |CWire A|
//
// Each receive waits for its transfer; each transfer for its send.
func hookOps(kind ScheduleKind, p Phases) (ops []opSpec, ok bool) {
	h := p.Hook
	// Hooked phases carry no GEMM detail: each runs at its own duration,
	// on every SM, with no interference model.
	c := func(name string, mb int, d sim.Time, deps ...string) opSpec {
		return opSpec{name: name, stream: streamCompute, mb: mb, dur: d, deps: deps, full: d}
	}
	m := func(name string, mb int, d sim.Time, deps ...string) opSpec {
		return opSpec{name: name, stream: streamComm, mb: mb, dur: d, deps: deps, full: d}
	}
	switch kind {
	case ScheduleSerial:
		return []opSpec{
			c("AttnFwd[0]", 0, p.AttnFwd),
			c("DispatchSend[0]", 0, h.DispatchSend, "AttnFwd[0]"),
			c("DispatchRecv[0]", 0, h.DispatchRecv, "DispatchWire[0]"),
			c("MLPFwd[0]", 0, p.MLPFwd, "DispatchRecv[0]"),
			c("CombineSend[0]", 0, h.CombineSend, "MLPFwd[0]"),
			c("CombineRecv[0]", 0, h.CombineRecv, "CombineWire[0]"),
			m("DispatchWire[0]", 0, h.DispatchWire, "DispatchSend[0]"),
			m("CombineWire[0]", 0, h.CombineWire, "CombineSend[0]"),
		}, true
	case ScheduleTwoMicroBatch:
		return []opSpec{
			c("AttnFwd[A]", 0, p.AttnFwd),
			c("DispatchSend[A]", 0, h.DispatchSend, "AttnFwd[A]"),
			c("CombineRecv[B']", 1, h.CombineRecv, "CombineWire[B']"),
			c("AttnFwd[B]", 1, p.AttnFwd, "CombineRecv[B']"),
			c("DispatchSend[B]", 1, h.DispatchSend, "AttnFwd[B]"),
			c("DispatchRecv[A]", 0, h.DispatchRecv, "DispatchWire[A]"),
			c("MLPFwd[A]", 0, p.MLPFwd, "DispatchRecv[A]"),
			c("CombineSend[A]", 0, h.CombineSend, "MLPFwd[A]"),
			c("DispatchRecv[B]", 1, h.DispatchRecv, "DispatchWire[B]"),
			c("MLPFwd[B]", 1, p.MLPFwd, "DispatchRecv[B]"),
			c("CombineSend[B]", 1, h.CombineSend, "MLPFwd[B]"),
			c("CombineRecv[A]", 0, h.CombineRecv, "CombineWire[A]"),
			m("CombineWire[B']", 1, h.CombineWire),
			m("DispatchWire[A]", 0, h.DispatchWire, "DispatchSend[A]"),
			m("DispatchWire[B]", 1, h.DispatchWire, "DispatchSend[B]"),
			m("CombineWire[A]", 0, h.CombineWire, "CombineSend[A]"),
		}, true
	}
	return nil, false
}
