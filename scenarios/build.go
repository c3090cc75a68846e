package scenarios

import (
	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/workload"
	"github.com/moesim/moesim/topology"
)

// built is a validated scenario turned into what the kernels take.
type built struct {
	hw         topology.Config
	place      dispatch.Placement
	lay        *dispatch.Layout
	dfmt, cfmt dispatch.Format
	routing    dispatch.Routing
}

// build derives the cluster, routing, placement, layout and wire formats of
// a scenario. The routing comes from opt.Routing when set; a routing that
// cannot be made from the user's input is an InputError.
func build(s Scenario, opt RunOptions) (built, error) {
	var b built
	var err error
	if b.hw, err = s.Topology(); err != nil {
		return b, err
	}
	var rt dispatch.Routing
	if opt.Routing != nil {
		rt = *opt.Routing
	} else if rt, err = Routing(s, opt); err != nil {
		return b, InputError{err}
	}
	b.routing = rt
	if b.place, err = workload.Placement(s.Model, b.hw.GPUs()); err != nil {
		return b, err
	}
	if b.lay, err = dispatch.NewLayout(rt, b.place, b.hw.Nodes, b.hw.GPUsPerNode, s.Model.Experts); err != nil {
		return b, err
	}
	if b.dfmt, err = dispatch.FormatNamed("model.dispatch_dtype", s.Model.DispatchType); err != nil {
		return b, err
	}
	b.cfmt, err = dispatch.FormatNamed("model.combine_dtype", s.Model.CombineType)
	return b, err
}
