package scenarios

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// With returns s with overrides applied, as if they had been given with
// --set when s was loaded: the effective scenario is written out, the
// overrides set on it, and it is decoded, defaulted and validated again.
// A scenario read from a cluster.hardware_file keeps that hardware (With
// reads no files), so With works on any loaded scenario.
func (s Scenario) With(overrides ...Override) (Scenario, error) {
	var buf bytes.Buffer
	if err := Encode(&buf, s); err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	opt := DecodeOptions{}
	if h := s.hardware; h != nil {
		name := s.Cluster.HardwareFile
		opt.ReadFile = func(n string) ([]byte, error) {
			if n != name {
				return nil, fmt.Errorf("%s cannot be read here", n)
			}
			return h.Format(""), nil
		}
	}
	return DecodeWith(&buf, opt, overrides...)
}

// Value is the effective value at a settable path (kernel.num_sms,
// cluster.sm_copy_GBps) as YAML writes it; "" for a field the effective
// scenario leaves empty (an omitted zero).
func (s Scenario) Value(path string) (string, error) {
	if err := CheckPath("path", path); err != nil {
		return "", err
	}
	var n yaml.Node
	if err := n.Encode(s); err != nil {
		return "", fmt.Errorf("scenario: %w", err)
	}
	cur := &n
	for _, key := range strings.Split(path, ".") {
		var next *yaml.Node
		for i := 0; cur.Kind == yaml.MappingNode && i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == key {
				next = cur.Content[i+1]
				break
			}
		}
		if next == nil {
			return "", nil
		}
		cur = next
	}
	if cur.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("scenario: %s is not a single value", path)
	}
	return cur.Value, nil
}
