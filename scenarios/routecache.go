package scenarios

import (
	"bytes"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/workload"
)

// RoutingCache shares routings between runs whose routing inputs are the
// same: a sweep over SM counts or chunk sizes routes the same tokens at
// every point, and drawing them can cost as much as simulating them. It
// holds at most Size routings (the most recently asked for), so a sweep
// over many seeds does not keep every routing alive. Safe for concurrent
// use.
type RoutingCache struct {
	Size int

	mu      sync.Mutex
	entries map[string]*routingEntry
	order   []string // oldest first
}

type routingEntry struct {
	once sync.Once
	rt   dispatch.Routing
	err  error
}

// routingKey is what a routing depends on: the cluster's shape, the model's
// routing fields, the workload and the seed.
func routingKey(s Scenario) string {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	_ = enc.Encode(struct {
		Nodes, GPUsPerNode, Experts, Redundant, TopK, MaxNodes int
		Placement                                              [][]int
		Workload                                               Workload
		Seed                                                   uint64
	}{s.Cluster.Nodes, s.Cluster.GPUsPerNode, s.Model.Experts, s.Model.RedundantExperts, s.Model.TopK,
		s.Model.MaxNodesPerToken, s.Model.Placement, s.Workload, s.Seed})
	return b.String()
}

// SameRouting reports whether a and b route the same tokens the same way
// and lay them out alike: a run of b may then share a's
// RunOptions.Routing and Layout, as a tune's variations of a hardware
// constant share the baseline's.
func SameRouting(a, b Scenario) bool { return routingKey(a) == routingKey(b) }

// Routing returns the scenario's routing, drawing it at most once while it
// stays in the cache. Trace routings are not cached (they are read, not
// drawn). The routing is shared: callers must not modify it.
func (c *RoutingCache) Routing(s Scenario, opt RunOptions) (dispatch.Routing, error) {
	if s.Workload.Routing == workload.RoutingTrace {
		return Routing(s, opt)
	}
	key := routingKey(s)
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*routingEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &routingEntry{}
		c.entries[key] = e
		c.order = append(c.order, key)
		for len(c.order) > max(c.Size, 1) {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	e.once.Do(func() { e.rt, e.err = Routing(s, opt) })
	return e.rt, e.err
}
