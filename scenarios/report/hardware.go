package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/topology"
)

// sourceWidth is the widest a terminal table's source column gets: with
// the other columns a line stays within about 120 characters.
const sourceWidth = 60

// Hardware writes every constant of a hardware file with its value, unit,
// kind and source: what `moesim presets show NAME` prints for a hardware
// preset, so a user sees which numbers are measured and which assumed.
func Hardware(w io.Writer, h *topology.Hardware, markdown bool) error {
	head := fmt.Sprintf("%s: %s", h.Name, h.Description)
	if markdown {
		head = "### " + head
	}
	if _, err := fmt.Fprintf(w, "%s\n\n", head); err != nil {
		return err
	}
	t := newTable(w, markdown, tw.AlignLeft)
	if !markdown {
		// A source runs to a few hundred characters: wrapped, the
		// table fits a terminal instead of one line per screen width.
		t.Configure(func(c *tablewriter.Config) {
			c.Row.Formatting.AutoWrap = tw.WrapNormal
			c.Row.ColMaxWidths.PerColumn = tw.Mapper[int, int]{4: sourceWidth}
		})
	}
	t.Header([]string{"constant", "value", "unit", "kind", "source"})
	counts := map[topology.Kind]int{}
	for _, s := range topology.Constants {
		v, ok := h.Constants[s.Key]
		if !ok {
			continue
		}
		counts[v.Kind]++
		if err := t.Append([]string{s.Key, strconv.FormatFloat(v.Value, 'g', -1, 64), s.Unit, string(v.Kind), v.Source}); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d measured, %d published, %d assumed, %d fitted.\n",
		counts[topology.Measured], counts[topology.Published], counts[topology.Assumed], counts[topology.Fitted])
	return err
}
