package warehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"

	dbsqllog "github.com/databricks/databricks-sql-go/logger"
)

// The driver logs through a process-wide zerolog logger that writes JSON
// lines to standard error: three lines for every failed statement, which
// this package reports itself as an *Error. Open points that logger at
// driverWriter; each record then goes to the slog logger of the client
// opened last, at debug level, with the client's secrets masked.
//
// The driver's own level filter stays as the driver sets it: warnings and
// errors, or what DATABRICKS_LOG_LEVEL selects.
var driverLog struct {
	mu     sync.Mutex // serializes changes of the driver's logger
	target atomic.Pointer[driverTarget]
}

type driverTarget struct {
	log     *slog.Logger
	secrets redactor
}

// maxDriverRecord bounds the size of one driver record passed on.
const maxDriverRecord = 16 << 10

// routeDriverLog sends the driver's records to log (nil: nowhere).
func routeDriverLog(log *slog.Logger, secrets redactor) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	driverLog.target.Store(&driverTarget{log: log.With("component", "databricks-driver"), secrets: secrets})
	// Set on every Open, not once: anything else in the process may have
	// pointed the driver's logger elsewhere since.
	driverLog.mu.Lock()
	dbsqllog.SetLogOutput(driverWriter{})
	driverLog.mu.Unlock()
}

// driverWriter receives the driver's records, one JSON object per Write.
type driverWriter struct{}

func (driverWriter) Write(p []byte) (int, error) {
	t := driverLog.target.Load()
	ctx := context.Background()
	if t == nil || !t.log.Enabled(ctx, slog.LevelDebug) {
		return len(p), nil
	}
	line := bytes.TrimSpace(p)
	if len(line) > maxDriverRecord {
		line = line[:maxDriverRecord]
	}
	var rec map[string]any
	if err := json.Unmarshal(line, &rec); err != nil {
		t.log.Debug("driver log", "text", t.secrets.redact(string(line)))
		return len(p), nil
	}
	msg, _ := rec["message"].(string)
	attrs := []any{}
	for _, f := range [...]struct{ from, to string }{
		{"level", "driver_level"}, {"error", "error"}, {"connId", "session_id"}, {"queryId", "query_id"},
	} {
		if v, ok := rec[f.from].(string); ok && v != "" {
			attrs = append(attrs, f.to, t.secrets.redact(v))
		}
	}
	t.log.Debug("driver: "+t.secrets.redact(msg), attrs...)
	return len(p), nil
}
