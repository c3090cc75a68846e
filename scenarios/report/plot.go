package report

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plots are drawn with gonum/plot onto an SVG canvas and embedded inline,
// so an HTML report is one file. Output is deterministic: series come in
// the order the figure builds them, points sorted by x, no timestamps.

// series is one line of a plot.
type series struct {
	Name string
	Pts  plotter.XYs
}

// axisSpec is what a figure says about one axis.
type axisSpec struct {
	Label   string
	Integer bool // ticks on whole numbers only (ranks, point numbers)
	AtData  bool // ticks at the data's x values only (SM counts)
	Percent bool // values are shares, drawn as 0..100 %
}

// figure is one plot of a report, or the reason it is left out.
type figure struct {
	Title   string
	Caption string
	SVG     template.HTML
	Omitted string
}

func omitted(title, why string) figure { return figure{Title: title, Omitted: why} }

// drawFigure renders series as a line-and-point plot.
func drawFigure(title, caption string, x, y axisSpec, ss []series) (figure, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x.Label
	p.Y.Label.Text = y.Label
	p.Add(plotter.NewGrid())
	// The legend has a column of its own, right of the plot, so it never
	// covers data.
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	ymax := 0.0
	var xs []float64
	for i, s := range ss {
		pts := slices.Clone(s.Pts)
		slices.SortStableFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		if y.Percent {
			for j := range pts {
				pts[j].Y *= 100
			}
		}
		for _, pt := range pts {
			ymax = max(ymax, pt.Y)
			xs = append(xs, pt.X)
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return figure{}, fmt.Errorf("report: plot %q series %q: %w", title, s.Name, err)
		}
		l.Color = plotutil.Color(i)
		l.Dashes = plotutil.Dashes(i)
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		p.Add(l, sc)
		leg.Add(s.Name, l, sc)
	}
	p.Y.Min = 0
	if y.Percent {
		ymax = math.Max(100, ymax)
	}
	p.Y.Max = ymax * 1.05
	if y.Percent && ymax <= 100 {
		// Mark 0..100 % only.
		p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 25, Label: "25"},
			{Value: 50, Label: "50"}, {Value: 75, Label: "75"}, {Value: 100, Label: "100"}}
	}
	switch {
	case x.AtData:
		p.X.Tick.Marker = dataTicks(xs)
	case x.Integer:
		p.X.Tick.Marker = integerTicks{}
	}
	c := vgsvg.New(6.5*vg.Inch, 3.6*vg.Inch)
	dc := draw.New(c)
	r := leg.Rectangle(dc)
	legW := r.Max.X - r.Min.X + 0.15*vg.Inch
	p.Draw(draw.Crop(dc, 0, -legW, 0, 0))
	leg.YOffs = -0.3 * vg.Inch // level with the plot area, below the title
	leg.Draw(draw.Crop(dc, dc.Max.X-legW+0.1*vg.Inch, 0, 0, 0))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return figure{}, err
	}
	// Inline SVG needs no XML prologue.
	svg := buf.Bytes()
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:]
	}
	return figure{Title: title, Caption: caption, SVG: template.HTML(svg)}, nil
}

// integerTicks marks whole numbers only, at most about ten labelled.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	lo, hi = math.Ceil(lo), math.Floor(hi)
	if hi < lo {
		return nil
	}
	step := 1.0
	for (hi-lo)/step > 10 {
		switch {
		case step == 1:
			step = 2
		case step == 2:
			step = 5
		default:
			step *= 2
		}
	}
	var ticks []plot.Tick
	for v := lo; v <= hi; v++ {
		t := plot.Tick{Value: v}
		if math.Mod(v-lo, step) == 0 {
			t.Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// dataTicks marks exactly the given x values.
func dataTicks(xs []float64) plot.ConstantTicks {
	xs = slices.Compact(slices.Sorted(slices.Values(xs)))
	ticks := make(plot.ConstantTicks, len(xs))
	for i, x := range xs {
		ticks[i] = plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)}
	}
	return ticks
}

// nonZero drops series whose values are all zero (IB in a one-node run)
// and says which it dropped.
func nonZero(ss []series) ([]series, []string) {
	var keep []series
	var dropped []string
	for _, s := range ss {
		zero := true
		for _, pt := range s.Pts {
			if pt.Y != 0 {
				zero = false
			}
		}
		if zero {
			dropped = append(dropped, s.Name)
		} else {
			keep = append(keep, s)
		}
	}
	return keep, dropped
}
