package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
)

// WriteTune renders moesim tune's table: one row per SM split, the
// recommended one marked, then the recommendation.
func WriteTune(w io.Writer, s scenarios.Scenario, pts []search.TunePoint, best search.TunePoint, objective string) error {
	if _, err := fmt.Fprintf(w, "%s: %s schedule, %d × %d %s, SMs given to communication out of %d\n\n",
		s.Name, s.Schedule.Kind, s.Cluster.Nodes, s.Cluster.GPUsPerNode, s.Cluster.Preset, s.Cluster.SMs); err != nil {
		return err
	}
	t := newTable(w, false, tw.AlignRight)
	t.Header("SMs", "layer µs", "exposed comm µs", "hidden", "dispatch µs", "combine µs", "compute µs", "compute slowdown", "dispatch bottleneck", "")
	for _, p := range pts {
		mark := ""
		if p.NumSMs == best.NumSMs {
			mark = "<- recommended"
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
	_, err := fmt.Fprintf(w, "\nRecommended: %d SMs for communication (%d channels), minimizing %s: layer %.1f µs, exposed %.1f µs, %.0f%% of communication hidden.\n",
		best.NumSMs, best.NumSMs/2, what, best.LayerUs, best.ExposedCommUs, 100*best.HiddenFraction)
	return err
}
