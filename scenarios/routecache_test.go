package scenarios

import (
	"reflect"
	"testing"
)

func TestRoutingCacheSharesAndBounds(t *testing.T) {
	load := func(sets ...Override) Scenario {
		s, err := LoadPreset("deepep-internode-ep16", append(sets, Override{"workload.tokens_per_gpu", "64"})...)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
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
