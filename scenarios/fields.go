package scenarios

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/schedule"
	"github.com/moesim/moesim/scenarios/workload"
	"github.com/moesim/moesim/topology"
)

// Strict field checks: the one path every scenario value takes from text
// to a number, and the range every number must lie in before the model
// sees it.
//
// Invariants:
//   - checkTree runs on the YAML tree (file and --set overrides merged)
//     before it is decoded: every key is a field; every integer field holds
//     an integer literal, every float field a finite number, every bool
//     true or false; no scalar is empty. An error names the field path, the
//     value as typed and what is allowed.
//   - checkRanges runs on the scenario after WithDefaults: every numeric
//     field lies in its range, the hardware constants' from
//     topology.Constants, the others' from fieldLimits. Every numeric path
//     has one (TestEveryNumericFieldHasALimit), so a field added without a
//     limit fails the tests rather than reaching the engine unchecked.

// fieldLimits are the ranges of the numeric fields that are not hardware
// constants (cluster.<key> of topology.Constants carries its own). The
// ranges apply after defaults, so 0 appears only where it means something
// (off, no limit). They keep every figure the model derives (bytes,
// FLOPs, picoseconds) inside int64 picoseconds and memory a run can hold.
var fieldLimits = map[string]topology.ConstantSpec{
	"cluster.nodes":                 {Min: 1, Max: topology.MaxNodes, Integer: true},
	"cluster.rail_oversubscription": {Min: 1, Max: 1000},
	// The fabric's ranges are topology.Fabric.Validate's.
	"cluster.fabric.nodes_per_leaf":        {Min: 0, Max: topology.MaxNodes, Integer: true},
	"cluster.fabric.leaf_oversubscription": {Min: 1, Max: 64},
	"cluster.fabric.planes":                {Min: 1, Max: topology.MaxPlanes, Integer: true},
	"cluster.fabric.spine_latency_us":      {Min: 0, Max: 1000, Unit: "µs"},

	"model.hidden":              {Min: 1, Max: 1 << 16, Integer: true},
	"model.experts":             {Min: 1, Max: 1 << 16, Integer: true},
	"model.shared_experts":      {Min: 0, Max: 64, Integer: true},
	"model.topk":                {Min: 1, Max: 64, Integer: true},
	"model.max_nodes_per_token": {Min: 0, Max: topology.MaxNodes, Integer: true},
	"model.expert_intermediate": {Min: 1, Max: 1 << 17, Integer: true},
	"model.redundant_experts":   {Min: 0, Max: 1 << 16, Integer: true},
	"model.placement":           {Min: 0, Max: topology.MaxNodes * topology.MaxGPUsPerNode, Integer: true},
	"model.heads":               {Min: 1, Max: 1024, Integer: true},
	"model.head_dim":            {Min: 1, Max: 4096, Integer: true},
	"model.rope_head_dim":       {Min: 0, Max: 4096, Integer: true},
	"model.kv_lora_rank":        {Min: 1, Max: 1 << 16, Integer: true},
	"model.q_lora_rank":         {Min: 0, Max: 1 << 16, Integer: true},
	"model.seq_len":             {Min: 1, Max: 1 << 20, Integer: true},
	"model.layers":              {Min: 1, Max: 1024, Integer: true},

	// 0 only with routing: trace, where the trace gives the count.
	"workload.tokens_per_gpu":      {Min: 0, Max: 1 << 20, Integer: true},
	"workload.gpus_per_node_visit": {Min: 0, Max: topology.MaxGPUsPerNode},
	"workload.zipf_s":              {Min: 0, Max: 100},
	"workload.hot_expert":          {Min: 0, Max: 1 << 16, Integer: true},
	"workload.hot_expert_share":    {Min: 0, Max: 1},
	"workload.hot_rank":            {Min: 0, Max: topology.MaxNodes * topology.MaxGPUsPerNode, Integer: true},
	"workload.hot_rank_factor":     {Min: 0, Max: 1024},
	"workload.start_skew_us":       {Min: 0, Max: workload.MaxStartSkewUs, Unit: "µs"},

	"schedule.layers":          {Min: 1, Max: schedule.MaxLayers, Integer: true},
	"schedule.pipeline_stages": {Min: 1, Max: schedule.MaxStages, Integer: true},
	"schedule.micro_batches":   {Min: 1, Max: schedule.MaxMicroBatches, Integer: true},

	"kernel.num_sms":              {Min: 2, Max: topology.MaxSMs, Integer: true},
	"kernel.dispatch.nvl_chunk":   {Min: 1, Max: 4096, Integer: true},
	"kernel.dispatch.nvl_buffer":  {Min: 1, Max: 1 << 16, Integer: true},
	"kernel.dispatch.rdma_chunk":  {Min: 1, Max: 4096, Integer: true},
	"kernel.dispatch.rdma_buffer": {Min: 1, Max: 1 << 16, Integer: true},
	"kernel.combine.nvl_chunk":    {Min: 1, Max: 4096, Integer: true},
	"kernel.combine.nvl_buffer":   {Min: 1, Max: 1 << 16, Integer: true},
	"kernel.combine.rdma_chunk":   {Min: 1, Max: 4096, Integer: true},
	"kernel.combine.rdma_buffer":  {Min: 1, Max: 1 << 16, Integer: true},

	// compute.efficiency below 0.001 would make a layer's GEMMs outlast
	// the engine's time range; above 1 beats the datasheet.
	"compute.efficiency": {Min: 0.001, Max: 1},
	"compute.tile_m":     {Min: 1, Max: 1024, Integer: true},
	"compute.tile_n":     {Min: 1, Max: 1024, Integer: true},
}

