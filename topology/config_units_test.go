package topology

import (
	"strings"
	"testing"
)

// Issue 18 item 11: cluster.nic_GBps=-5 was reported as -5e+09. A rate is
// named in its field's unit.
func TestValidateNamesRatesInTheirUnit(t *testing.T) {
	c, err := Preset("h800")
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes = 1
	c.GPU.NICBytesPerSec = -5 * GBps
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.nic_GBps = -5,") {
		t.Errorf("Validate = %v, want cluster.nic_GBps = -5", err)
	}
	c.GPU.NICBytesPerSec = 50 * GBps
	c.GPU.FP8FLOPS = -2 * TFLOPS
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.fp8_TFLOPS = -2,") {
		t.Errorf("Validate = %v, want cluster.fp8_TFLOPS = -2", err)
	}
}
