package source

import (
	"context"
	"fmt"
	"io/fs"
	"runtime"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
)

// benchRepo creates a repository with n small CUE files in 20 directories.
func benchRepo(b *testing.B, n int) (*gittest.Server, *gittest.Repo) {
	b.Helper()
	srv := gittest.NewServer(b)
	repo := srv.NewRepo(b, fmt.Sprintf("bench-%d", n))
	files := make(map[string]string, n)
	for i := range n {
		files[fmt.Sprintf("segments/team-%02d/seg-%05d.cue", i%20, i)] = fmt.Sprintf(
			"package segments\n\nsegments: \"seg-%05d\": {\n\tname: \"Segment %d\"\n\tttlDays: %d\n\trule: all: [{attr: \"age\", op: \">=\", value: %d}]\n}\n",
			i, i, 1+i%365, i%90)
	}
	repo.Commit(b, "initial", files)
	return srv, repo
}

// readAll reads every file of a snapshot, as the CUE loader would.
func readAll(b *testing.B, s Snapshot) int {
	n := 0
	err := fs.WalkDir(s.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(s.FS, p)
		n += len(data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkLatestRevision measures the "is there a new commit" check.
func BenchmarkLatestRevision(b *testing.B) {
	_, repo := benchRepo(b, 1000)
	r, err := New(Options{URL: repo.URL()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.LatestRevision(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchUnchanged measures Fetch when the branch did not move.
func BenchmarkFetchUnchanged(b *testing.B) {
	_, repo := benchRepo(b, 1000)
	r, err := New(Options{URL: repo.URL()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Fetch(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.Fetch(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchNewCommit measures fetching a one-file change into the
// cache and reading every file of the new snapshot. The commit itself
// (git CLI) is outside the timer.
func BenchmarkFetchNewCommit(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, mode := range []string{"memory", "disk"} {
			b.Run(fmt.Sprintf("files=%d/cache=%s", n, mode), func(b *testing.B) {
				_, repo := benchRepo(b, n)
				o := Options{URL: repo.URL(), RebuildAfter: 1 << 30}
				if mode == "disk" {
					o.CacheDir = b.TempDir()
				}
				r, err := New(o)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := r.Fetch(ctx); err != nil {
					b.Fatal(err)
				}
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					sha := repo.Commit(b, "change", map[string]string{"segments/team-00/seg-00000.cue": fmt.Sprintf("package segments\n\nx: %d\n", i)})
					b.StartTimer()
					s, err := r.Fetch(ctx)
					if err != nil || s.Revision != sha {
						b.Fatalf("Fetch: %v (revision %s, want %s)", err, s.Revision, sha)
					}
					readAll(b, s)
				}
			})
		}
	}
}

// BenchmarkClone measures a fresh shallow clone plus reading every file:
// the cost of the first Fetch and of each cache rebuild.
func BenchmarkClone(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			_, repo := benchRepo(b, n)
			ctx := context.Background()
			for b.Loop() {
				r, err := New(Options{URL: repo.URL()})
				if err != nil {
					b.Fatal(err)
				}
				s, err := r.Fetch(ctx)
				if err != nil {
					b.Fatal(err)
				}
				readAll(b, s)
			}
		})
	}
}

// BenchmarkMemoryOver200Fetches makes 200 commits, fetching and reading
// each, and reports the live heap after 20 and after 200 fetches (after a
// GC), to show that memory stays flat. Run it with -benchtime=1x.
func BenchmarkMemoryOver200Fetches(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			_, repo := benchRepo(b, n)
			for b.Loop() {
				r, err := New(Options{URL: repo.URL(), RebuildAfter: 50})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				var at20 uint64
				for i := 1; i <= 200; i++ {
					b.StopTimer()
					repo.Commit(b, "change", map[string]string{fmt.Sprintf("segments/team-%02d/seg-%05d.cue", i%20, i%n): fmt.Sprintf("package segments\n\nx: %d\n", i)})
					b.StartTimer()
					s, err := r.Fetch(ctx)
					if err != nil {
						b.Fatal(err)
					}
					readAll(b, s)
					if i == 20 {
						at20 = liveHeap()
					}
				}
				b.ReportMetric(float64(at20)/(1<<20), "heapMiB@20")
				b.ReportMetric(float64(liveHeap())/(1<<20), "heapMiB@200")
				r.Close()
			}
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
