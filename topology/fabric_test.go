package topology

import (
	"math"
	"strings"
	"testing"

	"github.com/moesim/moesim/sim"
)

func fabricCluster(t *testing.T, nodes int, f Fabric) *Cluster {
	t.Helper()
	c, err := Preset("h800")
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes, c.Fabric = nodes, f
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return Build(c)
}

func spineBytes(cl *Cluster) (up, down int64) {
	for i := range cl.Uplinks() {
		for u := range cl.Uplinks()[i] {
			up += cl.Uplinks()[i][u].Bytes()
			down += cl.Downlinks()[i][u].Bytes()
		}
	}
	return up, down
}

// a2aFlow is one flow of a test all-to-all: pieces of at most 128 KiB,
// the next sent when the previous has left its last hop.
type a2aFlow struct {
	eng   *sim.Engine
	r     Route
	left  int64
	piece int64
	last  *sim.Time
}

func (f *a2aFlow) Handle(now sim.Time, arg int64) {
	if f.left == 0 {
		return
	}
	n := min(f.left, f.piece)
	f.left -= n
	arrive := sim.Transfer(now, n, f.r.Latency, f.r.Ports...)
	*f.last = max(*f.last, arrive)
	f.eng.At(arrive-f.r.Latency, f, 0)
}

// allToAll sends bytes from every GPU to every GPU that pick selects, on
// other nodes, and returns when the last byte lands.
func allToAll(t *testing.T, cl *Cluster, bytes int64, pick func(src, dst *Device) bool) sim.Time {
	t.Helper()
	eng := sim.NewEngine(sim.Limits{MaxEvents: 1e8})
	var last sim.Time
	n := len(cl.Devices)
	for s := range n {
		for i := 1; i < n; i++ {
			d := (s + i) % n
			src, dst := &cl.Devices[s], &cl.Devices[d]
			if src.Node == dst.Node || !pick(src, dst) {
				continue
			}
			eng.At(0, &a2aFlow{eng: eng, r: cl.Route(s, d), left: bytes, piece: 128 << 10, last: &last}, 0)
		}
	}
	if err := eng.Run(); err != nil {
		t.Fatal(err)
	}
	return last
}

func sameRail(a, b *Device) bool { return a.Local == b.Local }

// TestIntraLeafTrafficNeverTouchesTheSpine: on a rail-optimized fabric of
// two leaves of two nodes, same-rail traffic between the nodes of a leaf
// takes NIC to NIC at the in-leaf latency and leaves every spine link
// idle; across leaves it climbs to the spine and pays its two hops.
func TestIntraLeafTrafficNeverTouchesTheSpine(t *testing.T) {
	cl := fabricCluster(t, 4, Fabric{Kind: RailOptimized, NodesPerLeaf: 2})
	c := cl.Config
	in := cl.Route(3, 8+3) // node 0 to node 1, rail 3
	if len(in.Ports) != 2 || in.Ports[0] != cl.Devices[3].NICOut || in.Ports[1] != cl.Devices[11].NICIn || in.Latency != c.IBLatency {
		t.Fatalf("in-leaf route %v, latency %v; want NIC to NIC at %v", names(in.Ports), in.Latency, c.IBLatency)
	}
	// Every same-rail pair inside a leaf, 1 MB each.
	allToAll(t, cl, 1<<20, func(a, b *Device) bool { return a.Local == b.Local && a.Node/2 == b.Node/2 })
	if up, down := spineBytes(cl); up != 0 || down != 0 {
		t.Errorf("in-leaf all-to-all put %d bytes up and %d down the spine, want none", up, down)
	}
	cross := cl.Route(3, 2*8+3) // node 0 to node 2: the other leaf
	if len(cross.Ports) != 4 || !strings.Contains(cross.Ports[1].Name, "up") || !strings.Contains(cross.Ports[2].Name, "down") {
		t.Fatalf("cross-leaf route %v, want NIC, leaf uplink, downlink, NIC", names(cross.Ports))
	}
	if want := c.IBLatency + 2*SpineHopLatency; cross.Latency != want || want != 3700*sim.Nanosecond {
		t.Errorf("cross-leaf latency %v, want %v (ISCA'25 Table 5: 3.7 µs)", cross.Latency, want)
	}
}

