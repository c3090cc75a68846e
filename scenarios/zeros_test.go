package scenarios

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/moesim/moesim/topology"
)

// small is a quick run for the explicit-zero tests: two nodes, few tokens,
// a DualPipe pair, so the overlap constants show in the layer time.
const small = "cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 128}\nkernel: {num_sms: 24}\nschedule: {kind: dualpipe}\n"

// TestExplicitZeroIsKept: every field whose range allows 0 and whose
// default is not 0, given as 0, decodes at 0, reaches the topology (a
// hardware constant) and runs; the effective scenario's YAML and JSON
// carry the 0 (so the run id, which hashes the YAML, tells it from the
// default) and read back as 0.
func TestExplicitZeroIsKept(t *testing.T) {
	base, err := Decode(strings.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	// Every field that allows 0 and defaults to something else.
	var paths []string
	for _, l := range leaves(reflect.ValueOf(base), "", nil) {
		if spec, ok := FieldLimit(l.path); ok && spec.Min == 0 && !isZeroNumber(l.v) && !isPointer(l.path) &&
			l.path != "workload.tokens_per_gpu" { // 0 only with a trace: TestExplicitZeroOutOfRangeIsRefused
			paths = append(paths, l.path)
		}
	}
	if len(paths) < 10 {
		t.Fatalf("only %d fields allow 0 and default to something else: %v", len(paths), paths)
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			s, err := Decode(strings.NewReader(small), mustOverride(t, path+"=0"))
			if err != nil {
				t.Fatal(err)
			}
			if v := fieldAt(&s, path); !isZeroNumber(v) {
				t.Fatalf("%s = %v after defaults, want the 0 given", path, v)
			}
			res, err := Run(s, RunOptions{})
			if err != nil {
				t.Fatalf("with %s = 0: %v", path, err)
			}
			if l := res.Overlap.LayerUs; !(l > 0) || math.IsInf(l, 0) {
				t.Errorf("with %s = 0 the layer takes %g µs", path, l)
			}
			// A hardware constant reaches the topology the kernels run on.
			if spec, ok := topology.ConstantNamed(strings.TrimPrefix(path, "cluster.")); ok {
				hw, err := s.Topology()
				if err != nil {
					t.Fatal(err)
				}
				if got := spec.Get(&hw); got != 0 {
					t.Errorf("topology's %s = %g, want 0", path, got)
				}
			}
			// YAML: written out and read back, the zero stays.
			var y bytes.Buffer
			if err := Encode(&y, s); err != nil {
				t.Fatal(err)
			}
			key := path[strings.LastIndex(path, ".")+1:] + ": 0"
			if !strings.Contains(y.String(), key) {
				t.Errorf("effective YAML lacks %q:\n%s", key, y.String())
			}
			again, err := Decode(&y)
			if err != nil {
				t.Fatal(err)
			}
			if v := fieldAt(&again, path); !isZeroNumber(v) {
				t.Errorf("%s = %v read back from the effective YAML, want 0", path, v)
			}
			// JSON: the same, through UnmarshalJSON.
			js, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			var back Scenario
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if back = back.WithDefaults(); !reflect.DeepEqual(back, s) {
				t.Errorf("JSON round trip changed the scenario:\n got  %+v\n want %+v", back, s)
			}
		})
	}
}

