package workload

// Workload generation: which experts every token of every rank picks.
//
// Invariants of every generated dispatch.Routing:
//   - it has nodes*gpusPerNode ranks, and expert ids in -1..model.experts-1;
//   - no token names an expert twice;
//   - the experts of a token lie on at most min(model.max_nodes_per_token,
//     nodes) nodes (0 = no limit), with expert e on rank e/(experts/ranks);
//   - it is a pure function of (Workload, Model, nodes, gpusPerNode, seed).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/model"
	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Workload is the scenario file's workload.* section.
type Workload struct {
	TokensPerGPU int `yaml:"tokens_per_gpu"` // workload.tokens_per_gpu: tokens each rank sends, 4096 in DeepEP's tests
	// Routing is workload.routing, one of the Routing* kinds; empty means
	// node-limited.
	Routing string `yaml:"routing"`
	// GPUsPerNodeVisit is workload.gpus_per_node_visit, read by balanced
	// routing only: the mean number of GPUs a token reaches in each node it
	// visits, the quantity whose ratio to NVLink/IB bandwidth decides which
	// link is the bottleneck (DeepSeek-V3 §3.2.2: 3.2).
	GPUsPerNodeVisit float64 `yaml:"gpus_per_node_visit"`
	// Skewed routing only (workload.zipf_s, hot_expert, hot_expert_share,
	// hot_rank, hot_rank_factor): expert popularity is Zipf-like with
	// exponent ZipfS (0 = uniform). With HotExpertShare > 0, each token
	// picks expert HotExpert with probability HotExpertShare before its
	// other picks: HotExpertShare is the share of tokens that reach it, so
	// its share of all expert choices is HotExpertShare/model.topk (a share
	// of choices could not exceed 1/topk, a share of tokens can go to 1).
	// Rank HotRank sends round(TokensPerGPU*HotRankFactor) tokens (0 = off).
	ZipfS          float64 `yaml:"zipf_s"`
	HotExpert      int     `yaml:"hot_expert"`
	HotExpertShare float64 `yaml:"hot_expert_share"`
	HotRank        int     `yaml:"hot_rank"`
	HotRankFactor  float64 `yaml:"hot_rank_factor"`
	// TraceFile is workload.trace_file, the routing trace replayed by
	// routing "trace". The command reads it; this package sees only bytes
	// (ReadRoutingNPY, ReadRoutingCSV, RoutingFromTrace).
	TraceFile string `yaml:"trace_file,omitempty"`
	// StartSkewUs is workload.start_skew_us: how far apart the ranks
	// start each normal-mode dispatch and combine kernel, in µs. Each
	// rank's start is drawn uniform on [0, StartSkewUs] (StartOffsets), a
	// fresh draw per kernel; 0 starts every rank at once.
	StartSkewUs float64 `yaml:"start_skew_us,omitempty"`
}

// MaxStartSkewUs bounds workload.start_skew_us: 10 ms is longer than a
// whole layer; more is a typo.
const MaxStartSkewUs = 10000

// StartOffsets draws every rank's kernel start after the earliest
// possible one: independent and uniform on [0, skewUs] µs, rounded to the
// picosecond, from the seeded stream "skew/"+kernel. The uniform law is an
// assumption (no published distribution of DeepEP's per-rank start times):
// it has no tail, and the expected spread of R ranks' starts is
// skewUs×(R-1)/(R+1), which is about skewUs for 64 ranks. Nil when skewUs
// is 0.
func StartOffsets(skewUs float64, ranks int, seed uint64, kernel string) ([]sim.Time, error) {
	if !(skewUs >= 0 && skewUs <= MaxStartSkewUs) {
		return nil, fmt.Errorf("scenario: workload.start_skew_us = %g, want 0..%d", skewUs, MaxStartSkewUs)
	}
	if skewUs == 0 {
		return nil, nil
	}
	rng := sim.Stream(seed, "skew/"+kernel)
	out := make([]sim.Time, ranks)
	for r := range out {
		out[r] = sim.Time(math.Round(float64(rng.Float64()*skewUs) * float64(sim.Microsecond)))
	}
	return out, nil
}

