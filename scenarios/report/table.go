package report

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/moesim/moesim/scenarios"
)

// newTable is a table in ASCII (or Markdown) with headers as given and rows
// aligned as asked: numbers right, names left.
func newTable(w io.Writer, markdown bool, rows tw.Align) *tablewriter.Table {
	var r tw.Renderer = renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})
	if markdown {
		r = renderer.NewMarkdown()
	}
	return tablewriter.NewTable(w, tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(rows))
}

// writeGrids renders a heading and grids as terminal tables (ASCII) or
// Markdown.
func writeGrids(w io.Writer, markdown bool, head, sub string, grids []grid) error {
	if markdown {
		head = "### " + head
	}
	if _, err := fmt.Fprintf(w, "%s\n%s\n", head, sub); err != nil {
		return err
	}
	for _, g := range grids {
		title := g.Title + ":"
		if markdown {
			title = "#### " + g.Title + "\n"
		}
		if _, err := fmt.Fprintf(w, "\n%s\n", title); err != nil {
			return err
		}
		align := tw.AlignRight
		if g.Left {
			align = tw.AlignLeft
		}
		t := newTable(w, markdown, align)
		t.Header(g.Header)
		for _, row := range g.Rows {
			if err := t.Append(row); err != nil {
				return err
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	return nil
}

func writeTables(w io.Writer, res *scenarios.Result, markdown bool) error {
	head, sub := runHeading(res)
	return writeGrids(w, markdown, head, sub, runGrids(res))
}

func writeSetTables(w io.Writer, s *Set, markdown bool) error {
	head, sub := setHeading(s)
	return writeGrids(w, markdown, head, sub, setGrids(s))
}
