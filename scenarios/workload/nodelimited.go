package workload

// Node-limited routing (DeepSeek-V3 §2.1.2; DeepEP tests/test_internode.py).
//
// Every token scores every expert with an i.i.d. |N(0,1)|+1, as DeepEP's
// benchmark does, so routing is uniform apart from the node limit. Nodes are
// ranked by the sum of their highest ceil(topk/M) scores (DeepSeek-V3's rule;
// DeepEP's test ranks by the highest score alone), the best M nodes are
// kept, and the token takes the topk best experts on them.
//
// The generator (orderStatGen, orderstat.go) draws only the scores that
// matter, as order statistics, in O(topk) work per kept node. The
// key-per-expert generator it replaced (reference_test.go) is kept in the
// tests as the definition: TestOrderStatRoutingDistribution pins the two
// to the same distribution.

import "cmp"

// halfNormalSlack widens the bucket bounds on |N(0,1)| against rounding.
const halfNormalSlack = 1e-9

// insertDesc offers (v, id) to the descending list val/idx, to which n
// items were offered before (so it is full once n >= len(val)); a full
// list drops its smallest entry. Ties keep the earlier item.
func insertDesc[T cmp.Ordered](val []T, idx []int32, n int, v T, id int32) {
	last := len(val) - 1
	i := n
	if n > last {
		if v <= val[last] {
			return
		}
		i = last
	}
	for ; i > 0 && val[i-1] < v; i-- {
		val[i], idx[i] = val[i-1], idx[i-1]
	}
	val[i], idx[i] = v, id
}
