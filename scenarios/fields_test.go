package scenarios

import (
	"reflect"
	"strings"
	"testing"
)

// Every numeric scenario field has a limit (a hardware constant's or a
// fieldLimits entry), so a field added without one fails here rather than
// reaching the engine unchecked.
func TestEveryNumericFieldHasALimit(t *testing.T) {
	s := Scenario{}
	n := 0
	for _, l := range leaves(reflect.ValueOf(s), "", nil) {
		switch l.v.Kind() {
		case reflect.Int, reflect.Int64, reflect.Float64:
			n++
			if _, ok := FieldLimit(l.path); !ok {
				t.Errorf("%s (%s) has no limit: add it to fieldLimits in fields.go and to docs/scenario-format.md", l.path, l.v.Kind())
			}
		}
	}
	for path := range fieldLimits {
		if !strings.Contains(strings.Join(Paths(), " "), path) {
			t.Errorf("fieldLimits has %s, which is no scenario field", path)
		}
	}
	if n < 50 {
		t.Fatalf("found %d numeric fields; the walk no longer sees them", n)
	}
}

// Every preset decodes under the strict rules and every limit admits the
// preset's values and the defaults.
func TestPresetsPassStrictDecoding(t *testing.T) {
	for _, name := range PresetNames() {
		if _, err := LoadPreset(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
