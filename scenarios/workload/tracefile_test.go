package workload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moesim/moesim/scenarios/model"
)

// npyFile writes a .npy file by the format spec
// (numpy.lib.format): magic, version, header length, a dict padded with
// spaces and a newline to a multiple of 64 bytes, then the raw data.
func npyFile(major byte, dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.WriteByte(major)
	b.WriteByte(0)
	prefix := 10
	if major >= 2 {
		prefix = 12
	}
	pad := 64 - (prefix+len(dict)+1)%64
	header := dict + strings.Repeat(" ", pad%64) + "\n"
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func npyDict(descr string, fortran bool, shape string) string {
	f := "False"
	if fortran {
		f = "True"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, f, shape)
}

func int32Data(ids []int32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, ids)
	return b.Bytes()
}

func int64Data(ids []int64) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, ids)
	return b.Bytes()
}

var traceIDs = []int32{0, 5, -1, 7, 255, 3, 2, 1, 9, 10, 11, 12} // 4 tokens x 3

func TestReadRoutingNPYRoundTrip(t *testing.T) {
	wide := make([]int64, len(traceIDs))
	for i, v := range traceIDs {
		wide[i] = int64(v)
	}
	for _, c := range []struct {
		name  string
		major byte
		descr string
		data  []byte
	}{
		{"int32 v1", 1, "<i4", int32Data(traceIDs)},
		{"int64 v1", 1, "<i8", int64Data(wide)},
		{"int32 v2", 2, "<i4", int32Data(traceIDs)},
		{"int64 v3", 3, "<i8", int64Data(wide)},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := npyFile(c.major, npyDict(c.descr, false, "(4, 3)"), c.data)
			tokens, topk, ids, err := ReadRoutingNPY(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if tokens != 4 || topk != 3 || !slices.Equal(ids, traceIDs) {
				t.Fatalf("got (%d, %d) %v, want (4, 3) %v", tokens, topk, ids, traceIDs)
			}
		})
	}
	// Keys in another order, double quotes, Python 2 longs: still numpy.
	file := npyFile(1, `{"shape": (4L, 3L), "fortran_order": False, "descr": "<i4"}`, int32Data(traceIDs))
	if _, _, ids, err := ReadRoutingNPY(bytes.NewReader(file)); err != nil || !slices.Equal(ids, traceIDs) {
		t.Fatalf("reordered header: %v, %v", ids, err)
	}
}

func TestReadRoutingNPYErrors(t *testing.T) {
	good := int32Data(traceIDs)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"float dtype", npyFile(1, npyDict("<f4", false, "(4, 3)"), good), `dtype "<f4", want '<i4' or '<i8'`},
		{"big-endian", npyFile(1, npyDict(">i4", false, "(4, 3)"), good), `dtype ">i4"`},
		{"3-D", npyFile(1, npyDict("<i4", false, "(2, 2, 3)"), good), "shape (2, 2, 3), want 2-D (tokens, topk)"},
		{"1-D", npyFile(1, npyDict("<i4", false, "(12,)"), good), "shape (12,), want 2-D"},
		{"fortran order", npyFile(1, npyDict("<i4", true, "(4, 3)"), good), "fortran_order is True, want C order"},
		{"truncated data", npyFile(1, npyDict("<i4", false, "(4, 3)"), good[:40]), "data truncated: 40 bytes, shape (4, 3) of <i4 needs 48"},
		{"trailing data", npyFile(1, npyDict("<i4", false, "(4, 3)"), append(slices.Clone(good), 0)), "data longer than shape (4, 3)"},
		{"empty shape", npyFile(1, npyDict("<i4", false, "(0, 3)"), nil), "has no ids"},
		{"huge shape", npyFile(1, npyDict("<i4", false, "(100000000, 100000000)"), good), "more than the 268435456 allowed"},
		{"int64 out of int32", npyFile(1, npyDict("<i8", false, "(1, 1)"), int64Data([]int64{1 << 40})), "token 0 slot 0: expert id 1099511627776 does not fit in int32"},
		{"not npy", []byte("token,expert\n1,2\n"), "not a .npy file"},
		{"empty", nil, "too short for the .npy magic"},
		{"version 4", append([]byte("\x93NUMPY\x04\x00"), 0, 0), "format version 4.0"},
		{"truncated header", npyFile(1, npyDict("<i4", false, "(4, 3)"), nil)[:30], "header truncated"},
		{"missing key", npyFile(1, "{'descr': '<i4', 'shape': (4, 3)}", good), `missing key "fortran_order"`},
		{"unknown key", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 3), 'x': 1}", good), `unknown key "x"`},
		{"structured dtype", npyFile(1, "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (4, 3)}", good), "descr: want a dtype string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := ReadRoutingNPY(bytes.NewReader(c.file))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to say %q", err, c.want)
			}
		})
	}
}

