package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/topology"
)

// The bad-input suite (issue 18): hundreds of bad inputs across flags,
// scenario fields (by --set and in a file), routing traces and sweep
// files. Each must exit 2, name what was wrong (the field or flag, and the
// value as typed) on stderr, print nothing on stdout and write nothing.

// badInput is one case: a command line ({dir} is the case's folder), files
// to create there first, and the strings stderr must hold.
type badInput struct {
	name  string
	args  []string
	files map[string]string
	want  []string
}

// numericFieldKinds maps every numeric scenario path to its Go kind.
func numericFieldKinds() map[string]reflect.Kind {
	out := map[string]reflect.Kind{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			switch f.Type.Kind() {
			case reflect.Struct:
				walk(f.Type, prefix+name+".")
			case reflect.Int, reflect.Float64, reflect.Uint64:
				out[prefix+name] = f.Type.Kind()
			}
		}
	}
	walk(reflect.TypeFor[scenarios.Scenario](), "")
	return out
}

// fieldCases are bad values of every numeric field, by --set: text, an
// empty value, a fraction in an integer, infinity and NaN, and a value
// just outside the field's range.
func fieldCases() []badInput {
	var cases []badInput
	kinds := numericFieldKinds()
	for _, path := range scenarios.Paths() {
		kind, ok := kinds[path]
		if !ok {
			continue
		}
		set := func(name, value string, want ...string) {
			cases = append(cases, badInput{name: "set " + path + " " + name,
				args: append(append([]string{"run"}, small...), "--set", path+"="+value), want: want})
		}
		set("text", "twelve", path, `"twelve"`)
		set("empty", "", path, "is empty")
		set("nan", ".nan", path, `".nan"`)
		set("hex", "0x10", path, `"0x10"`)
		if kind == reflect.Int || kind == reflect.Uint64 {
			set("fraction", "1.5", path, `"1.5"`, "an integer")
			set("exponent", "1e3", path, `"1e3"`, "an integer")
		} else {
			set("infinity", ".inf", path, `".inf"`, "finite")
			set("overflow", "1e999", path, `"1e999"`, "finite")
		}
		if spec, ok := scenarios.FieldLimit(path); ok {
			hi := topology.FormatNumber(spec.Max + 1)
			if !spec.Integer {
				hi = topology.FormatNumber(spec.Max * 2)
			}
			set("above range", hi, path+" = "+hi)
			lo := spec.Min - 1
			if !spec.Integer && spec.Min > 0 {
				lo = spec.Min / 2
			}
			if spec.Min > 0 {
				// A 0 is a value, not the default, and out of range.
				set("zero", "0", path+" = 0", "leave the field out")
			}
			if lo == 0 {
				lo = -1
			}
			if spec.Min > 0 || lo < 0 {
				v := topology.FormatNumber(lo)
				set("below range", v, path+" = "+v)
			}
		}
	}
	return cases
}

