package scenarios

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestSideBySideSameResult runs each result-hash fixture, and two with
// rank skew and a straggler GPU, with the kernels one after the other and
// side by side (RunOptions.SideBySide): the JSON results must be the same
// byte for byte.
func TestSideBySideSameResult(t *testing.T) {
	fixtures := append([]struct{ name, yaml string }{}, hashFixtures...)
	fixtures = append(fixtures,
		struct{ name, yaml string }{"ep16-skew", "cluster: {nodes: 2}\nworkload: {tokens_per_gpu: 256, start_skew_us: 20}\n"},
		struct{ name, yaml string }{"ep16-straggler", "cluster: {nodes: 2, stragglers: [{gpu: 5, factor: 2}]}\nworkload: {tokens_per_gpu: 256}\n"},
	)
	for _, fx := range fixtures {
		s, err := Decode(strings.NewReader(fx.yaml))
		if err != nil {
			t.Fatalf("%s: %v", fx.name, err)
		}
		var js [2][]byte
		for i, side := range []bool{false, true} {
			res, err := Run(s, RunOptions{SideBySide: side})
			if err != nil {
				t.Fatalf("%s (side by side %v): %v", fx.name, side, err)
			}
			if js[i], err = json.Marshal(res); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(js[0], js[1]) {
			t.Errorf("%s: side by side gives another result than one kernel after the other", fx.name)
		}
	}
}
