package scenarios

import (
	"reflect"
	"strconv"
	"testing"
)

func TestWithIsLoadingWithTheOverride(t *testing.T) {
	s, err := LoadPreset("deepseek-v3-train")
	if err != nil {
		t.Fatal(err)
	}
	same, err := s.With()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(same, s) {
		t.Fatalf("With() changed the scenario:\n%+v\n%+v", same, s)
	}
	o := Override{Path: "cluster.sm_copy_GBps", Value: "17.5"}
	got, err := s.With(o)
	if err != nil {
		t.Fatal(err)
	}
	want, err := LoadPreset("deepseek-v3-train", o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("With(%v) differs from loading with it:\n%+v\n%+v", o, got, want)
	}
	v, err := got.Value("cluster.sm_copy_GBps")
	if f, _ := strconv.ParseFloat(v, 64); err != nil || f != 17.5 {
		t.Fatalf("Value = %q, %v; want 17.5", v, err)
	}
	if _, err := s.With(Override{Path: "cluster.nope", Value: "1"}); err == nil {
		t.Error("With accepted an unknown path")
	}
	if _, err := s.Value("cluster.nope"); err == nil {
		t.Error("Value accepted an unknown path")
	}
}
