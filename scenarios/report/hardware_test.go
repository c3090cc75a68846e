package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/moesim/moesim/topology"
)

// TestHardwareTableFitsATerminal: `presets show` wraps the long sources of
// a hardware file's constants, losing none of their words, and keeps them
// whole in Markdown.
func TestHardwareTableFitsATerminal(t *testing.T) {
	h, ok := topology.PresetHardware("h200")
	if !ok {
		t.Fatal("no h200 preset")
	}
	var ascii, md bytes.Buffer
	if err := Hardware(&ascii, h, false); err != nil {
		t.Fatal(err)
	}
	if err := Hardware(&md, h, true); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(ascii.String()), "\n")[1:] {
		if n := len([]rune(line)); n > 122 {
			t.Errorf("line %d is %d characters wide: %q", i+2, n, line)
		}
	}
	words := strings.Fields(ascii.String())
	have := map[string]bool{}
	for _, w := range words {
		have[w] = true
	}
	for key, v := range h.Constants {
		for _, w := range strings.Fields(v.Source) {
			if !have[w] {
				t.Errorf("%s: word %q of its source is missing from the table", key, w)
			}
		}
		if !strings.Contains(md.String(), v.Source) {
			t.Errorf("%s: the Markdown table does not hold its source whole", key)
		}
	}
}
