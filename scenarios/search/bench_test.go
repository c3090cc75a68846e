package search

import (
	"testing"

	"github.com/moesim/moesim/scenarios"
)

// BenchmarkTune is `moesim tune` on the default scenario over its default
// range (4..48 SMs, 23 points): one op is the whole sweep, points run in
// parallel on GOMAXPROCS cores.
func BenchmarkTune(b *testing.B) {
	s, err := scenarios.LoadPreset("deepseek-v3-train")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Tune(s, 4, 48, scenarios.RunOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
