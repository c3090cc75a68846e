package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/scenarios"
)

// A plan's constraints, objective and figure name fields: a result's JSON
// path (dispatch.time_us, overlap.exposed_comm_us, step.step_us, ...), a
// scenario path under scenario. (scenario.kernel.num_sms), or one of the
// derived fields below. Numbers are read as float64, booleans as 0 or 1.
// Fields known before a point runs (the scenario's and the derived ones
// from it) are checked first, so a point that fails one never runs.

// Derived fields.
const (
	// FieldCost is the cluster's cost per hour from the plan's cost:
	// section: GPUs × (gpu_hour + nic_hour + fabric_hour).
	FieldCost = "cost"
	// FieldGPUs is cluster.nodes × cluster.gpus_per_node (the EP size).
	FieldGPUs = "gpus"
	// FieldKernelsUs is dispatch.time_us + combine.time_us: one layer's
	// all-to-alls, back to back.
	FieldKernelsUs = "kernels_us"
)

// Fields are one point's figures by field name.
type Fields struct {
	Num map[string]float64
	Str map[string]string
}

// flatten walks decoded JSON, adding numeric and boolean leaves to num and
// strings to str under dotted paths; arrays are skipped.
func flatten(prefix string, v any, num map[string]float64, str map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			flatten(prefix+k+".", c, num, str)
		}
	case json.Number:
		if f, err := x.Float64(); err == nil {
			num[strings.TrimSuffix(prefix, ".")] = f
		}
	case bool:
		b := 0.0
		if x {
			b = 1
		}
		num[strings.TrimSuffix(prefix, ".")] = b
	case string:
		str[strings.TrimSuffix(prefix, ".")] = x
	}
}

func flattenJSON(prefix string, data []byte, f Fields) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	flatten(prefix, v, f.Num, f.Str)
	return nil
}

// scenarioFields are the fields known before a point runs.
func scenarioFields(s scenarios.Scenario, cost *Cost) (Fields, error) {
	f := Fields{Num: map[string]float64{}, Str: map[string]string{}}
	data, err := json.Marshal(s)
	if err != nil {
		return f, err
	}
	if err := flattenJSON("scenario.", data, f); err != nil {
		return f, err
	}
	f.Num[FieldGPUs] = float64(s.Cluster.Nodes * s.Cluster.GPUsPerNode)
	if cost != nil {
		c, err := cost.PerHour(f)
		if err != nil {
			return f, err
		}
		f.Num[FieldCost] = c
	}
	return f, nil
}

// resultFields adds a result's fields to the scenario's.
func resultFields(pre Fields, r *scenarios.Result) (Fields, error) {
	f := Fields{Num: map[string]float64{}, Str: map[string]string{}}
	for k, v := range pre.Num {
		f.Num[k] = v
	}
	for k, v := range pre.Str {
		f.Str[k] = v
	}
	view := *r
	view.Scenario = scenarios.Scenario{}
	data, err := json.Marshal(view)
	if err != nil {
		return f, err
	}
	post := Fields{Num: map[string]float64{}, Str: map[string]string{}}
	if err := flattenJSON("", data, post); err != nil {
		return f, err
	}
	for k, v := range post.Num {
		if !strings.HasPrefix(k, "scenario.") {
			f.Num[k] = v
		}
	}
	for k, v := range post.Str {
		if !strings.HasPrefix(k, "scenario.") {
			f.Str[k] = v
		}
	}
	f.Num[FieldKernelsUs] = r.Dispatch.TimeUs + r.Combine.TimeUs
	return f, nil
}

// preRun reports whether a field is known before a point runs.
func preRun(field string) bool {
	return field == FieldCost || field == FieldGPUs || strings.HasPrefix(field, "scenario.")
}

var knownFields = sync.OnceValue(func() []string {
	f := Fields{Num: map[string]float64{}, Str: map[string]string{}}
	data, err := json.Marshal(scenarios.Result{})
	if err != nil {
		panic("search: " + err.Error())
	}
	if err := flattenJSON("", data, f); err != nil {
		panic("search: " + err.Error())
	}
	var out []string
	for k := range f.Num {
		if !strings.HasPrefix(k, "scenario.") {
			out = append(out, k)
		}
	}
	for _, p := range scenarios.Paths() {
		out = append(out, "scenario."+p)
	}
	out = append(out, FieldCost, FieldGPUs, FieldKernelsUs)
	slices.Sort(out)
	return slices.Compact(out)
})

// ResultFields lists every field a plan may name, sorted.
func ResultFields() []string { return slices.Clone(knownFields()) }