// fileCases put bad values in a scenario file: the message names the
// field and the line.
func fileCases() []badInput {
	cases := []badInput{}
	add := func(name, yaml string, want ...string) {
		cases = append(cases, badInput{name: "file " + name, args: []string{"run", "--scenario", "{dir}/s.yaml", "--out", "{dir}/out.txt"},
			files: map[string]string{"s.yaml": yaml}, want: want})
	}
	add("unknown section", "clusterz: {nodes: 2}\n", "clusterz", "no such field")
	add("unknown field", "cluster:\n  nodez: 2\n", "line 2", "cluster.nodez", "no such field")
	add("list for a number", "cluster: {nodes: [1, 2]}\n", "cluster.nodes", "a list")
	add("mapping for a number", "kernel: {num_sms: {a: 1}}\n", "kernel.num_sms", "a mapping")
	add("number for a section", "model: 7\n", "model", `"7"`)
	add("empty number", "kernel:\n  num_sms:\n", "line 2", "kernel.num_sms", "is empty")
	add("null number", "kernel: {num_sms: null}\n", "kernel.num_sms", "is empty")
	add("fraction", "workload: {tokens_per_gpu: 100.5}\n", "workload.tokens_per_gpu", `"100.5"`)
	add("negative seed", "seed: -3\n", "seed", `"-3"`)
	add("huge seed", "seed: 18446744073709551616\n", "seed", `"18446744073709551616"`)
	add("alias", "a: &x 3\nseed: *x\n", "a")
	add("list of lists", "model: {placement: [1, 2]}\n", "model.placement", `"1"`, "a list")
	add("placement text", "model: {placement: [[a]]}\n", "model.placement", `"a"`)
	add("bool word", "kernel: {extrapolate: on}\n", "kernel.extrapolate", `"on"`)
	add("not a mapping", "- 1\n- 2\n", "must be a YAML mapping")
	add("duplicate key", "seed: 1\nseed: 2\n", "seed", "already defined")
	add("bad yaml", "cluster: {nodes: 2\n", "scenario")
	add("preset", "cluster: {preset: h9000}\n", "cluster.preset", `"h9000"`)
	// V2's defaults once read the unknown preset's zero GPUs and divided
	// by them (found by FuzzDecode).
	add("preset with v2", "cluster: {preset: 0}\nkernel: {mode: v2}\n", "cluster.preset", `"0"`)
	add("mode", "kernel: {mode: fast}\n", "kernel.mode", `"fast"`)
	add("routing", "workload: {routing: zipf}\n", "workload.routing", `"zipf"`)
	add("schedule", "schedule: {kind: pipelined}\n", "schedule.kind", `"pipelined"`)
	add("dispatch dtype", "model: {dispatch_dtype: fp16}\n", "model.dispatch_dtype", `"fp16"`)
	add("combine dtype", "model: {combine_dtype: fp16}\n", "model.combine_dtype", `"fp16"`)
	add("precision", "compute: {precision: int4}\n", "compute.precision", `"int4"`)
	add("odd num_sms", "kernel: {num_sms: 7}\n", "kernel.num_sms = 7")
	add("topk above experts", "model: {experts: 4, topk: 8}\ncluster: {gpus_per_node: 4}\n", "model.topk = 8", "model.experts = 4")
	add("trace file missing", "workload: {routing: trace, trace_file: nope.csv}\n", "workload.trace_file", "nope.csv")
	add("trace without file", "workload: {routing: trace}\n", "workload.routing = trace", "trace_file")
	add("hardware file missing", "cluster: {hardware_file: hw.yaml}\n", "cluster.hardware_file", "hw.yaml")
	add("max nodes", "model: {max_nodes_per_token: 3}\n", "model.max_nodes_per_token = 3")
	return cases
}

