package main

import (
	"io"
	"slices"
	"strings"

	"github.com/moesim/moesim/scenarios/report"
)

func init() {
	commands["report"] = command{"render a saved sweep (FILE.jsonl from moesim sweep) as a table, markdown, csv, json or html", cmdReport}
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", "report FILE.jsonl [--format table|markdown|csv|json|html] [--out FILE]", stderr)
	format := fs.String("format", "table", "output format: "+strings.Join(report.Formats, ", "))
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	// Flags may come before or after the file name.
	var files []string
	for rest := args; ; {
		if err := parse(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		return usagef("want one sweep file, as in `moesim report FILE.jsonl --format html`; got %d arguments", len(files))
	}
	if !slices.Contains(report.Formats, *format) {
		return usagef("--format = %q, want one of %s", *format, strings.Join(report.Formats, ", "))
	}
	name := files[0]
	sw, err := readSweepFile(name)
	if err != nil {
		return usageError{err}
	}
	if sw.TornLine > 0 {
		return usagef("%s:%d: the line is cut short (no newline and not valid JSON), as an interrupted write leaves it; `moesim sweep --resume` with the sweep's flags repairs it", name, sw.TornLine)
	}
	if len(sw.Set.Rows) == 0 {
		return usagef("%s: no points (an empty sweep file)", name)
	}
	rep, err := report.ForSet(*format, sw.Set)
	if err != nil {
		return usageError{err}
	}
	return writeOutput(*out, stdout, rep)
}
