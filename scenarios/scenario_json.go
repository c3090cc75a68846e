package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// JSON forms of scenario types. A scenario in JSON (the "scenario" of a
// Result) uses the YAML file's field names, in field order, so the path
// kernel.num_sms that --set and --vary take is also scenario.kernel.num_sms
// in the JSON. The types carry yaml tags only; these methods go through
// the YAML encoder, so the two forms can never drift apart. JSON is YAML,
// so decoding is the YAML decoder with unknown fields refused.

// MarshalJSON writes the scenario with its YAML field names.
func (s Scenario) MarshalJSON() ([]byte, error) { return yamlJSON(s) }

// UnmarshalJSON reads what MarshalJSON writes (or any JSON with the YAML
// field names); unknown fields are errors. Defaults are not applied; the
// zeros the scenario kept (MarshalYAML wrote them) are kept again.
func (s *Scenario) UnmarshalJSON(data []byte) error {
	type plain Scenario
	var p plain
	if err := jsonViaYAML(data, &p); err != nil {
		return err
	}
	*s = Scenario(p)
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil && root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		s.zeros = explicitZeros(root.Content[0], true)
	}
	return nil
}

// MarshalJSON writes the chunk sizes with their YAML field names.
func (ch Chunks) MarshalJSON() ([]byte, error) { return yamlJSON(ch) }

// UnmarshalJSON reads what MarshalJSON writes.
func (ch *Chunks) UnmarshalJSON(data []byte) error {
	type plain Chunks
	var p plain
	if err := jsonViaYAML(data, &p); err != nil {
		return err
	}
	*ch = Chunks(p)
	return nil
}

func jsonViaYAML(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("scenario: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// yamlJSON encodes v as YAML and rewrites the node tree as JSON.
func yamlJSON(v any) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeNodeJSON(&buf, &n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeNodeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("scenario: JSON of a %d-part YAML document", len(n.Content))
		}
		return writeNodeJSON(buf, n.Content[0])
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			buf.Write(k)
			buf.WriteByte(':')
			if err := writeNodeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeNodeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!bool":
			buf.WriteString(n.Value)
		case "!!float":
			if !json.Valid([]byte(n.Value)) {
				return fmt.Errorf("scenario: %s is not a JSON number", n.Value)
			}
			buf.WriteString(n.Value)
		case "!!null":
			buf.WriteString("null")
		default:
			s, _ := json.Marshal(n.Value)
			buf.Write(s)
		}
	default:
		return fmt.Errorf("scenario: no JSON form for YAML node kind %d", n.Kind)
	}
	return nil
}