// FieldLimit returns the range of the numeric field at path (a
// cluster.<key> hardware constant or a fieldLimits entry), false for a
// path with none.
func FieldLimit(path string) (topology.ConstantSpec, bool) {
	if key, ok := strings.CutPrefix(path, "cluster."); ok {
		if spec, ok := topology.ConstantNamed(key); ok {
			return spec, true
		}
	}
	spec, ok := fieldLimits[path]
	return spec, ok
}

// leaf is one scalar field of a scenario value: its path and value.
type leaf struct {
	path string
	v    reflect.Value
}

// leaves walks v (a struct) by its yaml tags, through nested structs and
// slices, and returns every scalar field. Slice elements share their
// slice's path.
func leaves(v reflect.Value, prefix string, out []leaf) []leaf {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out = leavesOf(v.Field(i), prefix+name, out)
	}
	return out
}

func leavesOf(v reflect.Value, path string, out []leaf) []leaf {
	switch v.Kind() {
	case reflect.Struct:
		return leaves(v, path+".", out)
	case reflect.Slice, reflect.Array:
		for j := range v.Len() {
			out = leavesOf(v.Index(j), path, out)
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return out
		}
		return leavesOf(v.Elem(), path, out)
	}
	return append(out, leaf{path, v})
}

// checkRanges checks every numeric field of s (after WithDefaults) against
// its limit.
func (s Scenario) checkRanges() error {
	// An explicit 0 that defaults would have filled (zeros.go) is a value:
	// refused where the range has no 0, rather than run as the default.
	for _, p := range s.zeros {
		if spec, ok := FieldLimit(p); ok && spec.Min > 0 {
			return fmt.Errorf("scenario: %s = 0, want %s; leave the field out for its default", p, strings.TrimPrefix(limitText(p), " in "))
		}
	}
	// tokens_per_gpu's range has 0 for a trace, whose count it takes; after
	// defaults, another routing has 0 only where the input gave it.
	if w := s.Workload; w.TokensPerGPU == 0 && w.Routing != workload.RoutingTrace {
		return fmt.Errorf("scenario: workload.tokens_per_gpu = 0 with workload.routing %s, want 1..%s (0 takes a trace's count); leave the field out for its default",
			w.Routing, topology.FormatNumber(fieldLimits["workload.tokens_per_gpu"].Max))
	}
	for _, l := range leaves(reflect.ValueOf(s), "", nil) {
		x, ok := number(l.v)
		if !ok {
			continue // strings, bools and seed (any uint64) are checked elsewhere
		}
		if s.Kernel.Mode == dispatch.V2 && x == 0 && (l.path == "kernel.num_sms" ||
			strings.HasPrefix(l.path, "kernel.dispatch.") || strings.HasPrefix(l.path, "kernel.combine.")) {
			continue // V2 has no chunks, and sizes num_sms itself: checkV2Fields says more
		}
		spec, ok := FieldLimit(l.path)
		if !ok {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("scenario: %s = %g, want a finite number", l.path, x)
			}
			continue
		}
		if err := spec.Check(l.path, x); err != nil {
			return fmt.Errorf("scenario: %v", err)
		}
	}
	return nil
}