// Routing kinds for workload.routing.
const (
	// RoutingNodeLimited is DeepSeek-V3's gate on random affinities: top-k
	// experts from at most model.max_nodes_per_token nodes.
	RoutingNodeLimited = "node-limited"
	// RoutingSkewed draws experts from a Zipf-like popularity, with an
	// optional hot expert and hot rank, to study load imbalance.
	RoutingSkewed = "skewed"
	// RoutingBalanced fixes the nodes per token and the GPUs per node visit,
	// to place a workload exactly on the NVLink/IB knee.
	RoutingBalanced = "balanced"
	// RoutingEven sends every rank the same number of tokens from every
	// rank, one expert each: a plain all-to-all.
	RoutingEven = "even"
	// RoutingTrace replays a recorded routing (RoutingFromTrace).
	RoutingTrace = "trace"
)

var routingKinds = []string{RoutingNodeLimited, RoutingSkewed, RoutingBalanced, RoutingEven, RoutingTrace}

// Limits on generated workloads, so a typo cannot ask for more memory than
// a machine has; a breach is an input error, not a crash.
const (
	// MaxTokensPerGPU bounds workload.tokens_per_gpu, and a hot rank's
	// tokens.
	MaxTokensPerGPU = 1 << 24
	// MaxRoutingSlots bounds the (token, expert slot) pairs over all ranks
	// of a generated or replayed routing: 1 GiB of int32 ids.
	MaxRoutingSlots = 1 << 28
	// MaxExperts bounds model.experts, which sizes per-token scratch.
	MaxExperts = 1 << 20
	// MaxZipfS keeps every expert's Zipf weight a representable float for
	// the expert counts a model can have.
	MaxZipfS = 100
)

// routingLayout is the cluster seen by a routing generator, validated.
type routingLayout struct {
	nodes, gpusPerNode, ranks int // nodes: those holding logical experts
	expertRanks               int // ranks holding logical experts
	experts                   int
	perRank, perNode          int // experts per rank and per node
	maxNodes                  int // effective node limit per token, 1..nodes
}

func (l routingLayout) nodeOf(e int) int { return e / l.perNode }

// GenerateRouting draws the routing of one MoE layer for a cluster of nodes
// x gpusPerNode ranks from the workload and model, with experts placed
// contiguously (dispatch.ContiguousPlacement). The same arguments give the
// same routing on any machine. Bad input returns an error naming the
// scenario field, its value and what is allowed.
func GenerateRouting(w Workload, m model.Model, nodes, gpusPerNode int, seed uint64) (dispatch.Routing, error) {
	return GenerateRoutingEach(w, m, nodes, gpusPerNode, seed, nil)
}

// GenerateRoutingEach is GenerateRouting that also hands each rank's
// routing (its Experts slice, final) to each as soon as it is drawn, rank
// after rank, so the caller can use it while the next ranks are drawn; a
// nil each is GenerateRouting. each is not called when an error is
// returned before the first rank is drawn.
func GenerateRoutingEach(w Workload, m model.Model, nodes, gpusPerNode int, seed uint64, each func(src int, ids []int32)) (dispatch.Routing, error) {
	rt, err := generateRouting(w, m, nodes, gpusPerNode, seed, each)
	if err == nil && each != nil && rt.TopK > 0 && !DrawsEach(w) {
		for src, ids := range rt.Experts {
			each(src, ids)
		}
	}
	return rt, err
}

// DrawsEach reports whether GenerateRoutingEach hands each rank over as it
// is drawn, with model.top_k slots per token: so the node-limited
// generator, the default, does; the others hand the ranks over once the
// whole routing is drawn.
func DrawsEach(w Workload) bool { return w.Routing == "" || w.Routing == RoutingNodeLimited }

