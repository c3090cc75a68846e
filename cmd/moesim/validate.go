package main

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/validate"
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
	results := validate.Validate(validate.ValidationCases())
	err := writeOutput(*out, stdout, func(w io.Writer) error {
		if *format == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(results)
		}
		return report.WriteValidation(w, results)
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