// number is a signed integer or float field's value as a float64; false
// for any other kind.
func number(v reflect.Value) (float64, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return 0, false
}

// integerText is an integer literal as a field takes it: optional sign,
// decimal digits.
var integerText = regexp.MustCompile(`^[-+]?[0-9]+$`)

// checkTree checks the merged YAML tree of a scenario against the
// Scenario type before it is decoded.
func checkTree(root *yaml.Node) error {
	return checkNode(root, reflect.TypeFor[Scenario](), "")
}

func checkNode(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		return nodeErr(n, path, "an alias (*name)", "the value itself")
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && isNull(n) && path != "" {
				return nil // "cluster:" with nothing under it: all defaults
			}
			return nodeErr(n, path, describe(n), "a mapping of fields")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				return unknownField(k, path, t)
			}
			if err := checkNode(n.Content[i+1], f.Type, join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nodeErr(n, path, describe(n), "a mapping")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkNode(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Interface:
		return nil // any value; the decoder and Validate judge it
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return nodeErr(n, path, describe(n), "a list [a, b, ...]")
		}
		for _, c := range n.Content {
			if err := checkNode(c, t.Elem(), path); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return nodeErr(n, path, describe(n), "a single value")
	}
	if isNull(n) {
		return nodeErr(n, path, describe(n), "a value (leave the field out for its default)")
	}
	v := n.Value
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !integerText.MatchString(v) {
			return nodeErr(n, path, strconv.Quote(v), "an integer"+limitText(path))
		}
		if _, err := strconv.ParseInt(v, 10, t.Bits()); err != nil {
			return nodeErr(n, path, v, "an integer"+limitText(path))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, t.Bits()); err != nil || !integerText.MatchString(v) {
			return nodeErr(n, path, strconv.Quote(v), fmt.Sprintf("an integer in 0..%d", uint64(1)<<t.Bits()-1))
		}
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || strings.HasPrefix(strings.ToLower(v), "0x") {
			return nodeErr(n, path, strconv.Quote(v), "a finite decimal number"+limitText(path))
		}
	case reflect.Bool:
		if v != "true" && v != "false" {
			return nodeErr(n, path, strconv.Quote(v), "true or false")
		}
	}
	return nil
}

// limitText is " in MIN..MAX UNIT" for a path with a limit.
func limitText(path string) string {
	spec, ok := FieldLimit(path)
	if !ok {
		return ""
	}
	unit := ""
	if spec.Unit != "" {
		unit = " " + spec.Unit
	}
	return fmt.Sprintf(" in %s..%s%s", topology.FormatNumber(spec.Min), topology.FormatNumber(spec.Max), unit)
}

func isNull(n *yaml.Node) bool {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return n.Value == ""
	}
	switch n.Value {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if isNull(n) {
		return "empty"
	}
	return strconv.Quote(n.Value)
}

// nodeErr names the field (and the file line, when the value came from the
// file rather than --set), the value and what is allowed.
func nodeErr(n *yaml.Node, path, got, want string) error {
	if path == "" {
		path = "the scenario"
	}
	at := ""
	if n.Line > 0 {
		at = fmt.Sprintf("line %d: ", n.Line)
	}
	if got == "empty" {
		return fmt.Errorf("scenario: %s%s is empty, want %s", at, path, want)
	}
	return fmt.Errorf("scenario: %s%s = %s, want %s", at, path, got, want)
}

func unknownField(k *yaml.Node, path string, t reflect.Type) error {
	var names []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" && t.Field(i).IsExported() {
			names = append(names, join(path, name))
		}
	}
	slices.Sort(names)
	at := ""
	if k.Line > 0 {
		at = fmt.Sprintf("line %d: ", k.Line)
	}
	return fmt.Errorf("scenario: %s%s: no such field; fields there: %s", at, join(path, k.Value), strings.Join(names, ", "))
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