// flagCases are bad flags and arguments of every command.
func flagCases() []badInput {
	r := func(args ...string) []string { return append(append([]string{"run"}, small...), args...) }
	sw := func(args ...string) []string {
		return append(append([]string{"sweep", "--out", "{dir}/s.jsonl"}, small...), args...)
	}
	return []badInput{
		{name: "run format", args: r("--format", "yaml"), want: []string{"--format", `"yaml"`}},
		{name: "run repeat 0", args: r("--repeat", "0"), want: []string{"--repeat = 0"}},
		{name: "run repeat huge", args: r("--repeat", "10001"), want: []string{"--repeat = 10001"}},
		{name: "run repeat text", args: r("--repeat", "x"), want: []string{"-repeat", `"x"`}},
		{name: "run jobs", args: r("--jobs", "-1"), want: []string{"--jobs = -1"}},
		{name: "run seed negative", args: r("--seed", "-1"), want: []string{"-seed", `"-1"`}},
		{name: "run seed text", args: r("--seed", "abc"), want: []string{"-seed", `"abc"`}},
		{name: "run unknown flag", args: r("--bogus"), want: []string{"bogus"}},
		{name: "run argument", args: r("extra"), want: []string{`"extra"`}},
		{name: "run preset", args: []string{"run", "--preset", "nope"}, want: []string{`"nope"`}},
		{name: "run both", args: []string{"run", "--preset", "deepep-intranode-ep8", "--scenario", "x.yaml"}, want: []string{"--preset", "--scenario"}},
		{name: "run scenario missing", args: []string{"run", "--scenario", "{dir}/none.yaml"}, want: []string{"--scenario", "none.yaml"}},
		{name: "run set syntax", args: r("--set", "kernel.num_sms"), want: []string{"--set", `"kernel.num_sms"`}},
		{name: "run set no path", args: r("--set", "=3"), want: []string{"--set", `"=3"`}},
		{name: "run set unknown", args: r("--set", "kernel.num_smz=3"), want: []string{"kernel.num_smz", "no such field"}},
		{name: "run trace max", args: r("--trace", "{dir}/t.json", "--trace-max-events", "0"), want: []string{"--trace-max-events = 0"}},
		{name: "run trace ranks", args: r("--trace", "{dir}/t.json", "--trace-ranks", "9"), want: []string{"--trace-ranks", `"9"`}},
		{name: "run trace ranks text", args: r("--trace", "{dir}/t.json", "--trace-ranks", "a-b"), want: []string{"--trace-ranks", `"a-b"`}},
		{name: "run trace stdout", args: r("--trace", "-"), want: []string{"--trace"}},
		{name: "run trace with repeat", args: r("--trace", "{dir}/t.json", "--repeat", "2"), want: []string{"--trace", "--repeat 2"}},
		{name: "run out folder missing", args: r("--out", "{dir}/no/such/out.txt"), want: []string{"--out", "does not exist"}},
		{name: "sweep no vary", args: sw(), want: []string{"--vary"}},
		{name: "sweep no out", args: []string{"sweep", "--vary", "seed=1,2"}, want: []string{"--out"}},
		{name: "sweep vary syntax", args: sw("--vary", "kernel.num_sms"), want: []string{"--vary", `"kernel.num_sms"`}},
		{name: "sweep vary unknown", args: sw("--vary", "kernel.num_smz=4,8"), want: []string{"kernel.num_smz"}},
		{name: "sweep vary empty value", args: sw("--vary", "kernel.num_sms=4,,8"), want: []string{"kernel.num_sms", "empty value"}},
		{name: "sweep vary twice", args: sw("--vary", "kernel.num_sms=4,4"), want: []string{"kernel.num_sms", `"4" given twice`}},
		{name: "sweep vary path twice", args: sw("--vary", "seed=1", "--vary", "seed=2"), want: []string{"--vary seed given twice"}},
		{name: "sweep vary bad value", args: sw("--vary", "kernel.num_sms=4,1.5"), want: []string{"kernel.num_sms", `"1.5"`}},
		{name: "sweep vary out of range", args: sw("--vary", "model.heads=8,2000"), want: []string{"model.heads = 2000"}},
		{name: "sweep jobs", args: sw("--vary", "seed=1,2", "--jobs", "-2"), want: []string{"--jobs = -2"}},
		{name: "sweep too many", args: sw("--vary", "seed="+seq(400), "--vary", "kernel.num_sms="+seq(300)), want: []string{"more than 100000 points"}},
		{name: "tune sms", args: []string{"tune", "--sms", "10..4"}, want: []string{"--sms", `"10..4"`}},
		{name: "tune sms text", args: []string{"tune", "--sms", "a..b"}, want: []string{"--sms", `"a..b"`}},
		{name: "tune objective", args: []string{"tune", "--objective", "speed"}, want: []string{"--objective", `"speed"`}},
		{name: "tune format", args: []string{"tune", "--format", "csv"}, want: []string{"--format", `"csv"`}},
		{name: "validate format", args: []string{"validate", "--format", "csv"}, want: []string{"--format", `"csv"`}},
		{name: "report no file", args: []string{"report"}, want: []string{"want one sweep file"}},
		{name: "report two files", args: []string{"report", "a", "b"}, want: []string{"got 2 arguments"}},
		{name: "report format", args: []string{"report", "{dir}/x.jsonl", "--format", "pdf"}, files: map[string]string{"x.jsonl": ""}, want: []string{"--format", `"pdf"`}},
		{name: "report missing", args: []string{"report", "{dir}/none.jsonl"}, want: []string{"none.jsonl"}},
		{name: "presets show", args: []string{"presets", "show", "nope"}, want: []string{`"nope"`}},
		{name: "presets args", args: []string{"presets", "list", "x", "y"}, want: []string{"presets show NAME"}},
		{name: "calibrate no profile", args: []string{"calibrate"}, want: []string{"PROFILE.json", "0 arguments"}},
		{name: "calibrate base", args: []string{"calibrate", "../../topology/profiles/h200.json", "--base", "h9000"}, want: []string{"--base", `"h9000"`}},
		{name: "calibrate missing", args: []string{"calibrate", "{dir}/none.json"}, want: []string{"none.json"}},
		{name: "unknown command", args: []string{"frobnicate"}, want: []string{`"frobnicate"`}},
	}
}

