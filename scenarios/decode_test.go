package scenarios

import "testing"

// TestDecodeHookOverlapBeatsSerial: the decode preset runs DeepEP's
// low-latency kernels with the receive hook and two micro-batches, so
// one micro-batch's transfers run under the other's attention and MLP.
// Its layer (two micro-batches) must take less than the same two
// micro-batches one after another (twice the serial layer), and less
// than two micro-batches without the hook, whose kernels hold every SM
// until their data is in and so hide nothing.
func TestDecodeHookOverlapBeatsSerial(t *testing.T) {
	layer := func(sets ...Override) (float64, *Result) {
		t.Helper()
		s, err := LoadPreset("deepseek-v3-decode", sets...)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(s, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Overlap.LayerUs, res
	}
	hooked, res := layer()
	if !res.Scenario.Kernel.LLHook || res.Overlap.Schedule != "two-microbatch" {
		t.Fatalf("decode preset: ll_hook %v, schedule %s; want the hook and two micro-batches", res.Scenario.Kernel.LLHook, res.Overlap.Schedule)
	}
	serial, _ := layer(Override{"schedule.kind", "serial"})
	unhooked, _ := layer(Override{"kernel.ll_hook", "false"})
	if hooked >= 2*serial {
		t.Errorf("two hooked micro-batches take %.1f µs, want less than twice the serial layer (%.1f µs)", hooked, 2*serial)
	}
	if hooked >= unhooked {
		t.Errorf("hooked two-microbatch layer %.1f µs, want less than unhooked %.1f µs", hooked, unhooked)
	}
	if res.Overlap.HiddenCommUs <= 0 {
		t.Errorf("hooked decode hides %.1f µs of transfer, want some", res.Overlap.HiddenCommUs)
	}
}
