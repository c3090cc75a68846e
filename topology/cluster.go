package topology

import (
	"fmt"

	"github.com/moesim/moesim/sim"
)

// Device is one GPU of a built cluster with the ports of its links.
type Device struct {
	Rank  int // global rank: Node*GPUsPerNode + Local
	Node  int
	Local int // index within the node; also the rail of its NIC
	// NVLinkOut and NVLinkIn are the GPU's NVSwitch links. The switch is
	// non-blocking, so these two ends are the only NVLink limits.
	NVLinkOut, NVLinkIn *sim.Port
	// NICOut and NICIn are the GPU's own NIC, on rail Local.
	NICOut, NICIn *sim.Port
}

// Cluster is a Config turned into engine resources. Ports keep counters, so
// a Cluster serves one run; call Reset to reuse it.
type Cluster struct {
	Config  Config
	Devices []Device
	// Rails holds one shared port per rail when the rail fabric is
	// oversubscribed, nil when it is non-blocking.
	Rails []*sim.Port
}

// Build makes the ports of a validated config. A straggler NIC's ports run
// at its rate over its factor.
func Build(c Config) *Cluster {
	n := c.GPUs()
	cl := &Cluster{Config: c, Devices: make([]Device, n)}
	nvl := c.GPU.NVLinkBytesPerSec * c.NVLinkEfficiency
	nic := c.GPU.NICBytesPerSec * c.NICEfficiency
	for r := range n {
		node, local := r/c.GPUsPerNode, r%c.GPUsPerNode
		cl.Devices[r] = Device{
			Rank: r, Node: node, Local: local,
			NVLinkOut: sim.NewPort(fmt.Sprintf("gpu%d.nvl.out", r), nvl),
			NVLinkIn:  sim.NewPort(fmt.Sprintf("gpu%d.nvl.in", r), nvl),
			NICOut:    sim.NewPort(fmt.Sprintf("gpu%d.nic.out", r), nic/c.NICFactor(r)),
			NICIn:     sim.NewPort(fmt.Sprintf("gpu%d.nic.in", r), nic/c.NICFactor(r)),
		}
	}
	if c.RailOversubscription > 1 && c.Nodes > 1 {
		for rail := range c.GPUsPerNode {
			bw := float64(c.Nodes) * nic / c.RailOversubscription
			cl.Rails = append(cl.Rails, sim.NewPort(fmt.Sprintf("rail%d", rail), bw))
		}
	}
	return cl
}

// Reset zeroes every port's counters.
func (c *Cluster) Reset() {
	for i := range c.Devices {
		d := &c.Devices[i]
		d.NVLinkOut.Reset()
		d.NVLinkIn.Reset()
		d.NICOut.Reset()
		d.NICIn.Reset()
	}
	for _, p := range c.Rails {
		p.Reset()
	}
}

// LinkKind is the class of link a route crosses.
type LinkKind uint8

// Link kinds.
const (
	Local  LinkKind = iota // the same GPU: a copy in HBM, no link
	NVLink                 // within a node, through NVSwitch
	IB                     // between nodes, NIC to NIC
)

func (k LinkKind) String() string {
	switch k {
	case Local:
		return "local"
	case NVLink:
		return "nvlink"
	case IB:
		return "ib"
	}
	return fmt.Sprintf("LinkKind(%d)", uint8(k))
}

// Route is the network path of a transfer: the ports it occupies and the
// latency it adds.
type Route struct {
	Kind    LinkKind
	Ports   []*sim.Port
	Latency sim.Time
}

// Route is the path from GPU src to GPU dst. Within a node it is NVLink
// egress then ingress. Between nodes it is src's NIC, the rail fabric when
// oversubscribed, and dst's NIC: a direct NIC-to-NIC path, which stays on
// one rail when the local indexes match (as DeepEP's dispatch arranges) and
// crosses rails through the spine otherwise (as a plain all-to-all does).
func (c *Cluster) Route(src, dst int) Route {
	s, d := &c.Devices[src], &c.Devices[dst]
	switch {
	case src == dst:
		return Route{Kind: Local}
	case s.Node == d.Node:
		return Route{Kind: NVLink, Ports: []*sim.Port{s.NVLinkOut, d.NVLinkIn}, Latency: c.Config.NVLinkLatency}
	default:
		ports := []*sim.Port{s.NICOut}
		if c.Rails != nil {
			ports = append(ports, c.Rails[s.Local])
		}
		ports = append(ports, d.NICIn)
		return Route{Kind: IB, Ports: ports, Latency: c.Config.IBLatency}
	}
}
