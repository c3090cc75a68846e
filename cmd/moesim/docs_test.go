package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/topology"
)

// Docs golden check: every command output quoted in README.md,
// docs/report-formats.md and docs/scenario-format.md sits between
//
//	<!-- golden: ARGS [| FILTER] -->
//	...
//	<!-- /golden -->
//
// and this test runs `moesim ARGS` in process and compares. `go test
// ./cmd/moesim -run TestDocsGolden -update` rewrites the regions after an
// intended change. FILTER is one of:
//
//	(none)           stdout in a ``` block
//	inline           stdout as is (Markdown output rendered in the page)
//	section HEADING  the Markdown section of stdout that starts at HEADING
//	stderr           stderr in a ``` block (an error message; exit 2)
//	json-sketch      the sweep/repeat JSON cut to its shape: the first
//	                 seed group with its first metric, the first point's meta

var updateDocs = flag.Bool("update", false, "rewrite the golden regions of README.md and docs/*.md")

var docFiles = []string{"../../README.md", "../../docs/report-formats.md", "../../docs/scenario-format.md"}

var goldenRegion = regexp.MustCompile(`(?s)<!-- golden: (.*?) -->\n(.*?)<!-- /golden -->`)

func TestDocsGolden(t *testing.T) {
	regions := 0
	for _, file := range docFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var failed bool
		out := goldenRegion.ReplaceAllFunc(data, func(m []byte) []byte {
			sub := goldenRegion.FindSubmatch(m)
			spec, old := string(sub[1]), string(sub[2])
			regions++
			got, err := renderGolden(spec)
			if err != nil {
				t.Errorf("%s: %s: %v", file, spec, err)
				failed = true
				return m
			}
			if got != old && !*updateDocs {
				t.Errorf("%s: the output of `moesim %s` differs from the docs (go test ./cmd/moesim -run TestDocsGolden -update rewrites them):\n got:\n%s\nwant:\n%s", file, spec, got, old)
				failed = true
			}
			return []byte("<!-- golden: " + spec + " -->\n" + got + "<!-- /golden -->")
		})
		if *updateDocs && !failed && !bytes.Equal(out, data) {
			if err := os.WriteFile(file, out, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if regions < 5 {
		t.Fatalf("found %d golden regions in the docs, want the README sample and the docs' examples", regions)
	}
}

// renderGolden runs the spec's command and applies its filter. The spec
// "scenario limits" is the table of every numeric field's range.
func renderGolden(spec string) (string, error) {
	if spec == "scenario limits" {
		return limitsTable(), nil
	}
	cmdline, filter, _ := strings.Cut(spec, " | ")
	code, stdout, stderr := cli(strings.Fields(cmdline)...)
	fence := func(s string) string { return "```\n" + s + "```\n" }
	kind, arg, _ := strings.Cut(filter, " ")
	if kind == "stderr" {
		if code != 2 {
			return "", fmt.Errorf("exit %d, want 2 (an input error)", code)
		}
		return fence(strings.TrimPrefix(stderr, "moesim run: ")), nil
	}
	if code != 0 {
		return "", fmt.Errorf("exit %d: %s", code, stderr)
	}
	switch kind {
	case "":
		return fence(stdout), nil
	case "inline":
		return stdout, nil
	case "section":
		i := strings.Index(stdout, arg)
		if i < 0 {
			return "", fmt.Errorf("no section %q in the output", arg)
		}
		rest := stdout[i:]
		if j := strings.Index(rest[len(arg):], "\n#"); j >= 0 {
			rest = rest[:len(arg)+j+1]
		}
		return rest, nil
	case "json-sketch":
		return jsonSketch(stdout)
	}
	return "", fmt.Errorf("unknown filter %q", filter)
}

// jsonSketch cuts a sweep or repeat JSON to its shape, with real numbers.
func jsonSketch(s string) (string, error) {
	var v struct {
		Sweep     json.RawMessage `json:"sweep"`
		SeedStats []struct {
			Group   json.RawMessage            `json:"group"`
			Seeds   json.RawMessage            `json:"seeds"`
			Metrics map[string]json.RawMessage `json:"metrics"`
		} `json:"seed_stats"`
		Points []struct {
			Point  json.RawMessage `json:"point"`
			Result struct {
				Meta json.RawMessage `json:"meta"`
			} `json:"result"`
		} `json:"points"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", err
	}
	if len(v.SeedStats) == 0 || len(v.Points) == 0 {
		return "", fmt.Errorf("no seed_stats or points")
	}
	g := v.SeedStats[0]
	compact := func(r json.RawMessage) string {
		var b bytes.Buffer
		_ = json.Compact(&b, r)
		return strings.NewReplacer(`":`, `": `, `,"`, `, "`).Replace(b.String())
	}
	var b strings.Builder
	b.WriteString("```json\n{\n")
	fmt.Fprintf(&b, "  \"sweep\": %s,\n  \"seed_stats\": [\n", compact(v.Sweep))
	fmt.Fprintf(&b, "    {\"group\": %s, \"seeds\": %s,\n", compact(g.Group), compact(g.Seeds))
	fmt.Fprintf(&b, "     \"metrics\": {\"dispatch.time_us\": %s, \"...\": {}}},\n    \"...\"\n  ],\n", compact(g.Metrics["dispatch.time_us"]))
	fmt.Fprintf(&b, "  \"points\": [{\"point\": %s, \"result\": {\"meta\": %s, \"...\": {}}}, \"...\"]\n}\n```\n",
		compact(v.Points[0].Point), compact(v.Points[0].Result.Meta))
	return b.String(), nil
}

// limitsTable lists every numeric scenario field with its range, as
// scenarios.FieldLimit checks it.
func limitsTable() string {
	var b strings.Builder
	b.WriteString("| path | range | unit | whole |\n|---|---|---|---|\n")
	for _, p := range scenarios.Paths() {
		spec, ok := scenarios.FieldLimit(p)
		if !ok {
			continue
		}
		whole := ""
		if spec.Integer {
			whole = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s..%s | %s | %s |\n", p, topology.FormatNumber(spec.Min), topology.FormatNumber(spec.Max), spec.Unit, whole)
	}
	return b.String()
}