func generateRouting(w Workload, m model.Model, nodes, gpusPerNode int, seed uint64, each func(src int, ids []int32)) (dispatch.Routing, error) {
	kind := w.Routing
	if kind == "" {
		kind = RoutingNodeLimited
	}
	known := false
	for _, k := range routingKinds {
		known = known || k == kind
	}
	if !known {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.routing = %q, want one of %s",
			w.Routing, strings.Join(routingKinds, ", "))
	}
	if kind == RoutingTrace {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.routing = %q is replayed from workload.trace_file by RoutingFromTrace, not generated", kind)
	}
	l, err := newRoutingLayout(m, nodes, gpusPerNode)
	if err != nil {
		return dispatch.Routing{}, err
	}
	if w.TokensPerGPU < 1 || w.TokensPerGPU > MaxTokensPerGPU {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.tokens_per_gpu = %d, want 1..%d", w.TokensPerGPU, MaxTokensPerGPU)
	}
	rng := sim.Stream(seed, "routing")
	switch kind {
	case RoutingNodeLimited:
		if err := checkTopK(m, l); err != nil {
			return dispatch.Routing{}, err
		}
		tokens := uniformTokens(l.ranks, w.TokensPerGPU)
		if err := checkSlots(tokens, m.TopK); err != nil {
			return dispatch.Routing{}, err
		}
		return newOrderStatGen(l, m.TopK).generate(tokens, rng, each), nil
	case RoutingSkewed:
		return generateSkewed(w, m, l, seed, rng)
	case RoutingBalanced:
		return generateBalanced(w, l, rng)
	default: // RoutingEven
		tokens := uniformTokens(l.ranks, w.TokensPerGPU)
		if err := checkSlots(tokens, 1); err != nil {
			return dispatch.Routing{}, err
		}
		return generateEven(l, tokens), nil
	}
}

func newRoutingLayout(m model.Model, nodes, gpusPerNode int) (routingLayout, error) {
	if nodes < 1 || nodes > topology.MaxNodes {
		return routingLayout{}, fmt.Errorf("scenarios: cluster.nodes = %d, want 1..%d", nodes, topology.MaxNodes)
	}
	if gpusPerNode < 1 || gpusPerNode > topology.MaxGPUsPerNode {
		return routingLayout{}, fmt.Errorf("scenarios: cluster.gpus_per_node = %d, want 1..%d", gpusPerNode, topology.MaxGPUsPerNode)
	}
	ranks := nodes * gpusPerNode
	perRank, err := primariesPerRank(m, ranks)
	if err != nil {
		return routingLayout{}, err
	}
	perNode := perRank * gpusPerNode
	if m.Experts%perNode != 0 || m.Experts > MaxExperts {
		return routingLayout{}, fmt.Errorf("scenarios: model.experts = %d, want a multiple of the %d experts a node holds (%d per GPU x %d GPUs) up to %d: generated routing groups experts by node",
			m.Experts, perNode, perRank, gpusPerNode, MaxExperts)
	}
	if m.MaxNodesPerToken < 0 {
		return routingLayout{}, fmt.Errorf("scenarios: model.max_nodes_per_token = %d, want >= 0 (0 = no limit)", m.MaxNodesPerToken)
	}
	// Nodes that hold only redundant replicas take no part in routing:
	// tokens pick logical experts.
	expertNodes := m.Experts / perNode
	maxNodes := expertNodes
	if m.MaxNodesPerToken > 0 && m.MaxNodesPerToken < expertNodes {
		maxNodes = m.MaxNodesPerToken
	}
	return routingLayout{
		nodes: expertNodes, gpusPerNode: gpusPerNode, ranks: ranks, expertRanks: expertNodes * gpusPerNode,
		experts: m.Experts, perRank: perRank, perNode: perNode, maxNodes: maxNodes,
	}, nil
}

// primariesPerRank is how many logical experts each rank holds as placed
// by Placement: experts/ranks when that divides, else the expert slots
// (experts plus redundant) per rank, filled with logical experts first.
func primariesPerRank(m model.Model, ranks int) (int, error) {
	slots := m.Experts + m.RedundantExperts
	if ranks < 1 {
		// A cluster with no GPUs (an unknown preset, before validation
		// names it) has nowhere to put experts.
		return 0, fmt.Errorf("scenarios: %d GPUs, want at least one to place experts on", ranks)
	}
	if m.Experts < 1 || slots%ranks != 0 || slots < ranks {
		return 0, fmt.Errorf("scenarios: model.experts + model.redundant_experts = %d, want a positive multiple of the %d GPUs so every GPU holds the same number of experts",
			slots, ranks)
	}
	if m.Experts%ranks == 0 {
		return m.Experts / ranks, nil
	}
	return slots / ranks, nil
}

// checkTopK checks a token can find model.topk distinct experts on the
// nodes it may use.
func checkTopK(m model.Model, l routingLayout) error {
	allowed := l.maxNodes * l.perNode
	if m.TopK < 1 || m.TopK > allowed {
		return fmt.Errorf("scenarios: model.topk = %d, want 1..%d (the experts on %d of %d nodes, %d each; model.max_nodes_per_token = %d)",
			m.TopK, allowed, l.maxNodes, l.nodes, l.perNode, m.MaxNodesPerToken)
	}
	return nil
}