func seq(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, 2*i+2)
	}
	return b.String()
}

// traceCases are bad routing traces: each names the file and what is wrong.
func traceCases() []badInput {
	row := "1,2,3,4,5,6,7,8\n"
	rows := strings.Repeat(row, 64)
	var cases []badInput
	add := func(name, file, content string, want ...string) {
		cases = append(cases, badInput{name: "trace " + name,
			args:  append(append([]string{"run"}, small...), "--set", "workload.routing=trace", "--set", "workload.tokens_per_gpu=0", "--trace-routing", "{dir}/"+file, "--out", "{dir}/out.txt"),
			files: map[string]string{file: content}, want: append([]string{file}, want...)})
	}
	add("id too large", "t.csv", strings.Repeat(row, 63)+"1,2,3,4,5,6,7,300\n", "300")
	add("id below -1", "t.csv", strings.Repeat(row, 63)+"1,2,3,4,5,6,7,-2\n", "-2")
	add("repeated expert", "t.csv", strings.Repeat(row, 63)+"1,1,3,4,5,6,7,8\n", "expert 1 twice")
	add("wrong topk", "t.csv", strings.Repeat("1,2,3,4\n", 64), "4 experts per token", "model.topk = 8")
	add("ragged", "t.csv", rows+"1,2,3\n", "t.csv")
	add("text id", "t.csv", strings.Repeat(row, 63)+"1,2,3,4,5,6,7,x\n", `"x"`)
	add("fraction id", "t.csv", strings.Repeat(row, 63)+"1,2,3,4,5,6,7,8.5\n", "8.5")
	add("not divisible", "t.csv", strings.Repeat(row, 63), "63 tokens", "8 GPUs")
	add("empty", "t.csv", "", "t.csv")
	add("extension", "t.txt", rows, `"{dir}/t.txt"`, ".npy or .csv")
	add("npy magic", "t.npy", "not numpy at all", "t.npy")
	add("npy truncated", "t.npy", "\x93NUMPY\x01\x00\x76\x00{'descr': '<i4', 'fortran_order': False, 'shape': (64, 8), }", "t.npy")
	add("npy dtype", "t.npy", npyHeader("<f4", "(64, 8)"), "<f4")
	add("npy 3-d", "t.npy", npyHeader("<i4", "(4, 4, 8)"), "(4, 4, 8)")
	add("tokens_per_gpu differs", "t.csv", rows, "workload.tokens_per_gpu", "8 tokens per GPU")
	cases[len(cases)-1].args = append(cases[len(cases)-1].args, "--set", "workload.tokens_per_gpu=16")
	add("missing", "t.csv", rows, "t.csv")
	cases[len(cases)-1].files = nil
	return cases
}

// npyHeader is an .npy file header with no data.
func npyHeader(descr, shape string) string {
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	return "\x93NUMPY\x01\x00" + string([]byte{byte(len(h)), byte(len(h) >> 8)}) + h
}