// checkField reports a field that no result has, with the numeric fields
// of its section.
func checkField(field string) error {
	all := knownFields()
	if _, ok := slices.BinarySearch(all, field); ok {
		return nil
	}
	near := scenarios.SameSection(all, field)
	if len(near) == 0 {
		near = []string{FieldCost, FieldGPUs, FieldKernelsUs, "dispatch.*", "combine.*", "overlap.*", "step.*", "compute.*", "routing.*", "scenario.PATH"}
	}
	return fmt.Errorf("field %s: no such numeric result field; fields there: %s", field, strings.Join(near, ", "))
}

// Cost prices a cluster per hour: each GPU has one NIC and one fabric
// port, so the cost is GPUs × (gpu_hour + nic_hour + fabric_hour).
type Cost struct {
	Unit                         string
	GPUHour, NICHour, FabricHour Price
}

// Price is a number, or a table of prices by the value of a scenario
// path (By).
type Price struct {
	Value float64
	By    string
	Table []PriceEntry
}

// PriceEntry is one row of a price table.
type PriceEntry struct {
	Key   string
	Price float64
}

type costFile struct {
	Unit       string    `yaml:"unit"`
	GPUHour    yaml.Node `yaml:"gpu_hour"`
	NICHour    yaml.Node `yaml:"nic_hour"`
	FabricHour yaml.Node `yaml:"fabric_hour"`
}

func (c *costFile) cost() (*Cost, error) {
	out := &Cost{Unit: c.Unit}
	if out.Unit == "" {
		out.Unit = "$/h"
	}
	for _, x := range []struct {
		name string
		n    *yaml.Node
		p    *Price
	}{{"gpu_hour", &c.GPUHour, &out.GPUHour}, {"nic_hour", &c.NICHour, &out.NICHour}, {"fabric_hour", &c.FabricHour, &out.FabricHour}} {
		p, err := decodePrice(x.n)
		if err != nil {
			return nil, fmt.Errorf("plan: cost.%s: %w", x.name, err)
		}
		*x.p = p
	}
	return out, nil
}

func decodePrice(n *yaml.Node) (Price, error) {
	switch n.Kind {
	case 0:
		return Price{}, nil
	case yaml.ScalarNode:
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || v < 0 {
			return Price{}, fmt.Errorf("%q, want a price of 0 or more, or {by: PATH, values: {VALUE: PRICE, ...}}", n.Value)
		}
		return Price{Value: v}, nil
	case yaml.MappingNode:
		var p Price
		var values *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch k, v := n.Content[i].Value, n.Content[i+1]; k {
			case "by":
				p.By = v.Value
			case "values":
				values = v
			default:
				return Price{}, fmt.Errorf("field %q, want by and values", k)
			}
		}
		if err := scenarios.CheckPath("by:", p.By); err != nil {
			return Price{}, err
		}
		if values == nil || values.Kind != yaml.MappingNode || len(values.Content) == 0 {
			return Price{}, errors.New("values: want a mapping of the path's value: price")
		}
		for i := 0; i+1 < len(values.Content); i += 2 {
			k, v := values.Content[i].Value, values.Content[i+1].Value
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 0 {
				return Price{}, fmt.Errorf("values.%s = %q, want a price of 0 or more", k, v)
			}
			p.Table = append(p.Table, PriceEntry{Key: k, Price: x})
		}
		return p, nil
	}
	return Price{}, errors.New("want a price or {by: PATH, values: {VALUE: PRICE}}")
}

// of is the price for a point whose scenario fields are f.
func (p Price) of(name string, f Fields) (float64, error) {
	if p.By == "" {
		return p.Value, nil
	}
	field := "scenario." + p.By
	s, isStr := f.Str[field]
	n, isNum := f.Num[field]
	for _, e := range p.Table {
		if isStr && e.Key == s {
			return e.Price, nil
		}
		if x, err := strconv.ParseFloat(e.Key, 64); isNum && err == nil && x == n {
			return e.Price, nil
		}
	}
	val := s
	if isNum {
		val = strconv.FormatFloat(n, 'g', -1, 64)
	}
	var keys []string
	for _, e := range p.Table {
		keys = append(keys, e.Key)
	}
	return 0, fmt.Errorf("plan: cost.%s: no price for %s = %s; priced values: %s", name, p.By, val, strings.Join(keys, ", "))
}

// PerHour is the cluster's cost per hour.
func (c *Cost) PerHour(f Fields) (float64, error) {
	total := 0.0
	for _, x := range []struct {
		name string
		p    Price
	}{{"gpu_hour", c.GPUHour}, {"nic_hour", c.NICHour}, {"fabric_hour", c.FabricHour}} {
		v, err := x.p.of(x.name, f)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total * f.Num[FieldGPUs], nil
}
