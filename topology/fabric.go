package topology

import (
	"fmt"
	"math"

	"github.com/moesim/moesim/sim"
)

// FabricKind is how the scale-out network joins the GPUs' NICs.
type FabricKind string

// Fabric kinds.
const (
	// RailOnly: rail i (NIC i of every node) is a network of its own,
	// leaves of NodesPerLeaf nodes joined by that rail's spine; no switch
	// joins two rails (DeepSeek's multi-plane fat tree, ISCA'25 §5.1,
	// where each GPU-NIC pair is its own plane). Cross-rail traffic takes
	// PXN when Fabric.PXN is set; otherwise it goes NIC to NIC charged at
	// the two NICs only, the model before fabrics existed (optimistic: such
	// a path does not exist in a real rail-only network).
	RailOnly FabricKind = "rail-only"
	// RailOptimized: a leaf per rail per group of NodesPerLeaf nodes (a
	// scalable unit), and one spine joining every leaf of every rail (as
	// NVIDIA's DGX SuperPOD): same rail and group stays in the leaf, other
	// traffic crosses the spine.
	RailOptimized FabricKind = "rail-optimized"
	// FatTree: a leaf per group of NodesPerLeaf nodes, all their NICs
	// whatever the rail, and a spine joining the leaves.
	FatTree FabricKind = "fat-tree"
)

// ECMP is how a leaf spreads the flows that leave it over its uplinks.
type ECMP string

// ECMP policies.
const (
	// ECMPHash pins each flow (source GPU, destination GPU, plane) to one
	// uplink by a deterministic hash, as static ECMP does: flows that
	// collide share a link, so hot spine links show.
	ECMPHash ECMP = "hash"
	// ECMPSpray spreads every flow evenly over all uplinks (packet
	// spraying or adaptive routing): a leaf's uplinks act as one pooled
	// link of their summed rate.
	ECMPSpray ECMP = "spray"
)

// SpineHopLatency is the default latency each switch hop above a leaf adds
// (up to the spine, and down again): half the difference between
// InfiniBand's cross-leaf and same-leaf end-to-end latencies in DeepSeek's
// ISCA'25 paper, Table 5 (3.7 µs - 2.8 µs = 0.9 µs for the two extra
// hops). Published.
const SpineHopLatency = 450 * sim.Nanosecond

// MaxPlanes bounds Fabric.Planes (ConnectX-8 has four planes; eight leaves
// room).
const MaxPlanes = 8

// Fabric is the scale-out network above the NICs: cluster.fabric.* in a
// scenario. The zero value is today's single-leaf rail network: every
// rail one non-blocking leaf over all nodes.
type Fabric struct {
	Kind FabricKind
	// NodesPerLeaf is the nodes under one leaf switch (per rail for the
	// rail kinds); 0 puts every node under one leaf.
	NodesPerLeaf int
	// LeafOversubscription is a leaf's downlink capacity (its NIC ports)
	// over its uplink capacity to the spine: 1 is non-blocking.
	LeafOversubscription float64
	// Planes splits each NIC into that many ports of 1/Planes of its rate
	// and message rate, each on an independent copy of the fabric (a
	// dual-port or multi-plane NIC). A flow (source GPU, destination GPU)
	// is pinned to one plane, as a queue pair is bound to one port.
	Planes int
	// SpineLatency is what each switch hop above the leaf adds; a path
	// through the spine has two. Zero with SpineLatencySet false takes
	// SpineHopLatency.
	SpineLatency    sim.Time
	SpineLatencySet bool
	// ECMP spreads flows over a leaf's uplinks: hash (default) or spray.
	ECMP ECMP
	// PXN sends cross-rail traffic between nodes over NVLink to the GPU of
	// the source node on the destination's rail, then over that rail, as
	// NCCL's PXN does (NCCL 2.12+, on by default).
	PXN bool
}

// WithDefaults fills the zero fields.
func (f Fabric) WithDefaults() Fabric {
	if f.Kind == "" {
		f.Kind = RailOnly
	}
	if f.LeafOversubscription == 0 {
		f.LeafOversubscription = 1
	}
	if f.Planes == 0 {
		f.Planes = 1
	}
	if !f.SpineLatencySet && f.SpineLatency == 0 {
		f.SpineLatency, f.SpineLatencySet = SpineHopLatency, true
	}
	if f.ECMP == "" {
		f.ECMP = ECMPHash
	}
	return f
}

// Validate checks a fabric after WithDefaults, naming the field.
func (f Fabric) Validate() error {
	switch f.Kind {
	case RailOnly, RailOptimized, FatTree:
	default:
		return fmt.Errorf("topology: cluster.fabric.kind = %q, want rail-only, rail-optimized or fat-tree", f.Kind)
	}
	if f.NodesPerLeaf < 0 || f.NodesPerLeaf > MaxNodes {
		return fmt.Errorf("topology: cluster.fabric.nodes_per_leaf = %d, want 0 (every node in one leaf) or 1..%d", f.NodesPerLeaf, MaxNodes)
	}
	if !(f.LeafOversubscription >= 1) || f.LeafOversubscription > 64 {
		return fmt.Errorf("topology: cluster.fabric.leaf_oversubscription = %g, want 1..64 (1 = non-blocking)", f.LeafOversubscription)
	}
	if f.Planes < 1 || f.Planes > MaxPlanes {
		return fmt.Errorf("topology: cluster.fabric.planes = %d, want 1..%d", f.Planes, MaxPlanes)
	}
	if f.SpineLatency < 0 || f.SpineLatency > sim.Millisecond {
		return fmt.Errorf("topology: cluster.fabric.spine_latency_us = %v, want 0..1000", f.SpineLatency.Microseconds())
	}
	switch f.ECMP {
	case ECMPHash, ECMPSpray:
	default:
		return fmt.Errorf("topology: cluster.fabric.ecmp = %q, want hash or spray", f.ECMP)
	}
	return nil
}