// sweepFileCases are bad sweep files given to report and to sweep --resume.
func sweepFileCases() []badInput {
	good := `{"point":{"index":0,"values":{"seed":"1"}},"result":{"meta":{"run_id":"x","version":"0.1.0","scenario_name":"s","seed":1}}}`
	var cases []badInput
	add := func(name, content string, want ...string) {
		cases = append(cases,
			badInput{name: "report " + name, args: []string{"report", "{dir}/s.jsonl", "--out", "{dir}/out.html", "--format", "html"},
				files: map[string]string{"s.jsonl": content}, want: want},
			badInput{name: "resume " + name, args: append([]string{"sweep", "--resume", "--vary", "seed=1,2", "--out", "{dir}/s.jsonl"}, small...),
				files: map[string]string{"s.jsonl": content}, want: want})
	}
	add("not json", "hello\n", "s.jsonl:1", "not a sweep point")
	add("no point", `{"result":{}}`+"\n", "s.jsonl:1", `no "point"`)
	add("no result", `{"point":{"index":0,"values":{"seed":"1"}}}`+"\n", "s.jsonl:1", `no "result"`)
	add("negative index", strings.Replace(good, `"index":0`, `"index":-1`, 1)+"\n", "s.jsonl:1", `"index" = -1`)
	add("empty values", strings.Replace(good, `{"seed":"1"}`, `{}`, 1)+"\n", "s.jsonl:1", `"values" is empty`)
	add("number value", strings.Replace(good, `"1"}},"result"`, `1}},"result"`, 1)+"\n", "s.jsonl:1", `"seed" must be a string`)
	add("no run id", strings.Replace(good, `"run_id":"x"`, `"run_id":""`, 1)+"\n", "s.jsonl:1", "run_id")
	add("unknown field", strings.Replace(good, `"point":`, `"pointz":1,"point":`, 1)+"\n", "s.jsonl:1", "pointz")
	add("repeated point", good+"\n"+good+"\n", "s.jsonl:2", "repeats line 1")
	add("two sweeps", good+"\n"+strings.Replace(good, `"seed":"1"`, `"kernel.num_sms":"8"`, 1)+"\n", "s.jsonl:2", "one file holds one sweep")
	add("two values", good+" "+good+"\n", "s.jsonl:1", "more than one JSON value")
	cases = append(cases, badInput{name: "report empty", args: []string{"report", "{dir}/s.jsonl"}, files: map[string]string{"s.jsonl": "\n"}, want: []string{"s.jsonl", "no points"}})
	cases = append(cases, badInput{name: "report torn", args: []string{"report", "{dir}/s.jsonl"}, files: map[string]string{"s.jsonl": good + "\n" + good[:40]}, want: []string{"s.jsonl:2", "cut short"}})
	cases = append(cases, badInput{name: "resume other vary", args: append([]string{"sweep", "--resume", "--vary", "kernel.num_sms=4,8", "--out", "{dir}/s.jsonl"}, small...),
		files: map[string]string{"s.jsonl": good + "\n"}, want: []string{"s.jsonl varies [seed]", "[kernel.num_sms]"}})
	cases = append(cases, badInput{name: "sweep onto a started file", args: append([]string{"sweep", "--vary", "seed=1,2", "--out", "{dir}/s.jsonl"}, small...),
		files: map[string]string{"s.jsonl": good + "\n"}, want: []string{"s.jsonl already holds", "--resume"}})
	return cases
}

func TestBadInputSuite(t *testing.T) {
	var all []badInput
	for _, group := range [][]badInput{fieldCases(), fileCases(), flagCases(), traceCases(), sweepFileCases()} {
		all = append(all, group...)
	}
	if len(all) < 200 {
		t.Fatalf("the suite has %d cases, want at least 200", len(all))
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "{dir}", dir)
			}
			hasOut := false
			for _, a := range args {
				hasOut = hasOut || a == "--out"
			}
			if !hasOut && (args[0] == "run" || args[0] == "tune" || args[0] == "report") {
				args = append(args, "--out", filepath.Join(dir, "out.txt"))
			}
			before := listDir(t, dir)
			code, stdout, stderr := cli(args...)
			if code != 2 {
				t.Fatalf("%v: exit %d, want 2; stderr %q", args, code, stderr)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "{dir}", dir); !strings.Contains(stderr, w) {
					t.Errorf("%v: stderr %q lacks %q", args, stderr, w)
				}
			}
			if stdout != "" {
				t.Errorf("%v: printed %q on stdout", args, stdout)
			}
			if after := listDir(t, dir); after != before {
				t.Errorf("%v: the folder changed from [%s] to [%s]", args, before, after)
			}
		})
	}
}

// listDir is the folder's names, sizes and modes: what "nothing written"
// compares.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		info, _ := e.Info()
		fmt.Fprintf(&b, "%s %d %v; ", e.Name(), info.Size(), info.Mode())
	}
	return b.String()
}
