package report

import "github.com/moesim/moesim/scenarios"

// metric is one headline figure of a run, named by its JSON path.
type metric struct {
	Name  string // JSON path: dispatch.time_us
	Label string // table heading
	Get   func(*scenarios.Result) float64
	Fmt   func(float64) string // for tables
}

// headline are the figures a repeat or a sweep summarizes, in report order.
var headline = []metric{
	{"dispatch.time_us", "dispatch µs", func(r *scenarios.Result) float64 { return r.Dispatch.TimeUs }, f1},
	{"dispatch.rdma_GBps", "dispatch RDMA GB/s", func(r *scenarios.Result) float64 { return r.Dispatch.RDMAGBps }, f1},
	{"dispatch.nvl_GBps", "dispatch NVL GB/s", func(r *scenarios.Result) float64 { return r.Dispatch.NVLGBps }, f1},
	{"combine.time_us", "combine µs", func(r *scenarios.Result) float64 { return r.Combine.TimeUs }, f1},
	{"combine.rdma_GBps", "combine RDMA GB/s", func(r *scenarios.Result) float64 { return r.Combine.RDMAGBps }, f1},
	{"combine.nvl_GBps", "combine NVL GB/s", func(r *scenarios.Result) float64 { return r.Combine.NVLGBps }, f1},
	{"overlap.layer_us", "layer µs", func(r *scenarios.Result) float64 { return r.Overlap.LayerUs }, f1},
	{"overlap.hidden_fraction", "hidden", func(r *scenarios.Result) float64 { return r.Overlap.HiddenFraction }, pct1},
	{"overlap.exposed_comm_us", "exposed µs", func(r *scenarios.Result) float64 { return r.Overlap.ExposedCommUs }, f1},
}

// kernelStats are the derived statistics of one kernel's summary.
type kernelStats struct {
	RankFinish Dist
	Ports      portDists
}

// portDists describe each port class's utilization over the GPUs.
type portDists struct {
	IBOut     Dist `json:"ib_out"`
	IBIn      Dist `json:"ib_in"`
	NVLinkOut Dist `json:"nvlink_out"`
	NVLinkIn  Dist `json:"nvlink_in"`
}

func statsOf(k *scenarios.KernelSummary) kernelStats {
	p := k.PortUtil
	return kernelStats{
		RankFinish: Describe(k.RankFinishUs),
		Ports: portDists{IBOut: Describe(p.IBOut), IBIn: Describe(p.IBIn),
			NVLinkOut: Describe(p.NVLinkOut), NVLinkIn: Describe(p.NVLinkIn)},
	}
}

// portClasses name the port classes in report order.
var portClasses = []struct {
	Name, Label string
	Get         func(*portDists) Dist
	Values      func(*scenarios.PortUtil) []float64
}{
	{"ib_out", "IB out", func(d *portDists) Dist { return d.IBOut }, func(u *scenarios.PortUtil) []float64 { return u.IBOut }},
	{"ib_in", "IB in", func(d *portDists) Dist { return d.IBIn }, func(u *scenarios.PortUtil) []float64 { return u.IBIn }},
	{"nvlink_out", "NVLink out", func(d *portDists) Dist { return d.NVLinkOut }, func(u *scenarios.PortUtil) []float64 { return u.NVLinkOut }},
	{"nvlink_in", "NVLink in", func(d *portDists) Dist { return d.NVLinkIn }, func(u *scenarios.PortUtil) []float64 { return u.NVLinkIn }},
}

// kernels pairs each kernel's name with its summary, in report order.
func kernels(r *scenarios.Result) []struct {
	Name string
	K    *scenarios.KernelSummary
} {
	return []struct {
		Name string
		K    *scenarios.KernelSummary
	}{{"dispatch", &r.Dispatch}, {"combine", &r.Combine}}
}
