package calibrate

import (
	"errors"
	"fmt"
	"math"

	"github.com/moesim/moesim/topology"
)

// BulkProfile is what topology/probe/bulk.py writes: DeepEP V2-style
// bulk-copy (TMA) warps on one SM, timed on one GPU.
type BulkProfile struct {
	KitVersion string    `json:"kit_version"`
	Created    string    `json:"created"`
	GPU        BulkGPU   `json:"gpu"`
	Rows       []BulkRow `json:"bulk_warps"`
	Notes      []string  `json:"notes"`
	Seconds    float64   `json:"seconds_total"`
	_          struct{}  `json:"-"`
}

// BulkGPU names the GPU a bulk profile was taken on.
type BulkGPU struct {
	Name string `json:"name"`
	SMs  int    `json:"sms"`
	CC   string `json:"cc"`
}

// BulkRow is one run: blocks blocks of warps warps, role A on the first
// a.warps of each block and role B on the rest.
type BulkRow struct {
	Kind        string    `json:"kind"`
	Blocks      int       `json:"blocks"`
	Warps       int       `json:"warps"`
	RecordBytes int       `json:"record_bytes"`
	Iters       int       `json:"iters"`
	A           BulkClass `json:"a"`
	B           BulkClass `json:"b"`
	Seconds     float64   `json:"seconds"`
}

// BulkClass is one role's warps and what each did per iteration, and
// (when it ran) the time per iteration and its load and store rates.
type BulkClass struct {
	Warps          int     `json:"warps"`
	Loads          int     `json:"loads"`
	Stores         int     `json:"stores"`
	SecondsPerIter float64 `json:"seconds_per_iter"`
	LoadGBps       float64 `json:"load_GBps"`
	StoreGBps      float64 `json:"store_GBps"`
}

// ParseBulk reads a bulk profile strictly, as Parse reads a profile:
// unknown fields and trailing data are errors, and every run's numbers
// must be finite and non-negative.
func ParseBulk(data []byte) (*BulkProfile, error) {
	var p BulkProfile
	if err := decodeStrict("bulk profile", data, &p); err != nil {
		return nil, err
	}
	if len(p.Rows) == 0 {
		return nil, errors.New("bulk profile: bulk_warps is empty (the self-check failed, or the run stopped; see notes)")
	}
	for i, r := range p.Rows {
		for _, v := range []float64{r.Seconds, r.A.SecondsPerIter, r.A.LoadGBps, r.A.StoreGBps, r.B.SecondsPerIter, r.B.LoadGBps, r.B.StoreGBps} {
			if !(v >= 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("bulk profile: bulk_warps[%d] (%s): a time or rate is %g, want a finite number >= 0", i, r.Kind, v)
			}
		}
		if r.RecordBytes <= 0 || r.Warps <= 0 || r.Blocks <= 0 {
			return nil, fmt.Errorf("bulk profile: bulk_warps[%d] (%s): record_bytes %d, warps %d, blocks %d, want positive", i, r.Kind, r.RecordBytes, r.Warps, r.Blocks)
		}
	}
	return &p, nil
}

// BulkFit is what a bulk profile gives a hardware file, each with the
// rows it came from.
type BulkFit struct {
	CopyGBps, LoadGBps, RecordNs float64
	CopySrc, LoadSrc, RecordSrc  string
}

// FitBulk derives the bulk-copy constants: an SM's copy rate is the best
// of the one-SM saturation runs that load and store a record per
// iteration; its load rate the best of those that only load; a warp's
// per-record time the mean, over the one-warp chain runs that load and
// store a record, of the time per record less the record's bytes at the
// two rates (what the model charges on top of them).
func FitBulk(p *BulkProfile) (BulkFit, error) {
	var f BulkFit
	for _, r := range p.Rows {
		if r.Kind != "saturate" || r.Blocks != 1 || r.B.Warps != 0 || r.A.Loads != 1 {
			continue
		}
		if r.A.Stores == 1 {
			f.CopyGBps = max(f.CopyGBps, r.A.StoreGBps)
		} else if r.A.Stores == 0 {
			f.LoadGBps = max(f.LoadGBps, r.A.LoadGBps)
		}
	}
	if f.CopyGBps <= 0 || f.LoadGBps <= 0 {
		return f, errors.New("bulk profile: no one-SM saturation runs that copy (1 load, 1 store) and that only load")
	}
	var sum float64
	n := 0
	for _, r := range p.Rows {
		if r.Kind != "chain" || r.Warps != 1 || r.A.Loads != 1 || r.A.Stores != 1 || r.A.SecondsPerIter <= 0 {
			continue
		}
		b := float64(r.RecordBytes)
		sum += (r.A.SecondsPerIter - b/(f.LoadGBps*1e9) - b/(f.CopyGBps*1e9)) * 1e9
		n++
	}
	if n == 0 {
		return f, errors.New("bulk profile: no one-warp chain run that loads and stores a record")
	}
	f.RecordNs = max(sum/float64(n), 0)
	where := fmt.Sprintf("%s (%d SMs), bulk.py kit %s, %s", p.GPU.Name, p.GPU.SMs, p.KitVersion, p.Created)
	f.CopySrc = where + ": bulk_warps saturate, one SM, 1 load + 1 store per record, best over 1-28 warps and 7520/14400 B records"
	f.LoadSrc = where + ": bulk_warps saturate, one SM, loads only, best over 1-28 warps"
	f.RecordSrc = fmt.Sprintf("%s: bulk_warps chain, one warp, load + store + wait per record, mean over %d record sizes of the time less the bytes at the SM's copy and load rates", where, n)
	return f, nil
}

// Apply sets the bulk constants in h, measured, naming from as their
// source.
func (f BulkFit) Apply(h *topology.Hardware, from string) {
	set := func(key string, v float64, src string) {
		h.Constants[key] = topology.Value{Value: round(v), Kind: topology.Measured, Source: from + ": " + src}
	}
	set("sm_bulk_copy_GBps", f.CopyGBps, f.CopySrc)
	set("sm_bulk_load_GBps", f.LoadGBps, f.LoadSrc)
	set("bulk_record_ns", f.RecordNs, f.RecordSrc)
}
