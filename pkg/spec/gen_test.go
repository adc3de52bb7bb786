package spec

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// genSegment returns the source of the i-th generated segment file: one
// segment with a short-form rule of three conditions.
func genSegment(i int) string {
	return fmt.Sprintf(`package retail

segments: "Generated %05d": {
	description: "Generated segment number %d"
	folder:      "Team %02d/Generated"
	where: [
		{attribute: "ltv", atLeast: %d},
		{behavior: "orders", count: {atLeast: %d}, within: {days: %d}, filter: [{column: "category", oneOf: ["shoes", "bags"]}]},
		{attribute: "loyalty_tier", oneOf: ["gold", "platinum"]},
	]
}
`, i, i, i%20, i%5000, 1+i%7, 7+i%90)
}

// genRepo returns an in-memory repository: the retail parent segment and n
// generated segment files in 20 directories.
func genRepo(t testing.TB, n int) fstest.MapFS {
	t.Helper()
	parent, err := os.ReadFile(filepath.Join(retail, "parent.cue"))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"parent.cue": {Data: parent}}
	for i := range n {
		fsys[fmt.Sprintf("team-%02d/seg-%05d.cue", i%20, i)] = &fstest.MapFile{Data: []byte(genSegment(i))}
	}
	return fsys
}

// TestGenerateRepo writes a generated repository for bench/spec.sh when
// SPEC_GEN_DIR is set (SPEC_GEN_N segments, default 10000).
func TestGenerateRepo(t *testing.T) {
	dir := os.Getenv("SPEC_GEN_DIR")
	if dir == "" {
		t.Skip("set SPEC_GEN_DIR to write a generated repository")
	}
	n := 10000
	if s := os.Getenv("SPEC_GEN_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	for name, f := range genRepo(t, n) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGeneratedRepoIsValid(t *testing.T) {
	r, err := Load(context.Background(), genRepo(t, 50), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Diagnostics) > 0 || len(r.State.Segments) != 50 {
		t.Fatalf("segments=%d diagnostics:\n%s", len(r.State.Segments), render(r.Diagnostics))
	}
}

func benchmarkLoad(b *testing.B, n int) {
	fsys := genRepo(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := Load(context.Background(), fsys, Options{})
		if err != nil || len(r.State.Segments) != n {
			b.Fatalf("segments=%d err=%v", len(r.State.Segments), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1e3, "µs/segment")
}

// BenchmarkLoad1000 loads and checks 1,000 generated segment files cold.
func BenchmarkLoad1000(b *testing.B) { benchmarkLoad(b, 1000) }

// BenchmarkLoad10000 loads and checks 10,000 generated segment files cold.
func BenchmarkLoad10000(b *testing.B) { benchmarkLoad(b, 10000) }

// BenchmarkRevalidateOneFile loads 10,000 segment files (SPEC_BENCH_N when
// set) with a warm cache after one file changed: one file is evaluated, the
// rest come from the cache, and the checks of the segments the change cannot
// affect are taken from the cache. Every file is read and hashed, as from an
// os.DirFS.
func BenchmarkRevalidateOneFile(b *testing.B) {
	fsys := genRepo(b, benchN())
	benchmarkRevalidate(b, fsys, func(name string, src []byte) { fsys[name] = &fstest.MapFile{Data: src} })
}

// BenchmarkRevalidateOneFileObjectIDs is BenchmarkRevalidateOneFile through
// a file system that gives git object ids, as a commit's tree does: only the
// changed file and the directories above it are read.
func BenchmarkRevalidateOneFileObjectIDs(b *testing.B) {
	fsys := newIDFS(genRepo(b, benchN()))
	benchmarkRevalidate(b, fsys, fsys.set)
}

func benchN() int {
	n := 10000
	if s := os.Getenv("SPEC_BENCH_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	return n
}

func benchmarkRevalidate(b *testing.B, fsys fs.FS, set func(name string, src []byte)) {
	n := benchN()
	cache := NewCache()
	if _, err := Load(context.Background(), fsys, Options{Cache: cache}); err != nil {
		b.Fatal(err)
	}
	name := "team-07/seg-00007.cue"
	stop := profileLoop(b)
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		i++
		set(name, []byte(strings.Replace(genSegment(7), "atLeast: 7}", fmt.Sprintf("atLeast: %d}", 100000+i), 1)))
		r, err := Load(context.Background(), fsys, Options{Cache: cache})
		if err != nil || r.Cached != n || len(r.Diagnostics) > 0 {
			b.Fatalf("cached=%d err=%v diags=%d", r.Cached, err, len(r.Diagnostics))
		}
	}
	// CPU time of the process (collector included) is steadier than wall
	// time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// profileLoop writes, when SPEC_BENCH_PROFILE is set to a path prefix, a
// CPU profile of what follows (PREFIX.cpu) and heap profiles before and
// after it (PREFIX.mem0, PREFIX.mem1: pprof -base PREFIX.mem0 PREFIX.mem1
// shows what the loop allocated), leaving out the set-up.
func profileLoop(b *testing.B) (stop func()) {
	prefix := os.Getenv("SPEC_BENCH_PROFILE")
	if prefix == "" {
		return func() {}
	}
	write := func(suffix string, f func(w io.Writer) error) {
		out, err := os.Create(prefix + suffix)
		if err == nil {
			err = f(out)
			out.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	write(".mem0", func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) })
	cpu, err := os.Create(prefix + ".cpu")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		write(".mem1", func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) })
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
