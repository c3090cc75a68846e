package workload

// Routing traces: recorded top-k expert ids, one row per token, replayed by
// workload.routing = trace. Readers take an io.Reader (the command opens
// workload.trace_file), trust nothing in it, and never allocate more than
// the bytes actually present plus MaxRoutingSlots' worth of ids.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moesim/moesim/dispatch"
	"github.com/moesim/moesim/scenarios/model"
)

// maxNPYHeader bounds the header dict; numpy writes under 200 bytes.
const maxNPYHeader = 1 << 20

// MaxTraceFileBytes bounds a routing trace file as the command reads it:
// MaxRoutingSlots ids of int64 and an .npy header (2 GiB and 1 MiB); a CSV
// of as many ids is no longer than that in practice. A larger file is
// refused before it is read.
const MaxTraceFileBytes = 8*MaxRoutingSlots + maxNPYHeader + 64

// ReadRoutingNPY reads a routing trace saved by numpy.save: a 2-D array of
// shape (tokens, topk) of little-endian int32 ('<i4') or int64 ('<i8') in C
// order, format version 1, 2 or 3, such as a gate's topk_idx tensor. An id
// of -1 is an empty slot.
func ReadRoutingNPY(r io.Reader) (tokens, topk int, ids []int32, err error) {
	fail := func(format string, a ...any) (int, int, []int32, error) {
		return 0, 0, nil, fmt.Errorf("scenarios: npy trace: "+format, a...)
	}
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return fail("too short for the .npy magic string: %v", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return fail("not a .npy file: starts with %q, want \"\\x93NUMPY\"", pre[:6])
	}
	var hlen int
	switch major := pre[6]; major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return fail("truncated header length: %v", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return fail("truncated header length: %v", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return fail("format version %d.%d, want 1.0, 2.0 or 3.0", major, pre[7])
	}
	if hlen > maxNPYHeader {
		return fail("header of %d bytes, want at most %d", hlen, maxNPYHeader)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return fail("header truncated: want %d bytes: %v", hlen, err)
	}
	h, err := parseNPYHeader(header)
	if err != nil {
		return fail("header %q: %v", bytes.TrimSpace(header), err)
	}
	var size int
	switch h.descr {
	case "<i4":
		size = 4
	case "<i8":
		size = 8
	default:
		return fail("dtype %q, want '<i4' or '<i8' (little-endian int32 or int64 expert ids)", h.descr)
	}
	if h.fortranOrder {
		return fail("fortran_order is True, want C order (save a C-contiguous array, e.g. numpy.ascontiguousarray)")
	}
	if len(h.shape) != 2 {
		return fail("shape %s, want 2-D (tokens, topk)", shapeString(h.shape))
	}
	tokens, topk = h.shape[0], h.shape[1]
	if tokens < 1 || topk < 1 {
		return fail("shape %s has no ids, want at least one token and one expert slot", shapeString(h.shape))
	}
	if float64(tokens)*float64(topk) > MaxRoutingSlots {
		return fail("shape %s has %.0f ids, more than the %d allowed", shapeString(h.shape), float64(tokens)*float64(topk), MaxRoutingSlots)
	}
	n := tokens * topk
	// ReadAll grows with the bytes present, so a lying shape costs no more
	// memory than the file; the extra byte detects trailing data.
	data, err := io.ReadAll(io.LimitReader(r, int64(n*size)+1))
	if err != nil {
		return fail("reading data: %v", err)
	}
	if len(data) < n*size {
		return fail("data truncated: %d bytes, shape %s of %s needs %d", len(data), shapeString(h.shape), h.descr, n*size)
	}
	if len(data) > n*size {
		return fail("data longer than shape %s of %s (%d bytes)", shapeString(h.shape), h.descr, n*size)
	}
	ids = make([]int32, n)
	for i := range ids {
		if size == 4 {
			ids[i] = int32(binary.LittleEndian.Uint32(data[4*i:]))
			continue
		}
		v := int64(binary.LittleEndian.Uint64(data[8*i:]))
		if v < -1<<31 || v >= 1<<31 {
			return fail("token %d slot %d: expert id %d does not fit in int32", i/topk, i%topk, v)
		}
		ids[i] = int32(v)
	}
	return tokens, topk, ids, nil
}

type npyHeader struct {
	descr        string
	fortranOrder bool
	shape        []int
}

func shapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// parseNPYHeader parses the Python dict literal numpy writes, e.g.
// {'descr': '<i4', 'fortran_order': False, 'shape': (4096, 8), }: exactly
// the keys descr, fortran_order and shape, in any order.
func parseNPYHeader(b []byte) (npyHeader, error) {
	p := &pyLit{b: b}
	var h npyHeader
	seen := map[string]bool{}
	if !p.eat('{') {
		return h, errors.New("want a dict starting with '{'")
	}
	for {
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, fmt.Errorf("dict key: %v", err)
		}
		if !p.eat(':') {
			return h, fmt.Errorf("want ':' after key %q", key)
		}
		if seen[key] {
			return h, fmt.Errorf("key %q given twice", key)
		}
		seen[key] = true
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return h, fmt.Errorf("descr: want a dtype string such as '<i4': %v", err)
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortranOrder = true
			case p.word("False"):
				h.fortranOrder = false
			default:
				return h, errors.New("fortran_order: want True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, fmt.Errorf("shape: %v", err)
			}
		default:
			return h, fmt.Errorf("unknown key %q, want descr, fortran_order and shape", key)
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return h, errors.New("want ',' or '}' after a value")
			}
			break
		}
	}
	if p.skip(); p.pos != len(p.b) {
		return h, fmt.Errorf("unexpected %q after the dict", p.b[p.pos:])
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("missing key %q", k)
		}
	}
	return h, nil
}