func uniformTokens(ranks, perRank int) []int {
	tokens := make([]int, ranks)
	for r := range tokens {
		tokens[r] = perRank
	}
	return tokens
}

func checkSlots(tokens []int, topk int) error {
	total := 0.0
	for _, n := range tokens {
		total += float64(n)
	}
	if total*float64(topk) > MaxRoutingSlots {
		return fmt.Errorf("scenarios: workload.tokens_per_gpu: %.0f tokens x %d experts each is more than the %d routing slots allowed",
			total, topk, MaxRoutingSlots)
	}
	return nil
}

// newRouting allocates all ranks' slots in one block, so a generator makes
// one allocation whatever the number of tokens.
func allocRouting(tokens []int, topk int) dispatch.Routing {
	total := 0
	for _, n := range tokens {
		total += n * topk
	}
	block := make([]int32, total)
	rt := dispatch.Routing{TopK: topk, Experts: make([][]int32, len(tokens))}
	for r, n := range tokens {
		rt.Experts[r], block = block[:n*topk:n*topk], block[n*topk:]
	}
	return rt
}

// generateEven sends token t of rank r to the first expert of rank
// (r+t) mod ranks. When tokens_per_gpu is not a multiple of the ranks, rank
// r's leftover tokens_per_gpu mod ranks tokens go one each to ranks r,
// r+1, ...: those destinations get one token more from r than the others.
func generateEven(l routingLayout, tokens []int) dispatch.Routing {
	rt := allocRouting(tokens, 1)
	for r, ids := range rt.Experts {
		for t := range ids {
			ids[t] = int32(((r + t) % l.expertRanks) * l.perRank)
		}
	}
	return rt
}

// generateBalanced gives every token exactly maxNodes target nodes, chosen
// uniformly, and in each a number of distinct GPUs, chosen uniformly, with
// one uniform expert per GPU. A fractional gpus_per_node_visit g is met by
// error diffusion over each rank's node visits in order: a visit takes
// ceil(g) GPUs when the carried fraction reaches 1, else floor(g). The mean
// over a rank's visits is then g within 1/visits, and exactly g when g is an
// integer, with no sampling noise to hide a knee in a sweep.
func generateBalanced(w Workload, l routingLayout, rng *rand.Rand) (dispatch.Routing, error) {
	g := w.GPUsPerNodeVisit
	if !(g >= 1 && g <= float64(l.gpusPerNode)) {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.gpus_per_node_visit = %g, want 1..%d (the GPUs of a node) for workload.routing = balanced",
			g, l.gpusPerNode)
	}
	lo := int(math.Floor(g))
	frac := g - float64(lo)
	hi := lo
	if frac > 0 {
		hi = lo + 1
	}
	topk := l.maxNodes * hi
	tokens := uniformTokens(l.ranks, w.TokensPerGPU)
	if err := checkSlots(tokens, topk); err != nil {
		return dispatch.Routing{}, err
	}
	rt := allocRouting(tokens, topk)
	nodePerm := identityPerm(l.nodes)
	gpuPerm := identityPerm(l.gpusPerNode)
	for _, ids := range rt.Experts {
		carry := 0.5 // start mid-way so partial means stay within half a GPU of g
		for t := 0; t < len(ids)/topk; t++ {
			slots := ids[t*topk : (t+1)*topk]
			n := 0
			for i := range l.maxNodes {
				// Partial Fisher-Yates: uniform whatever order the
				// previous token left the permutation in.
				j := i + rng.IntN(l.nodes-i)
				nodePerm[i], nodePerm[j] = nodePerm[j], nodePerm[i]
				node := nodePerm[i]
				visit := lo
				if carry += frac; carry >= 1 {
					carry--
					visit = hi
				}
				for k := range visit {
					j := k + rng.IntN(l.gpusPerNode-k)
					gpuPerm[k], gpuPerm[j] = gpuPerm[j], gpuPerm[k]
					rank := int(node)*l.gpusPerNode + int(gpuPerm[k])
					slots[n] = int32(rank*l.perRank + rng.IntN(l.perRank))
					n++
				}
			}
			for ; n < topk; n++ {
				slots[n] = -1
			}
		}
	}
	return rt, nil
}

func identityPerm(n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(i)
	}
	return p
}
