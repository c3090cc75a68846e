package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
)

// Comparing runs for a design review: the results of `moesim run
// --format json` side by side, every figure with its difference and ratio
// to the first run, the scenario fields that differ, and each run's
// bottleneck. Figures are every number and string of the result's JSON
// (per-rank arrays and the per-op schedule left out), in the JSON's
// order, so the comparison follows the result format as it grows.

// maxCompareRuns bounds the runs compared at once.
const maxCompareRuns = 16

// CompareRun is one run to compare: its result and the name it goes by
// (its file).
type CompareRun struct {
	Name   string
	Result *scenarios.Result
	leaves []leaf
}

// leaf is one scalar of a result's JSON, at a dotted path.
type leaf struct {
	Path  string
	Num   float64
	Str   string
	IsNum bool
}

// ReadRun reads a run's JSON (moesim run --format json), strictly.
func ReadRun(r io.Reader, name string) (*CompareRun, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxLineBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxLineBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxLineBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var v resultJSON
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: not the JSON of a run (moesim run --format json): %v", name, err)
	}
	if v.Meta.RunID == "" {
		return nil, fmt.Errorf("%s: meta.run_id is empty: not the JSON of a run (moesim run --format json)", name)
	}
	var leaves []leaf
	if err := leavesOf(json.NewDecoder(bytes.NewReader(data)), "", &leaves); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &CompareRun{Name: name, Result: v.result(), leaves: leaves}, nil
}

// leavesOf walks one JSON value in order, appending its scalars; arrays
// are skipped.
func leavesOf(dec *json.Decoder, path string, out *[]leaf) error {
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				p := k.(string)
				if path != "" {
					p = path + "." + p
				}
				if err := leavesOf(dec, p, out); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return err
		}
		*out = append(*out, leaf{Path: path, Num: f, IsNum: true})
	case bool:
		*out = append(*out, leaf{Path: path, Str: strconv.FormatBool(x)})
	case string:
		*out = append(*out, leaf{Path: path, Str: x})
	case nil:
		*out = append(*out, leaf{Path: path, Str: "null"})
	}
	return nil
}

func (l leaf) text() string {
	if l.IsNum {
		return strconv.FormatFloat(l.Num, 'g', -1, 64)
	}
	return l.Str
}

// Comparison is the runs' figures and scenario fields aligned by path.
type Comparison struct {
	Runs []*CompareRun
	// Figures and Scenario are the paths of each, in the first run's
	// order, then the paths later runs add; Values[path][run], ok false
	// where a run lacks the path.
	Figures, Scenario []string
	values            map[string][]leaf
	has               map[string][]bool
}

// Compare aligns the runs (at least two).
func Compare(runs []*CompareRun) (*Comparison, error) {
	if len(runs) < 2 || len(runs) > maxCompareRuns {
		return nil, fmt.Errorf("compare: %d runs, want 2..%d", len(runs), maxCompareRuns)
	}
	c := &Comparison{Runs: runs, values: map[string][]leaf{}, has: map[string][]bool{}}
	for i, r := range runs {
		for _, l := range r.leaves {
			if strings.HasPrefix(l.Path, "meta.") {
				continue
			}
			if _, ok := c.values[l.Path]; !ok {
				c.values[l.Path] = make([]leaf, len(runs))
				c.has[l.Path] = make([]bool, len(runs))
				if strings.HasPrefix(l.Path, "scenario.") {
					c.Scenario = append(c.Scenario, l.Path)
				} else {
					c.Figures = append(c.Figures, l.Path)
				}
			}
			c.values[l.Path][i], c.has[l.Path][i] = l, true
		}
	}
	return c, nil
}

// Value is the run's value at path and whether it has one.
func (c *Comparison) Value(path string, run int) (leaf, bool) {
	return c.values[path][run], c.has[path][run]
}

// differs reports whether any run's value at path differs from the first.
func (c *Comparison) differs(path string) bool {
	v, h := c.values[path], c.has[path]
	for i := 1; i < len(v); i++ {
		if h[i] != h[0] || v[i].text() != v[0].text() {
			return true
		}
	}
	return false
}

// Ratio is run i's value over the first run's, NaN where either is not a
// number or the first is zero.
func (c *Comparison) Ratio(path string, i int) float64 {
	a, okA := c.Value(path, 0)
	b, okB := c.Value(path, i)
	if !okA || !okB || !a.IsNum || !b.IsNum || a.Num == 0 {
		return math.NaN()
	}
	return b.Num / a.Num
}

func (c *Comparison) cell(path string, i int) string {
	v, ok := c.Value(path, i)
	if !ok {
		return "-"
	}
	if v.IsNum {
		return num(v.Num)
	}
	return v.Str
}

func (c *Comparison) diffCells(path string, i int) (string, string) {
	a, okA := c.Value(path, 0)
	b, okB := c.Value(path, i)
	switch {
	case !okA || !okB:
		return "-", "-"
	case !a.IsNum || !b.IsNum:
		if a.text() == b.text() {
			return "same", "-"
		}
		return "changed", "-"
	}
	r := "-"
	if x := c.Ratio(path, i); !math.IsNaN(x) {
		r = fmt.Sprintf("%.3f", x)
	}
	return fmt.Sprintf("%+.4g", b.Num-a.Num), r
}

