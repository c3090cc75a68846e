package scenarios

import (
	"bytes"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/workload"
)

// RoutingCache shares routings, or the layouts made from them, between runs
// whose routing inputs are the same: a sweep over SM counts or chunk sizes
// routes the same tokens at every point, and drawing them can cost as much
// as simulating them. It holds at most Size entries (the most recently
// asked for), so a sweep over many seeds does not keep every routing
// alive. Safe for concurrent use.
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

	layOnce sync.Once
	lay     *dispatch.Layout
	layErr  error
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
	e := c.entry(s)
	e.once.Do(func() { e.rt, e.err = Routing(s, opt) })
	return e.rt, e.err
}

// Layout returns the scenario's layout (Layout), built at most once while
// it stays in the cache, for runs to share through RunOptions.Layout: a
// point that differs from another only in kernel or compute settings then
// builds neither the layout nor what the kernels derive from it (their
// record plans, kept in the layout), which together cost about a third of
// a run at EP64. The entry keeps the layout and not the routing, which a
// run given a layout does not read. Trace routings are not cached.
func (c *RoutingCache) Layout(s Scenario, opt RunOptions) (*dispatch.Layout, error) {
	// Built from s alone: a routing or layout in opt may be another
	// scenario's.
	opt.Routing, opt.Layout = nil, nil
	if s.Workload.Routing == workload.RoutingTrace {
		return Layout(s, opt)
	}
	e := c.entry(s)
	e.layOnce.Do(func() { e.lay, e.layErr = Layout(s, opt) })
	return e.lay, e.layErr
}

// entry is s's entry, made (and the oldest evicted past Size) if new.
func (c *RoutingCache) entry(s Scenario) *routingEntry {
	key := routingKey(s)
	c.mu.Lock()
	defer c.mu.Unlock()
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
	return e
}
