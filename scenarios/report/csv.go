package report

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/moesim/moesim/scenarios"
)

// csvColumns are the headline figures, one row per run, in a fixed order.
var csvColumns = []string{
	"run_id", "scenario", "seed", "preset", "nodes", "gpus_per_node", "num_sms", "tokens_per_gpu", "routing",
	"dispatch.time_us", "dispatch.rdma_GBps", "dispatch.nvl_GBps", "dispatch.bottleneck",
	"combine.time_us", "combine.rdma_GBps", "combine.nvl_GBps", "combine.bottleneck",
	"overlap.schedule", "overlap.layer_us", "overlap.hidden_fraction", "overlap.exposed_comm_us",
	"routing.target_nodes_per_token", "routing.gpus_per_node_visit",
}

func csvRow(r *scenarios.Result) []string {
	g := func(x float64) string { return strconv.FormatFloat(x, 'g', 10, 64) }
	s := r.Scenario
	return []string{
		r.Meta.RunID, r.Meta.Name, strconv.FormatUint(r.Meta.Seed, 10), s.Cluster.Preset,
		strconv.Itoa(s.Cluster.Nodes), strconv.Itoa(s.Cluster.GPUsPerNode), strconv.Itoa(s.Kernel.NumSMs),
		strconv.Itoa(s.Workload.TokensPerGPU), s.Workload.Routing,
		g(r.Dispatch.TimeUs), g(r.Dispatch.RDMAGBps), g(r.Dispatch.NVLGBps), r.Dispatch.Bottleneck,
		g(r.Combine.TimeUs), g(r.Combine.RDMAGBps), g(r.Combine.NVLGBps), r.Combine.Bottleneck,
		r.Overlap.Schedule, g(r.Overlap.LayerUs), g(r.Overlap.HiddenFraction), g(r.Overlap.ExposedCommUs),
		g(r.Routing.TargetNodesPerToken), g(r.Routing.GPUsPerNodeVisit),
	}
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