// TestCrossRailTrafficUsesTheSpine: GPU 1 to GPU 2 of another node in the
// same leaf group. Rail-optimized: rails meet only at the spine. Fat-tree:
// one leaf holds every rail of the group, so no spine. PXN: NVLink to the
// source node's GPU 2, then rail 2 inside the leaf.
func TestCrossRailTrafficUsesTheSpine(t *testing.T) {
	ro := fabricCluster(t, 2, Fabric{Kind: RailOptimized})
	r := ro.Route(1, 8+2)
	if len(r.Ports) != 4 || r.Latency != ro.Config.IBLatency+2*SpineHopLatency {
		t.Errorf("rail-optimized cross-rail route %v (%v), want through the spine", names(r.Ports), r.Latency)
	}
	allToAll(t, ro, 1<<20, func(a, b *Device) bool { return true })
	if up, _ := spineBytes(ro); up != 2*8*7<<20 {
		t.Errorf("rail-optimized all-to-all: %d bytes up the spine, want the cross-rail ones, %d", up, 2*8*7<<20)
	}
	ft := fabricCluster(t, 2, Fabric{Kind: FatTree})
	if r := ft.Route(1, 8+2); len(r.Ports) != 2 || ft.Uplinks() != nil {
		t.Errorf("fat-tree one-leaf cross-rail route %v, want NIC to NIC and no spine", names(r.Ports))
	}
	pxn := fabricCluster(t, 2, Fabric{Kind: RailOptimized, PXN: true})
	r = pxn.Route(1, 8+2)
	d := pxn.Devices
	if len(r.Ports) != 4 || r.Ports[0] != d[1].NVLinkOut || r.Ports[1] != d[2].NVLinkIn || r.Ports[2] != d[2].NICOut || r.Ports[3] != d[10].NICIn {
		t.Errorf("PXN route %v, want NVLink to GPU 2, then rail 2", names(r.Ports))
	}
	if want := pxn.Config.NVLinkLatency + pxn.Config.IBLatency; r.Latency != want {
		t.Errorf("PXN latency %v, want NVLink + in-leaf IB = %v", r.Latency, want)
	}
	// The default rail-only fabric keeps the model before fabrics: NIC
	// to NIC whatever the rails.
	def := fabricCluster(t, 2, Fabric{})
	if r := def.Route(1, 8+2); len(r.Ports) != 2 || r.Latency != def.Config.IBLatency || def.Uplinks() != nil {
		t.Errorf("default route %v (%v), want NIC to NIC at the in-leaf latency", names(r.Ports), r.Latency)
	}
}

// TestOversubscribedSpineSlowsCrossLeafAllToAll: same-rail all-to-all
// among 4 nodes in two leaves of two, 4 MiB per pair. Each NIC sends 3
// pairs' bytes, 2 of them across the spine; a leaf's uplinks carry 2 NICs
// × 2 pairs per rail at 2 NICs' rate / ratio. So the time is
// max(3, 2 × ratio) pairs' bytes at the NIC rate: 3, 4 and 8 units at
// ratios 1, 2 and 4 (spray: the uplinks pool).
func TestOversubscribedSpineSlowsCrossLeafAllToAll(t *testing.T) {
	const bytes = 4 << 20
	for _, ratio := range []float64{1, 2, 4} {
		cl := fabricCluster(t, 4, Fabric{Kind: RailOptimized, NodesPerLeaf: 2, LeafOversubscription: ratio, ECMP: ECMPSpray})
		got := allToAll(t, cl, bytes, sameRail)
		unit := sim.TransferTime(bytes, cl.Devices[0].NICOut.BytesPerSec)
		want := sim.Time(max(3, 2*ratio)) * unit
		if d := math.Abs(float64(got-want)) / float64(want); d > 0.03 {
			t.Errorf("ratio %g: all-to-all took %v, want %v (max(3, 2 × ratio) × %v) within 3%%", ratio, got, want, unit)
		}
		checkConservation(t, cl, got)
	}
}

// TestHashedECMPShowsHotLinks: with static hashing some uplinks carry
// more flows than others, and a cross-leaf all-to-all at 1:1 is slower
// than with spraying; the busiest uplink carries over 1.2 times the mean
// (1,024 flows hashed onto 32 uplinks per leaf).
func TestHashedECMPShowsHotLinks(t *testing.T) {
	run := func(e ECMP) (sim.Time, *Cluster) {
		cl := fabricCluster(t, 8, Fabric{Kind: FatTree, NodesPerLeaf: 4, ECMP: e})
		return allToAll(t, cl, 1<<20, func(a, b *Device) bool { return a.Node/4 != b.Node/4 }), cl
	}
	spray, _ := run(ECMPSpray)
	hash, cl := run(ECMPHash)
	if hash <= spray {
		t.Errorf("hashed ECMP %v, sprayed %v: want collisions to cost time", hash, spray)
	}
	var most, sum int64
	var n int
	for _, leaf := range cl.Uplinks() {
		for _, p := range leaf {
			most, sum, n = max(most, p.Bytes()), sum+p.Bytes(), n+1
		}
	}
	if n != 2*32 || float64(most) < 1.2*float64(sum)/float64(n) {
		t.Errorf("%d uplinks, busiest %d bytes, mean %g: want 64 links and a hot one", n, most, float64(sum)/float64(n))
	}
	checkConservation(t, cl, hash)
}

