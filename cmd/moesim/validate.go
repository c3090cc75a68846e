package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/scenarios"
)

func init() {
	commands["validate"] = command{"replay published DeepEP and DeepSeek figures and report the model's error", cmdValidate}
}

// errValidationFailed makes the exit status 1 once the report is written.
var errValidationFailed = errors.New("some cases are outside their tolerance")

func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "validate [--format table|json] [--out FILE]", stderr)
	format := fs.String("format", "table", "output format: table or json")
	out := fs.String("out", "", "write the report to FILE instead of stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format = %q, want table or json", *format)
	}
	results := scenarios.Validate(scenarios.ValidationCases())
	err := writeOutput(*out, stdout, func(w io.Writer) error {
		if *format == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(results)
		}
		return validationTable(w, results)
	})
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Pass != nil && !*r.Pass {
			return errValidationFailed
		}
	}
	return nil
}

func validationTable(w io.Writer, results []scenarios.CaseResult) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off))
	t.Header("case", "unit", "published", "predicted", "error", "tolerance", "bound", "result")
	var errs []float64
	worst := ""
	var worstErr float64
	pass, fail, skip := 0, 0, 0
	for _, r := range results {
		pred, e, res := "-", "-", "not modelled"
		if r.Pass != nil {
			res = "FAIL"
			if *r.Pass {
				res = "pass"
				pass++
			} else {
				fail++
			}
			if r.Calibration {
				res += " (calibration)"
			}
		} else {
			skip++
		}
		if r.Predicted != nil {
			pred = fmt.Sprintf("%.4g", *r.Predicted)
			e = fmt.Sprintf("%+.1f%%", *r.ErrorPct)
			a := math.Abs(*r.ErrorPct)
			errs = append(errs, a)
			if a > worstErr {
				worstErr, worst = a, r.ID
			}
		}
		tol := "-"
		if r.Pass != nil {
			tol = fmt.Sprintf("±%g%%", r.TolerancePct)
		}
		if err := t.Append(r.ID, r.Unit, fmt.Sprintf("%g", r.Published), pred, e, tol, r.Bound, res); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	sort.Float64s(errs)
	median := 0.0
	if n := len(errs); n > 0 {
		median = errs[n/2]
		if n%2 == 0 {
			median = (errs[n/2-1] + errs[n/2]) / 2
		}
	}
	_, err := fmt.Fprintf(w, "\n%d pass, %d fail, %d not modelled; median |error| %.1f%% (DeepEP normal-kernel rows %.1f%%), worst %.1f%% (%s)\n",
		pass, fail, skip, median, scenarios.MedianDeepEPError(results), worstErr, worst)
	return err
}
