package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/moesim/moesim/topology"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/workload"
)

// TestEveryPresetRuns runs each preset, small, end to end with the
// conservation checks on.
func TestEveryPresetRuns(t *testing.T) {
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			s, err := LoadPreset(name, Override{"workload.tokens_per_gpu", "64"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(s, RunOptions{Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Dispatch.TimeUs <= 0 || res.Combine.TimeUs <= 0 || res.Overlap.LayerUs <= 0 {
				t.Fatalf("empty result: %+v", res.Overlap)
			}
			if s.Description == "" {
				t.Error("preset has no description")
			}
		})
	}
}

// TestSameBytesAtAnyGOMAXPROCS: a scenario and seed give byte-identical
// JSON across runs and with one or two threads.
func TestSameBytesAtAnyGOMAXPROCS(t *testing.T) {
	render := func() []byte {
		s, err := LoadPreset("deepep-internode-ep16", Override{"workload.tokens_per_gpu", "256"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(s, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	prev := runtime.GOMAXPROCS(1)
	one := render()
	runtime.GOMAXPROCS(2)
	two := render()
	again := render()
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(one, two) || !bytes.Equal(two, again) {
		t.Fatal("JSON differs between runs or GOMAXPROCS settings")
	}
}

// TestTraceReplayRuns replays numpy's .npy fixture (16 tokens × top-8, two
// empty slots; TestNumpyFixturesRoundTrip in package workload reads it)
// end to end with the conservation checks on.
func TestTraceReplayRuns(t *testing.T) {
	s, err := LoadPreset("deepep-intranode-ep8", Override{"workload.routing", "trace"}, Override{"workload.tokens_per_gpu", "0"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("workload/testdata/routing_int64.npy")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, RunOptions{Trace: data, TraceName: "routing_int64.npy", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Routing.Tokens != 16 {
		t.Fatalf("replayed %d tokens, want 16", res.Routing.Tokens)
	}
}

func TestTraceWithBadIDsIsAnInputError(t *testing.T) {
	s, err := LoadPreset("deepep-intranode-ep8", Override{"workload.routing", "trace"})
	if err != nil {
		t.Fatal(err)
	}
	trace := strings.Repeat("1,2,3,4,5,6,7,8\n", 7) + "1,2,3,4,5,6,7,300\n"
	_, err = Run(s, RunOptions{Trace: []byte(trace), TraceName: "t.csv"})
	if !errors.As(err, new(InputError)) || !strings.Contains(err.Error(), "300") {
		t.Fatalf("err = %v, want an InputError naming the id 300", err)
	}
}

func TestDecodeErrorsNameThePath(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		sets []Override
		want string
	}{
		{"cluster: {nodes: 2, bogus: 1}\n", nil, "bogus"},
		{"cluster: [1, 2\n", nil, "yaml"},
		{"kernel: {num_sms: 21}\n", nil, "kernel.num_sms = 21 is odd"},
		{"", []Override{{"kernel.num_sms", "132"}}, "kernel.num_sms = 132"},
		{"", []Override{{"model.topk", "300"}}, "model.topk"},
		{"cluster: {nodes: 2}\nmodel: {max_nodes_per_token: 3}\n", nil, "model.max_nodes_per_token = 3"},
		{"cluster: {nodes: 3}\n", nil, "multiple of the 24 GPUs"},
		// 16 experts on 16 GPUs hold at most 16 × 15 replicas.
		{"cluster: {nodes: 2}\nmodel: {experts: 16, topk: 4, max_nodes_per_token: 0, redundant_experts: 256}\n", nil,
			"model.redundant_experts = 256, want 0..240"},
		{"model: {dispatch_dtype: fp6}\n", nil, `model.dispatch_dtype = "fp6"`},
		{"workload: {routing: balanced, gpus_per_node_visit: 9}\n", nil, "workload.gpus_per_node_visit = 9"},
		{"schedule: {kind: 1f1b}\n", nil, `schedule.kind = "1f1b"`},
		{"", []Override{{"cluster.nvlink_GBps", "fast"}}, "fast"},
		{"- 1\n- 2\n", nil, "mapping"},
	} {
		_, err := Decode(strings.NewReader(tc.yaml), tc.sets...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q, %v) = %v, want an error containing %q", tc.yaml, tc.sets, err, tc.want)
		}
	}
}

// FuzzDecode: no scenario file, however malformed, panics the decoder or
// the validation behind it, and a scenario that decodes writes out an
// effective scenario that decodes to itself (explicit zeros included).
func FuzzDecode(f *testing.F) {
	for _, name := range PresetNames() {
		data, _ := PresetYAML(name)
		f.Add(data)
	}
	f.Add([]byte("cluster: {nodes: -1}\n"))
	f.Add([]byte("kernel: {num_sms: 1e99}\n"))
	f.Add([]byte("cluster: {nodes: 2, gemm_clock_drop: 0, ib_latency_us: 0}\nmodel: {q_lora_rank: 0}\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		// A scenario that validates must produce a valid routing layout.
		if _, err := s.Topology(); err != nil {
			t.Fatalf("validated scenario has a bad topology: %v", err)
		}
		var eff bytes.Buffer
		if err := Encode(&eff, s); err != nil {
			t.Fatal(err)
		}
		again, err := Decode(bytes.NewReader(eff.Bytes()))
		if err != nil {
			t.Fatalf("the effective scenario does not decode: %v\n%s", err, eff.Bytes())
		}
		var eff2 bytes.Buffer
		if err := Encode(&eff2, again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(eff.Bytes(), eff2.Bytes()) {
			t.Fatalf("the effective scenario changes when read back:\n%s\nbecomes\n%s", eff.Bytes(), eff2.Bytes())
		}
		if s.Workload.TokensPerGPU*s.Cluster.Nodes*s.Cluster.GPUsPerNode <= 1<<14 && s.Workload.Routing != workload.RoutingTrace {
			rt, err := Routing(s, RunOptions{})
			if err != nil {
				t.Fatalf("validated scenario fails to route: %v", err)
			}
			place, err := workload.Placement(s.Model, s.Cluster.Nodes*s.Cluster.GPUsPerNode)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dispatch.NewLayout(rt, place, s.Cluster.Nodes, s.Cluster.GPUsPerNode, s.Model.Experts); err != nil {
				t.Fatalf("validated scenario's routing has no layout: %v", err)
			}
		}
	})
}

// TestExplicitPlacement: model.placement puts experts where a load balancer
// would, generated routing follows it, and its mistakes are named.
func TestExplicitPlacement(t *testing.T) {
	var b strings.Builder
	b.WriteString("cluster: {nodes: 2}\nmodel:\n  max_nodes_per_token: 2\n  placement:\n")
	for e := range 256 {
		// Reverse the contiguous placement, and give expert 0 a replica.
		r := 15 - e/16
		if e == 0 {
			fmt.Fprintf(&b, "    - [%d, 3]\n", r)
			continue
		}
		fmt.Fprintf(&b, "    - [%d]\n", r)
	}
	b.WriteString("workload: {tokens_per_gpu: 128}\n")
	s, err := Decode(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Routing(s, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	place, err := workload.Placement(s.Model, 16)
	if err != nil {
		t.Fatal(err)
	}
	if place.Slots() != 257 || place.Replicas[255][0] != 0 {
		t.Fatalf("placement not taken: %d slots, expert 255 on %v", place.Slots(), place.Replicas[255])
	}
	// Every GPU homes 16 experts, so a uniform routing loads them evenly.
	lay, err := dispatch.NewLayout(rt, place, 2, 8, 256)
	if err != nil {
		t.Fatal(err)
	}
	for r, n := range lay.ExpertSlots {
		if n < 128*8*16/256/2 {
			t.Errorf("rank %d serves only %d expert slots", r, n)
		}
	}
	if _, err := Run(s, RunOptions{Verify: true, Layout: lay}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"model: {placement: [[0]]}\n", "model.placement lists 1 experts"},
		{"model: {experts: 8, topk: 2, placement: [[0],[1],[2],[3],[4],[5],[6],[99]]}\n", "model.placement[7][0] = 99"},
		{"model: {experts: 8, topk: 2, redundant_experts: 1, placement: [[0],[1],[2],[3],[4],[5],[6],[7]]}\n", "redundant_experts"},
		{"model: {experts: 8, topk: 2, placement: [[0],[0],[2],[3],[4],[5],[6],[7]]}\n", "rank 0 has 2"},
	} {
		_, err := Decode(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// Every hardware constant is a cluster.* field of an int or float kind,
// so a hardware file's every value can be overridden with --set.
func TestEveryHardwareConstantIsAClusterField(t *testing.T) {
	var c Cluster
	for _, spec := range topology.Constants {
		get, set, ok := c.constant(spec.Key)
		if !ok {
			t.Errorf("cluster.%s: no Cluster field with that yaml name", spec.Key)
			continue
		}
		set(3)
		if get() != 3 {
			t.Errorf("cluster.%s: set 3, read %g", spec.Key, get())
		}
	}
}

// TestReplicasOutnumberExperts: 16 experts copied 4 times over 32 GPUs (two
// copies a GPU) run, every token row arriving (verify), and each GPU's
// expert rows come from its two copies: no GPU serves more than twice the
// mean, as it would if the copies piled onto a few GPUs.
func TestReplicasOutnumberExperts(t *testing.T) {
	s, err := Decode(strings.NewReader("cluster: {nodes: 4}\nmodel: {experts: 16, topk: 4, max_nodes_per_token: 0, redundant_experts: 48}\nworkload: {tokens_per_gpu: 64}\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, RunOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Routing.MaxRecvRows > 2*int(res.Routing.MeanRecvRows+0.5) {
		t.Errorf("rows per GPU: max %d, mean %.1f: the copies do not share the load", res.Routing.MaxRecvRows, res.Routing.MeanRecvRows)
	}
	if res.Dispatch.TimeUs <= 0 || res.Combine.TimeUs <= 0 {
		t.Errorf("dispatch %.1f µs, combine %.1f µs", res.Dispatch.TimeUs, res.Combine.TimeUs)
	}
}
