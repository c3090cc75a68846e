package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

var errHelp = errors.New("help shown")

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: moesim %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and turns flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	return nil
}

// parseInterspersed is parse for commands that take arguments as well as
// flags, in any order (`calibrate PROFILE.json --out HW.yaml`). It
// returns the arguments; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// writeOutput renders into memory first, then writes path atomically: a
// temporary file beside it, renamed over it. Only a regular file is
// replaced (checkOutPath), keeping its permissions; a failure leaves
// whatever was at path untouched. An empty path or "-" means stdout.
func writeOutput(path string, stdout io.Writer, render func(io.Writer) error) error {
	if err := checkOutPath("--out", path); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	if path == "" || path == "-" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	mode := os.FileMode(0o644) // a report is for sharing
	if st, err := os.Lstat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return usagef("--out %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	// Check again: the path may have changed while the report rendered.
	if err := checkOutPath("--out", path); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// checkOutPath refuses an output path that is not absent or a regular
// file: a symlink (its target would not be written), a directory, a named
// pipe, a device or a socket, which renaming over would destroy. Empty and
// "-" (stdout) pass.
func checkOutPath(flag, path string) error {
	if path == "" || path == "-" {
		return nil
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if d, derr := os.Stat(filepath.Dir(path)); derr != nil || !d.IsDir() {
			return usagef("%s %s: the folder %s does not exist", flag, path, filepath.Dir(path))
		}
		return nil
	case err != nil:
		return usagef("%s %s: %v", flag, path, err)
	case st.Mode().IsRegular():
		return nil
	}
	kind := "not a regular file"
	switch m := st.Mode(); {
	case m&fs.ModeSymlink != 0:
		kind = "a symbolic link"
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return usagef("%s %s is %s; moesim writes only to a new or regular file (give its real path, or another name)", flag, path, kind)
}
