package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moesim/moesim/topology"
)

// The committed H200 hardware file is what `moesim calibrate` makes of
// the committed profile, byte for byte: the preset cannot drift from the
// measurement.
func TestCalibrateReproducesTheCommittedH200File(t *testing.T) {
	profile := "../../topology/profiles/h200.json"
	if _, err := os.Stat(profile); err != nil {
		t.Skip("no measured H200 profile committed yet")
	}
	want, err := os.ReadFile("../../topology/profiles/h200.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Run from the repository root, as README's command is, so the
	// sources name the profile by the same path.
	wd, _ := os.Getwd()
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	code, out, errs := runCLI("calibrate", "topology/profiles/h200.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if out != string(want) {
		t.Errorf("moesim calibrate topology/profiles/h200.json differs from topology/profiles/h200.yaml; rerun it with --out topology/profiles/h200.yaml")
	}
}

func TestCalibrateRefusesBadProfilesAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	outPath := filepath.Join(dir, "hw.yaml")
	if err := os.WriteFile(outPath, []byte("good\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"empty.json":    ``,
		"unknown.json":  `{"kit_version":"1","gpu":{"name":"x","sms":132},"bogus":1}`,
		"nopoints.json": `{"kit_version":"1","gpu":{"name":"x","sms":132}}`,
		"negative.json": `{"kit_version":"1","gpu":{"name":"x","sms":132},"copy_sms":[{"kind":"local","sms":1,"warps_per_sm":1,"bytes":1,"seconds":-1,"GBps":1}]}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errs := runCLI("calibrate", p, "--out", outPath)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (%s)", name, code, errs)
		}
		if !strings.Contains(errs, name) {
			t.Errorf("%s: error does not name the file: %s", name, errs)
		}
		if b, _ := os.ReadFile(outPath); string(b) != "good\n" {
			t.Errorf("%s: the output file was overwritten", name)
		}
	}
	if code, _, errs := runCLI("calibrate", filepath.Join(dir, "missing.json")); code != 2 {
		t.Errorf("missing profile: exit %d, want 2 (%s)", code, errs)
	}
}

// A scenario file names a hardware file relative to its own folder, and
// the run uses the file's constants.
func TestScenarioUsesHardwareFileRelativeToItsFolder(t *testing.T) {
	dir := t.TempDir()
	h, _ := topology.PresetHardware("h800")
	slow := *h
	slow.Name = "slow-nvlink"
	slow.Constants = map[string]topology.Value{}
	for k, v := range h.Constants {
		slow.Constants[k] = v
	}
	v := slow.Constants["nvlink_GBps"]
	v.Value = 40
	slow.Constants["nvlink_GBps"] = v
	if err := os.MkdirAll(filepath.Join(dir, "hw"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hw", "slow.yaml"), slow.Format("test"), 0o644); err != nil {
		t.Fatal(err)
	}
	scen := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(scen, []byte("cluster:\n  hardware_file: hw/slow.yaml\n  nodes: 1\nworkload:\n  tokens_per_gpu: 256\nkernel:\n  num_sms: 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("run", "--scenario", scen, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res struct {
		Scenario struct {
			Cluster struct {
				Preset     string  `json:"preset"`
				NVLinkGBps float64 `json:"nvlink_GBps"`
			} `json:"cluster"`
		} `json:"scenario"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Scenario.Cluster.Preset != "slow-nvlink" || res.Scenario.Cluster.NVLinkGBps != 40 {
		t.Errorf("cluster = %+v, want the hardware file's name and 40 GB/s NVLink", res.Scenario.Cluster)
	}
	// A hardware file that does not parse is an input error naming it.
	if err := os.WriteFile(filepath.Join(dir, "hw", "slow.yaml"), []byte("name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI("run", "--scenario", scen); code != 2 || !strings.Contains(errs, "hardware_file") {
		t.Errorf("bad hardware file: exit %d: %s", code, errs)
	}
}

// With --bulk, calibrate fits the V2 warps' bulk constants from the bulk
// run and marks them measured, naming the run; a bad bulk file is exit 2.
func TestCalibrateBulk(t *testing.T) {
	code, out, errs := runCLI("calibrate", "../../topology/profiles/h200.json", "--bulk", "../../topology/profiles/h100-bulk.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	h, err := topology.ParseHardware([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"sm_bulk_copy_GBps", "sm_bulk_load_GBps", "bulk_record_ns"} {
		c := h.Constants[key]
		if c.Kind != topology.Measured || !strings.Contains(c.Source, "h100-bulk.json") || c.Value <= 0 {
			t.Errorf("%s = %+v, want measured from h100-bulk.json", key, c)
		}
	}
	if !strings.Contains(out, "--bulk ../../topology/profiles/h100-bulk.json") {
		t.Error("the header does not give the --bulk argument that made the file")
	}
	bad := filepath.Join(t.TempDir(), "bulk.json")
	if err := os.WriteFile(bad, []byte(`{"bulk_warps": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI("calibrate", "../../topology/profiles/h200.json", "--bulk", bad); code != 2 || !strings.Contains(errs, "bulk_warps is empty") {
		t.Errorf("empty bulk run: exit %d, %q; want 2 and the reason", code, errs)
	}
}