// TestMessageRateBoundsSmallMessages: 64-byte messages from one GPU to
// another node go at the NIC's message rate (200 M/s on h800: 5 ns
// each), not its bandwidth (1.4 ns of bytes each).
func TestMessageRateBoundsSmallMessages(t *testing.T) {
	cl := fabricCluster(t, 2, Fabric{})
	r := cl.Route(0, 8)
	const n = 100000
	var last sim.Time
	for range n {
		last = sim.Transfer(0, 64, 0, r.Ports...)
	}
	want := sim.FromSeconds(n / cl.Config.NICMessageRate)
	if last != want {
		t.Errorf("%d messages done at %v, want messages / rate = %v", n, last, want)
	}
	if bw := sim.TransferTime(n*64, cl.Devices[0].NICOut.BytesPerSec); last < 3*bw {
		t.Errorf("message-bound time %v not well above the bandwidth time %v", last, bw)
	}
}

// TestPlanesSplitTheNIC: with two planes a NIC is two ports of half the
// rate and message rate; one flow is pinned to one plane (half the NIC),
// flows to two nodes take both.
func TestPlanesSplitTheNIC(t *testing.T) {
	cl := fabricCluster(t, 3, Fabric{Planes: 2})
	d := &cl.Devices[0]
	if len(d.NICOuts) != 2 || d.NICOuts[1].BytesPerSec != d.NICOut.BytesPerSec || 2*d.NICOut.BytesPerSec != cl.Config.GPU.NICBytesPerSec*cl.Config.NICEfficiency {
		t.Fatalf("planes: %d ports at %g B/s, want 2 at half the NIC", len(d.NICOuts), d.NICOut.BytesPerSec)
	}
	if d.NICOut.MinHold != 2*sim.FromSeconds(1/cl.Config.NICMessageRate) {
		t.Errorf("per-plane message time %v, want twice the NIC's", d.NICOut.MinHold)
	}
	a, b := cl.Route(0, 8), cl.Route(0, 16)
	if a.Ports[0] == b.Ports[0] {
		t.Fatalf("flows to nodes 1 and 2 share plane port %s, want one each", a.Ports[0].Name)
	}
	const bytes = 8 << 20
	one := sim.Transfer(0, bytes, 0, a.Ports...)
	if want := sim.TransferTime(bytes, d.NICOut.BytesPerSec); one != want {
		t.Errorf("one flow took %v, want half the NIC's rate: %v", one, want)
	}
	two := sim.Transfer(one, bytes, 0, b.Ports...)
	if two-one != one {
		t.Errorf("the second plane was not free: %v", two-one)
	}
}

func TestFabricValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		f    Fabric
		want string
	}{
		{Fabric{Kind: "torus"}, "cluster.fabric.kind = \"torus\""},
		{Fabric{LeafOversubscription: 0.5}, "cluster.fabric.leaf_oversubscription = 0.5"},
		{Fabric{Planes: 9}, "cluster.fabric.planes = 9, want 1..8"},
		{Fabric{NodesPerLeaf: -1}, "cluster.fabric.nodes_per_leaf = -1"},
		{Fabric{ECMP: "random"}, "cluster.fabric.ecmp = \"random\""},
		{Fabric{SpineLatency: -1, SpineLatencySet: true}, "cluster.fabric.spine_latency_us"},
	} {
		c, _ := Preset("h800")
		c.Fabric = tc.f
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.f, err, tc.want)
		}
	}
}

// checkConservation: no port was busy longer than the run, nor moved
// more bytes than its rate allows in it.
func checkConservation(t *testing.T, cl *Cluster, end sim.Time) {
	t.Helper()
	check := func(p *sim.Port) {
		if p.BusyTime() > end || float64(p.Bytes()) > p.BytesPerSec*end.Seconds()*(1+1e-9) {
			t.Errorf("%s: busy %v, %d bytes in a %v run", p.Name, p.BusyTime(), p.Bytes(), end)
		}
	}
	for _, d := range cl.Devices {
		for p := range d.NICOuts {
			check(d.NICOuts[p])
			check(d.NICIns[p])
		}
	}
	for i := range cl.Uplinks() {
		for u := range cl.Uplinks()[i] {
			check(cl.Uplinks()[i][u])
			check(cl.Downlinks()[i][u])
		}
	}
}

func names(ps []*sim.Port) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// TestRoutesFitMaxRoutePorts: the longest routes (PXN, a rail's
// aggregate port, leaf uplink and spine downlink) cross MaxRoutePorts
// ports, and RouteInto with a buffer of that capacity keeps it.
func TestRoutesFitMaxRoutePorts(t *testing.T) {
	c, err := Preset("h800")
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes, c.RailOversubscription = 4, 2
	c.Fabric = Fabric{Kind: RailOptimized, NodesPerLeaf: 1, PXN: true}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cl := Build(c)
	buf := make([]*sim.Port, 0, MaxRoutePorts)
	longest := 0
	for src := range c.GPUs() {
		for dst := range c.GPUs() {
			r := cl.RouteInto(buf, src, dst)
			longest = max(longest, len(r.Ports))
			if len(r.Ports) > 0 && &r.Ports[:1][0] != &buf[:1][0] {
				t.Fatalf("route %d -> %d (%d ports) left the buffer", src, dst, len(r.Ports))
			}
		}
	}
	if longest != MaxRoutePorts {
		t.Errorf("longest route %d ports, MaxRoutePorts %d", longest, MaxRoutePorts)
	}
}
