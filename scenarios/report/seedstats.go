package report

import "github.com/moesim/moesim/scenarios/search"

// Seed statistics: when a set varies the seed (moesim run --repeat, or a
// sweep with --vary seed=...), the rows that differ only in seed are
// repeats of one configuration, and each headline figure gets a mean and
// a 95% confidence interval over them.

// seedGroup is the rows of a set that share every varied value but the
// seed.
type seedGroup struct {
	Group   values // the other varied paths' values, in Vary order
	Seeds   []uint64
	Metrics metricIntervals // one per headline metric
}

// seedGroups returns the seed groups of s in order of first appearance,
// or nil when s does not vary the seed.
func seedGroups(s *Set) []seedGroup {
	seedAt := -1
	for i, p := range s.Vary {
		if p == "seed" {
			seedAt = i
		}
	}
	if seedAt < 0 {
		return nil
	}
	type acc struct {
		g    seedGroup
		vals [][]float64
	}
	var order []string
	groups := map[string]*acc{}
	for _, row := range s.Rows {
		var g values
		for i, o := range row.Point.Values {
			if i != seedAt {
				g = append(g, o)
			}
		}
		key := search.Point{Values: g}.Key()
		a, ok := groups[key]
		if !ok {
			a = &acc{g: seedGroup{Group: g}, vals: make([][]float64, len(headline))}
			if a.g.Group == nil {
				a.g.Group = values{}
			}
			groups[key] = a
			order = append(order, key)
		}
		a.g.Seeds = append(a.g.Seeds, row.Result.Meta.Seed)
		for i, m := range headline {
			a.vals[i] = append(a.vals[i], m.Get(row.Result))
		}
	}
	out := make([]seedGroup, 0, len(order))
	for _, key := range order {
		a := groups[key]
		a.g.Metrics = make(metricIntervals, len(headline))
		for i := range headline {
			a.g.Metrics[i] = MeanCI95(a.vals[i])
		}
		out = append(out, a.g)
	}
	return out
}
