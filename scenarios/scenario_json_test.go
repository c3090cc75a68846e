package scenarios

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestScenarioJSONUsesYAMLPaths(t *testing.T) {
	for _, name := range PresetNames() {
		s, err := LoadPreset(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var m struct{ Kernel, Cluster map[string]any }
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		if m.Kernel["num_sms"] != float64(s.Kernel.NumSMs) || m.Cluster["nic_GBps"] != s.Cluster.NICGBps {
			t.Fatalf("%s: JSON %s lacks kernel.num_sms or cluster.nic_GBps", name, b)
		}
		var back Scenario
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back, s) {
			t.Fatalf("%s: JSON round trip changed the scenario:\n got %+v\nwant %+v", name, back, s)
		}
	}
	var s Scenario
	if err := json.Unmarshal([]byte(`{"kernel":{"num_smz":8}}`), &s); err == nil || !strings.Contains(err.Error(), "num_smz") {
		t.Fatalf("unknown field: %v, want an error naming it", err)
	}
}
