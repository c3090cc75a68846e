package workload

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/model"
)

// TestManyReplicasSpread: replicas that outnumber the experts fill every
// GPU's slots exactly, never put two copies of an expert on one GPU, keep
// each expert's home copy first, and give every expert the same number of
// copies, give or take one.
func TestManyReplicasSpread(t *testing.T) {
	for _, c := range []struct{ experts, redundant, ranks int }{
		{16, 48, 32},      // fewer experts than GPUs: 2 copies a GPU
		{64, 128, 16},     // experts divide the GPUs: 4 homed, 8 replicas a GPU
		{256, 1792, 2048}, // 256 experts copied 8 times at EP2048
		{8, 8 * 15, 16},   // the most: every GPU holds every expert
		{24, 40, 16},      // copies per expert not a whole number
	} {
		m := model.Model{Experts: c.experts, RedundantExperts: c.redundant}
		p, err := Placement(m, c.ranks)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if err := checkReplicas(p, m, c.ranks); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestManyReplicasProperties is the same checks over any
// expert count, GPU count and replica count Validate accepts.
func TestManyReplicasProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ranks := rapid.IntRange(1, 300).Draw(t, "ranks")
		experts := rapid.IntRange(1, 300).Draw(t, "experts")
		// slots: a multiple of the GPUs, more than twice the experts, at
		// most one copy of each expert per GPU.
		lo, hi := (2*experts)/ranks+1, experts
		if lo > hi {
			t.Skip("no replica count fits")
		}
		slotsPer := rapid.IntRange(lo, hi).Draw(t, "slotsPer")
		redundant := slotsPer*ranks - experts
		m := model.Model{Experts: experts, RedundantExperts: redundant}
		p, err := Placement(m, ranks)
		if err != nil {
			t.Skip(err.Error()) // the homing rule refuses some shapes
		}
		if err := checkReplicas(p, m, ranks); err != nil {
			t.Fatal(err)
		}
	})
}

// checkReplicas is what a placement with more replicas than experts must
// hold: every GPU's slots full, no GPU with two copies of an expert, each
// expert's home copy first, and copies per expert within one of each
// other.
func checkReplicas(p dispatch.Placement, m model.Model, ranks int) error {
	per, err := primariesPerRank(m, ranks)
	if err != nil {
		return err
	}
	slotsPer := (m.Experts + m.RedundantExperts) / ranks
	perRank := make([]int, ranks)
	lo, hi := ranks, 0
	for e, reps := range p.Replicas {
		seen := map[int32]bool{}
		for _, r := range reps {
			if seen[r] {
				return fmt.Errorf("expert %d has two copies on GPU %d", e, r)
			}
			seen[r] = true
			perRank[r]++
		}
		if home := int32(e / per); reps[0] != home {
			return fmt.Errorf("expert %d's first copy on GPU %d, want its home %d", e, reps[0], home)
		}
		lo, hi = min(lo, len(reps)), max(hi, len(reps))
	}
	for r, n := range perRank {
		if n != slotsPer {
			return fmt.Errorf("GPU %d holds %d copies, want %d", r, n, slotsPer)
		}
	}
	if hi-lo > 1 {
		return fmt.Errorf("experts have %d to %d copies, want within one", lo, hi)
	}
	return nil
}