// pyLit is a cursor over a Python literal; every method skips leading
// spaces and leaves the cursor unmoved when it fails.
type pyLit struct {
	b   []byte
	pos int
}

func (p *pyLit) skip() {
	for p.pos < len(p.b) && (p.b[p.pos] == ' ' || p.b[p.pos] == '\t' || p.b[p.pos] == '\n' || p.b[p.pos] == '\r') {
		p.pos++
	}
}

func (p *pyLit) eat(c byte) bool {
	p.skip()
	if p.pos < len(p.b) && p.b[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *pyLit) word(w string) bool {
	p.skip()
	if bytes.HasPrefix(p.b[p.pos:], []byte(w)) {
		p.pos += len(w)
		return true
	}
	return false
}

func (p *pyLit) str() (string, error) {
	p.skip()
	if p.pos >= len(p.b) || (p.b[p.pos] != '\'' && p.b[p.pos] != '"') {
		return "", errors.New("want a quoted string")
	}
	q := p.b[p.pos]
	end := bytes.IndexByte(p.b[p.pos+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	s := string(p.b[p.pos+1 : p.pos+1+end])
	p.pos += end + 2
	return s, nil
}

// tuple parses a tuple of non-negative integers such as (4096, 8) or (5,).
func (p *pyLit) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("want a tuple such as (4096, 8)")
	}
	var dims []int
	for !p.eat(')') {
		p.skip()
		start := p.pos
		for p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == start {
			return nil, errors.New("want non-negative integer dimensions")
		}
		d, err := strconv.Atoi(string(p.b[start:p.pos]))
		if err != nil || d > MaxRoutingSlots {
			return nil, fmt.Errorf("dimension %s too large, want at most %d", p.b[start:p.pos], MaxRoutingSlots)
		}
		p.word("L") // Python 2 wrote long integers as 4096L
		dims = append(dims, d)
		if len(dims) > 32 {
			return nil, errors.New("more than 32 dimensions")
		}
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, errors.New("want ',' or ')' in the tuple")
			}
			break
		}
	}
	return dims, nil
}

