package workload

import (
	"fmt"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/model"
)

// Placement puts the model's experts on ranks, the same number of expert
// slots (experts plus redundant) on each. When experts divide over the
// ranks, logical expert e sits on rank e/(experts/ranks) and the redundant
// replicas fill the remaining slots, spread evenly over the ranks, each a
// copy of an expert half the model away (so usually on another node). When
// they do not divide (DeepSeek's EP144 decode: 256 + 32 on 144 GPUs), the
// slots fill in order: logical experts first, replicas on the last ranks.
// Replicas that outnumber the experts go round the experts instead
// (manyReplicas). Which experts are hottest depends on traffic statistics
// moesim does not have, so replicas are spread evenly, not chosen by load
// (DeepSeek-V3 §3.4 re-plans them from observed load).
func Placement(m model.Model, ranks int) (dispatch.Placement, error) {
	if len(m.Placement) > 0 {
		return ExplicitPlacement(m, ranks)
	}
	per, err := primariesPerRank(m, ranks)
	if err != nil {
		return dispatch.Placement{}, err
	}
	p := dispatch.Placement{Replicas: make([][]int32, m.Experts)}
	for e := range m.Experts {
		p.Replicas[e] = []int32{int32(e / per)}
	}
	slotsPer := (m.Experts + m.RedundantExperts) / ranks
	if m.RedundantExperts > m.Experts {
		return manyReplicas(p, m, ranks, per, slotsPer), nil
	}
	for i := range m.RedundantExperts {
		var rank int
		if m.Experts%ranks == 0 {
			rank = i * ranks / m.RedundantExperts
		} else {
			rank = (m.Experts + i) / slotsPer
		}
		e := (i*m.Experts/m.RedundantExperts + m.Experts/2) % m.Experts
		if int(p.Replicas[e][0]) == rank {
			e = (e + per) % m.Experts
		}
		p.Replicas[e] = append(p.Replicas[e], int32(rank))
	}
	return p, nil
}

// manyReplicas adds replicas that outnumber the experts (256 experts copied
// 8 times over 2048 GPUs), where the one-replica-per-expert spread above
// would put two copies of an expert on one GPU. Each GPU fills the slots its
// logical experts leave with a run of consecutive experts that starts
// after its own, half the model on where there is room: a run is shorter
// than the model (slotsPer <= experts, which Validate checks) and ends
// before it comes round to the GPU's own experts, so no GPU holds an
// expert twice; and as the runs of successive GPUs start a GPU's worth of
// experts apart, every expert gets the same number of copies, give or take
// one. per is the logical experts homed on each GPU: expert e is on GPU
// e/per.
func manyReplicas(p dispatch.Placement, m model.Model, ranks, per, slotsPer int) dispatch.Placement {
	shift := min(m.Experts/2, m.Experts-slotsPer)
	for r := range ranks {
		homed := max(0, min(per, m.Experts-r*per))
		first := r*per + homed + shift
		for j := range slotsPer - homed {
			e := (first + j) % m.Experts
			p.Replicas[e] = append(p.Replicas[e], int32(r))
		}
	}
	return p
}

// ExplicitPlacement is model.placement, checked.
func ExplicitPlacement(m model.Model, ranks int) (dispatch.Placement, error) {
	if len(m.Placement) != m.Experts {
		return dispatch.Placement{}, fmt.Errorf("scenario: model.placement lists %d experts, model.experts = %d: want one list of ranks per expert", len(m.Placement), m.Experts)
	}
	if m.RedundantExperts != 0 {
		return dispatch.Placement{}, fmt.Errorf("scenario: model.redundant_experts = %d with model.placement: give replicas in the placement instead", m.RedundantExperts)
	}
	p := dispatch.Placement{Replicas: make([][]int32, m.Experts)}
	for e, rs := range m.Placement {
		if len(rs) == 0 {
			return dispatch.Placement{}, fmt.Errorf("scenario: model.placement[%d] is empty: every expert needs a rank", e)
		}
		for i, r := range rs {
			if r < 0 || r >= ranks {
				return dispatch.Placement{}, fmt.Errorf("scenario: model.placement[%d][%d] = %d, want a rank in 0..%d", e, i, r, ranks-1)
			}
			p.Replicas[e] = append(p.Replicas[e], int32(r))
		}
	}
	return p, nil
}

// HomeOrder maps the routing generators' contiguous expert numbering to an
// explicit placement: generators place virtual expert v on rank
// v/(experts/ranks), so v is the (v mod experts/ranks)-th expert whose first
// replica is on that rank. It needs the same number of experts homed on
// every rank; a trace routing needs nothing of the kind.
func HomeOrder(m model.Model, ranks int) ([]int32, error) {
	per := m.Experts / ranks
	byRank := make([][]int32, ranks)
	for e, rs := range m.Placement {
		byRank[rs[0]] = append(byRank[rs[0]], int32(e))
	}
	if m.Experts%ranks != 0 {
		return nil, fmt.Errorf("scenario: generated routing with model.placement needs model.experts = %d to be a multiple of the %d GPUs (use workload.routing = trace otherwise)", m.Experts, ranks)
	}
	order := make([]int32, 0, m.Experts)
	for r, es := range byRank {
		if len(es) != per {
			return nil, fmt.Errorf("scenario: generated routing with model.placement needs %d experts whose first replica is on each GPU; rank %d has %d (use workload.routing = trace otherwise)", per, r, len(es))
		}
		order = append(order, es...)
	}
	return order, nil
}
