package topology

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// Every preset formats and parses back to the same bytes and the same
// Config: the format is lossless, so `moesim calibrate` output and the
// embedded presets are one format.
func TestHardwareFormatRoundTrips(t *testing.T) {
	for _, name := range PresetNames() {
		h, _ := PresetHardware(name)
		out := h.Format("test")
		back, err := ParseHardware(out)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if again := back.Format("test"); !bytes.Equal(out, again) {
			t.Errorf("%s: format is not stable:\n%s\n---\n%s", name, out, again)
		}
		a, _ := h.Config()
		b, _ := back.Config()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: config changed in the round trip: %+v vs %+v", name, a, b)
		}
	}
}

func TestHardwareEveryConstantHasSourceAndKind(t *testing.T) {
	for _, name := range PresetNames() {
		h, _ := PresetHardware(name)
		for _, s := range Constants {
			v := h.Constants[s.Key]
			if v.Source == "" || !v.Kind.valid() {
				t.Errorf("%s.%s: kind %q source %q", name, s.Key, v.Kind, v.Source)
			}
		}
	}
}

func TestParseHardwareNamesTheField(t *testing.T) {
	h, _ := PresetHardware("h800")
	good := string(h.Format("x"))
	for _, tc := range []struct {
		old, new, want string
	}{
		{"value: 132", "value: -3", "constants.sms.value = -3, want 4..1024"},
		{"value: 132", "value: 13.5", "constants.sms.value = 13.5, want a whole number"},
		{"kind: fitted", "kind: guessed", `constants.ll_kernel_fixed_us.kind = "guessed"`},
		{"  sms:\n", "  smz:\n", "constants.smz is not a known constant"},
		{`unit: "GB/s"`, `unit: "MB/s"`, `constants.sm_copy_GBps.unit = "MB/s", want "GB/s"`},
		{"name: \"h800\"", "name: \"\"", "name is empty"},
	} {
		bad := strings.Replace(good, tc.old, tc.new, 1)
		if bad == good {
			t.Fatalf("replacement %q not applied", tc.old)
		}
		_, err := ParseHardware([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q -> %q: error %v, want %q", tc.old, tc.new, err, tc.want)
		}
	}
	// A missing constant is named.
	var lines []string
	skip := false
	for _, l := range strings.Split(good, "\n") {
		if l == "  sm_reduce_GBps:" {
			skip = true
			continue
		}
		if skip && strings.HasPrefix(l, "    ") {
			continue
		}
		skip = false
		lines = append(lines, l)
	}
	if _, err := ParseHardware([]byte(strings.Join(lines, "\n"))); err == nil || !strings.Contains(err.Error(), "constants.sm_reduce_GBps is missing") {
		t.Errorf("missing constant: %v", err)
	}
}
