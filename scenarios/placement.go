package scenarios

import (
	"github.com/moesim/moesim/dispatch"
)

// Placement puts the model's experts on ranks, the same number of expert
// slots (experts plus redundant) on each. When experts divide over the
// ranks, logical expert e sits on rank e/(experts/ranks) and the redundant
// replicas fill the remaining slots, spread evenly over the ranks, each a
// copy of an expert half the model away (so usually on another node). When
// they do not divide (DeepSeek's EP144 decode: 256 + 32 on 144 GPUs), the
// slots fill in order: logical experts first, replicas on the last ranks.
// Which experts are hottest depends on traffic statistics moesim does not
// have, so replicas are spread evenly, not chosen by load (DeepSeek-V3
// §3.4 re-plans them from observed load).
func Placement(m Model, ranks int) (dispatch.Placement, error) {
	per, err := primariesPerRank(m, ranks)
	if err != nil {
		return dispatch.Placement{}, err
	}
	p := dispatch.Placement{Replicas: make([][]int32, m.Experts)}
	for e := range m.Experts {
		p.Replicas[e] = []int32{int32(e / per)}
	}
	slotsPer := (m.Experts + m.RedundantExperts) / ranks
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
