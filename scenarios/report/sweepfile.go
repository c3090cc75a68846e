package report

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/moesim/moesim/scenarios"
	"github.com/moesim/moesim/scenarios/search"
)

// A sweep file is JSON lines, one finished point per line, appended in
// completion order:
//
//	{"point":{"index":3,"values":{"kernel.num_sms":"16"}},"result":{...}}
//
// "values" are the point's varied paths and values as given to --vary, in
// --vary order; "result" is MarshalResult of the point's run. Readers sort
// lines by the points' values (NewSet), so neither a file's line order nor
// the indices written matter.

// Row is one point of a sweep and its result.
type Row struct {
	Point  search.Point
	Result *scenarios.Result
}

// Set is a sweep's rows in point order, with the varied paths.
type Set struct {
	Vary []string
	Rows []Row
}

// NewSet returns the rows as a Set sorted by the points' values (the
// first varied path slowest; numbers by value, text by bytes) and numbers
// them 0..n-1 in that order. A point is identified by its values, not by
// the index it was written with: a sweep resumed with more values writes
// indices of its own expansion, which may repeat those of the first run.
func NewSet(vary []string, rows []Row) *Set {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b Row) int {
		if c := compareValues(a.Point.Values, b.Point.Values); c != 0 {
			return c
		}
		return a.Point.Index - b.Point.Index
	})
	for i := range rows {
		p := rows[i].Point
		p.Index = i
		rows[i].Point = p
	}
	return &Set{Vary: slices.Clone(vary), Rows: rows}
}

// compareValues orders two points' overrides value by value: numerically
// when both values are numbers, else as text.
func compareValues(a, b []scenarios.Override) int {
	for i := range min(len(a), len(b)) {
		x, errx := strconv.ParseFloat(a[i].Value, 64)
		y, erry := strconv.ParseFloat(b[i].Value, 64)
		c := 0
		if errx == nil && erry == nil {
			c = cmp.Compare(x, y)
		}
		if c == 0 {
			c = strings.Compare(a[i].Value, b[i].Value)
		}
		if c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// values are a point's overrides as one JSON object in their own order.
type values []scenarios.Override

func (v values) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, o := range v {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(o.Path)
		x, _ := json.Marshal(o.Value)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(x)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (v *values) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New(`"values" must be an object of path: "value"`)
	}
	*v = nil
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		x, err := dec.Token()
		s, ok := x.(string)
		if err != nil || !ok {
			return fmt.Errorf(`"values"."%s" must be a string`, k)
		}
		for _, o := range *v {
			if o.Path == k.(string) {
				return fmt.Errorf(`"values" has %s twice`, o.Path)
			}
		}
		*v = append(*v, scenarios.Override{Path: k.(string), Value: s})
	}
	return nil
}

type pointJSON struct {
	Index  int    `json:"index"`
	Values values `json:"values"`
}

type lineJSON struct {
	Point  *pointJSON  `json:"point"`
	Result *resultJSON `json:"result"`
}

func lineOf(r Row) lineJSON {
	v := viewOf(r.Result)
	return lineJSON{Point: &pointJSON{Index: r.Point.Index, Values: values(r.Point.Values)}, Result: &v}
}

// MarshalLine is one sweep-file line for a finished point, newline
// included. Write it with a single Write so lines never interleave.
func MarshalLine(p search.Point, r *scenarios.Result) ([]byte, error) {
	b, err := json.Marshal(lineOf(Row{Point: p, Result: r}))
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// SweepFile is what ReadSweep found in a sweep file.
type SweepFile struct {
	Set *Set
	// Complete is the length in bytes of the file's complete lines: the
	// offset after the last newline.
	Complete int64
	// TornLine is the number of a last line cut short (no newline and not
	// valid: a write interrupted mid-line), 0 if none. It is not in Set;
	// resuming truncates the file to Complete and runs its point again.
	TornLine int
	// Unterminated is set when the last complete point has no newline:
	// an appender must write one first.
	Unterminated bool
}

// maxLineBytes bounds one line of a sweep file.
const maxLineBytes = 64 << 20

// LineError is a bad line of a sweep file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ReadSweep reads a sweep file named name (for messages). Every line must
// be a complete point of the same varied paths, each point at most once;
// blank lines are skipped. A bad line is a *LineError naming the file and
// line. A last line without a newline that does not parse is reported in
// TornLine, not as an error.
func ReadSweep(r io.Reader, name string) (*SweepFile, error) {
	br := bufio.NewReader(r)
	f := &SweepFile{}
	var (
		rows  []Row
		vary  []string
		first int
		seen  = map[string]int{}
	)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			var full []byte
			full = append(full, line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(full) <= maxLineBytes {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			if len(full) > maxLineBytes {
				return nil, &LineError{name, n, fmt.Errorf("line longer than %d bytes", maxLineBytes)}
			}
			line = full
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(line) == 0 {
			break
		}
		complete := line[len(line)-1] == '\n'
		if len(bytes.TrimSpace(line)) == 0 {
			f.Complete += int64(len(line))
			continue
		}
		row, perr := parseLine(line)
		if perr != nil {
			if !complete {
				f.TornLine = n
				break
			}
			return nil, &LineError{name, n, perr}
		}
		paths := make([]string, len(row.Point.Values))
		for i, o := range row.Point.Values {
			paths[i] = o.Path
		}
		if vary == nil {
			vary, first = paths, n
		} else if !slices.Equal(paths, vary) {
			return nil, &LineError{name, n, fmt.Errorf("point varies [%s], line %d varies [%s]: one file holds one sweep",
				strings.Join(paths, " "), first, strings.Join(vary, " "))}
		}
		if m, dup := seen[row.Point.Key()]; dup {
			return nil, &LineError{name, n, fmt.Errorf("point %s repeats line %d", row.Point, m)}
		}
		seen[row.Point.Key()] = n
		rows = append(rows, row)
		f.Complete += int64(len(line))
		if !complete {
			f.Unterminated = true
			break
		}
	}
	f.Set = NewSet(vary, rows)
	return f, nil
}

func parseLine(line []byte) (Row, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var l lineJSON
	if err := dec.Decode(&l); err != nil {
		return Row{}, fmt.Errorf("not a sweep point: %v", err)
	}
	if dec.More() {
		return Row{}, errors.New("more than one JSON value on the line")
	}
	switch {
	case l.Point == nil:
		return Row{}, errors.New(`no "point"`)
	case l.Result == nil:
		return Row{}, errors.New(`no "result"`)
	case l.Point.Index < 0:
		return Row{}, fmt.Errorf(`"point"."index" = %d, want 0 or more`, l.Point.Index)
	case len(l.Point.Values) == 0:
		return Row{}, errors.New(`"point"."values" is empty`)
	case l.Result.Meta.RunID == "":
		return Row{}, errors.New(`"result"."meta"."run_id" is empty`)
	}
	return Row{Point: search.Point{Index: l.Point.Index, Values: l.Point.Values}, Result: l.Result.result()}, nil
}
