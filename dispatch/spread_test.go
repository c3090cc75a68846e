package dispatch

import (
	"reflect"
	"testing"
)

// TestSpreadSameResult lays out one routing, and builds its forwarder
// records and token nodes, on 1, 2, 3 and 7 workers: the ranges must not
// change a byte. Run under -race it also checks the workers share nothing
// they write.
func TestSpreadSameResult(t *testing.T) {
	const nodes, gpn, experts = 4, 8, 256
	rt := uniformRouting(3, nodes, gpn, 300, experts, 8, 3)
	// A token with an empty slot and one with two experts on one rank.
	rt.Experts[5][0] = -1
	rt.Experts[6][1] = rt.Experts[6][0]
	p, err := ContiguousPlacement(experts, nodes*gpn)
	if err != nil {
		t.Fatal(err)
	}
	one, err := newLayout(rt, p, nodes, gpn, experts, 1)
	if err != nil {
		t.Fatal(err)
	}
	onePlan, oneNodes := buildRecordPlan(one, 1), buildTokenNodes(one, 1)
	for _, w := range []int{2, 3, 7} {
		l, err := newLayout(rt, p, nodes, gpn, experts, w)
		if err != nil {
			t.Fatal(err)
		}
		l.plans, one.plans = nil, nil
		if !reflect.DeepEqual(l, one) {
			t.Errorf("%d workers: the layout differs from one worker's", w)
		}
		if got := buildRecordPlan(l, w); !reflect.DeepEqual(got, onePlan) {
			t.Errorf("%d workers: the record plan differs from one worker's", w)
		}
		if got := buildTokenNodes(l, w); !reflect.DeepEqual(got, oneNodes) {
			t.Errorf("%d workers: the token nodes differ from one worker's", w)
		}
	}
	// The plans agree with the layout they were built from.
	for src := range one.Ranks {
		for tok := range one.Tokens[src] {
			got, want := oneNodes.of(src, tok), one.TargetNodes(nil, src, tok)
			same := len(got) == len(want)
			for i := 0; same && i < len(got); i++ {
				same = int(got[i]) == want[i]
			}
			if !same {
				t.Fatalf("rank %d token %d: target nodes %v, TargetNodes gives %v", src, tok, got, want)
			}
		}
	}
}
