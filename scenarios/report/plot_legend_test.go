package report

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// Issue 18 item 15: in the HTML report the legends overlapped the data.
// Every legend entry now lies right of the plot's area (its background
// rectangle), in every figure of the sweep golden file, which
// TestGoldenSweep keeps equal to what the code renders.
func TestLegendsLieBesideThePlot(t *testing.T) {
	page, err := os.ReadFile("testdata/sweep.golden.html")
	if err != nil {
		t.Fatal(err)
	}
	svgs := regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAll(page, -1)
	background := regexp.MustCompile(`<path d="M0,0L([0-9.]+),0L`)
	// Legend entries are the texts drawn beside a thumbnail: series names.
	entry := regexp.MustCompile(`<text x="([0-9.]+)"[^>]*\n[^>]*>((?:dispatch|combine)[^<]*|layer)</text>`)
	checked := 0
	for i, svg := range svgs {
		m := background.FindSubmatch(svg)
		if m == nil {
			t.Fatalf("figure %d has no background rectangle", i)
		}
		plotW, _ := strconv.ParseFloat(string(m[1]), 64)
		for _, e := range entry.FindAllSubmatch(svg, -1) {
			x, _ := strconv.ParseFloat(string(e[1]), 64)
			if x < plotW {
				t.Errorf("figure %d: legend entry %q at x = %v, inside the plot area (0..%v)", i, e[2], x, plotW)
			}
			checked++
		}
	}
	if checked < 4 {
		t.Fatalf("found %d legend entries in %d figures; the test no longer sees them", checked, len(svgs))
	}
}
