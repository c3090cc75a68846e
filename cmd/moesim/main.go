// Command moesim simulates Mixture-of-Experts all-to-all communication
// (DeepSeek-V3 / DeepEP dispatch and combine) on GPU clusters.
//
// It is the only package that touches files, flags and the terminal.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/moesim/moesim/scenarios"
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"run":     {"simulate a scenario (default: the deepseek-v3-train preset) and print its report", cmdRun},
	"presets": {"list scenario and hardware presets; `presets show NAME` prints a preset's YAML", cmdPresets},
}

// usageError marks bad flags or bad input: exit status 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// interrupted marks a command stopped by Ctrl-C (SIGINT) or SIGTERM after
// it saved what it could: exit status 130, as a shell reports SIGINT.
type interrupted struct{ err error }

func (i interrupted) Error() string { return i.err.Error() }
func (i interrupted) Unwrap() error { return i.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "moesim: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, new(interrupted)):
		fmt.Fprintf(stderr, "moesim %s: %v\n", args[0], err)
		return 130
	case errors.As(err, new(usageError)), errors.As(err, new(scenarios.InputError)):
		fmt.Fprintf(stderr, "moesim %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "moesim %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "moesim simulates MoE expert-parallel dispatch and combine (DeepSeek-V3 / DeepEP) on GPU clusters.")
	fmt.Fprintln(w, "\nUsage: moesim <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `moesim <command> --help` for a command's flags.")
}
