package dispatch

import "fmt"

// Routing is each token's choice of experts, for every source rank:
// Experts[r] holds rank r's tokens one after another, TopK slots each, as
// logical expert ids; -1 is an empty slot (a dropped or masked choice).
type Routing struct {
	TopK    int
	Experts [][]int32
}

// Tokens is the number of tokens rank r sends.
func (rt Routing) Tokens(r int) int {
	if rt.TopK == 0 {
		return 0
	}
	return len(rt.Experts[r]) / rt.TopK
}

// Token returns the TopK expert slots of token t of rank r.
func (rt Routing) Token(r, t int) []int32 {
	return rt.Experts[r][t*rt.TopK : (t+1)*rt.TopK]
}

// Validate checks the shape and that every id is -1 or a valid expert.
func (rt Routing) Validate(ranks, experts int) error {
	if rt.TopK < 1 {
		return fmt.Errorf("dispatch: routing top-k = %d, want >= 1", rt.TopK)
	}
	if len(rt.Experts) != ranks {
		return fmt.Errorf("dispatch: routing has %d ranks, the cluster has %d", len(rt.Experts), ranks)
	}
	for r, ids := range rt.Experts {
		if err := validateRank(r, ids, rt.TopK, experts); err != nil {
			return err
		}
	}
	return nil
}

// validateRank checks rank r's slots, ids: whole tokens of topK, each id -1
// or a valid expert.
func validateRank(r int, ids []int32, topK, experts int) error {
	if len(ids)%topK != 0 {
		return fmt.Errorf("dispatch: rank %d routing has %d slots, not a multiple of top-k %d", r, len(ids), topK)
	}
	for i, e := range ids {
		if e < -1 || int(e) >= experts {
			return fmt.Errorf("dispatch: rank %d token %d slot %d: expert id %d, want -1..%d",
				r, i/topK, i%topK, e, experts-1)
		}
	}
	return nil
}

// Placement maps logical experts to the ranks that hold them. Replicas[e]
// lists the ranks holding a copy of expert e (more than one with redundant
// experts, as DeepSeek-V3's inference deploys them).
type Placement struct {
	Replicas [][]int32
}

// ContiguousPlacement puts experts/ranks consecutive experts on each rank,
// as DeepEP's tests and DeepSeek-V3's training do. experts must be a
// multiple of ranks.
func ContiguousPlacement(experts, ranks int) (Placement, error) {
	if ranks < 1 || experts < ranks || experts%ranks != 0 {
		return Placement{}, fmt.Errorf("dispatch: model.experts = %d must be a positive multiple of the %d GPUs for contiguous placement", experts, ranks)
	}
	per := experts / ranks
	p := Placement{Replicas: make([][]int32, experts)}
	for e := range experts {
		p.Replicas[e] = []int32{int32(e / per)}
	}
	return p, nil
}

// RankOf is the rank that serves expert e for token t of source rank src.
// With replicas, the choice spreads a source's tokens over them round-robin
// by token index, a deterministic stand-in for load-aware replica choice.
func (p Placement) RankOf(e int32, src, t int) int {
	reps := p.Replicas[e]
	if len(reps) == 1 {
		return int(reps[0])
	}
	return int(reps[(src+t)%len(reps)])
}

// Slots is the number of expert copies over all ranks.
func (p Placement) Slots() int {
	n := 0
	for _, reps := range p.Replicas {
		n += len(reps)
	}
	return n
}

// Validate checks every expert has at least one replica on a valid rank.
func (p Placement) Validate(experts, ranks int) error {
	if len(p.Replicas) != experts {
		return fmt.Errorf("dispatch: placement covers %d experts, model.experts = %d", len(p.Replicas), experts)
	}
	for e, reps := range p.Replicas {
		if len(reps) == 0 {
			return fmt.Errorf("dispatch: placement: expert %d has no rank", e)
		}
		for _, r := range reps {
			if r < 0 || int(r) >= ranks {
				return fmt.Errorf("dispatch: placement: expert %d on rank %d, want 0..%d", e, r, ranks-1)
			}
		}
	}
	return nil
}
