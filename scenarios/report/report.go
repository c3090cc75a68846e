package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/moesim/moesim/scenarios"
)

// Reporter writes one rendering of a result.
type Reporter func(io.Writer) error

// Formats are the names For and ForSet accept.
var Formats = []string{"table", "markdown", "csv", "json", "html"}

func formatError(format string) error {
	return fmt.Errorf("report: --format = %q, want one of %s", format, strings.Join(Formats, ", "))
}

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
		return func(w io.Writer) error { return writeResultJSON(w, res) }, nil
	case "html":
		return func(w io.Writer) error { return writeRunHTML(w, res) }, nil
	}
	return nil, formatError(format)
}

// ForSet returns the reporter of one format for a set of points: a sweep,
// or the seeds of a repeated run.
func ForSet(format string, s *Set) (Reporter, error) {
	switch format {
	case "table":
		return func(w io.Writer) error { return writeSetTables(w, s, false) }, nil
	case "markdown":
		return func(w io.Writer) error { return writeSetTables(w, s, true) }, nil
	case "csv":
		return func(w io.Writer) error { return writeSetCSV(w, s) }, nil
	case "json":
		return func(w io.Writer) error { return writeSetJSON(w, s) }, nil
	case "html":
		return func(w io.Writer) error { return writeSetHTML(w, s) }, nil
	}
	return nil, formatError(format)
}
