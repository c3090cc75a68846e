package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/topology"
)

func cmdPresets(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("presets", "presets [show NAME] [--format table|markdown]  (NAME: a scenario preset prints its YAML; a hardware preset its constants with sources)", stderr)
	format := fs.String("format", "table", "a hardware preset's table: table or markdown")
	args, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "markdown" {
		return usagef("--format = %q, want table or markdown", *format)
	}
	switch {
	case len(args) == 0:
		// One column width for both lists: the longest name.
		width := 0
		for _, n := range append(scenarios.PresetNames(), topology.PresetNames()...) {
			width = max(width, len(n))
		}
		fmt.Fprintln(stdout, "Scenario presets (moesim run --preset NAME; moesim presets show NAME):")
		for _, n := range scenarios.PresetNames() {
			s, err := scenarios.LoadPreset(n)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "  %-*s %s\n", width, n, s.Description)
		}
		fmt.Fprintln(stdout, "\nHardware presets (cluster.preset):")
		for _, n := range topology.PresetNames() {
			fmt.Fprintf(stdout, "  %-*s %s\n", width, n, topology.PresetDescription(n))
		}
		return nil
	case len(args) == 2 && args[0] == "show":
		if h, ok := topology.PresetHardware(args[1]); ok {
			return report.Hardware(stdout, h, *format == "markdown")
		}
		data, err := scenarios.PresetYAML(args[1])
		if err != nil {
			return usageError{err}
		}
		_, err = io.Copy(stdout, bytes.NewReader(data))
		return err
	default:
		return usagef("want `presets` or `presets show NAME`, got %q", args)
	}
}