// leaves is the fabric as built: uplink and downlink ports per leaf and
// plane.
type leaves struct {
	f        Fabric
	perLeaf  int // nodes per leaf
	groups   int // leaf groups of nodes
	rails    int // leaves per group: GPUs per node for the rail kinds, 1 for fat-tree
	uplinks  int // uplinks per leaf (1 with spray)
	up, down [][]*sim.Port
}

// leafOf is the index of the leaf a NIC (node, rail) hangs off, in plane
// 0; plane p's leaves follow at p × groups × rails.
func (l *leaves) leafOf(node, rail int) int {
	g := node / l.perLeaf
	if l.rails == 1 {
		return g
	}
	return g*l.rails + rail
}

func (c *Cluster) buildFabric(nicPlane float64) {
	f := c.Config.Fabric.WithDefaults()
	l := &leaves{f: f, perLeaf: f.NodesPerLeaf, rails: c.Config.GPUsPerNode}
	if l.perLeaf == 0 || l.perLeaf > c.Config.Nodes {
		l.perLeaf = c.Config.Nodes
	}
	l.groups = (c.Config.Nodes + l.perLeaf - 1) / l.perLeaf
	if f.Kind == FatTree {
		l.rails = 1
	}
	c.fabric = l
	// A spine exists when some traffic leaves its leaf: several groups, or
	// several rails joined above the leaves.
	if l.groups == 1 && (f.Kind != RailOptimized || c.Config.GPUsPerNode == 1) {
		return
	}
	down := l.perLeaf // NIC ports under a leaf
	if f.Kind == FatTree {
		down *= c.Config.GPUsPerNode
	}
	l.uplinks = 1
	if f.ECMP == ECMPHash {
		l.uplinks = max(1, int(math.Round(float64(down)/f.LeafOversubscription)))
	}
	bw := float64(down) * nicPlane / f.LeafOversubscription / float64(l.uplinks)
	n := f.Planes * l.groups * l.rails
	l.up, l.down = make([][]*sim.Port, n), make([][]*sim.Port, n)
	for i := range n {
		p, leaf := i/(l.groups*l.rails), i%(l.groups*l.rails)
		l.up[i], l.down[i] = make([]*sim.Port, l.uplinks), make([]*sim.Port, l.uplinks)
		for u := range l.uplinks {
			l.up[i][u] = sim.NewPort(fmt.Sprintf("plane%d.leaf%d.up%d", p, leaf, u), bw)
			l.down[i][u] = sim.NewPort(fmt.Sprintf("plane%d.leaf%d.down%d", p, leaf, u), bw)
		}
	}
}

// Uplinks and Downlinks are the leaf-to-spine and spine-to-leaf ports,
// per leaf (planes after one another) and per uplink; nil when no traffic
// leaves a leaf.
func (c *Cluster) Uplinks() [][]*sim.Port {
	if c.fabric == nil {
		return nil
	}
	return c.fabric.up
}

// Downlinks: see Uplinks.
func (c *Cluster) Downlinks() [][]*sim.Port {
	if c.fabric == nil {
		return nil
	}
	return c.fabric.down
}

// plane is the plane a flow from GPU a to GPU b is pinned to: spread over
// the destination node for a sender and over the source node for a
// receiver, and over the rail.
func (c *Cluster) plane(a, b *Device) int {
	return (a.Node + b.Node + a.Local) % len(a.NICOuts)
}

// ecmpHash mixes a flow's identity (splitmix64's finalizer), so static
// ECMP is deterministic and spreads flows as a hash does, collisions and
// all.
func ecmpHash(src, dst, plane int) uint64 {
	z := uint64(src)<<34 ^ uint64(dst)<<4 ^ uint64(plane)
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// netRoute is the path from GPU a's NIC to GPU b's NIC (different nodes)
// on the flow's plane, through the spine when their leaves differ; src and
// dst are the flow's end GPUs, for the ECMP hash.
func (c *Cluster) netRoute(ports []*sim.Port, src, dst int, a, b *Device) ([]*sim.Port, sim.Time) {
	l := c.fabric
	p := c.plane(a, b)
	ports = append(ports, a.NICOuts[p])
	if c.Rails != nil {
		ports = append(ports, c.Rails[a.Local])
	}
	lat := c.Config.IBLatency
	la, lb := l.leafOf(a.Node, a.Local), l.leafOf(b.Node, b.Local)
	crossRail := l.rails > 1 && a.Local != b.Local
	if la != lb && l.up != nil && (l.f.Kind != RailOnly || !crossRail) {
		off := p * l.groups * l.rails
		u := 0
		if l.uplinks > 1 {
			u = int(ecmpHash(src, dst, p) % uint64(l.uplinks))
		}
		ports = append(ports, l.up[off+la][u], l.down[off+lb][u])
		lat += 2 * l.f.SpineLatency
	}
	return append(ports, b.NICIns[p]), lat
}
