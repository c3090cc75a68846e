package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/moesim/moesim/scenarios"
)

// Reporter writes one rendering of a result.
type Reporter func(io.Writer) error

// Formats are the names For accepts.
var Formats = []string{"table", "markdown", "csv", "json"}

// For returns the reporter of one format for a run's result.
func For(format string, res *scenarios.Result) (Reporter, error) {
	switch format {
	case "table":
		return func(w io.Writer) error { return writeTables(w, res, false) }, nil
	case "markdown":
		return func(w io.Writer) error { return writeTables(w, res, true) }, nil
	case "csv":
		return func(w io.Writer) error { return writeCSV(w, []*scenarios.Result{res}) }, nil
	case "json":
		return func(w io.Writer) error { return writeJSON(w, res) }, nil
	}
	return nil, fmt.Errorf("report: --format = %q, want one of %s", format, strings.Join(Formats, ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