// ReadRoutingCSV reads a routing trace as text: one token per line, its
// topk expert ids separated by commas (-1 = empty slot). A first line with
// no integer field is a header of column names and must have topk of them;
// blank lines are skipped. Every row must have the same number of ids.
func ReadRoutingCSV(r io.Reader) (tokens, topk int, ids []int32, err error) {
	fail := func(format string, a ...any) (int, int, []int32, error) {
		return 0, 0, nil, fmt.Errorf("scenarios: csv trace: "+format, a...)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	line, width := 0, 0
	widthFrom := "" // the line that set width, for errors
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if width == 0 {
			width = len(fields)
			if !anyInteger(fields) {
				widthFrom = fmt.Sprintf("the header on line %d", line)
				continue
			}
			widthFrom = fmt.Sprintf("line %d", line)
		}
		if len(fields) != width {
			return fail("line %d has %d fields, want %d like %s", line, len(fields), width, widthFrom)
		}
		if float64(len(ids)+width) > MaxRoutingSlots {
			return fail("line %d: more than %d ids", line, MaxRoutingSlots)
		}
		for i, f := range fields {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil {
				return fail("line %d field %d: %q is not an int32 expert id", line, i+1, strings.TrimSpace(f))
			}
			ids = append(ids, int32(v))
		}
		tokens++
	}
	if err := sc.Err(); err != nil {
		return fail("after line %d: %v", line, err)
	}
	if tokens == 0 {
		return fail("no tokens: want one line of comma-separated expert ids per token")
	}
	return tokens, width, ids, nil
}

func anyInteger(fields []string) bool {
	for _, f := range fields {
		if _, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil {
			return true
		}
	}
	return false
}

// RoutingFromTrace turns a trace of tokens x topk expert ids into the
// routing of ranks GPUs: rank r sends the r-th contiguous block of
// tokens/ranks tokens, as if each GPU had recorded its own batch in turn.
// The trace's topk must equal model.topk, ids must be -1 or a model expert,
// and no token may name an expert twice. The routing shares ids' memory.
func RoutingFromTrace(tokens, topk int, ids []int32, ranks int, m model.Model) (dispatch.Routing, error) {
	if tokens < 1 || topk < 1 || float64(tokens)*float64(topk) != float64(len(ids)) {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.trace_file: shape (%d, %d) with %d ids, want at least one token and slot, and tokens x topk ids",
			tokens, topk, len(ids))
	}
	if topk != m.TopK {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.trace_file has %d experts per token, model.topk = %d: they must match", topk, m.TopK)
	}
	if m.Experts < 1 || m.Experts > MaxExperts {
		return dispatch.Routing{}, fmt.Errorf("scenarios: model.experts = %d, want 1..%d", m.Experts, MaxExperts)
	}
	if ranks < 1 {
		return dispatch.Routing{}, fmt.Errorf("scenarios: the cluster has %d GPUs, want at least 1", ranks)
	}
	if tokens%ranks != 0 {
		return dispatch.Routing{}, fmt.Errorf("scenarios: workload.trace_file has %d tokens, not a multiple of the %d GPUs (%d each leaves %d over); trim the trace to %d tokens",
			tokens, ranks, tokens/ranks, tokens%ranks, tokens-tokens%ranks)
	}
	seen := make([]int, m.Experts) // token index + 1 that last named the expert
	for i, e := range ids {
		t, k := i/topk, i%topk
		if e < -1 || int(e) >= m.Experts {
			return dispatch.Routing{}, fmt.Errorf("scenarios: workload.trace_file token %d slot %d: expert id %d, want -1..%d (model.experts = %d)",
				t, k, e, m.Experts-1, m.Experts)
		}
		if e >= 0 {
			if seen[e] == t+1 {
				return dispatch.Routing{}, fmt.Errorf("scenarios: workload.trace_file token %d names expert %d twice", t, e)
			}
			seen[e] = t + 1
		}
	}
	per := tokens / ranks * topk
	rt := dispatch.Routing{TopK: topk, Experts: make([][]int32, ranks)}
	for r := range rt.Experts {
		rt.Experts[r] = ids[r*per : (r+1)*per : (r+1)*per]
	}
	return rt, nil
}
