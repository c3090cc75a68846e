// Package testroute generates the small routings the kernel tests of
// dispatch and combine run on: DeepEP's benchmark routing, each token's
// experts drawn uniformly among the nodes it may use. It is for tests
// only and returns plain slices, so that package dispatch's own tests can
// use it without an import cycle.
//
// # Usage
//
//	topk, ids := testroute.Uniform(seed, nodes, 8, 4096, 256, 8, 4)
//	rt := dispatch.Routing{TopK: topk, Experts: ids}
package testroute

import "github.com/moesim/moesim/sim"

// Uniform is DeepEP's benchmark routing: each token keeps min(nodes,
// maxNodes) nodes chosen uniformly and picks topk distinct experts
// uniformly among theirs (contiguous placement, experts/nodes per node).
// It returns topk and, per rank, its tokens' expert ids one after another.
// It gives about 3.63 nodes per token at EP64, where DeepEP's max-score
// group choice gives 3.98.
func Uniform(seed uint64, nodes, gpn, tokens, experts, topk, maxNodes int) (int, [][]int32) {
	rng := sim.Stream(seed, "test-routing")
	ranks := nodes * gpn
	perNode := experts / nodes
	keep := min(nodes, maxNodes)
	out := make([][]int32, ranks)
	pool := make([]int32, 0, keep*perNode)
	for r := range ranks {
		ids := make([]int32, 0, tokens*topk)
		for range tokens {
			pool = pool[:0]
			for _, n := range rng.Perm(nodes)[:keep] {
				for e := range perNode {
					pool = append(pool, int32(n*perNode+e))
				}
			}
			for i := range topk {
				j := i + rng.IntN(len(pool)-i)
				pool[i], pool[j] = pool[j], pool[i]
				ids = append(ids, pool[i])
			}
		}
		out[r] = ids
	}
	return topk, out
}
