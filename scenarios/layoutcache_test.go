package scenarios

import (
	"reflect"
	"testing"
)

// ep16 loads deepep-internode-ep16 at 64 tokens per GPU with sets.
func ep16(t *testing.T, sets ...Override) Scenario {
	t.Helper()
	s, err := LoadPreset("deepep-internode-ep16", append(sets, Override{"workload.tokens_per_gpu", "64"})...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLayoutCache: a kernel-only change gets the same layout, equal to one
// built fresh; another seed is another layout, though the options carry
// the first (another scenario's layout is not taken), and evicts it (Size
// 1); and a run given the cached layout is a fresh run.
func TestLayoutCache(t *testing.T) {
	load := func(sets ...Override) Scenario { return ep16(t, sets...) }
	c := LayoutCache{Size: 1}
	a, err := c.Layout(load(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Layout(load(Override{"kernel.num_sms", "8"}), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("a kernel-only change laid the tokens out again")
	}
	fresh, err := Layout(load(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.RecvRows, fresh.RecvRows) || !reflect.DeepEqual(a.NodeTokens, fresh.NodeTokens) ||
		!reflect.DeepEqual(a.ExpertSlots, fresh.ExpertSlots) {
		t.Error("cached layout differs from a fresh one")
	}
	d, err := c.Layout(load(Override{"seed", "7"}), RunOptions{Layout: a})
	if err != nil {
		t.Fatal(err)
	}
	if d == a || reflect.DeepEqual(d.ExpertSlots, a.ExpertSlots) {
		t.Error("seed 7 got seed 42's layout")
	}
	if len(c.entries) != 1 {
		t.Errorf("cache holds %d layouts, want at most 1", len(c.entries))
	}
	// Results through the cache are a fresh run's.
	s := load(Override{"kernel.num_sms", "8"})
	viaCache, err := Run(s, RunOptions{Layout: b})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := Run(s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if viaCache.Dispatch.TimeUs != alone.Dispatch.TimeUs || viaCache.Combine.Events != alone.Combine.Events {
		t.Errorf("through the cache: dispatch %.3f µs, combine %d events; alone %.3f, %d",
			viaCache.Dispatch.TimeUs, viaCache.Combine.Events, alone.Dispatch.TimeUs, alone.Combine.Events)
	}
}
