package report

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/scenarios"
)

func newTable(w io.Writer, markdown bool) *tablewriter.Table {
	var r tw.Renderer = renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})
	if markdown {
		r = renderer.NewMarkdown()
	}
	return tablewriter.NewTable(w, tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
}

func f1(x float64) string  { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string  { return fmt.Sprintf("%.2f", x) }
func f3(x float64) string  { return fmt.Sprintf("%.3f", x) }
func pct(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
func gb(b int64) string    { return fmt.Sprintf("%.1f", float64(b)/1e9) }

// writeTables renders a run as a heading and three tables: the kernels,
// the layer schedule, and the routing.
func writeTables(w io.Writer, res *scenarios.Result, markdown bool) error {
	s := res.Scenario
	c := s.Cluster
	head := "%s: %d × %d %s, %s routing, %d tokens/GPU, top-%d of %d experts, %d SMs for communication\n" +
		"seed %d, run %s, moesim %s\n\n"
	if markdown {
		head = "### " + head
	}
	if _, err := fmt.Fprintf(w, head, nameOf(res), c.Nodes, c.GPUsPerNode, c.Preset, s.Workload.Routing,
		s.Workload.TokensPerGPU, s.Model.TopK, s.Model.Experts, s.Kernel.NumSMs,
		res.Meta.Seed, res.Meta.RunID, res.Meta.Version); err != nil {
		return err
	}
	t := newTable(w, markdown)
	t.Header("kernel", "time µs", "notify µs", "RDMA GB/s", "NVL GB/s", "IB GB", "NVLink GB", "IB util", "NVLink util", "SM util", "bottleneck")
	for _, k := range []struct {
		name string
		k    scenarios.KernelSummary
	}{{"dispatch", res.Dispatch}, {"combine", res.Combine}} {
		if err := t.Append(k.name, f1(k.k.TimeUs), f1(k.k.NotifyUs), f1(k.k.RDMAGBps), f1(k.k.NVLGBps),
			gb(k.k.IBBytes), gb(k.k.NVLinkBytes), pct(k.k.IBUtil.Max), pct(k.k.NVLinkUtil.Max), pct(k.k.SMUtil.Max), k.k.Bottleneck); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	o := res.Overlap
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	t = newTable(w, markdown)
	t.Header("schedule", "layer µs", "compute µs", "comm µs", "hidden µs", "exposed µs", "hidden", "compute slowdown")
	if err := t.Append(o.Schedule, f1(o.LayerUs), f1(o.ComputeUs), f1(o.CommUs), f1(o.HiddenCommUs), f1(o.ExposedCommUs),
		pct(o.HiddenFraction), f3(res.Compute.Slowdown)); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	r := res.Routing
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	t = newTable(w, markdown)
	t.Header("tokens", "target nodes/token", "target GPUs/token", "GPUs per node visit", "rows/GPU mean", "rows/GPU max")
	if err := t.Append(fmt.Sprint(r.Tokens), f3(r.TargetNodesPerToken), f3(r.TargetGPUsPerToken), f3(r.GPUsPerNodeVisit),
		f1(r.MeanRecvRows), fmt.Sprint(r.MaxRecvRows)); err != nil {
		return err
	}
	return t.Render()
}

func nameOf(res *scenarios.Result) string {
	if res.Meta.Name != "" {
		return res.Meta.Name
	}
	return "scenario"
}
