// Package report owns rendering: it turns scenarios.Result values, one run
// or a Set of sweep points (and validation and tune results), into terminal tables, Markdown, CSV, JSON and
// one-file HTML with inline SVG plots (gonum/plot), with derived statistics
// (gonum/stat: per-rank finish and per-port utilization distributions,
// Student t intervals over seeds). It also reads and writes sweep files
// (JSON lines) and collects a kernel's event trace as a sim.Tracer for
// Chrome/Perfetto. Every Reporter writes to an io.Writer; nothing here
// simulates, opens files or reads the clock, and the same data always give
// the same bytes. docs/report-formats.md and docs/trace.md describe the
// formats.
//
// # Usage
//
//	rep, err := report.For("html", res) // one run
//	if err != nil { ... }
//	err = rep(w)
//
//	line, err := report.MarshalLine(point, res) // append to a sweep file
//	sw, err := report.ReadSweep(r, "s.jsonl")  // read it back
//	rep, err = report.ForSet("markdown", sw.Set)
//
//	tr, err := report.NewTrace(scenario, report.TraceOptions{})
//	res, err := scenarios.Run(scenario, scenarios.RunOptions{Tracer: tr})
//	err = tr.WriteJSON(w, res)
package report
