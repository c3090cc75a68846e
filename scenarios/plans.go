package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// The built-in capacity plans (`moesim plan --example NAME`) are embedded
// here beside the presets they start from; scenarios/search decodes them.

//go:embed plans/*.yaml
var planFS embed.FS

// PlanExampleNames lists the embedded plan examples, sorted.
func PlanExampleNames() []string {
	entries, err := fs.ReadDir(planFS, "plans")
	if err != nil {
		panic("scenarios: embedded plans missing: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// PlanExampleYAML is the named plan example's file, comments included.
func PlanExampleYAML(name string) ([]byte, error) {
	data, err := planFS.ReadFile(path.Join("plans", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("plan: --example %q does not exist; examples: %s", name, strings.Join(PlanExampleNames(), ", "))
	}
	return data, nil
}
