package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
)

// WriteTune renders moesim tune's table: one row per SM split, the
// recommended one marked, then the recommendation, the range it moves
// over when each uncertain input moves over its range, and how flat the
// curve is around it.
func WriteTune(w io.Writer, s scenarios.Scenario, sum search.Summary, objective string) error {
	if _, err := fmt.Fprintf(w, "%s: %s schedule, %d × %d %s, SMs given to communication out of %d\n\n",
		s.Name, s.Schedule.Kind, s.Cluster.Nodes, s.Cluster.GPUsPerNode, s.Cluster.Preset, s.Cluster.SMs); err != nil {
		return err
	}
	var best search.TunePoint
	t := newTable(w, false, tw.AlignRight)
	t.Header("SMs", "layer µs", "exposed comm µs", "hidden", "dispatch µs", "combine µs", "compute µs", "compute slowdown", "dispatch bottleneck", "")
	for _, p := range sum.Curve {
		mark := ""
		switch {
		case p.NumSMs == sum.RecommendedSMs:
			mark, best = "<- recommended", p
		case p.NumSMs >= sum.RangeSMs[0] && p.NumSMs <= sum.RangeSMs[1]:
			mark = "<- in range"
		}
		if err := t.Append(strconv.Itoa(p.NumSMs), f1(p.LayerUs), f1(p.ExposedCommUs), fmt.Sprintf("%.0f%%", 100*p.HiddenFraction),
			f1(p.DispatchUs), f1(p.CombineUs), f1(p.ComputeUs), f3(p.Slowdown), p.Bottleneck, mark); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	what := "layer time"
	if objective == search.ObjectiveExposed {
		what = "exposed communication"
	}
	// V1 pairs SMs into channels; V2's channels are warps (v2 kernels).
	split := fmt.Sprintf("%d channels", best.NumSMs/2)
	if s.Kernel.Mode == dispatch.V2 {
		split = "DeepEP V2; its analytical count is " + strconv.Itoa(dispatch.V2NumSMs(s.V2Shape()))
	}
	if _, err := fmt.Fprintf(w, "\nRecommended: %d SMs for communication (%s), minimizing %s: layer %.1f µs, exposed %.1f µs, %.0f%% of communication hidden.\n",
		best.NumSMs, split, what, best.LayerUs, best.ExposedCommUs, 100*best.HiddenFraction); err != nil {
		return err
	}
	if err := writeFlatness(w, sum.Flatness); err != nil {
		return err
	}
	if len(sum.Variations) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(w, "\nRange: %d..%d SMs as each uncertain input moves over its range, one at a time:\n\n", sum.RangeSMs[0], sum.RangeSMs[1]); err != nil {
		return err
	}
	r := newTable(w, false, tw.AlignRight)
	r.Header("input", "value", "low end", "SMs", "high end", "SMs")
	for i := 0; i+1 < len(sum.Variations); i += 2 {
		lo, hi := sum.Variations[i], sum.Variations[i+1]
		base := "-"
		if lo.Factor != 0 {
			base = strconv.FormatFloat(lo.Base, 'g', 4, 64)
		}
		if err := r.Append(lo.Path, base, endText(lo), strconv.Itoa(lo.RecommendedSMs), endText(hi), strconv.Itoa(hi.RecommendedSMs)); err != nil {
			return err
		}
	}
	return r.Render()
}

// endText is a variation's input value: "×0.8 = 24" for a relative range.
func endText(v search.Variation) string {
	s := strconv.FormatFloat(v.Value, 'g', 4, 64)
	if v.Factor != 0 {
		s = fmt.Sprintf("×%g = %s", v.Factor, s)
	}
	if v.Clamped {
		s += " (clamped)"
	}
	return s
}

func writeFlatness(w io.Writer, f search.Flatness) error {
	side := func(n string, us, pct *float64) string {
		if us == nil {
			return fmt.Sprintf("%d SMs %s: off the swept range", f.SMs, n)
		}
		return fmt.Sprintf("%d SMs %s cost %+.1f µs (%+.1f%%)", f.SMs, n, *us, *pct)
	}
	_, err := fmt.Fprintf(w, "Flatness: %s; %s.\n", side("fewer", f.FewerUs, f.FewerPct), side("more", f.MoreUs, f.MorePct))
	return err
}
