package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
)

// The HTML plan report: the grids of the text forms (every candidate),
// the Pareto plot (objective against figure: run candidates, the front,
// the recommendation), the heat map of the plan's two heat-map
// dimensions, and the recommended scenario's YAML to copy.

func writePlanHTML(w io.Writer, r *search.PlanResult) error {
	head, sub := planHeading(r)
	page := htmlPage{Version: scenarios.Version, Heading: head, Sub: sub, Grids: planGrids(r, 0)}
	f, err := paretoFigure(r)
	if err != nil {
		return err
	}
	page.Figures = append(page.Figures, f, heatmapFigure(r))
	if r.Recommended >= 0 {
		page.ScenarioTitle = "Recommended scenario (save as a file and run it: moesim run --scenario FILE)"
		if page.Scenario, err = RecommendedYAML(r); err != nil {
			return err
		}
	}
	return htmlTemplate.Execute(w, page)
}

const titlePareto = "Pareto front"

func paretoFigure(r *search.PlanResult) (figure, error) {
	p := r.Plan
	pt := func(i int) plotter.XY {
		c := &r.Candidates[i]
		return plotter.XY{X: c.Num(p.Objective.Field), Y: c.Num(p.Figure.Field)}
	}
	var feas, infeas, front plotter.XYs
	for i := range r.Candidates {
		c := &r.Candidates[i]
		switch c.Status {
		case search.StatusFeasible:
			feas = append(feas, pt(i))
		case search.StatusInfeasible:
			infeas = append(infeas, pt(i))
		}
	}
	for _, i := range r.Pareto {
		front = append(front, pt(i))
	}
	if len(feas)+len(infeas) == 0 {
		return omitted(titlePareto, "Omitted: no candidate ran."), nil
	}
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("%s: %s against %s", titlePareto, p.Objective.Field, p.Figure.Field)
	pl.X.Label.Text = p.Objective.String()
	pl.Y.Label.Text = p.Figure.String()
	pl.Add(plotter.NewGrid())
	pl.Legend.Top = true
	scatter := func(name string, pts plotter.XYs, shape draw.GlyphDrawer, c color.Color, radius vg.Length) error {
		if len(pts) == 0 {
			return nil
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("report: plot %q: %w", name, err)
		}
		s.Shape, s.Color, s.Radius = shape, c, radius
		pl.Add(s)
		pl.Legend.Add(name, s)
		return nil
	}
	gray := color.RGBA{R: 150, G: 150, B: 150, A: 255}
	blue := color.RGBA{R: 31, G: 119, B: 180, A: 255}
	red := color.RGBA{R: 214, G: 39, B: 40, A: 255}
	if err := scatter("infeasible", infeas, draw.CrossGlyph{}, gray, vg.Points(3)); err != nil {
		return figure{}, err
	}
	if err := scatter("feasible", feas, draw.CircleGlyph{}, blue, vg.Points(3)); err != nil {
		return figure{}, err
	}
	if len(front) > 0 {
		slices.SortStableFunc(front, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		l, err := plotter.NewLine(front)
		if err != nil {
			return figure{}, err
		}
		l.Color = blue
		pl.Add(l)
		pl.Legend.Add("Pareto front", l)
	}
	if r.Recommended >= 0 {
		if err := scatter("recommended", plotter.XYs{pt(r.Recommended)}, draw.RingGlyph{}, red, vg.Points(7)); err != nil {
			return figure{}, err
		}
	}
	c := vgsvg.New(6.5*vg.Inch, 3.6*vg.Inch)
	pl.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return figure{}, err
	}
	svg := buf.Bytes()
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	return figure{Title: titlePareto, SVG: template.HTML(svg),
		Caption: fmt.Sprintf("Every candidate that ran: %s across, %s up. The line joins the feasible candidates no other beats in both; the ring is the recommendation. Pruned and excluded candidates did not run and are not drawn.",
			p.Objective, p.Figure)}, nil
}

const titleHeatmap = "Feasible region"

// heatmapFigure is a table over the plan's two heat-map dimensions: each
// cell the best objective among the feasible candidates with those two
// values (the other dimensions free), shaded from best (dark) to worst.
func heatmapFigure(r *search.PlanResult) figure {
	p := r.Plan
	if p.Heatmap[1] == "" {
		return omitted(titleHeatmap, "Omitted: the space has one dimension; the table of candidates shows it.")
	}
	dx := slices.IndexFunc(p.Space, func(v search.Vary) bool { return v.Path == p.Heatmap[0] })
	dy := slices.IndexFunc(p.Space, func(v search.Vary) bool { return v.Path == p.Heatmap[1] })
	xs, ys := p.Space[dx].Values, p.Space[dy].Values
	type cell struct {
		best   float64
		ok     bool
		status string
	}
	cells := make([][]cell, len(ys))
	lo, hi := math.Inf(1), math.Inf(-1)
	for j := range ys {
		cells[j] = make([]cell, len(xs))
		for i := range xs {
			var cl cell
			var seen []string
			for k := range r.Candidates {
				c := &r.Candidates[k]
				if c.Values[dx].Value != xs[i] || c.Values[dy].Value != ys[j] {
					continue
				}
				if c.Status == search.StatusFeasible {
					v := c.Num(p.Objective.Field)
					if !cl.ok || p.Objective.Better(v, cl.best) {
						cl.best, cl.ok = v, true
					}
				} else if !slices.Contains(seen, c.Status.String()) {
					seen = append(seen, c.Status.String())
				}
			}
			cl.status = strings.Join(seen, ", ")
			if cl.ok {
				lo, hi = math.Min(lo, cl.best), math.Max(hi, cl.best)
			}
			cells[j][i] = cl
		}
	}
	var b strings.Builder
	b.WriteString(`<div class="scroll"><table>` + "\n<thead><tr><th>" + html.EscapeString(p.Heatmap[1]+" \\ "+p.Heatmap[0]) + "</th>")
	for _, x := range xs {
		b.WriteString("<th>" + html.EscapeString(x) + "</th>")
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for j, y := range ys {
		b.WriteString("<tr><th>" + html.EscapeString(y) + "</th>")
		for i := range xs {
			cl := cells[j][i]
			if !cl.ok {
				fmt.Fprintf(&b, `<td style="background:#eee;color:#777">%s</td>`, html.EscapeString(cmp.Or(cl.status, "-")))
				continue
			}
			t := 0.0 // 0 best, 1 worst
			if hi > lo {
				t = (cl.best - lo) / (hi - lo)
				if p.Objective.Maximize {
					t = 1 - t
				}
			}
			g := 120 + int(100*t)
			fmt.Fprintf(&b, `<td style="background:rgb(%d,%d,%d);color:%s">%s</td>`, 40+int(150*t), g+30, 60+int(120*t),
				map[bool]string{true: "#fff", false: "#111"}[t < 0.5], html.EscapeString(num(cl.best)))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table></div>")
	return figure{Title: titleHeatmap, SVG: template.HTML(b.String()),
		Caption: fmt.Sprintf("Each cell is the best (%s) %s among the feasible candidates with that %s and %s (the other dimensions free), darker is better; gray cells have no feasible candidate and say why (infeasible: ran and failed a constraint; pruned: implied to fail; excluded: failed a constraint known before running).",
			map[bool]string{true: "largest", false: "smallest"}[p.Objective.Maximize], p.Objective.Field, p.Heatmap[0], p.Heatmap[1])}
}
