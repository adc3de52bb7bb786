package tdstandin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// emptyRule is the rule of the benchmarks' segments.
var emptyRule = []byte(`{"type":"And","conditions":[]}`)

// seeded starts a stand-in holding a parent segment with n segments (with
// the given description) in 100 folders, and returns it, the parent's root
// folder and the 100 folder ids.
func seeded(b *testing.B, n int, description string) (s *Server, root string, folders []string) {
	s = start(b, nil)
	_, root = mkParent(b, s)
	folders = make([]string, 100)
	for i := range folders {
		f, err := s.AddFolder(root, fmt.Sprintf("folder %d", i), "", "seed")
		if err != nil {
			b.Fatal(err)
		}
		folders[i] = f.ID
	}
	for i := range n {
		if _, err := s.AddSegment(folders[i%len(folders)], fmt.Sprintf("segment %d", i), description, emptyRule, "seed"); err != nil {
			b.Fatal(err)
		}
	}
	return s, root, folders
}

// BenchmarkAddSegment adds segments to a parent segment that already holds
// n of them in 100 folders. The per-folder name check must not depend on
// n (it used to scan every folder and segment of the store).
func BenchmarkAddSegment(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, _, folders := seeded(b, n, "")
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.AddSegment(folders[i%len(folders)], fmt.Sprintf("new %d", i), "", emptyRule, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkByFolder lists a parent segment of n segments in 100 folders
// with GET /entities/by-folder (what an observation reads), answered into
// a discarding writer.
func BenchmarkByFolder(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, root, _ := seeded(b, n, "description")
			req := httptest.NewRequest("GET", "/entities/by-folder/"+root+"?depth=20&with_rule=false", nil)
			req.SetPathValue("id", root)
			b.ResetTimer()
			for range b.N {
				w := &countingWriter{header: http.Header{}}
				s.byFolder(w, req)
				b.SetBytes(int64(w.n))
			}
		})
	}
}

type countingWriter struct {
	header http.Header
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}
func (w *countingWriter) WriteHeader(int) {}
