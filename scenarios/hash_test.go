package scenarios

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hashFixtures are small runs at the rank counts the presets do not cover
// (EP256, every mode) and at the ones they do with other routings, so that
// a change made for speed (layout, queues, routing generation, the
// kernels' data structures) provably changes no result. Each runs in well
// under a second.
var hashFixtures = []struct {
	name string
	yaml string
}{
	{"ep8-normal", "cluster: {nodes: 1}\nworkload: {tokens_per_gpu: 512}\nkernel: {num_sms: 24}\n"},
	{"ep16-normal", "cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 1024}\nkernel: {num_sms: 24}\n"},
	{"ep64-normal", "cluster: {nodes: 8}\nworkload: {tokens_per_gpu: 256}\nkernel: {num_sms: 24}\n"},
	{"ep64-skewed", "cluster: {nodes: 8}\nworkload: {tokens_per_gpu: 256, routing: skewed, zipf_s: 1.1, hot_expert: 3, hot_expert_share: 0.5, hot_rank: 5, hot_rank_factor: 2}\n"},
	{"ep64-balanced", "cluster: {nodes: 8}\nworkload: {tokens_per_gpu: 256, routing: balanced, gpus_per_node_visit: 2.5}\n"},
	{"ep64-redundant", "cluster: {nodes: 8}\nmodel: {redundant_experts: 64}\nworkload: {tokens_per_gpu: 256}\n"},
	{"ep64-alltoall", "cluster: {nodes: 8}\nworkload: {tokens_per_gpu: 256}\nkernel: {mode: alltoall}\n"},
	{"ep256-normal", "cluster: {nodes: 32}\nworkload: {tokens_per_gpu: 64}\nkernel: {num_sms: 24, extrapolate: true}\n"},
	{"ep256-alltoall", "cluster: {nodes: 32}\nworkload: {tokens_per_gpu: 64}\nkernel: {mode: alltoall}\n"},
	{"ep256-low-latency", "cluster: {nodes: 32}\nworkload: {tokens_per_gpu: 64}\nkernel: {mode: low-latency}\n"},
}

// TestResultHash runs each fixture and compares the SHA-256 of its full
// JSON result (and both kernels' event counts, to say where a difference
// starts) with testdata/result-hashes.txt. An optimization must leave the
// file unchanged; a deliberate model change rewrites it, in its own commit
// that says why, with
//
//	go test ./scenarios -run TestResultHash -update
func TestResultHash(t *testing.T) {
	path := filepath.Join("testdata", "result-hashes.txt")
	want := map[string]string{}
	if !*update {
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, rest, _ := strings.Cut(sc.Text(), " ")
			want[name] = rest
		}
		f.Close()
	}
	var out bytes.Buffer
	for _, fx := range hashFixtures {
		s, err := Decode(strings.NewReader(fx.yaml))
		if err != nil {
			t.Fatalf("%s: %v", fx.name, err)
		}
		res, err := Run(s, RunOptions{})
		if err != nil {
			t.Fatalf("%s: %v", fx.name, err)
		}
		js, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(js)
		got := fmt.Sprintf("dispatch_events=%d combine_events=%d sha256=%s",
			res.Dispatch.Events, res.Combine.Events, hex.EncodeToString(sum[:]))
		fmt.Fprintf(&out, "%s %s\n", fx.name, got)
		if !*update && got != want[fx.name] {
			t.Errorf("%s: result changed:\n got  %s\n want %s", fx.name, got, want[fx.name])
		}
	}
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
