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
}

// build derives the cluster, routing, placement, layout and wire formats of
// a scenario. The layout comes from opt.Layout when set; otherwise the
// routing is drawn (or read) and laid out, and a routing that cannot be
// made from the user's input is an InputError.
func build(s Scenario, opt RunOptions) (built, error) {
	var b built
	var err error
	if b.hw, err = s.Topology(); err != nil {
		return b, err
	}
	var rt dispatch.Routing
	if b.lay = opt.Layout; b.lay == nil {
		if rt, b.lay, err = drawAndLay(s); err != nil {
			return b, err
		}
		if b.lay == nil {
			if rt, err = Routing(s, opt); err != nil {
				return b, InputError{err}
			}
		}
	}
	if b.place, err = workload.Placement(s.Model, b.hw.GPUs()); err != nil {
		return b, err
	}
	if b.lay == nil {
		if b.lay, err = dispatch.NewLayout(rt, b.place, b.hw.Nodes, b.hw.GPUsPerNode, s.Model.Experts); err != nil {
			return b, err
		}
	}
	if b.dfmt, err = dispatch.FormatNamed("model.dispatch_dtype", s.Model.DispatchType); err != nil {
		return b, err
	}
	b.cfmt, err = dispatch.FormatNamed("model.combine_dtype", s.Model.CombineType)
	return b, err
}

// Layout builds the scenario's layout (routing, as build takes it, and
// placement), for runs that differ only in kernel or compute settings to
// share through RunOptions.Layout.
func Layout(s Scenario, opt RunOptions) (*dispatch.Layout, error) {
	b, err := build(s, opt)
	return b.lay, err
}

// drawAndLay draws a generated routing and lays each rank out while the
// next ones are drawn, on another goroutine: the layout then costs a
// single run almost no time beyond the draw. It returns a nil layout (and
// no error) where it does not apply, a routing the generator does not
// hand over rank by rank or an explicit placement, or where the scenario
// has an error the usual path reports better (a bad placement, top-k or
// cluster size); build then takes that path.
func drawAndLay(s Scenario) (dispatch.Routing, *dispatch.Layout, error) {
	c, m := s.Cluster, s.Model
	if s.Workload.Routing == "trace" || len(m.Placement) > 0 || !workload.DrawsEach(s.Workload) {
		return dispatch.Routing{}, nil, nil
	}
	place, err := workload.Placement(m, c.Nodes*c.GPUsPerNode)
	if err != nil {
		return dispatch.Routing{}, nil, nil
	}
	lb, err := dispatch.NewLayoutBuilder(place, c.Nodes, c.GPUsPerNode, m.Experts, m.TopK)
	if err != nil {
		return dispatch.Routing{}, nil, nil
	}
	type rank struct {
		src int
		ids []int32
	}
	ranks := make(chan rank, c.Nodes*c.GPUsPerNode)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r := range ranks {
			lb.Add(r.src, r.ids)
		}
	}()
	rt, err := workload.GenerateRoutingEach(s.Workload, m, c.Nodes, c.GPUsPerNode, s.Seed,
		func(src int, ids []int32) { ranks <- rank{src, ids} })
	close(ranks)
	<-done
	if err != nil {
		return rt, nil, InputError{err}
	}
	lay, err := lb.Layout()
	return rt, lay, err
}
