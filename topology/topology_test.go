package topology

import (
	"strings"
	"testing"

	"github.com/moesim/moesim/sim"
)

func TestEveryPresetValidates(t *testing.T) {
	for _, name := range PresetNames() {
		c, err := Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		c.Nodes = 2
		if err := c.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
		if PresetDescription(name) == "" {
			t.Errorf("preset %s has no description", name)
		}
	}
	if _, err := Preset("a100"); err == nil || !strings.Contains(err.Error(), "h800") {
		t.Errorf("unknown preset error %v should list the presets", err)
	}
}

func TestValidateNamesFieldValueAndBound(t *testing.T) {
	base, _ := Preset("h800")
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Nodes = 0 }, "cluster.nodes = 0, want 1..4096"},
		{func(c *Config) { c.GPUsPerNode = 100 }, "cluster.gpus_per_node = 100, want 1..72"},
		{func(c *Config) { c.GPU.NVLinkBytesPerSec = -1 }, "cluster.nvlink_GBps"},
		{func(c *Config) { c.GPU.NICBytesPerSec = 0 }, "cluster.nic_GBps"},
		{func(c *Config) { c.GPU.SMs = 0 }, "cluster.sms = 0"},
		{func(c *Config) { c.NICEfficiency = 1.5 }, "cluster.nic_efficiency = 1.5"},
		{func(c *Config) { c.RailOversubscription = 0.5 }, "cluster.rail_oversubscription = 0.5"},
		{func(c *Config) { c.IBLatency = -sim.Microsecond }, "cluster.ib_latency_us = -1"},
	} {
		c := base
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
}

func TestRoutes(t *testing.T) {
	c, _ := Preset("h800")
	c.Nodes = 2
	cl := Build(c)
	if len(cl.Devices) != 16 || cl.Devices[9].Node != 1 || cl.Devices[9].Local != 1 {
		t.Fatalf("devices laid out wrong: %+v", cl.Devices[9])
	}
	self := cl.Route(3, 3)
	if self.Kind != Local || len(self.Ports) != 0 || self.Latency != 0 {
		t.Errorf("self route %+v", self)
	}
	nvl := cl.Route(1, 6)
	if nvl.Kind != NVLink || nvl.Ports[0] != cl.Devices[1].NVLinkOut || nvl.Ports[1] != cl.Devices[6].NVLinkIn || nvl.Latency != c.NVLinkLatency {
		t.Errorf("NVLink route %+v", nvl)
	}
	ib := cl.Route(2, 10) // same rail
	if ib.Kind != IB || ib.Ports[0] != cl.Devices[2].NICOut || ib.Ports[1] != cl.Devices[10].NICIn || ib.Latency != c.IBLatency {
		t.Errorf("IB route %+v", ib)
	}
	// Ports run at the achievable rate times the kernel efficiency.
	if got, want := cl.Devices[0].NVLinkOut.BytesPerSec, 160e9*c.NVLinkEfficiency; got != want {
		t.Errorf("NVLink port %g B/s, want %g", got, want)
	}
}

func TestOversubscribedRailIsShared(t *testing.T) {
	c, _ := Preset("h800")
	c.Nodes, c.RailOversubscription, c.NICEfficiency = 4, 2, 1
	cl := Build(c)
	if len(cl.Rails) != 8 {
		t.Fatalf("%d rail ports, want 8", len(cl.Rails))
	}
	// Four NICs on rail 0 send at once: the rail carries half of their
	// injection, so it sets the pace.
	var last sim.Time
	for n := range 4 {
		r := cl.Route(n*8, ((n+1)%4)*8)
		if len(r.Ports) != 3 || r.Ports[1] != cl.Rails[0] {
			t.Fatalf("route %d does not cross rail 0: %+v", n, r)
		}
		last = max(last, sim.Transfer(0, 50e6, 0, r.Ports...))
	}
	if want := sim.TransferTime(4*50e6, 4*50e9/2); last < want {
		t.Fatalf("oversubscribed rail finished at %v, faster than its %v", last, want)
	}
}
