// Package scenarios owns what to simulate and how it is wired: scenario
// files (YAML) and embedded presets, workload generation (node-limited
// top-k routing, skewed, balanced, even, or replayed from a routing trace),
// the compute model and the layer schedules that overlap compute with
// communication, sweeps, and the Result of a run. Rendering lives in
// scenarios/report. It reads from io.Reader and embed.FS, never from files.
package scenarios
