//go:build cgo

package dbxstandin

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/tcli"
)

// wireRecorder is the driver's HTTP transport: it keeps the body of every
// Thrift response the driver receives and answers its telemetry requests
// locally.
type wireRecorder struct {
	path string
	next http.RoundTripper

	mu        sync.Mutex
	responses [][]byte
}

func (w *wireRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != w.path {
		if r.Body != nil {
			r.Body.Close()
		}
		return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	}
	resp, err := w.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.responses = append(w.responses, body)
	w.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// handlesIn decodes one TCLIService response message and returns its name
// and the handle identifiers it carries.
func handlesIn(t *testing.T, body []byte) (string, []*tcli.THandleIdentifier) {
	t.Helper()
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	buf.Write(body)
	in := thrift.NewTBinaryProtocolConf(buf, nil)
	name, _, _, err := in.ReadMessageBegin(ctx)
	if err != nil {
		t.Fatalf("response message: %v", err)
	}
	read := func(r interface {
		Read(context.Context, thrift.TProtocol) error
	}) {
		if err := r.Read(ctx, in); err != nil {
			t.Fatalf("decode %s response: %v", name, err)
		}
	}
	switch name {
	case "OpenSession":
		var r tcli.TCLIServiceOpenSessionResult
		read(&r)
		return name, []*tcli.THandleIdentifier{r.GetSuccess().GetSessionHandle().GetSessionId()}
	case "ExecuteStatement":
		var r tcli.TCLIServiceExecuteStatementResult
		read(&r)
		return name, []*tcli.THandleIdentifier{r.GetSuccess().GetOperationHandle().GetOperationId()}
	}
	return name, nil
}

// checkUUID fails unless b is a 16-byte RFC 9562 UUID: the variant bits
// 10 and a defined version, which strict UUID parsers require.
func checkUUID(b []byte) error {
	if len(b) != 16 {
		return fmt.Errorf("%d bytes, want 16", len(b))
	}
	if v := b[6] >> 4; v < 1 || v > 8 {
		return fmt.Errorf("%x: version %d, want 1 to 8", b, v)
	}
	if b[8]&0xc0 != 0x80 {
		return fmt.Errorf("%x: variant bits %02b, want 10", b, b[8]>>6)
	}
	return nil
}

// Every session and operation handle the driver receives is a pair of
// 16-byte UUIDs, as a Databricks warehouse sends: clients that format or
// parse them strictly must accept them. Several sessions and statements on
// both the direct-results and the polling path give many random handles.
func TestHandlesAreUUIDs(t *testing.T) {
	srv, ep := ownServer(t, shopFixture(), WithRunningPolls(1))
	rec := &wireRecorder{path: ep.HTTPPath, next: http.DefaultTransport}
	conn, err := dbsql.NewConnector(
		dbsql.WithServerHostname("http://"+ep.Host),
		dbsql.WithPort(ep.Port),
		dbsql.WithHTTPPath(ep.HTTPPath),
		dbsql.WithAccessToken("t-alice"),
		dbsql.WithTransport(rec),
		dbsql.WithCloudFetch(false),
	)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	// No idle connections: every query opens a session of its own.
	db.SetMaxIdleConns(0)
	ctx := ctxT(t)
	for i := range 24 {
		if i == 2 {
			srv.SetRunningPolls(0) // polling costs the driver a second
		}
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM shop.s.items").Scan(&n); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen := map[string]int{}
	for _, body := range rec.responses {
		name, hs := handlesIn(t, body)
		for _, h := range hs {
			seen[name]++
			if h == nil {
				t.Errorf("%s: no handle", name)
				continue
			}
			if err := checkUUID(h.GUID); err != nil {
				t.Errorf("%s: guid %v", name, err)
			}
			if err := checkUUID(h.Secret); err != nil {
				t.Errorf("%s: secret %v", name, err)
			}
		}
	}
	if seen["OpenSession"] < 20 || seen["ExecuteStatement"] < 20 {
		t.Errorf("handles seen per method: %v, want at least 20 sessions and 20 statements", seen)
	}
}
