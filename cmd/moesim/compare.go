package main

import (
	"bytes"
	"io"
	"strings"

	"github.com/moesim/moesim/scenarios/report"
)

func init() {
	commands["compare"] = command{"put runs (moesim run --format json) side by side: every figure's difference and ratio, the scenario changes, the bottlenecks", cmdCompare}
}

func cmdCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("compare", "compare A.json B.json [C.json ...] [--format table|markdown|json|html] [--out FILE]", stderr)
	format := fs.String("format", "table", "output format: table, markdown, json, html")
	out := fs.String("out", "", "write the comparison to FILE instead of stdout")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) < 2 {
		return usagef("want two or more run files (moesim run --format json --out A.json), as in `moesim compare A.json B.json`; got %d", len(files))
	}
	var runs []*report.CompareRun
	for _, name := range files {
		data, err := readBounded(name, 64<<20)
		if err != nil {
			return usageError{err}
		}
		r, err := report.ReadRun(bytes.NewReader(data), name)
		if err != nil {
			return usageError{err}
		}
		runs = append(runs, r)
	}
	c, err := report.Compare(runs)
	if err != nil {
		return usageError{err}
	}
	rep, err := report.ForCompare(*format, c)
	if err != nil {
		return usagef("--format = %q, want one of %s", *format, strings.Join([]string{"table", "markdown", "json", "html"}, ", "))
	}
	return writeOutput(*out, stdout, rep)
}
