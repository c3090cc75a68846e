package report

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sweepFile(t *testing.T, set *Set) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, r := range set.Rows {
		line, err := MarshalLine(r.Point, r.Result)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatal("a sweep line must be one line ending in a newline")
		}
		buf.Write(line)
	}
	return buf.Bytes()
}

func TestSweepFileRoundTrip(t *testing.T) {
	set := fixtureSet()
	data := sweepFile(t, set)
	// Completion order does not matter: reverse the lines.
	lines := strings.SplitAfter(string(data), "\n")
	var rev strings.Builder
	for i := len(lines) - 1; i >= 0; i-- {
		rev.WriteString(lines[i])
	}
	sw, err := ReadSweep(strings.NewReader(rev.String()), "s.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if sw.TornLine != 0 || sw.Unterminated || sw.Complete != int64(len(data)) {
		t.Fatalf("ReadSweep = %+v", sw)
	}
	if !reflect.DeepEqual(sw.Set, set) {
		t.Fatal("a sweep file does not read back as the set written")
	}
}

func TestSweepFileTornTail(t *testing.T) {
	data := sweepFile(t, fixtureSet())
	cut := data[:len(data)-40]
	sw, err := ReadSweep(bytes.NewReader(cut), "s.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if sw.TornLine != 9 || len(sw.Set.Rows) != 8 {
		t.Fatalf("torn line %d with %d rows, want line 9 and 8 rows", sw.TornLine, len(sw.Set.Rows))
	}
	if want := bytes.LastIndexByte(cut, '\n') + 1; sw.Complete != int64(want) {
		t.Fatalf("Complete = %d, want %d", sw.Complete, want)
	}
	// A last line that parses but lacks its newline is kept.
	sw, err = ReadSweep(bytes.NewReader(data[:len(data)-1]), "s.jsonl")
	if err != nil || len(sw.Set.Rows) != 9 || !sw.Unterminated {
		t.Fatalf("unterminated last line: %+v, %v", sw, err)
	}
}

func TestSweepFileBadLines(t *testing.T) {
	data := sweepFile(t, fixtureSet())
	lines := strings.SplitAfter(string(data), "\n")
	good := lines[0] + lines[1]
	other := strings.Replace(lines[2], `"seed":`, `"model.topk":`, 1)
	for _, c := range []struct {
		name, file string
		line       int
		msg        string
	}{
		{"not JSON", good + "{oops\n", 3, "not a sweep point"},
		{"no result", good + `{"point":{"index":9,"values":{"kernel.num_sms":"8","seed":"9"}}}` + "\n", 3, `no "result"`},
		{"no point", good + `{"result":{}}` + "\n", 3, `no "point"`},
		{"unknown field", good + strings.Replace(lines[2], `"point":`, `"extra":1,"point":`, 1), 3, "unknown field"},
		{"other sweep", good + other, 3, "one file holds one sweep"},
		{"duplicate", good + lines[1], 3, "repeats line 2"},
		{"two values", good + strings.TrimSuffix(lines[2], "\n") + " {}\n", 3, "more than one JSON value"},
		{"value not a string", good + strings.Replace(lines[2], `"seed":"3"`, `"seed":3`, 1), 3, "must be a string"},
		{"blank lines skipped", "\n" + good + "\n" + "{oops\n", 5, "not a sweep point"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadSweep(strings.NewReader(c.file), "runs/s.jsonl")
			var le *LineError
			if !errors.As(err, &le) || le.Line != c.line || le.File != "runs/s.jsonl" || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want runs/s.jsonl:%d: ...%s...", err, c.line, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "runs/s.jsonl:") {
				t.Fatalf("error %q does not start with file:line", err)
			}
		})
	}
}

func TestValuesKeepOrder(t *testing.T) {
	v := values{{Path: "seed", Value: "1"}, {Path: "kernel.num_sms", Value: "8"}}
	b, err := v.MarshalJSON()
	if err != nil || string(b) != `{"seed":"1","kernel.num_sms":"8"}` {
		t.Fatalf("MarshalJSON = %s, %v", b, err)
	}
	var back values
	if err := back.UnmarshalJSON(b); err != nil || !reflect.DeepEqual(back, v) {
		t.Fatalf("UnmarshalJSON = %v, %v", back, err)
	}
	if err := back.UnmarshalJSON([]byte(`{"a":"1","a":"2"}`)); err == nil {
		t.Fatal("a path given twice must be an error")
	}
}
