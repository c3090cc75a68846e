package report

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/moesim/moesim/scenarios"
)

// csvColumns are the figures of one run, one row per run, in a fixed
// order. Numbers are written in the shortest form that parses back to the
// same float64. A sweep's CSV puts "point" and the varied paths first.
var csvColumns = func() []string {
	cols := []string{
		"run_id", "scenario", "seed", "preset", "nodes", "gpus_per_node", "num_sms", "tokens_per_gpu", "routing",
		"dispatch.time_us", "dispatch.rdma_GBps", "dispatch.nvl_GBps", "dispatch.bottleneck",
		"combine.time_us", "combine.rdma_GBps", "combine.nvl_GBps", "combine.bottleneck",
		"overlap.schedule", "overlap.layer_us", "overlap.hidden_fraction", "overlap.exposed_comm_us",
		"routing.target_nodes_per_token", "routing.gpus_per_node_visit",
	}
	for _, k := range []string{"dispatch", "combine"} {
		for _, s := range []string{"mean", "stddev", "p50", "p99", "max"} {
			cols = append(cols, k+".rank_finish_stats."+s)
		}
		for _, c := range []string{"ib_util", "nvlink_util", "sm_util"} {
			cols = append(cols, k+"."+c+".mean", k+"."+c+".max")
		}
	}
	return append(cols, "dispatch.notify_us", "dispatch.layout_us", "extrapolated", "extrapolation_reason",
		// Added with DeepEP V2 (at the end, so earlier columns keep their
		// places): the kernel mode, V2's path and epilogues (empty and 0
		// for the other modes).
		"mode", "dispatch.v2_path", "dispatch.epilogue_us", "combine.epilogue_us")
}()

func g(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func csvRow(r *scenarios.Result) []string {
	s := r.Scenario
	row := []string{
		r.Meta.RunID, r.Meta.Name, strconv.FormatUint(r.Meta.Seed, 10), s.Cluster.Preset,
		strconv.Itoa(s.Cluster.Nodes), strconv.Itoa(s.Cluster.GPUsPerNode), strconv.Itoa(s.Kernel.NumSMs),
		strconv.Itoa(s.Workload.TokensPerGPU), s.Workload.Routing,
		g(r.Dispatch.TimeUs), g(r.Dispatch.RDMAGBps), g(r.Dispatch.NVLGBps), r.Dispatch.Bottleneck,
		g(r.Combine.TimeUs), g(r.Combine.RDMAGBps), g(r.Combine.NVLGBps), r.Combine.Bottleneck,
		r.Overlap.Schedule, g(r.Overlap.LayerUs), g(r.Overlap.HiddenFraction), g(r.Overlap.ExposedCommUs),
		g(r.Routing.TargetNodesPerToken), g(r.Routing.GPUsPerNodeVisit),
	}
	for _, k := range kernels(r) {
		d := statsOf(k.K).RankFinish
		row = append(row, g(d.Mean), g(d.StdDev), g(d.P50), g(d.P99), g(d.Max))
		for _, u := range []scenarios.UtilSummary{k.K.IBUtil, k.K.NVLinkUtil, k.K.SMUtil} {
			row = append(row, g(u.Mean), g(u.Max))
		}
	}
	return append(row, g(r.Dispatch.NotifyUs), g(r.Dispatch.LayoutUs),
		strconv.FormatBool(r.Dispatch.Extrapolated), r.Dispatch.ExtrapolationReason,
		r.Dispatch.Mode, r.Dispatch.V2Path, g(r.Dispatch.EpilogueUs), g(r.Combine.EpilogueUs))
}

func writeCSV(w io.Writer, rs []*scenarios.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return err
	}
	for _, r := range rs {
		if err := cw.Write(csvRow(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeSetCSV(w io.Writer, s *Set) error {
	cw := csv.NewWriter(w)
	head := append([]string{"point"}, s.Vary...)
	if err := cw.Write(append(head, csvColumns...)); err != nil {
		return err
	}
	for _, row := range s.Rows {
		cells := []string{strconv.Itoa(row.Point.Index)}
		for _, o := range row.Point.Values {
			cells = append(cells, o.Value)
		}
		if err := cw.Write(append(cells, csvRow(row.Result)...)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
