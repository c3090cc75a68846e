package scenarios

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Explicit zeros. A numeric field left out of a scenario takes its default
// (WithDefaults), which the Go zero value marks. A field the file or a
// --set gives as 0 is a value, not a gap: where its range allows 0 (a
// latency, cluster.gemm_clock_drop, model.q_lora_rank) the run keeps it,
// so an effect can be switched off or swept down to nothing; where the
// range does not (cluster.nodes, model.topk, kernel.num_sms) checkRanges
// refuses it, instead of running the default in its place.
//
// Invariants:
//   - Scenario.zeros holds the paths of numeric struct fields (not list
//     elements, not seed, whose 0 is documented as the default) that the
//     input gave as 0, sorted. After WithDefaults it holds only those the
//     defaults would have filled: the others' zero was the default anyway.
//   - The effective scenario's YAML and JSON (MarshalYAML) carry every
//     path in zeros, so a result's scenario, run again, runs the same, and
//     the run id tells the zero from the default.

// explicitZeros lists the numeric fields under root (a scenario mapping
// that checkTree accepted) whose value is 0, sorted. With omitted only the
// fields tagged omitempty count: in JSON that MarshalJSON wrote, such a
// field is there at 0 only because the scenario kept it, where the other
// fields are always written (TestKeptZerosAreOmitEmpty).
func explicitZeros(root *yaml.Node, omitted bool) []string {
	var out []string
	var walk func(n *yaml.Node, t reflect.Type, path string, omitEmpty bool)
	walk = func(n *yaml.Node, t reflect.Type, path string, omitEmpty bool) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			if n.Kind != yaml.MappingNode {
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if f, ok := fieldByTag(t, n.Content[i].Value); ok {
					walk(n.Content[i+1], f.Type, join(path, n.Content[i].Value), strings.Contains(f.Tag.Get("yaml"), ",omitempty"))
				}
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Float32, reflect.Float64:
			if n.Kind != yaml.ScalarNode || (omitted && !omitEmpty) {
				return
			}
			if x, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && x == 0 {
				out = append(out, path)
			}
		}
	}
	walk(root, reflect.TypeFor[Scenario](), "", false)
	slices.Sort(out)
	return slices.Compact(out)
}

// fieldAt is the numeric field of s at a dotted path, or an invalid value
// when the path names none.
func fieldAt(s *Scenario, path string) reflect.Value {
	v := reflect.ValueOf(s).Elem()
	for name := range strings.SplitSeq(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}
		}
		f, ok := fieldByTag(v.Type(), name)
		if !ok {
			return reflect.Value{}
		}
		v = v.FieldByIndex(f.Index)
	}
	return v
}

func isZeroNumber(v reflect.Value) bool {
	x, ok := number(v)
	return ok && x == 0
}

// heldZeros is the paths in s.zeros whose field still holds 0: what
// WithDefaults keeps. A field a caller has since set (a tune's num_sms, a
// sensitivity run's constant) is its own value, not the file's zero.
func (s *Scenario) heldZeros() []string {
	var held []string
	for _, p := range s.zeros {
		if v := fieldAt(s, p); v.IsValid() && isZeroNumber(v) {
			held = append(held, p)
		}
	}
	return held
}

// keepZeros puts back the zeros of held that defaults have filled and
// leaves s.zeros naming just those.
func (s *Scenario) keepZeros(held []string) {
	var kept []string
	for _, p := range held {
		if v := fieldAt(s, p); v.IsValid() && !isZeroNumber(v) {
			v.SetZero()
			kept = append(kept, p)
		}
	}
	s.zeros = kept
}

// zeroKept reports whether path is an explicit zero the scenario keeps.
func (s Scenario) zeroKept(path string) bool {
	_, ok := slices.BinarySearch(s.zeros, path)
	return ok
}

// MarshalYAML writes the scenario's fields in order, with its explicit
// zeros, which omitempty would drop.
func (s Scenario) MarshalYAML() (any, error) {
	type plain Scenario
	var n yaml.Node
	if err := n.Encode(plain(s)); err != nil {
		return nil, err
	}
	root := &n
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	for _, p := range s.zeros {
		// "0" reads as !!int, which an int or a float field takes; a
		// !!float tag would be written out ("!!float 0").
		insertField(root, reflect.TypeFor[Scenario](), strings.Split(p, "."),
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"})
	}
	return root, nil
}

// insertField puts value at path under mapping m, a node of struct type t,
// in the struct's field order, creating the mappings on the way; a key
// already there is left as it is.
func insertField(m *yaml.Node, t reflect.Type, path []string, value *yaml.Node) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	f, ok := fieldByTag(t, path[0])
	if !ok || m.Kind != yaml.MappingNode {
		return
	}
	at := len(m.Content)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i].Value
		if k == path[0] {
			if len(path) > 1 {
				insertField(m.Content[i+1], f.Type, path[1:], value)
			}
			return
		}
		if g, ok := fieldByTag(t, k); ok && g.Index[0] > f.Index[0] && at == len(m.Content) {
			at = i
		}
	}
	v := value
	if len(path) > 1 {
		v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		insertField(v, f.Type, path[1:], value)
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path[0]}
	m.Content = slices.Insert(m.Content, at, key, v)
}
