package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/topology"
)

// MaxScenarioBytes bounds a scenario file (1 MiB); real ones are a few
// hundred bytes, and one with an explicit model.placement of every expert
// a few tens of kilobytes.
const MaxScenarioBytes = 1 << 20

// Override is one --set path=value.
type Override struct {
	Path, Value string
}

// ParseOverride splits "path=value".
func ParseOverride(s string) (Override, error) {
	path, value, ok := strings.Cut(s, "=")
	path = strings.TrimSpace(path)
	if !ok || path == "" {
		return Override{}, fmt.Errorf("scenario: --set %q, want path=value (for example kernel.num_sms=24)", s)
	}
	return Override{Path: path, Value: strings.TrimSpace(value)}, nil
}

// Decode reads a scenario from YAML, applies overrides, then defaults, and
// validates it. Unknown fields are errors, as are overrides of paths that do
// not exist. A scenario that names a cluster.hardware_file needs
// DecodeWith, which is given a way to read it.
func Decode(r io.Reader, overrides ...Override) (Scenario, error) {
	return DecodeWith(r, DecodeOptions{}, overrides...)
}

// DecodeOptions give Decode what it cannot do itself: this package reads
// no files.
type DecodeOptions struct {
	// ReadFile returns the bytes of a file the scenario names
	// (cluster.hardware_file), resolving a relative name from the
	// scenario file's folder. Nil refuses such scenarios.
	ReadFile func(name string) ([]byte, error)
}

// DecodeWith is Decode with options.
func DecodeWith(r io.Reader, opt DecodeOptions, overrides ...Override) (Scenario, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxScenarioBytes+1))
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	if len(data) > MaxScenarioBytes {
		return Scenario{}, fmt.Errorf("scenario: file is larger than %d bytes", MaxScenarioBytes)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	if root.Kind == 0 { // empty document
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return Scenario{}, errors.New("scenario: the file must be a YAML mapping (cluster:, model:, workload:, ...)")
	}
	for _, o := range overrides {
		if err := CheckPath("--set", o.Path); err != nil {
			return Scenario{}, err
		}
		setNode(root.Content[0], strings.Split(o.Path, "."), o.Value)
	}
	if err := checkTree(root.Content[0]); err != nil {
		return Scenario{}, err
	}
	zeros := explicitZeros(root.Content[0], false)
	merged, err := yaml.Marshal(&root)
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(merged))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return Scenario{}, fmt.Errorf("scenario: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	s.zeros = zeros
	if name := s.Cluster.HardwareFile; name != "" {
		if opt.ReadFile == nil {
			return Scenario{}, fmt.Errorf("scenario: cluster.hardware_file = %q cannot be read here; give it in a scenario file or with --set on the command line", name)
		}
		data, err := opt.ReadFile(name)
		if err != nil {
			return Scenario{}, fmt.Errorf("scenario: cluster.hardware_file: %w", err)
		}
		h, err := topology.ParseHardware(data)
		if err != nil {
			return Scenario{}, fmt.Errorf("scenario: cluster.hardware_file %s: %w", name, err)
		}
		// The file replaces the preset, so a preset scenario can be run
		// on calibrated hardware with one --set; the report names it.
		s.Cluster.Preset = h.Name
		s.hardware, s.hardwareData = h, data
	}
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

// valueNode is an override's value as a YAML node: a flow sequence or
// mapping ("[{gpu: 3, factor: 2}]") when it parses as one, otherwise a
// scalar.
func valueNode(value string) yaml.Node {
	if strings.HasPrefix(value, "[") || strings.HasPrefix(value, "{") {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(value), &doc); err == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			return *doc.Content[0]
		}
	}
	return yaml.Node{Kind: yaml.ScalarNode, Value: value}
}

// setNode sets path under a mapping node to a value (valueNode), creating
// mappings on the way.
func setNode(m *yaml.Node, path []string, value string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != path[0] {
			continue
		}
		v := m.Content[i+1]
		if len(path) == 1 {
			*v = valueNode(value)
			return
		}
		if v.Kind != yaml.MappingNode {
			*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		setNode(v, path[1:], value)
		return
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Value: path[0]}
	if len(path) == 1 {
		v := valueNode(value)
		m.Content = append(m.Content, key, &v)
		return
	}
	child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, key, child)
	setNode(child, path[1:], value)
}

// Paths lists every settable scenario path, sorted.
func Paths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := prefix + name
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, p+".")
				continue
			}
			out = append(out, p)
		}
	}
	walk(reflect.TypeFor[Scenario](), "")
	slices.Sort(out)
	return out
}

// CheckPath reports a path that is not settable, naming the flag that gave
// it and the settable paths nearby.
func CheckPath(flag, path string) error {
	paths := Paths()
	if _, ok := slices.BinarySearch(paths, path); ok {
		return nil
	}
	near := SameSection(paths, path)
	if len(near) == 0 {
		near = paths
	}
	return fmt.Errorf("scenario: %s %s: no such field; settable fields there: %s", flag, path, strings.Join(near, ", "))
}

// SameSection returns the entries of names under path's section (its
// first element), for an error that lists what is allowed nearby.
func SameSection(names []string, path string) []string {
	section, _, _ := strings.Cut(path, ".")
	var near []string
	for _, n := range names {
		if strings.HasPrefix(n, section+".") {
			near = append(near, n)
		}
	}
	return near
}

// Encode writes the scenario as YAML, in field order.
func Encode(w io.Writer, s Scenario) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return err
	}
	return enc.Close()
}
