package topology

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Value is one constant of a hardware file: its value in the unit of its
// ConstantSpec, and where it comes from.
type Value struct {
	Value  float64 `yaml:"value"`
	Unit   string  `yaml:"unit,omitempty"`
	Kind   Kind    `yaml:"kind"`
	Source string  `yaml:"source"`
}

// Hardware is a hardware file: every constant of Constants with its
// source. Presets are hardware files embedded in the binary; `moesim
// calibrate` writes one from a measured profile; a scenario names one with
// cluster.hardware_file.
type Hardware struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// DerivedFrom names the profile a calibrated file was fitted from.
	DerivedFrom string           `yaml:"derived_from,omitempty"`
	Constants   map[string]Value `yaml:"constants"`
}

// MaxHardwareFileBytes bounds a hardware file; real ones are a few KiB.
const MaxHardwareFileBytes = 1 << 20

// ParseHardware decodes and checks a hardware file. Every constant must be
// present with a value in range, its unit (when given) must be the spec's,
// and its kind and source must be set; the error names the field.
func ParseHardware(data []byte) (*Hardware, error) {
	if len(data) > MaxHardwareFileBytes {
		return nil, fmt.Errorf("hardware file: %d bytes, want at most %d", len(data), MaxHardwareFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var h Hardware
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("hardware file: %v", err)
	}
	return &h, h.Check()
}

// Check validates every constant and names the field it rejects.
func (h *Hardware) Check() error {
	if strings.TrimSpace(h.Name) == "" {
		return fmt.Errorf("hardware file: name is empty, want the hardware's name (h200, say)")
	}
	for _, k := range slices.Sorted(maps.Keys(h.Constants)) {
		if _, ok := ConstantNamed(k); !ok {
			return fmt.Errorf("hardware file: constants.%s is not a known constant; want one of %s", k, strings.Join(ConstantKeys(), ", "))
		}
	}
	for _, s := range Constants {
		field := "constants." + s.Key
		v, ok := h.Constants[s.Key]
		if !ok {
			return fmt.Errorf("hardware file: %s is missing; every constant needs a value, a kind and a source", field)
		}
		if err := s.Check(field+".value", v.Value); err != nil {
			return fmt.Errorf("hardware file: %v", err)
		}
		if v.Unit != "" && v.Unit != s.Unit {
			return fmt.Errorf("hardware file: %s.unit = %q, want %q", field, v.Unit, s.Unit)
		}
		if !v.Kind.valid() {
			return fmt.Errorf("hardware file: %s.kind = %q, want one of measured, published, assumed, fitted", field, v.Kind)
		}
		if strings.TrimSpace(v.Source) == "" {
			return fmt.Errorf("hardware file: %s.source is empty; every constant names where it comes from", field)
		}
	}
	c := h.config()
	c.Nodes = 1
	if err := c.Validate(); err != nil {
		return fmt.Errorf("hardware file: %v", err)
	}
	return nil
}

// ConstantKeys lists the keys of Constants in order.
func ConstantKeys() []string {
	keys := make([]string, len(Constants))
	for i, s := range Constants {
		keys[i] = s.Key
	}
	return keys
}

// Config is the hardware as a one-node Config; callers set Nodes.
func (h *Hardware) Config() (Config, error) {
	if err := h.Check(); err != nil {
		return Config{}, err
	}
	return h.config(), nil
}

func (h *Hardware) config() Config {
	c := Config{Preset: h.Name, Nodes: 1, RailOversubscription: 1}
	c.GPU.Name = h.Name
	for _, s := range Constants {
		if v, ok := h.Constants[s.Key]; ok {
			s.Set(&c, v.Value)
		}
	}
	return c
}

// Format writes the hardware file in Constants order, with a header
// comment. The output is deterministic, so a file fitted twice from one
// profile is the same bytes.
func (h *Hardware) Format(header string) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		if line == "" {
			b.WriteString("#\n")
			continue
		}
		b.WriteString("# " + line + "\n")
	}
	fmt.Fprintf(&b, "name: %s\n", yamlString(h.Name))
	fmt.Fprintf(&b, "description: %s\n", yamlString(h.Description))
	if h.DerivedFrom != "" {
		fmt.Fprintf(&b, "derived_from: %s\n", yamlString(h.DerivedFrom))
	}
	b.WriteString("constants:\n")
	for _, s := range Constants {
		v, ok := h.Constants[s.Key]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "  %s:\n    value: %s\n", s.Key, strconv.FormatFloat(v.Value, 'g', -1, 64))
		if s.Unit != "" {
			fmt.Fprintf(&b, "    unit: %s\n", yamlString(s.Unit))
		}
		fmt.Fprintf(&b, "    kind: %s\n    source: %s\n", v.Kind, yamlString(v.Source))
	}
	return b.Bytes()
}

// yamlString quotes s as a YAML double-quoted scalar (JSON string syntax
// is valid YAML), so sources with colons or '#' survive.
func yamlString(s string) string { return strconv.Quote(s) }
