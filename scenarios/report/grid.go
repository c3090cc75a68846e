package report

import (
	"fmt"
	"strings"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/workload"
)

// A grid is one table's content, already formatted: the terminal table,
// Markdown and HTML renderers draw the same grids, so the three show the
// same numbers.
type grid struct {
	Title  string
	Header []string
	Rows   [][]string
	// Left aligns the rows left: a grid of labels and sentences rather
	// than of numbers, which align right.
	Left bool
}

func f1(x float64) string   { return fmt.Sprintf("%.1f", x) }
func f3(x float64) string   { return fmt.Sprintf("%.3f", x) }
func pct(x float64) string  { return fmt.Sprintf("%.0f%%", 100*x) }
func pct1(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
func gb(b int64) string     { return fmt.Sprintf("%.1f", float64(b)/1e9) }

// runHeading is a run's one-line description and its identity line. A run
// beyond DeepEP V1's limits says so in the description, with the reason.
func runHeading(res *scenarios.Result) (string, string) {
	s := res.Scenario
	c := s.Cluster
	routing := s.Workload.Routing + " routing"
	if s.Workload.Routing == workload.RoutingNodeLimited && s.Model.MaxNodesPerToken == 0 {
		// DeepEP's tests' uniform top-k: no node limit to name.
		routing = "uniform routing (no node limit)"
	}
	head := fmt.Sprintf("%s: %d × %d %s, %s, %d tokens/GPU, top-%d of %d experts, %d SMs for communication",
		nameOf(res), c.Nodes, c.GPUsPerNode, c.Preset, routing,
		s.Workload.TokensPerGPU, s.Model.TopK, s.Model.Experts, s.Kernel.NumSMs)
	beyond := "DeepEP V1"
	if s.Kernel.Mode == dispatch.V2 {
		beyond = "DeepEP V2"
		d := res.Dispatch
		head += fmt.Sprintf(" (DeepEP V2, path %s, num_sms %s, %d QPs)", orDash(d.V2Path), orDash(d.NumSMsSource), d.QPs)
	}
	if res.Dispatch.Extrapolated {
		head += " [EXTRAPOLATED beyond " + beyond + ": " + res.Dispatch.ExtrapolationReason + "]"
	}
	return head, fmt.Sprintf("seed %d, run %s, moesim %s", res.Meta.Seed, res.Meta.RunID, res.Meta.Version)
}

func nameOf(res *scenarios.Result) string {
	if res.Meta.Name != "" {
		return res.Meta.Name
	}
	return "scenario"
}

// runGrids are a run's tables: the kernels, the layer schedule, the
// routing, the per-rank finish times and the per-port utilization.
func runGrids(res *scenarios.Result) []grid {
	kg := grid{Title: "Kernels", Header: []string{"kernel", "time µs", "notify µs", "layout µs", "RDMA GB/s", "NVL GB/s", "IB GB",
		"NVLink GB", "IB util", "NVLink util", "SM util", "bottleneck"}}
	fg := grid{Title: "Per-rank finish times (µs from kernel start, over all ranks)",
		Header: []string{"kernel", "ranks", "mean", "stddev", "p50", "p99", "max"}}
	ug := grid{Title: "Link utilization (busy share of the kernel span, over all GPUs)",
		Header: []string{"kernel", "port", "mean", "stddev", "p50", "p99", "max"}}
	for _, k := range kernels(res) {
		ks := k.K
		kg.Rows = append(kg.Rows, []string{k.Name, f1(ks.TimeUs), f1(ks.NotifyUs), f1(ks.LayoutUs), f1(ks.RDMAGBps), f1(ks.NVLGBps),
			gb(ks.IBBytes), gb(ks.NVLinkBytes), pct(ks.IBUtil.Max), pct(ks.NVLinkUtil.Max), pct(ks.SMUtil.Max), ks.Bottleneck})
		st := statsOf(ks)
		d := st.RankFinish
		fg.Rows = append(fg.Rows, []string{k.Name, fmt.Sprint(d.N), f1(d.Mean), f1(d.StdDev), f1(d.P50), f1(d.P99), f1(d.Max)})
		for _, pc := range portClasses {
			d := pc.Get(&st.Ports)
			ug.Rows = append(ug.Rows, []string{k.Name, pc.Label, pct(d.Mean), pct1(d.StdDev), pct(d.P50), pct(d.P99), pct(d.Max)})
		}
	}
	o := res.Overlap
	sg := grid{Title: "Layer schedule", Header: []string{"schedule", "layer µs", "compute µs", "comm µs", "hidden µs",
		"exposed µs", "hidden", "compute slowdown", "comm slowdown", "SM carve-out", "SM wait µs"}}
	sg.Rows = [][]string{{o.Schedule, f1(o.LayerUs), f1(o.ComputeUs), f1(o.CommUs), f1(o.HiddenCommUs), f1(o.ExposedCommUs),
		pct(o.HiddenFraction), f3(o.ComputeSlowdown), f3(o.CommSlowdown), fmt.Sprint(o.SMCarveout), f1(o.CommSMWaitUs)}}
	sp := res.Step
	stg := grid{Title: "Step (per device)", Header: []string{"layers/stage", "stages", "micro-batches", "step µs", "steady µs",
		"bubble µs", "exposed comm µs", "in bubble µs"}}
	stg.Rows = [][]string{{fmt.Sprint(sp.Layers), fmt.Sprint(sp.PipelineStages), fmt.Sprint(sp.MicroBatches), f1(sp.StepUs),
		f1(sp.SteadyUs), f1(sp.BubbleUs), f1(sp.ExposedCommUs), f1(sp.BubbleExposedCommUs)}}
	r := res.Routing
	rg := grid{Title: "Routing", Header: []string{"tokens", "target nodes/token", "target GPUs/token", "GPUs per node visit",
		"rows/GPU mean", "rows/GPU max"}}
	rg.Rows = [][]string{{fmt.Sprint(r.Tokens), f3(r.TargetNodesPerToken), f3(r.TargetGPUsPerToken), f3(r.GPUsPerNodeVisit),
		f1(r.MeanRecvRows), fmt.Sprint(r.MaxRecvRows)}}
	if res.Scenario.Kernel.Mode == dispatch.V2 {
		vg := grid{Title: "DeepEP V2 kernels (time µs above is the main kernel, as test_ep.py times it)",
			Header: []string{"kernel", "path", "SMs", "SMs from", "QPs", "epilogue µs"}}
		for _, k := range kernels(res) {
			ks := k.K
			vg.Rows = append(vg.Rows, []string{k.Name, orDash(ks.V2Path), fmt.Sprint(ks.NumSMs), orDash(ks.NumSMsSource),
				fmt.Sprint(ks.QPs), f1(ks.EpilogueUs)})
		}
		return []grid{kg, vg, sg, stg, rg, fg, ug}
	}
	return []grid{kg, sg, stg, rg, fg, ug}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// setHeading describes a set of points.
func setHeading(s *Set) (string, string) {
	name := "sweep"
	if len(s.Rows) > 0 {
		name = nameOf(s.Rows[0].Result)
	}
	vary := strings.Join(s.Vary, ", ")
	if vary == "" {
		vary = "nothing"
	}
	version := scenarios.Version
	if len(s.Rows) > 0 {
		version = s.Rows[0].Result.Meta.Version
	}
	head := fmt.Sprintf("%s: %d points varying %s", name, len(s.Rows), vary)
	if n := extrapolated(s); n > 0 {
		head += fmt.Sprintf(" [EXTRAPOLATED beyond DeepEP V1: %d of %d points exceed its limits; the extrapolated column of the CSV and dispatch.extrapolation_reason in the JSON say which and why]", n, len(s.Rows))
	}
	return head,
		fmt.Sprintf("moesim %s; each point's run id and seed are in the JSON and CSV forms", version)
}

// setGrids are a set's tables: one row per point, then the seed
// statistics when the set varies the seed.
func setGrids(s *Set) []grid {
	pg := grid{Title: "Points", Header: []string{"#"}}
	pg.Header = append(pg.Header, s.Vary...)
	pg.Header = append(pg.Header, "dispatch µs", "RDMA GB/s", "NVL GB/s", "bottleneck",
		"combine µs", "RDMA GB/s", "NVL GB/s", "bottleneck", "layer µs", "hidden", "exposed µs")
	for _, row := range s.Rows {
		r := row.Result
		cells := []string{fmt.Sprint(row.Point.Index)}
		for _, o := range row.Point.Values {
			cells = append(cells, o.Value)
		}
		cells = append(cells, f1(r.Dispatch.TimeUs), f1(r.Dispatch.RDMAGBps), f1(r.Dispatch.NVLGBps), r.Dispatch.Bottleneck,
			f1(r.Combine.TimeUs), f1(r.Combine.RDMAGBps), f1(r.Combine.NVLGBps), r.Combine.Bottleneck,
			f1(r.Overlap.LayerUs), pct(r.Overlap.HiddenFraction), f1(r.Overlap.ExposedCommUs))
		pg.Rows = append(pg.Rows, cells)
	}
	out := []grid{pg}
	groups := seedGroups(s)
	if len(groups) == 0 {
		return out
	}
	cg := grid{Title: "Over seeds: mean and 95% confidence interval (Student t)"}
	for _, p := range s.Vary {
		if p != "seed" {
			cg.Header = append(cg.Header, p)
		}
	}
	cg.Header = append(cg.Header, "metric", "seeds", "mean", "± 95%", "95% interval", "stddev")
	for _, g := range groups {
		for i, m := range headline {
			var cells []string
			for _, o := range g.Group {
				cells = append(cells, o.Value)
			}
			iv := g.Metrics[i]
			hw, span, sd := "—", "—", "—"
			if iv.OK {
				hw, span, sd = m.Fmt(iv.HalfWidth), m.Fmt(iv.Low())+" .. "+m.Fmt(iv.High()), m.Fmt(iv.StdDev)
			}
			cells = append(cells, m.Name, fmt.Sprint(iv.N), m.Fmt(iv.Mean), hw, span, sd)
			cg.Rows = append(cg.Rows, cells)
		}
	}
	return append(out, cg)
}

// extrapolated counts the points of a set beyond DeepEP V1's limits.
func extrapolated(s *Set) int {
	n := 0
	for _, r := range s.Rows {
		if r.Result.Dispatch.Extrapolated {
			n++
		}
	}
	return n
}
