package scenarios

import (
	"bytes"
	"math"
	"testing"
)

// fuzzRunSeeds are small scenarios covering every kernel mode (V2's two
// paths among them), constants given as 0, routing,
// schedule and wire format, so the fuzzer starts from runs, not from
// parse errors.
var fuzzRunSeeds = []string{
	"cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 32}\nkernel: {num_sms: 8}\n",
	"cluster: {nodes: 1, gpus_per_node: 4}\nmodel: {experts: 16, topk: 4}\nworkload: {tokens_per_gpu: 16}\nkernel: {num_sms: 4}\nschedule: {kind: dualpipe}\n",
	"cluster: {nodes: 2, gpus_per_node: 2}\nmodel: {experts: 8, topk: 2, hidden: 256}\nworkload: {tokens_per_gpu: 8, routing: skewed, zipf_s: 1.2, hot_rank: 1, hot_rank_factor: 3}\nkernel: {num_sms: 2, extrapolate: true}\n",
	"cluster: {nodes: 2, gpus_per_node: 4}\nmodel: {experts: 32, topk: 8, max_nodes_per_token: 2}\nworkload: {tokens_per_gpu: 16, routing: balanced, gpus_per_node_visit: 2.5}\nkernel: {extrapolate: true}\nschedule: {kind: two-microbatch}\n",
	"cluster: {nodes: 2, gpus_per_node: 2}\nmodel: {experts: 4, topk: 1}\nworkload: {tokens_per_gpu: 8, routing: even}\nkernel: {mode: alltoall, num_sms: 4}\n",
	"cluster: {nodes: 2, gpus_per_node: 2}\nmodel: {experts: 8, topk: 2}\nworkload: {tokens_per_gpu: 4}\nkernel: {mode: low-latency, num_sms: 4, ll_rdma_only: true}\n",
	"cluster: {nodes: 1, gpus_per_node: 2, preset: b200}\nmodel: {experts: 4, topk: 2, dispatch_dtype: nvfp4, combine_dtype: fp8}\nworkload: {tokens_per_gpu: 8}\nkernel: {num_sms: 2, extrapolate: true}\n",
	"cluster: {nodes: 2, gpus_per_node: 4, preset: h100}\nmodel: {experts: 16, topk: 4, max_nodes_per_token: 0}\nworkload: {tokens_per_gpu: 16}\nkernel: {mode: v2, v2: {path: hybrid}}\n",
	"cluster: {nodes: 1, gpus_per_node: 4, preset: b200}\nmodel: {experts: 8, topk: 2, max_nodes_per_token: 0}\nworkload: {tokens_per_gpu: 8}\nkernel: {mode: v2, num_sms: 6, v2: {path: direct, prefer_overlap: false}}\n",
	"cluster: {nodes: 2, gpus_per_node: 2, gemm_clock_drop: 0, ib_latency_us: 0, nvlink_latency_us: 0, chunk_handshake_ns: 0, record_overhead_ns: 0, kernel_launch_us: 0, copy_hbm_bytes_per_byte: 0}\nmodel: {experts: 8, topk: 2, q_lora_rank: 0, rope_head_dim: 0}\nworkload: {tokens_per_gpu: 16}\nkernel: {num_sms: 4, extrapolate: true}\nschedule: {kind: dualpipe}\n",
	"cluster: {nodes: 2, gpus_per_node: 2, nic_GBps: 0.1, sm_copy_GBps: 0.1, nvlink_efficiency: 0.01}\nmodel: {experts: 4, topk: 2, placement: [[0, 3], [1], [2], [3]]}\nworkload: {tokens_per_gpu: 8}\nkernel: {num_sms: 2, extrapolate: true, dispatch: {nvl_chunk: 1, nvl_buffer: 2, rdma_chunk: 1, rdma_buffer: 2}}\ncompute: {efficiency: 0.001, interference: 1, tile_m: 1, tile_n: 1024}\n",
}

// FuzzRun: scenario bytes to a result, through decoding, validation,
// routing, both kernels with their conservation checks, the compute model
// and the schedule. No input panics; a scenario that validates runs (or
// fails with an error, never a crash), and its figures are finite and not
// negative. Runs are kept small (at most 16 GPUs and 64 tokens per GPU) so
// the fuzzer explores values, not sizes.
func FuzzRun(f *testing.F) {
	for _, s := range fuzzRunSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		w := s.Workload
		if s.Cluster.Nodes*s.Cluster.GPUsPerNode > 16 || w.TokensPerGPU > 64 || w.HotRankFactor > 4 ||
			s.Model.Experts > 1024 || s.Model.Hidden > 8192 {
			return
		}
		res, err := Run(s, RunOptions{Verify: true})
		if err != nil {
			return
		}
		for name, v := range map[string]float64{
			"dispatch.time_us": res.Dispatch.TimeUs, "combine.time_us": res.Combine.TimeUs,
			"overlap.layer_us": res.Overlap.LayerUs, "overlap.exposed_comm_us": res.Overlap.ExposedCommUs,
			"overlap.hidden_fraction": res.Overlap.HiddenFraction,
		} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("%s = %g for a validated scenario:\n%s", name, v, data)
			}
		}
	})
}
