// Package scenarios owns what a scenario is and how it is wired into a
// run: the scenario file (YAML) and its JSON form, the embedded presets,
// --set overrides, defaults and validation, building the cluster, routing,
// placement, layout and wire formats a run needs (build), running dispatch
// and combine on the ports, the compute model and the layer schedule (Run),
// and the Result of a run. It reads from io.Reader and embed.FS, never
// from files.
//
// Each other concern is a subpackage with one job; dependencies point one
// way (docs/architecture.md draws the graph):
//
//	scenarios/model     the model's shape (DeepSeek-V3 by default)
//	scenarios/workload  routing generators, trace files, expert placement
//	scenarios/compute   GEMM and elementwise timing, FLOPs, LayerTimes
//	scenarios/schedule  serial, two-microbatch and DualPipe schedules
//	scenarios           (this package) file format, presets, wiring, Result
//	scenarios/search    sweep, tune and the knee sweep: many runs in parallel
//	scenarios/validate  published and measured cases and their runner
//	scenarios/report    tables, Markdown, CSV, JSON, HTML, traces
//
// model, workload, compute and schedule sit below this package and know
// nothing of it; search and validate sit above it; report renders them all.
//
// # Usage
//
//	s, err := scenarios.LoadPreset("deepseek-v3-train", scenarios.Override{Path: "kernel.num_sms", Value: "24"})
//	res, err := scenarios.Run(s, scenarios.RunOptions{})
package scenarios