// TestExplicitZeroSwitchesAnEffectOff: with cluster.gemm_clock_drop 0 the
// GEMM beside communication no longer slows it, so the pair's
// communication slows less and the layer is no longer than the default's.
func TestExplicitZeroSwitchesAnEffectOff(t *testing.T) {
	run := func(over ...Override) Result {
		t.Helper()
		s, err := Decode(strings.NewReader(small), over...)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(s, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *res
	}
	def, off := run(), run(mustOverride(t, "cluster.gemm_clock_drop=0"))
	if !(off.Overlap.CommSlowdown < def.Overlap.CommSlowdown) {
		t.Errorf("comm slowdown %g with no clock drop, want less than the default's %g", off.Overlap.CommSlowdown, def.Overlap.CommSlowdown)
	}
	if off.Overlap.LayerUs > def.Overlap.LayerUs {
		t.Errorf("layer %g µs with no clock drop, want at most the default's %g", off.Overlap.LayerUs, def.Overlap.LayerUs)
	}
}

// TestExplicitZeroOutOfRangeIsRefused: a 0 where the field's range has
// none is an error naming the field and the range, in every kernel mode,
// not a silent default.
func TestExplicitZeroOutOfRangeIsRefused(t *testing.T) {
	for _, c := range []struct{ yaml, set, want string }{
		{small, "cluster.nodes=0", "cluster.nodes = 0, want 1..4096"},
		{small, "model.topk=0", "model.topk = 0, want 1..64"},
		{small, "kernel.num_sms=0", "kernel.num_sms = 0, want 2..1024"},
		{small, "kernel.combine.rdma_chunk=0", "kernel.combine.rdma_chunk = 0, want 1..4096"},
		{small, "cluster.nic_GBps=0", "cluster.nic_GBps = 0, want 0.1..100000 GB/s"},
		{small, "schedule.micro_batches=0", "schedule.micro_batches = 0, want 1.."},
		{small, "compute.efficiency=0", "compute.efficiency = 0, want 0.001..1"},
		{small, "workload.tokens_per_gpu=0", "workload.tokens_per_gpu = 0 with workload.routing node-limited"},
		{"cluster: {nodes: 2, preset: h100}\nmodel: {max_nodes_per_token: 0}\nkernel: {mode: v2}\n", "kernel.num_sms=0", "kernel.num_sms = 0, want 2..1024"},
	} {
		_, err := Decode(strings.NewReader(c.yaml), mustOverride(t, c.set))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "leave the field out") {
			t.Errorf("--set %s: %v, want an error containing %q", c.set, err, c.want)
		}
	}
}

// TestKeptZerosAreOmitEmpty: every numeric field the defaults fill with
// something other than 0, and whose range allows 0, is tagged omitempty.
// UnmarshalJSON relies on it: such a field is in a result's JSON at 0 only
// when the scenario kept an explicit zero.
func TestKeptZerosAreOmitEmpty(t *testing.T) {
	for _, yaml := range []string{"", "kernel: {mode: low-latency}\n", "cluster: {preset: h100, nodes: 2}\nmodel: {max_nodes_per_token: 0}\nkernel: {mode: v2}\n"} {
		s, err := Decode(strings.NewReader(yaml))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leaves(reflect.ValueOf(s), "", nil) {
			spec, ok := FieldLimit(l.path)
			if !ok || spec.Min > 0 || isZeroNumber(l.v) || isPointer(l.path) {
				continue // a pointer carries its own zero
			}
			if l.path == "workload.tokens_per_gpu" {
				continue // 0 only with routing: trace, which the defaults do not fill
			}
			if !omitsEmpty(l.path) {
				t.Errorf("%s: filled with %v by default, 0 allowed, but not tagged omitempty", l.path, l.v)
			}
		}
	}
}

// isPointer reports whether the scenario field at path is a pointer.
func isPointer(path string) bool {
	f, ok := fieldOf(path)
	return ok && f.Type.Kind() == reflect.Pointer
}

// omitsEmpty reports whether the scenario field at path is tagged
// omitempty.
func omitsEmpty(path string) bool {
	f, ok := fieldOf(path)
	return ok && strings.Contains(f.Tag.Get("yaml"), ",omitempty")
}

func fieldOf(path string) (reflect.StructField, bool) {
	t := reflect.TypeFor[Scenario]()
	var f reflect.StructField
	for name := range strings.SplitSeq(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		var ok bool
		if f, ok = fieldByTag(t, name); !ok {
			return f, false
		}
		t = f.Type
	}
	return f, true
}