func FuzzReadRoutingNPY(f *testing.F) {
	f.Add(npyFile(1, npyDict("<i4", false, "(4, 3)"), int32Data(traceIDs)))
	f.Add(npyFile(3, npyDict("<i8", false, "(1, 1)"), int64Data([]int64{-1})))
	f.Add(npyFile(2, npyDict("<i4", true, "(2, 2, 3)"), nil))
	f.Add([]byte("\x93NUMPY\x01\x00\xff\xff{"))
	f.Fuzz(func(t *testing.T, file []byte) {
		tokens, topk, ids, err := ReadRoutingNPY(bytes.NewReader(file))
		if err == nil && (tokens < 1 || topk < 1 || len(ids) != tokens*topk) {
			t.Fatalf("accepted shape (%d, %d) with %d ids", tokens, topk, len(ids))
		}
		// Whatever was accepted must either replay or be refused cleanly.
		if err == nil {
			if rt, err := RoutingFromTrace(tokens, topk, ids, 1, model.Model{Experts: 256, TopK: topk}); err == nil {
				if err := rt.Validate(1, 256); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestReadRoutingCSV(t *testing.T) {
	for _, c := range []struct {
		name, text string
	}{
		{"plain", "0,5,-1\n7,255,3\n2,1,9\n10,11,12\n"},
		{"header, blanks, spaces, CRLF", "e0, e1, e2\r\n\r\n0, 5, -1\r\n7,255,3\r\n\n  2 ,1,9\r\n10,11,12"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tokens, topk, ids, err := ReadRoutingCSV(strings.NewReader(c.text))
			if err != nil {
				t.Fatal(err)
			}
			if tokens != 4 || topk != 3 || !slices.Equal(ids, traceIDs) {
				t.Fatalf("got (%d, %d) %v, want (4, 3) %v", tokens, topk, ids, traceIDs)
			}
		})
	}
}

func TestReadRoutingCSVErrors(t *testing.T) {
	for _, c := range []struct {
		name, text, want string
	}{
		{"ragged", "1,2,3\n4,5\n", "line 2 has 2 fields, want 3 like line 1"},
		{"ragged against header", "a,b,c\n1,2\n", "line 2 has 2 fields, want 3 like the header on line 1"},
		{"non-integer", "1,2,3\n4,x5,6\n", `line 2 field 2: "x5" is not an int32 expert id`},
		{"float", "1,2.0,3\n", `line 1 field 2: "2.0" is not an int32`},
		{"out of int32", "1,2,3000000000\n", `"3000000000" is not an int32`},
		{"trailing comma", "1,2,\n", `line 1 field 3: "" is not`},
		{"empty", "\n\n", "no tokens"},
		{"header only", "e0,e1\n", "no tokens"},
		{"mixed first line", "e0,1\n1,2\n", `line 1 field 1: "e0"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := ReadRoutingCSV(strings.NewReader(c.text))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to say %q", err, c.want)
			}
		})
	}
}

func TestRoutingFromTrace(t *testing.T) {
	m := model.Model{Experts: 256, TopK: 3}
	rt, err := RoutingFromTrace(4, 3, traceIDs, 2, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Validate(2, 256); err != nil {
		t.Fatal(err)
	}
	if rt.TopK != 3 || !slices.Equal(rt.Experts[0], traceIDs[:6]) || !slices.Equal(rt.Experts[1], traceIDs[6:]) {
		t.Fatalf("got %+v, want ranks 0 and 1 with the first and last two tokens", rt)
	}
	// Appending to one rank must not overwrite the next.
	_ = append(rt.Experts[0], 99)
	if rt.Experts[1][0] != traceIDs[6] {
		t.Fatal("rank 0's slice runs into rank 1's")
	}

	bad := func(ids ...int32) []int32 { return append(slices.Clone(traceIDs[:9]), ids...) }
	for _, c := range []struct {
		name         string
		tokens, topk int
		ids          []int32
		ranks        int
		m            model.Model
		want         string
	}{
		{"tokens do not divide", 4, 3, traceIDs, 3, m, "workload.trace_file has 4 tokens, not a multiple of the 3 GPUs (1 each leaves 1 over)"},
		{"topk mismatch", 4, 3, traceIDs, 2, model.Model{Experts: 256, TopK: 8}, "workload.trace_file has 3 experts per token, model.topk = 8"},
		{"id too large", 4, 3, bad(1, 2, 300), 2, m, "token 3 slot 2: expert id 300, want -1..255 (model.experts = 256)"},
		{"id below -1", 4, 3, bad(-2, 0, 1), 2, m, "token 3 slot 0: expert id -2"},
		{"duplicate", 4, 3, bad(4, 5, 4), 2, m, "token 3 names expert 4 twice"},
		{"shape mismatch", 5, 3, traceIDs, 1, m, "shape (5, 3) with 12 ids"},
		{"no ranks", 4, 3, traceIDs, 0, m, "0 GPUs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := RoutingFromTrace(c.tokens, c.topk, c.ids, c.ranks, c.m)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to say %q", err, c.want)
			}
		})
	}
}

// TestTraceReplaysGeneratedRouting writes a generated routing out as .npy
// and CSV, reads both back, and checks the replay is the same routing.
func TestTraceReplaysGeneratedRouting(t *testing.T) {
	m := model.DeepSeekV3()
	rt := mustRouting(t, Workload{TokensPerGPU: 32}, m, 2, 8, 1)
	all := slices.Concat(rt.Experts...)
	tokens := len(all) / m.TopK

	var csv strings.Builder
	csv.WriteString("e0,e1,e2,e3,e4,e5,e6,e7\n")
	for i, e := range all {
		sep := ","
		if i%m.TopK == m.TopK-1 {
			sep = "\n"
		}
		fmt.Fprintf(&csv, "%d%s", e, sep)
	}
	files := map[string]func() (int, int, []int32, error){
		"npy": func() (int, int, []int32, error) {
			return ReadRoutingNPY(bytes.NewReader(npyFile(1, npyDict("<i4", false, fmt.Sprintf("(%d, %d)", tokens, m.TopK)), int32Data(all))))
		},
		"csv": func() (int, int, []int32, error) { return ReadRoutingCSV(strings.NewReader(csv.String())) },
	}
	for _, name := range []string{"npy", "csv"} {
		n, k, ids, err := files[name]()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := RoutingFromTrace(n, k, ids, 16, m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if back.TopK != rt.TopK || !slices.EqualFunc(back.Experts, rt.Experts, slices.Equal) {
			t.Errorf("%s: replayed routing differs from the one written", name)
		}
	}
}

// TestNumpyFixturesRoundTrip reads .npy files numpy 1.24 wrote with
// np.save (int64 and int32, 16 tokens × top-8, two empty slots) and the same
// ids with np.savetxt as CSV.
func TestNumpyFixturesRoundTrip(t *testing.T) {
	var first []int32
	for _, f := range []string{"testdata/routing_int64.npy", "testdata/routing_int32.npy", "testdata/routing.csv"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tokens, topk int
		var ids []int32
		if strings.HasSuffix(f, ".csv") {
			tokens, topk, ids, err = ReadRoutingCSV(bytes.NewReader(data))
		} else {
			tokens, topk, ids, err = ReadRoutingNPY(bytes.NewReader(data))
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if tokens != 16 || topk != 8 || ids[0] != 197 || ids[3*8+7] != -1 || ids[10*8] != -1 {
			t.Fatalf("%s: %d×%d, ids %v", f, tokens, topk, ids[:8])
		}
		if first == nil {
			first = ids
		} else if !slicesEqual(first, ids) {
			t.Fatalf("%s differs from the int64 file", f)
		}
	}
}

func slicesEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzReadRoutingCSV: the CSV trace reader never panics and what it
// accepts is rectangular.
func FuzzReadRoutingCSV(f *testing.F) {
	f.Add([]byte("1,2,3\n4,5,6\n"))
	f.Add([]byte("a,b\n1,-1\n"))
	f.Add([]byte("\n\n7\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, topk, ids, err := ReadRoutingCSV(bytes.NewReader(data))
		if err == nil && len(ids) != tokens*topk {
			t.Fatalf("%d ids for %d×%d", len(ids), tokens, topk)
		}
	})
}
