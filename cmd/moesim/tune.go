package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/scenarios"
)

func init() {
	commands["tune"] = command{"sweep the SMs given to communication and recommend the split", cmdTune}
}

func cmdTune(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tune", "tune [--preset NAME | --scenario FILE] [--set path=value ...] [--sms FROM..TO] [--objective layer|exposed] [--format table|json]", stderr)
	var sf scenarioFlags
	sf.register(fs)
	smsRange := fs.String("sms", "4..48", "even SM counts to try for communication, FROM..TO")
	objective := fs.String("objective", scenarios.ObjectiveLayer, "what to minimize: layer (layer time) or exposed (exposed communication)")
	format := fs.String("format", "table", "output format: table or json")
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format = %q, want table or json", *format)
	}
	if *objective != scenarios.ObjectiveLayer && *objective != scenarios.ObjectiveExposed {
		return usagef("--objective = %q, want layer or exposed", *objective)
	}
	lo, hi, ok := strings.Cut(*smsRange, "..")
	from, err1 := strconv.Atoi(lo)
	to, err2 := strconv.Atoi(hi)
	s, opt, err := sf.load()
	if err != nil {
		return err
	}
	if !ok || err1 != nil || err2 != nil || from < 2 || to < from || to > s.Cluster.SMs-2 {
		return usagef("--sms = %q, want FROM..TO with 2 <= FROM <= TO <= %d", *smsRange, s.Cluster.SMs-2)
	}
	pts, err := scenarios.Tune(s, from, to, opt)
	if err != nil {
		return usageError{err}
	}
	best, err := scenarios.Recommend(pts, *objective)
	if err != nil {
		return usageError{err}
	}
	return writeOutput(*out, stdout, func(w io.Writer) error {
		if *format == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Scenario    string                `json:"scenario"`
				Objective   string                `json:"objective"`
				Recommended int                   `json:"recommended_num_sms"`
				Points      []scenarios.TunePoint `json:"points"`
			}{s.Name, *objective, best.NumSMs, pts})
		}
		return tuneTable(w, s, pts, best, *objective)
	})
}

func tuneTable(w io.Writer, s scenarios.Scenario, pts []scenarios.TunePoint, best scenarios.TunePoint, objective string) error {
	fmt.Fprintf(w, "%s: %s schedule, %d × %d %s, SMs given to communication out of %d\n\n",
		s.Name, s.Schedule.Kind, s.Cluster.Nodes, s.Cluster.GPUsPerNode, s.Cluster.Preset, s.Cluster.SMs)
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header("SMs", "layer µs", "exposed comm µs", "hidden", "dispatch µs", "combine µs", "compute µs", "compute slowdown", "dispatch bottleneck", "")
	for _, p := range pts {
		mark := ""
		if p.NumSMs == best.NumSMs {
			mark = "<- recommended"
		}
		if err := t.Append(strconv.Itoa(p.NumSMs), fmt.Sprintf("%.1f", p.LayerUs), fmt.Sprintf("%.1f", p.ExposedCommUs),
			fmt.Sprintf("%.0f%%", 100*p.HiddenFraction), fmt.Sprintf("%.1f", p.DispatchUs), fmt.Sprintf("%.1f", p.CombineUs),
			fmt.Sprintf("%.1f", p.ComputeUs), fmt.Sprintf("%.3f", p.Slowdown), p.Bottleneck, mark); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	what := "layer time"
	if objective == scenarios.ObjectiveExposed {
		what = "exposed communication"
	}
	_, err := fmt.Fprintf(w, "\nRecommended: %d SMs for communication (%d channels), minimizing %s: layer %.1f µs, exposed %.1f µs, %.0f%% of communication hidden.\n",
		best.NumSMs, best.NumSMs/2, what, best.LayerUs, best.ExposedCommUs, 100*best.HiddenFraction)
	return err
}
