package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot/plotter"

	"github.com/moesim/moesim/scenarios"
)

// The HTML report's plots. Each builder returns the figure or, when the
// data cannot show it, an omitted figure whose note says why.
// docs/report-formats.md describes every axis and what to look for.

const (
	titleLayerSMs  = "Layer time against communication SMs"
	titleBandwidth = "Bandwidth against GPUs per node visit"
	titleLinks     = "Per-link utilization"
	titleFinish    = "Per-rank finish times"
	pathNumSMs     = "kernel.num_sms"
	pathVisit      = "workload.gpus_per_node_visit"
)

// runFigures are the plots of one run.
func runFigures(res *scenarios.Result) ([]figure, error) {
	figs := []figure{
		omitted(titleLayerSMs, "Omitted: one run has one kernel.num_sms; sweep it (moesim sweep --vary kernel.num_sms=8,16,24) to plot this."),
		omitted(titleBandwidth, fmt.Sprintf("Omitted: one run has one GPUs-per-node-visit value (%.3f); sweep workload.gpus_per_node_visit with workload.routing=balanced to plot this.",
			res.Routing.GPUsPerNodeVisit)),
	}
	for _, k := range kernels(res) {
		var ss []series
		for _, pc := range portClasses {
			ss = append(ss, series{Name: pc.Label, Pts: byRank(pc.Values(&k.K.PortUtil))})
		}
		ss, dropped := nonZero(ss)
		title := titleLinks + ": " + k.Name
		if len(ss) == 0 {
			figs = append(figs, omitted(title, "Omitted: no link carried traffic."))
			continue
		}
		f, err := drawFigure(title, "Busy share of each GPU's ports over the kernel span; a rank far above the others is a hot spot."+droppedNote(dropped),
			axisSpec{Label: "rank", Integer: true}, axisSpec{Label: "utilization %", Percent: true}, ss)
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	f, err := drawFigure(titleFinish, "When each rank's last row landed, from kernel start; the slowest rank sets the kernel time.",
		axisSpec{Label: "rank", Integer: true}, axisSpec{Label: "µs"},
		[]series{{"dispatch", byRank(res.Dispatch.RankFinishUs)}, {"combine", byRank(res.Combine.RankFinishUs)}})
	if err != nil {
		return nil, err
	}
	return append(figs, f), nil
}

// setFigures are the plots of a set of points.
func setFigures(s *Set) ([]figure, error) {
	var figs []figure
	add := func(f figure, err error) error {
		figs = append(figs, f)
		return err
	}
	if err := add(layerVsSMs(s)); err != nil {
		return nil, err
	}
	if err := add(bandwidthVsVisit(s)); err != nil {
		return nil, err
	}
	switch len(s.Rows) {
	case 0:
		figs = append(figs, omitted(titleLinks, "Omitted: no points."), omitted(titleFinish, "Omitted: no points."))
		return figs, nil
	case 1:
		// One point: its per-rank plots, as for a run.
		rf, err := runFigures(s.Rows[0].Result)
		if err != nil {
			return nil, err
		}
		return append(figs, rf[len(rf)-3:]...), nil
	}
	xAxis, xOf := sweepX(s)
	var links, finish []series
	for _, kn := range []string{"dispatch", "combine"} {
		var ib, nvl, p50, pmax plotter.XYs
		for _, row := range s.Rows {
			k := &row.Result.Dispatch
			if kn == "combine" {
				k = &row.Result.Combine
			}
			st := statsOf(k)
			x := xOf(row)
			ib = append(ib, plotter.XY{X: x, Y: max(st.Ports.IBOut.Max, st.Ports.IBIn.Max)})
			nvl = append(nvl, plotter.XY{X: x, Y: max(st.Ports.NVLinkOut.Max, st.Ports.NVLinkIn.Max)})
			p50 = append(p50, plotter.XY{X: x, Y: st.RankFinish.P50})
			pmax = append(pmax, plotter.XY{X: x, Y: st.RankFinish.Max})
		}
		links = append(links, series{kn + " IB", ib}, series{kn + " NVLink", nvl})
		finish = append(finish, series{kn + " p50", p50}, series{kn + " max", pmax})
	}
	links, dropped := nonZero(links)
	if len(links) == 0 {
		figs = append(figs, omitted(titleLinks, "Omitted: no link carried traffic."))
	} else if err := add(drawFigure(titleLinks, "Busiest GPU port of each class (out or in) at each point."+droppedNote(dropped),
		xAxis, axisSpec{Label: "peak utilization %", Percent: true}, links)); err != nil {
		return nil, err
	}
	if err := add(drawFigure(titleFinish, "Median and slowest rank's finish at each point; a wide gap is load imbalance.",
		xAxis, axisSpec{Label: "µs"}, finish)); err != nil {
		return nil, err
	}
	return figs, nil
}

func layerVsSMs(s *Set) (figure, error) {
	if !slices.Contains(s.Vary, pathNumSMs) {
		return omitted(titleLayerSMs, "Omitted: the data do not vary kernel.num_sms (add --vary kernel.num_sms=8,16,24)."), nil
	}
	groups := groupBy(s, pathNumSMs, func(r *scenarios.Result) (float64, float64) {
		return float64(r.Scenario.Kernel.NumSMs), r.Overlap.LayerUs
	})
	if distinctX(groups) < 2 {
		return omitted(titleLayerSMs, "Omitted: fewer than two kernel.num_sms values in the data."), nil
	}
	return drawFigure(titleLayerSMs, "MoE layer time (compute and the communication it does not hide) against the SMs given to communication; the lowest point is the best split.",
		axisSpec{Label: "communication SMs (kernel.num_sms)", AtData: true}, axisSpec{Label: "layer µs"}, named(groups, "layer"))
}

func bandwidthVsVisit(s *Set) (figure, error) {
	rdma := groupBy(s, pathVisit, func(r *scenarios.Result) (float64, float64) {
		return r.Routing.GPUsPerNodeVisit, r.Dispatch.RDMAGBps
	})
	if n := distinctX(rdma); n < 2 {
		return omitted(titleBandwidth, "Omitted: the data have fewer than two distinct GPUs-per-node-visit values (routing.gpus_per_node_visit); vary workload.gpus_per_node_visit with workload.routing=balanced."), nil
	}
	nvl := groupBy(s, pathVisit, func(r *scenarios.Result) (float64, float64) {
		return r.Routing.GPUsPerNodeVisit, r.Dispatch.NVLGBps
	})
	ss, dropped := nonZero(append(named(rdma, "dispatch RDMA"), named(nvl, "dispatch NVL")...))
	return drawFigure(titleBandwidth, "Dispatch bandwidth (DeepEP's accounting) against the mean GPUs a token reaches per target node; RDMA falls and NVL rises past the knee near the NVLink/IB bandwidth ratio (about 3.2 on H800)."+droppedNote(dropped),
		axisSpec{Label: "GPUs per node visit (routing.gpus_per_node_visit)"}, axisSpec{Label: "GB/s"}, ss)
}

// xyGroup is one series of a sweep plot: the points that share the varied
// values of every path but the plotted one and the seed.
type xyGroup struct {
	label string
	pts   plotter.XYs
}

// groupBy splits the rows by their varied values other than xPath and the
// seed, in order of first appearance, and averages the points that land
// on the same x in a group (the seeds of a repeat).
func groupBy(s *Set, xPath string, xy func(*scenarios.Result) (float64, float64)) []xyGroup {
	type acc struct {
		label string
		sum   map[float64][2]float64 // x -> (sum y, count)
		xs    []float64
	}
	var order []string
	groups := map[string]*acc{}
	for _, row := range s.Rows {
		var kv []string
		for _, o := range row.Point.Values {
			if o.Path != xPath && o.Path != "seed" {
				kv = append(kv, shortPath(o.Path)+"="+o.Value)
			}
		}
		key := strings.Join(kv, ", ")
		a, ok := groups[key]
		if !ok {
			a = &acc{label: key, sum: map[float64][2]float64{}}
			groups[key] = a
			order = append(order, key)
		}
		x, y := xy(row.Result)
		x = math.Round(x*1e9) / 1e9
		v, seen := a.sum[x]
		if !seen {
			a.xs = append(a.xs, x)
		}
		a.sum[x] = [2]float64{v[0] + y, v[1] + 1}
	}
	var out []xyGroup
	for _, key := range order {
		a := groups[key]
		slices.Sort(a.xs)
		g := xyGroup{label: a.label}
		for _, x := range a.xs {
			v := a.sum[x]
			g.pts = append(g.pts, plotter.XY{X: x, Y: v[0] / v[1]})
		}
		out = append(out, g)
	}
	return out
}

// shortPath is a path's last part, for legends: gpus_per_node_visit.
func shortPath(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func distinctX(gs []xyGroup) int {
	seen := map[float64]bool{}
	for _, g := range gs {
		for _, p := range g.pts {
			seen[p.X] = true
		}
	}
	return len(seen)
}

func named(gs []xyGroup, base string) []series {
	out := make([]series, len(gs))
	for i, g := range gs {
		name := base
		if g.label != "" {
			name += " (" + g.label + ")"
		}
		out[i] = series{Name: name, Pts: g.pts}
	}
	return out
}

func byRank(v []float64) plotter.XYs {
	pts := make(plotter.XYs, len(v))
	for i, y := range v {
		pts[i] = plotter.XY{X: float64(i), Y: y}
	}
	return pts
}

func droppedNote(dropped []string) string {
	if len(dropped) == 0 {
		return ""
	}
	return " Not drawn, all zero: " + strings.Join(dropped, ", ") + "."
}

// sweepX is the x axis of a sweep's per-point plots: the varied value when
// the sweep varies one path and every value is a number, else the point's
// number in the Points table.
func sweepX(s *Set) (axisSpec, func(Row) float64) {
	if len(s.Vary) == 1 {
		numeric := true
		for _, row := range s.Rows {
			if _, err := strconv.ParseFloat(row.Point.Values[0].Value, 64); err != nil {
				numeric = false
			}
		}
		if numeric {
			return axisSpec{Label: s.Vary[0], AtData: true}, func(r Row) float64 {
				x, _ := strconv.ParseFloat(r.Point.Values[0].Value, 64)
				return x
			}
		}
	}
	return axisSpec{Label: "point # (in the Points table)", Integer: true}, func(r Row) float64 { return float64(r.Point.Index) }
}
