package report

import (
	"math"
	"testing"
)

func TestPercentileEmpirical(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{
		{0, 1}, {0.1, 1}, {0.11, 2}, {0.5, 5}, {0.51, 6}, {0.99, 10}, {1, 10},
	} {
		if got := Percentile(x, c.p); got != c.want {
			t.Errorf("Percentile(1..10, %v) = %v, want %v (sorted[ceil(p*n)-1])", c.p, got, c.want)
		}
	}
	// p99 of 8 ranks is the maximum; p50 the 4th value.
	d := Describe([]float64{8, 1, 7, 2, 6, 3, 5, 4})
	if d.P99 != 8 || d.P50 != 4 || d.Max != 8 || d.N != 8 || d.Mean != 4.5 {
		t.Fatalf("Describe = %+v", d)
	}
	if want := math.Sqrt(5.25); math.Abs(d.StdDev-want) > 1e-12 {
		t.Fatalf("population stddev = %v, want %v", d.StdDev, want)
	}
}

func TestDescribeLeavesInputAlone(t *testing.T) {
	x := []float64{3, 1, 2}
	Describe(x)
	if x[0] != 3 || x[1] != 1 || x[2] != 2 {
		t.Fatalf("Describe reordered its input: %v", x)
	}
	if d := Describe(nil); d != (Dist{}) {
		t.Fatalf("Describe(nil) = %+v, want zero", d)
	}
	if d := Describe([]float64{7}); d.StdDev != 0 || d.P99 != 7 {
		t.Fatalf("Describe(one value) = %+v", d)
	}
}

func TestPercentileMisusePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"unsorted": func() { Percentile([]float64{2, 1}, 0.5) },
		"empty":    func() { Percentile(nil, 0.5) },
		"p > 1":    func() { Percentile([]float64{1}, 1.5) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, ok := r.(string); !ok || s[:8] != "report: " {
					t.Errorf("%s: panic %v, want a report: panic", name, r)
				}
			}()
			f()
		}()
	}
}

func TestMeanCI95(t *testing.T) {
	// Five values with mean 10 and sample stddev sqrt(2.5):
	// t(0.975, 4) = 2.7764451051977987.
	iv := MeanCI95([]float64{8, 9, 10, 11, 12})
	want := 2.7764451051977987 * math.Sqrt(2.5) / math.Sqrt(5)
	if !iv.OK || iv.N != 5 || iv.Mean != 10 || math.Abs(iv.HalfWidth-want) > 1e-9 {
		t.Fatalf("MeanCI95 = %+v, want half width %v", iv, want)
	}
	if iv.Low() >= iv.Mean || iv.High() <= iv.Mean {
		t.Fatal("interval does not contain the mean")
	}
	// Two values: t(0.975, 1) = 12.706204736174698.
	iv = MeanCI95([]float64{1, 3})
	if want := 12.706204736174698 * math.Sqrt(2) / math.Sqrt(2); math.Abs(iv.HalfWidth-want) > 1e-9 {
		t.Fatalf("n=2 half width %v, want %v", iv.HalfWidth, want)
	}
	if iv := MeanCI95([]float64{4}); iv.OK || iv.Mean != 4 {
		t.Fatalf("one value: %+v, want mean without interval", iv)
	}
}
