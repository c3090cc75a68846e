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
	// NICOut and NICIn are the GPU's own NIC, on rail Local: its port on
	// plane 0.
	NICOut, NICIn *sim.Port
	// NICOuts and NICIns are the NIC's ports on every plane
	// (cluster.fabric.planes), NICOut and NICIn first.
	NICOuts, NICIns []*sim.Port
}

// NICUtilization is the NIC's busy share over [0, end] per direction, its
// planes averaged.
func (d *Device) NICUtilization(end sim.Time) (out, in float64) {
	for p := range d.NICOuts {
		out += d.NICOuts[p].Utilization(end)
		in += d.NICIns[p].Utilization(end)
	}
	n := float64(len(d.NICOuts))
	return out / n, in / n
}

// NICBytes is the bytes the NIC sent, over all its planes.
func (d *Device) NICBytes() int64 {
	var b int64
	for _, p := range d.NICOuts {
		b += p.Bytes()
	}
	return b
}

// Cluster is a Config turned into engine resources. Ports keep counters, so
// a Cluster serves one run; call Reset to reuse it.
type Cluster struct {
	Config  Config
	Devices []Device
	// Rails holds one shared port per rail when the rail fabric is
	// oversubscribed (cluster.rail_oversubscription, the aggregate model
	// that predates cluster.fabric), nil when it is non-blocking.
	Rails []*sim.Port

	fabric *leaves
}

// Build makes the ports of a validated config. A straggler NIC's ports run
// at its rate over its factor.
func Build(c Config) *Cluster {
	n := c.GPUs()
	cl := &Cluster{Config: c, Devices: make([]Device, n)}
	nvl := c.GPU.NVLinkBytesPerSec * c.NVLinkEfficiency
	planes := c.Fabric.WithDefaults().Planes
	nic := c.GPU.NICBytesPerSec * c.NICEfficiency / float64(planes)
	// Each NIC port issues messages at its share of the NIC's rate: a
	// message holds it for at least 1/rate (ConstantSpec
	// nic_message_rate_Mps).
	msg := sim.FromSeconds(float64(planes) / c.NICMessageRate)
	for r := range n {
		node, local := r/c.GPUsPerNode, r%c.GPUsPerNode
		d := Device{
			Rank: r, Node: node, Local: local,
			NVLinkOut: sim.NewPort(fmt.Sprintf("gpu%d.nvl.out", r), nvl),
			NVLinkIn:  sim.NewPort(fmt.Sprintf("gpu%d.nvl.in", r), nvl),
		}
		for p := range planes {
			name := fmt.Sprintf("gpu%d.nic", r)
			if planes > 1 {
				name += fmt.Sprintf(".plane%d", p)
			}
			bw := nic / c.NICFactor(r)
			out, in := sim.NewPort(name+".out", bw), sim.NewPort(name+".in", bw)
			out.MinHold, in.MinHold = msg, msg
			d.NICOuts, d.NICIns = append(d.NICOuts, out), append(d.NICIns, in)
		}
		d.NICOut, d.NICIn = d.NICOuts[0], d.NICIns[0]
		cl.Devices[r] = d
	}
	cl.buildFabric(nic)
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
		for p := range d.NICOuts {
			d.NICOuts[p].Reset()
			d.NICIns[p].Reset()
		}
	}
	for _, p := range c.Rails {
		p.Reset()
	}
	for i := range c.fabric.up {
		for u := range c.fabric.up[i] {
			c.fabric.up[i][u].Reset()
			c.fabric.down[i][u].Reset()
		}
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
// egress then ingress. Between nodes it is src's NIC port on the flow's
// plane, the rail's aggregate port when cluster.rail_oversubscription is
// set, the leaf's uplink and the destination leaf's downlink when the two
// NICs hang off different leaves that a spine joins (cluster.fabric), and
// dst's NIC port; the latency is the in-leaf NIC-to-NIC latency plus the
// spine's two hops. DeepEP's normal kernels keep to one rail (the GPU with
// the same local index); a plain all-to-all and the low-latency kernels
// cross rails: through the spine (rail-optimized, fat-tree), or, with
// cluster.fabric.pxn, over NVLink to the source node's GPU on dst's rail
// first (PXN).
func (c *Cluster) Route(src, dst int) Route { return c.RouteInto(nil, src, dst) }

// MaxRoutePorts is the most ports a route crosses: NVLink out and in to
// the PXN GPU, the NIC, the rail, a leaf's uplink and a spine's downlink,
// and the destination's NIC.
const MaxRoutePorts = 7

// RouteInto is Route with the route's ports appended to buf[:0], so a
// caller that is done with each route before it asks for the next (a
// kernel that routes every message as it sends it) passes one buffer of
// MaxRoutePorts capacity each time and allocates nothing per route. The
// route's Ports then alias buf.
func (c *Cluster) RouteInto(buf []*sim.Port, src, dst int) Route {
	s, d := &c.Devices[src], &c.Devices[dst]
	switch {
	case src == dst:
		return Route{Kind: Local}
	case s.Node == d.Node:
		return Route{Kind: NVLink, Ports: append(buf[:0], s.NVLinkOut, d.NVLinkIn), Latency: c.Config.NVLinkLatency}
	}
	ports := buf[:0]
	if ports == nil {
		ports = make([]*sim.Port, 0, MaxRoutePorts)
	}
	var lat sim.Time
	from := s
	if s.Local != d.Local && c.fabric.f.PXN {
		from = &c.Devices[s.Node*c.Config.GPUsPerNode+d.Local]
		ports = append(ports, s.NVLinkOut, from.NVLinkIn)
		lat = c.Config.NVLinkLatency
	}
	ports, net := c.netRoute(ports, src, dst, from, d)
	return Route{Kind: IB, Ports: ports, Latency: lat + net}
}
