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
	c, m := streamCompute, streamComm
	switch kind {
	case ScheduleSerial:
		return []opSpec{
			{"AttnFwd[0]", c, 0, p.AttnFwd, nil},
			{"DispatchSend[0]", c, 0, h.DispatchSend, []string{"AttnFwd[0]"}},
			{"DispatchRecv[0]", c, 0, h.DispatchRecv, []string{"DispatchWire[0]"}},
			{"MLPFwd[0]", c, 0, p.MLPFwd, []string{"DispatchRecv[0]"}},
			{"CombineSend[0]", c, 0, h.CombineSend, []string{"MLPFwd[0]"}},
			{"CombineRecv[0]", c, 0, h.CombineRecv, []string{"CombineWire[0]"}},
			{"DispatchWire[0]", m, 0, h.DispatchWire, []string{"DispatchSend[0]"}},
			{"CombineWire[0]", m, 0, h.CombineWire, []string{"CombineSend[0]"}},
		}, true
	case ScheduleTwoMicroBatch:
		return []opSpec{
			{"AttnFwd[A]", c, 0, p.AttnFwd, nil},
			{"DispatchSend[A]", c, 0, h.DispatchSend, []string{"AttnFwd[A]"}},
			{"CombineRecv[B']", c, 1, h.CombineRecv, []string{"CombineWire[B']"}},
			{"AttnFwd[B]", c, 1, p.AttnFwd, []string{"CombineRecv[B']"}},
			{"DispatchSend[B]", c, 1, h.DispatchSend, []string{"AttnFwd[B]"}},
			{"DispatchRecv[A]", c, 0, h.DispatchRecv, []string{"DispatchWire[A]"}},
			{"MLPFwd[A]", c, 0, p.MLPFwd, []string{"DispatchRecv[A]"}},
			{"CombineSend[A]", c, 0, h.CombineSend, []string{"MLPFwd[A]"}},
			{"DispatchRecv[B]", c, 1, h.DispatchRecv, []string{"DispatchWire[B]"}},
			{"MLPFwd[B]", c, 1, p.MLPFwd, []string{"DispatchRecv[B]"}},
			{"CombineSend[B]", c, 1, h.CombineSend, []string{"MLPFwd[B]"}},
			{"CombineRecv[A]", c, 0, h.CombineRecv, []string{"CombineWire[A]"}},
			{"CombineWire[B']", m, 1, h.CombineWire, nil},
			{"DispatchWire[A]", m, 0, h.DispatchWire, []string{"DispatchSend[A]"}},
			{"DispatchWire[B]", m, 1, h.DispatchWire, []string{"DispatchSend[B]"}},
			{"CombineWire[A]", m, 0, h.CombineWire, []string{"CombineSend[A]"}},
		}, true
	}
	return nil, false
}
