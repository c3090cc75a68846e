package dispatch

import (
	"fmt"

	"github.com/moesim/moesim/sim"
)

// Kernel is one kernel run set up on its engine, of any kind (normal
// dispatch and combine, the all-to-all baseline, the low-latency kernels):
// what Execute needs to run it and judge the outcome.
type Kernel interface {
	// Engine is the engine the kernel's events are scheduled on.
	Engine() *sim.Engine
	// Finished returns an error wrapping ErrStall, naming what waits,
	// when the engine ran dry with work left.
	Finished() error
	// Verified returns the end-to-end conservation check's error: nil
	// when it passed or verification is off.
	Verified() error
	// Result summarizes the finished run.
	Result() *Result
}

// Execute runs a kernel to completion and returns its result: the one
// run, check, verify sequence every kernel kind goes through. name
// ("dispatch", "combine") prefixes an engine error.
func Execute(name string, k Kernel) (*Result, error) {
	if err := k.Engine().Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := k.Finished(); err != nil {
		return nil, err
	}
	if err := k.Verified(); err != nil {
		return nil, err
	}
	return k.Result(), nil
}
