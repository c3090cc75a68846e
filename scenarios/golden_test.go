package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/moesim/moesim/dispatch"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestPresetGolden runs every embedded preset exactly as shipped, with its
// own seed, and compares the JSON Result byte for byte with testdata/golden/<preset>.json.
// Every preset runs in about 2 s or less on a two-core machine, so none is
// shrunk. It pins the simulator's output: a refactoring that moves code must leave
// every byte unchanged. Regenerate after an intended model change with
//
//	go test ./scenarios -run TestPresetGolden -update
func TestPresetGolden(t *testing.T) {
	for _, name := range PresetNames() {
		t.Run(name, func(t *testing.T) {
			s, err := LoadPreset(name)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(s, RunOptions{})
			if errors.Is(err, dispatch.ErrV2NotBuilt) {
				t.Skipf("%s: %v", name, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: JSON result differs from %s (%d bytes, want %d); run with -update only if the change is intended", name, path, len(got), len(want))
			}
		})
	}
}
