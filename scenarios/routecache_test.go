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

func TestRoutingCacheSharesAndBounds(t *testing.T) {
	load := func(sets ...Override) Scenario { return ep16(t, sets...) }
	c := RoutingCache{Size: 1}
	a, err := c.Routing(load(), RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Kernel settings do not change the routing: the same slices come back.
	b, _ := c.Routing(load(Override{"kernel.num_sms", "8"}), RunOptions{})
	if &a.Experts[0][0] != &b.Experts[0][0] {
		t.Error("a kernel-only change drew the routing again")
	}
	want, _ := Routing(load(), RunOptions{})
	if !reflect.DeepEqual(a, want) {
		t.Error("cached routing differs from a fresh draw")
	}
	// Another seed is another routing, and evicts the first (Size 1).
	d, _ := c.Routing(load(Override{"seed", "7"}), RunOptions{})
	if reflect.DeepEqual(a, d) {
		t.Error("seed 7 gave seed 42's routing")
	}
	if len(c.entries) != 1 {
		t.Errorf("cache holds %d routings, want at most 1", len(c.entries))
	}
}

// TestRoutingCacheLayout: points that differ only in kernel settings get
// the same layout, equal to one built fresh; another seed another one; and
// a layout passed in the options (another scenario's) is not taken.
func TestRoutingCacheLayout(t *testing.T) {
	load := func(sets ...Override) Scenario { return ep16(t, sets...) }
	c := RoutingCache{Size: 2}
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
