package report

import (
	"bytes"
	_ "embed"
	"html/template"
	"io"

	"github.com/moesim/moesim/scenarios"
)

// The HTML report is one self-contained file: summary tables (the same
// grids as the terminal and Markdown forms), inline SVG plots and the
// effective scenario, with no scripts, external assets or timestamps, so
// the same data always give the same bytes.

//go:embed html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Parse(htmlSource))

type htmlPage struct {
	Version       string
	Heading, Sub  string
	Grids         []grid
	Figures       []figure
	ScenarioTitle string
	Scenario      string
}

func writeRunHTML(w io.Writer, res *scenarios.Result) error {
	figs, err := runFigures(res)
	if err != nil {
		return err
	}
	head, sub := runHeading(res)
	page := htmlPage{Version: res.Meta.Version, Heading: head, Sub: sub, Grids: runGrids(res), Figures: figs,
		ScenarioTitle: "Effective scenario"}
	if page.Scenario, err = scenarioYAML(res.Scenario); err != nil {
		return err
	}
	return htmlTemplate.Execute(w, page)
}

func writeSetHTML(w io.Writer, s *Set) error {
	figs, err := setFigures(s)
	if err != nil {
		return err
	}
	head, sub := setHeading(s)
	page := htmlPage{Version: scenarios.Version, Heading: head, Sub: sub, Grids: setGrids(s), Figures: figs}
	if len(s.Rows) > 0 {
		first := s.Rows[0]
		page.Version = first.Result.Meta.Version
		page.ScenarioTitle = "Effective scenario of point " + first.Point.String()
		if page.Scenario, err = scenarioYAML(first.Result.Scenario); err != nil {
			return err
		}
	}
	return htmlTemplate.Execute(w, page)
}

func scenarioYAML(s scenarios.Scenario) (string, error) {
	var buf bytes.Buffer
	err := scenarios.Encode(&buf, s)
	return buf.String(), err
}
