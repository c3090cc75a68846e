package dispatch

import (
	"errors"
	"fmt"

	"github.com/moesim/moesim/topology"
)

// v2MaxSMs is DeepEP V2's kNumMaxSMs (csrc/elastic/buffer.hpp): a
// hybrid kernel's channel arrays are sized for 160 SMs.
const v2MaxSMs = 160

func (c Config) validateV2(deviceSMs int) error {
	switch c.V2Path {
	case V2Hybrid, V2Direct:
	default:
		return fmt.Errorf("dispatch: kernel.v2.path = %q, want %s or %s", c.V2Path, V2Hybrid, V2Direct)
	}
	if hi := min(deviceSMs, v2MaxSMs); c.NumSMs < 2 || c.NumSMs > hi {
		return fmt.Errorf("dispatch: kernel.num_sms = %d, want 2..%d for the V2 kernels (the GPU has %d SMs; DeepEP V2 sizes its channels for at most %d)",
			c.NumSMs, hi, deviceSMs, v2MaxSMs)
	}
	return nil
}

// ErrV2NotBuilt is what the V2 kernels return until they are built.
var ErrV2NotBuilt = errors.New("dispatch: kernel.mode = v2 is not built yet")

func newV2(cl *topology.Cluster, lay *Layout, cfg Config, f Format, hidden int, opt Options) (Kernel, error) {
	return nil, ErrV2NotBuilt
}

// V2Combine runs DeepEP V2's combine: the reverse of the V2 dispatch whose
// handle is h.
func V2Combine(cl *topology.Cluster, h *Handle, cfg Config, f Format, hidden int, opt Options) (*Result, error) {
	return nil, ErrV2NotBuilt
}
