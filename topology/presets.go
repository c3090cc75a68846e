package topology

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Units for writing constants readably.
const (
	GBps   = 1e9  // bytes per second
	TFLOPS = 1e12 // FLOP per second
)

// The presets are hardware files, so a preset and a calibrated file are
// one format and every constant carries its source. The h200 preset is
// the file `moesim calibrate` derived from the H200 profile measured with
// the kit (topology/profiles); the others cite datasheets and papers.
//
//go:embed hardware/*.yaml profiles/*.yaml
var presetFS embed.FS

var presets = loadPresets()

func loadPresets() map[string]*Hardware {
	out := map[string]*Hardware{}
	for _, dir := range []string{"hardware", "profiles"} {
		entries, err := presetFS.ReadDir(dir)
		if err != nil {
			panic(err)
		}
		for _, e := range entries {
			if path.Ext(e.Name()) != ".yaml" {
				continue
			}
			data, err := presetFS.ReadFile(dir + "/" + e.Name())
			if err != nil {
				panic(err)
			}
			h, err := ParseHardware(data)
			if err != nil {
				// The embedded files are tested; a bad one is a build defect.
				panic(fmt.Sprintf("topology: embedded preset %s/%s: %v", dir, e.Name(), err))
			}
			out[h.Name] = h
		}
	}
	return out
}

// Preset returns the named hardware preset as a one-node Config. Callers
// set Nodes.
func Preset(name string) (Config, error) {
	h, ok := presets[name]
	if !ok {
		return Config{}, fmt.Errorf("topology: cluster.preset = %q, want one of %s", name, strings.Join(PresetNames(), ", "))
	}
	return h.config(), nil
}

// PresetHardware returns the named preset's hardware file, with the source
// of each constant.
func PresetHardware(name string) (*Hardware, bool) {
	h, ok := presets[name]
	return h, ok
}

// PresetNames lists the presets in sorted order.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetDescription is the one-line description of a preset, "" if unknown.
func PresetDescription(name string) string {
	if h, ok := presets[name]; ok {
		return h.Description
	}
	return ""
}