func compareGrids(c *Comparison) []grid {
	rg := grid{Title: "Runs", Header: []string{"run", "file", "scenario", "hardware", "seed", "run id", "dispatch µs", "combine µs", "dispatch bottleneck", "combine bottleneck", "exposed comm µs"}}
	for i, r := range c.Runs {
		res := r.Result
		rg.Rows = append(rg.Rows, []string{runLetter(i), r.Name, nameOf(res), res.Scenario.Cluster.Preset, fmt.Sprint(res.Meta.Seed), res.Meta.RunID,
			f1(res.Dispatch.TimeUs), f1(res.Combine.TimeUs), res.Dispatch.Bottleneck, res.Combine.Bottleneck, f1(res.Overlap.ExposedCommUs)})
	}
	sg := grid{Title: "Scenario fields that differ from run A", Header: []string{"field"}}
	fg := grid{Title: "Figures (difference and ratio to run A)", Header: []string{"figure", "A"}}
	for i := range c.Runs {
		sg.Header = append(sg.Header, runLetter(i))
		if i > 0 {
			l := runLetter(i)
			fg.Header = append(fg.Header, l, l+"−A", l+"/A")
		}
	}
	for _, p := range c.Scenario {
		if !c.differs(p) {
			continue
		}
		row := []string{strings.TrimPrefix(p, "scenario.")}
		for i := range c.Runs {
			row = append(row, c.cell(p, i))
		}
		sg.Rows = append(sg.Rows, row)
	}
	if len(sg.Rows) == 0 {
		sg.Rows = [][]string{append([]string{"(none: the same scenario)"}, make([]string, len(c.Runs))...)}
	}
	for _, p := range c.Figures {
		row := []string{p, c.cell(p, 0)}
		for i := 1; i < len(c.Runs); i++ {
			d, r := c.diffCells(p, i)
			row = append(row, c.cell(p, i), d, r)
		}
		fg.Rows = append(fg.Rows, row)
	}
	return []grid{rg, sg, fg}
}

func runLetter(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return fmt.Sprintf("R%d", i+1)
}

func compareHeading(c *Comparison) (string, string) {
	var names []string
	for i, r := range c.Runs {
		names = append(names, runLetter(i)+" = "+r.Name)
	}
	return fmt.Sprintf("compare %d runs", len(c.Runs)), strings.Join(names, ", ") + "; moesim " + scenarios.Version
}

// ForCompare returns the reporter of one format for a comparison.
func ForCompare(format string, c *Comparison) (Reporter, error) {
	head, sub := compareHeading(c)
	switch format {
	case "table", "markdown":
		return func(w io.Writer) error { return writeGrids(w, format == "markdown", head, sub, compareGrids(c)) }, nil
	case "json":
		return func(w io.Writer) error { return writeCompareJSON(w, c) }, nil
	case "html":
		return func(w io.Writer) error {
			return htmlTemplate.Execute(w, htmlPage{Version: scenarios.Version, Heading: head, Sub: sub, Grids: compareGrids(c)})
		}, nil
	}
	return nil, errors.New("report: --format = " + strconv.Quote(format) + ", want one of table, markdown, json, html")
}

type compareFigureJSON struct {
	Figure string     `json:"figure"`
	Values []any      `json:"values"`
	Diff   []*float64 `json:"diff"`
	Ratio  []*float64 `json:"ratio"`
}

func writeCompareJSON(w io.Writer, c *Comparison) error {
	var v struct {
		Runs []struct {
			Name       string `json:"name"`
			RunID      string `json:"run_id"`
			Bottleneck string `json:"bottleneck"`
		} `json:"runs"`
		Scenario []compareFigureJSON `json:"scenario_differences"`
		Figures  []compareFigureJSON `json:"figures"`
	}
	for _, r := range c.Runs {
		v.Runs = append(v.Runs, struct {
			Name       string `json:"name"`
			RunID      string `json:"run_id"`
			Bottleneck string `json:"bottleneck"`
		}{r.Name, r.Result.Meta.RunID, r.Result.Dispatch.Bottleneck + " (dispatch), " + r.Result.Combine.Bottleneck + " (combine)"})
	}
	entry := func(p, name string) compareFigureJSON {
		e := compareFigureJSON{Figure: name}
		for i := range c.Runs {
			l, ok := c.Value(p, i)
			switch {
			case !ok:
				e.Values = append(e.Values, nil)
			case l.IsNum:
				e.Values = append(e.Values, l.Num)
			default:
				e.Values = append(e.Values, l.Str)
			}
			a, okA := c.Value(p, 0)
			if ok && okA && l.IsNum && a.IsNum {
				d := l.Num - a.Num
				e.Diff = append(e.Diff, &d)
			} else {
				e.Diff = append(e.Diff, nil)
			}
			e.Ratio = append(e.Ratio, nullable(c.Ratio(p, i)))
		}
		return e
	}
	v.Scenario, v.Figures = []compareFigureJSON{}, []compareFigureJSON{}
	for _, p := range c.Scenario {
		if c.differs(p) {
			v.Scenario = append(v.Scenario, entry(p, strings.TrimPrefix(p, "scenario.")))
		}
	}
	for _, p := range c.Figures {
		v.Figures = append(v.Figures, entry(p, p))
	}
	return writeIndented(w, v)
}
