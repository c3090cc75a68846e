// Package report owns rendering: it turns scenarios.Result values into
// terminal tables, Markdown, CSV and JSON. Each format is a Reporter that
// writes to an io.Writer; nothing here simulates or reads files.
//
// # Usage
//
//	rep, err := report.For("table", res)
//	if err != nil { ... }
//	err = rep(os.Stdout)
package report
