package dispatch

import (
	"reflect"
	"slices"
	"testing"
	"unsafe"
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

// TestLayoutBuilderMatchesNewLayout: ranks added one by one, in any order,
// give NewLayout's layout; a bad id, a rank added twice or one never
// added is an error naming it.
func TestLayoutBuilderMatchesNewLayout(t *testing.T) {
	const nodes, gpn, experts = 3, 4, 48
	rt := uniformRouting(5, nodes, gpn, 200, experts, 6, 2)
	p, err := ContiguousPlacement(experts, nodes*gpn)
	if err != nil {
		t.Fatal(err)
	}
	want, err := NewLayout(rt, p, nodes, gpn, experts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewLayoutBuilder(p, nodes, gpn, experts, rt.TopK)
	if err != nil {
		t.Fatal(err)
	}
	for src := nodes*gpn - 1; src >= 0; src-- {
		b.Add(src, rt.Experts[src])
	}
	got, err := b.Layout()
	if err != nil {
		t.Fatal(err)
	}
	got.plans, want.plans = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Error("a layout built rank by rank, last rank first, differs from NewLayout's")
	}

	bad := func(name string, add func(b *LayoutBuilder), wantErr string) {
		t.Helper()
		b, err := NewLayoutBuilder(p, nodes, gpn, experts, rt.TopK)
		if err != nil {
			t.Fatal(err)
		}
		add(b)
		if _, err := b.Layout(); err == nil || err.Error() != wantErr {
			t.Errorf("%s: error %v, want %q", name, err, wantErr)
		}
	}
	all := func(b *LayoutBuilder) {
		for src := range nodes * gpn {
			b.Add(src, rt.Experts[src])
		}
	}
	bad("missing rank", func(b *LayoutBuilder) {
		for src := range nodes*gpn - 1 {
			b.Add(src, rt.Experts[src])
		}
	}, "dispatch: routing rank 11 of 12 was never added to the layout")
	bad("rank twice", func(b *LayoutBuilder) { all(b); b.Add(3, rt.Experts[3]) },
		"dispatch: routing rank 3 laid out twice")
	ids := slices.Clone(rt.Experts[2])
	ids[7] = experts
	bad("bad id", func(b *LayoutBuilder) { b.Add(2, ids); all(b) },
		"dispatch: rank 2 token 1 slot 1: expert id 48, want -1..47")
}

// TestForwarderWarpSize: a forwarder warp is 128 bytes, two cache lines of
// its slab, the first holding what a receiver's credit touches (see
// fwdWarp); a field more, or one moved, undoes that.
func TestForwarderWarpSize(t *testing.T) {
	if n := unsafe.Sizeof(fwdWarp{}); n != 128 {
		t.Errorf("a fwdWarp is %d bytes, want 128", n)
	}
	if off := unsafe.Offsetof(fwdWarp{}.buf) + 2*unsafe.Sizeof(nvlCredit{}); off > 64 {
		t.Errorf("a fwdWarp's first two buffered credits end at byte %d, past its first line", off)
	}
}
