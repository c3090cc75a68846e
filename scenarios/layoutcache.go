package scenarios

import (
	"bytes"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/workload"
)

// LayoutCache shares layouts between runs whose routing inputs are the
// same: a sweep over SM counts or chunk sizes routes the same tokens at
// every point, and drawing them and laying them out (with the record plans
// the kernels derive and keep in the layout) costs about a third of a run
// at EP64. It holds at most Size layouts (the most recently asked for), so
// a sweep over many seeds does not keep every one alive. Safe for
// concurrent use.
type LayoutCache struct {
	Size int

	mu      sync.Mutex
	entries map[string]*layoutEntry
	order   []string // oldest first
}

type layoutEntry struct {
	once sync.Once
	lay  *dispatch.Layout
	err  error
}

// routingKey is what a routing, and so a layout, depends on: the cluster's
// shape, the model's routing and placement fields, the workload and the
// seed.
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

// SameLayout reports whether a and b route the same tokens the same way
// and lay them out alike: a run of b may then share a's
// RunOptions.Layout, as a tune's variations of a hardware constant share
// the baseline's.
func SameLayout(a, b Scenario) bool { return routingKey(a) == routingKey(b) }

// Layout returns the scenario's layout (Layout), built at most once while
// it stays in the cache, for runs to share through RunOptions.Layout. The
// layout is shared: callers must not modify it. Trace routings are not
// cached (they are read, not drawn).
func (c *LayoutCache) Layout(s Scenario, opt RunOptions) (*dispatch.Layout, error) {
	// Built from s alone: a layout in opt may be another scenario's.
	opt.Layout = nil
	if s.Workload.Routing == workload.RoutingTrace {
		return Layout(s, opt)
	}
	e := c.entry(s)
	e.once.Do(func() { e.lay, e.err = Layout(s, opt) })
	return e.lay, e.err
}

// entry is s's entry, made (and the oldest evicted past Size) if new.
func (c *LayoutCache) entry(s Scenario) *layoutEntry {
	key := routingKey(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*layoutEntry{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &layoutEntry{}
		c.entries[key] = e
		c.order = append(c.order, key)
		for len(c.order) > max(c.Size, 1) {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
	}
	return e
}
