package scenarios

import (
	"fmt"
	"math"

	"github.com/moesim/moesim/sim"
	"github.com/moesim/moesim/topology"
)

// Fabric is the scenario's cluster.fabric.* section: the scale-out network
// above the NICs (topology.Fabric documents each field;
// docs/scenario-format.md and docs/model.md#the-scale-out-fabric the
// semantics). Left out, it is one non-blocking leaf per rail: the model
// before fabrics existed.
type Fabric struct {
	// Kind: rail-only (default), rail-optimized or fat-tree.
	Kind topology.FabricKind `yaml:"kind"`
	// NodesPerLeaf: nodes under one leaf switch (per rail for the rail
	// kinds); 0 puts every node under one leaf.
	NodesPerLeaf int `yaml:"nodes_per_leaf"`
	// LeafOversubscription: a leaf's NIC-facing capacity over its spine
	// uplinks; 1 is non-blocking.
	LeafOversubscription float64 `yaml:"leaf_oversubscription"`
	// Planes: ports per NIC, each with 1/planes of its rate on its own
	// copy of the fabric.
	Planes int `yaml:"planes"`
	// SpineLatencyUs: latency of each switch hop above the leaf; a path
	// through the spine has two. Unset takes topology.SpineHopLatency.
	SpineLatencyUs *float64 `yaml:"spine_latency_us"`
	// ECMP: hash (each flow pinned to one uplink) or spray (flows spread
	// over every uplink).
	ECMP topology.ECMP `yaml:"ecmp"`
	// PXN: cross-rail traffic between nodes goes over NVLink to the GPU
	// on the destination's rail first, as NCCL's PXN does.
	PXN bool `yaml:"pxn"`
}

// withDefaults fills every field the way topology.Fabric.WithDefaults
// does, so the effective scenario shows them.
func (f Fabric) withDefaults() Fabric {
	d := topology.Fabric{}.WithDefaults()
	if f.Kind == "" {
		f.Kind = d.Kind
	}
	setF(&f.LeafOversubscription, d.LeafOversubscription)
	setInt(&f.Planes, d.Planes)
	if f.SpineLatencyUs == nil {
		us := d.SpineLatency.Microseconds()
		f.SpineLatencyUs = &us
	}
	if f.ECMP == "" {
		f.ECMP = d.ECMP
	}
	return f
}

// topology converts the section; Config.Validate checks the values.
func (f Fabric) topology() (topology.Fabric, error) {
	t := topology.Fabric{Kind: f.Kind, NodesPerLeaf: f.NodesPerLeaf, LeafOversubscription: f.LeafOversubscription,
		Planes: f.Planes, ECMP: f.ECMP, PXN: f.PXN}
	if f.SpineLatencyUs != nil {
		us := *f.SpineLatencyUs
		if math.IsNaN(us) || us < 0 || us > 1000 {
			return t, fmt.Errorf("scenario: cluster.fabric.spine_latency_us = %g, want 0..1000", us)
		}
		t.SpineLatency, t.SpineLatencySet = sim.FromMicroseconds(us), true
	}
	return t, nil
}
