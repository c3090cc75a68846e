package scenarios

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed presets/*.yaml
var presetFS embed.FS

// DefaultPreset is what `moesim run` simulates when given no scenario.
const DefaultPreset = "deepseek-v3-train"

// PresetNames lists the embedded scenario presets, sorted.
func PresetNames() []string { return embeddedNames(presetFS, "presets") }

// embeddedNames lists the .yaml files of an embedded folder by name,
// sorted. The folders are built into the binary, so a missing one is a
// build defect.
func embeddedNames(fsys embed.FS, dir string) []string {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		panic("scenarios: embedded " + dir + " missing: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// PresetYAML is the preset's file, comments included: a starting point
// for a custom scenario.
func PresetYAML(name string) ([]byte, error) {
	data, err := presetFS.ReadFile(path.Join("presets", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("scenario: preset %q does not exist; presets: %s", name, strings.Join(PresetNames(), ", "))
	}
	return data, nil
}

// LoadPreset decodes the named preset with overrides applied.
func LoadPreset(name string, overrides ...Override) (Scenario, error) {
	return LoadPresetWith(name, DecodeOptions{}, overrides...)
}

// LoadPresetWith is LoadPreset with decode options, for overrides that
// name files (--set cluster.hardware_file=HW.yaml).
func LoadPresetWith(name string, opt DecodeOptions, overrides ...Override) (Scenario, error) {
	data, err := PresetYAML(name)
	if err != nil {
		return Scenario{}, err
	}
	return DecodeWith(bytes.NewReader(data), opt, overrides...)
}
