package sim

// Record is one line of the event trace. Fields that do not apply are -1
// (numbers) or "" (strings). docs/trace.md documents the columns.
type Record struct {
	At      Time
	Event   string // "rdma_put", "nvl_copy", "recv", "credit", ...
	GPU     int
	Channel int
	Peer    int
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
