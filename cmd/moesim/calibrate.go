package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moesim/moesim/topology"
	"github.com/moesim/moesim/topology/calibrate"
)

func init() {
	commands["calibrate"] = command{"fit a hardware file (HW.yaml) from a profile measured with the kit (topology/probe)", cmdCalibrate}
}

func cmdCalibrate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("calibrate", "calibrate PROFILE.json [--out HW.yaml] [--name NAME] [--base PRESET] [--bulk BULK.json]", stderr)
	out := fs.String("out", "", "write the hardware file here (default: stdout)")
	name := fs.String("name", "", "the hardware's name (default: the profile file's base name)")
	base := fs.String("base", "", "hardware preset for what the kit cannot measure: node size, datasheet FLOP/s and HBM, launch cost, fitted link efficiencies (default: NAME-datasheet if that preset exists, else h800)")
	bulk := fs.String("bulk", "", "bulk-copy profile (topology/probe/bulk.py) to fit the DeepEP V2 warps' constants from (sm_bulk_copy_GBps, sm_bulk_load_GBps, bulk_record_ns); without it they come from the base")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one PROFILE.json, got %d arguments", len(pos))
	}
	path := pos[0]
	data, err := readBounded(path, calibrate.MaxProfileBytes)
	if err != nil {
		return usageError{err}
	}
	p, err := calibrate.Parse(data)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	n := *name
	if n == "" {
		n = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if *base == "" {
		*base = "h800"
		if _, ok := topology.PresetHardware(n + "-datasheet"); ok {
			*base = n + "-datasheet"
		}
	}
	b, ok := topology.PresetHardware(*base)
	if !ok {
		return usagef("--base = %q, want one of %s", *base, strings.Join(topology.PresetNames(), ", "))
	}
	// Sources name the profile by its slash path as given, so a file
	// fitted in CI and on a laptop is the same bytes.
	h, err := calibrate.Fit(p, b, n, filepath.ToSlash(path))
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	cmdline := fmt.Sprintf("moesim calibrate %s --base %s", filepath.ToSlash(path), *base)
	if *bulk != "" {
		data, err := readBounded(*bulk, calibrate.MaxProfileBytes)
		if err != nil {
			return usageError{err}
		}
		bp, err := calibrate.ParseBulk(data)
		if err == nil {
			var f calibrate.BulkFit
			if f, err = calibrate.FitBulk(bp); err == nil {
				f.Apply(h, filepath.ToSlash(*bulk))
				err = h.Check()
			}
		}
		if err != nil {
			return usageError{fmt.Errorf("--bulk %s: %w", *bulk, err)}
		}
		cmdline += " --bulk " + filepath.ToSlash(*bulk)
	}
	header := fmt.Sprintf("moesim hardware file, written by `%s`.\nEvery constant names its kind (measured, published, assumed, fitted) and source.\nDo not edit by hand: rerun the command, which CI checks reproduces this file.", cmdline)
	return writeOutput(*out, stdout, func(w io.Writer) error {
		_, err := w.Write(h.Format(header))
		return err
	})
}

// readBounded reads at most limit bytes of path and refuses larger files,
// so a wrong path (a device, a huge file) fails fast.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := openBounded(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// openBounded opens path for reading if it is a regular file of at most
// limit bytes; the caller closes it. A file that does not exist is
// fs.ErrNotExist.
func openBounded(path string, limit int64) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, usagef("%s is not a regular file", path)
	}
	if st.Size() > limit {
		f.Close()
		return nil, usagef("%s is larger than %d bytes", path, limit)
	}
	return f, nil
}
