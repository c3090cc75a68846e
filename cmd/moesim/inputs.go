package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/report"
	"github.com/moesim/moesim/scenarios/workload"
)

// Input files: every file a run reads is read through readBounded (a
// regular file, at most its documented size: scenarios.MaxScenarioBytes,
// workload.MaxTraceFileBytes, topology.MaxHardwareFileBytes,
// report.MaxSweepFileBytes), a relative name in a scenario file is
// resolved from that file's folder, and the run id covers the bytes of
// every file read, not only the scenario's text.

// resolveFrom is name, relative to dir when it is relative and dir is set.
func resolveFrom(dir, name string) string {
	if dir == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
}

// loadTrace reads the routing trace a trace scenario needs: --trace-routing
// (from the working directory) or workload.trace_file (from the scenario
// file's folder dir). The effective scenario records the file used.
func loadTrace(s *scenarios.Scenario, dir, flagFile string) (scenarios.RunOptions, error) {
	var opt scenarios.RunOptions
	if s.Workload.Routing != workload.RoutingTrace {
		return opt, nil
	}
	path := s.Workload.TraceFile
	if path != "" {
		path = resolveFrom(dir, path)
	}
	if flagFile != "" {
		path = flagFile
		s.Workload.TraceFile = flagFile
	}
	if path == "" {
		return opt, usagef("workload.routing = trace needs workload.trace_file or --trace-routing FILE")
	}
	data, err := readBounded(path, workload.MaxTraceFileBytes)
	if err != nil {
		return opt, usagef("workload.trace_file = %q: %v", path, err)
	}
	opt.Trace, opt.TraceName = data, path
	return opt, nil
}

// runID names a run by what decides its result: the effective scenario
// and the content of every input file (the routing trace, the hardware
// file), so the same inputs always give the same id and a changed file a
// new one. A scenario that reads no file keeps the id of its text alone.
func runID(s scenarios.Scenario, opt scenarios.RunOptions) string {
	var buf bytes.Buffer
	_ = scenarios.Encode(&buf, s)
	for _, in := range []struct {
		field string
		data  []byte
	}{{"cluster.hardware_file", s.HardwareFileData()}, {"workload.trace_file", opt.Trace}} {
		if in.data != nil {
			fmt.Fprintf(&buf, "\x00%s sha256:%x", in.field, sha256.Sum256(in.data))
		}
	}
	return uuid.NewSHA1(uuid.NameSpaceOID, buf.Bytes()).String()
}

// maxSweepFileBytes bounds a sweep file that report and sweep --resume
// read (4 GiB: 100,000 points of the largest clusters); each of its lines
// is bounded too (report.ReadSweep).
const maxSweepFileBytes = 4 << 30

// readSweepFile reads the sweep file at path, a regular file of at most
// maxSweepFileBytes. A file that does not exist is fs.ErrNotExist.
func readSweepFile(path string) (*report.SweepFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, usagef("%s is not a regular file", path)
	}
	if st.Size() > maxSweepFileBytes {
		return nil, usagef("%s is larger than %d bytes", path, int64(maxSweepFileBytes))
	}
	sw, err := report.ReadSweep(io.LimitReader(f, maxSweepFileBytes), path)
	if err != nil {
		return nil, usageError{err}
	}
	return sw, nil
}
