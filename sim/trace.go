package sim

// Record is one span of the event trace: a warp role moving a chunk. Fields
// that do not apply are -1 (numbers) or "" (strings). docs/trace.md
// documents the columns.
type Record struct {
	At      Time   // start
	Dur     Time   // duration; 0 for instants
	Event   string // "rdma_copy", "rdma_put", "nvl_forward", "nvl_recv", ...
	Role    string // warp role: "rdma-send", "forward", "nvl-recv", ...
	GPU     int
	Channel int
	Peer    int // the other end: a node for RDMA, a GPU for NVLink
	Link    string
	Bytes   int64
	Tokens  int
}

// Tracer receives trace records. A nil Tracer is off and costs the caller one
// branch: models write `if t := eng.Tracer(); t != nil { t.Trace(...) }`.
type Tracer interface {
	Trace(r Record)
}

// SetTracer turns tracing on (t != nil) or off (nil).
func (e *Engine) SetTracer(t Tracer) { e.tracer = t }

// Tracer returns the tracer, nil when tracing is off.
func (e *Engine) Tracer() Tracer { return e.tracer }
