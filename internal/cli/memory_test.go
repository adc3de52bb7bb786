package cli

import (
	"errors"
	"io/fs"
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneMemory(t *testing.T) {
	prevGC := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) })

	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if v, ok := m[name]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	for _, c := range []struct {
		name      string
		env       map[string]string
		files     map[string]string
		wantGC    int   // the runtime's GC percent afterwards
		wantLimit int64 // the runtime's limit afterwards
	}{
		{"cgroup v2 limit", nil, map[string]string{"/sys/fs/cgroup/memory.max": "536870912\n"}, DefaultGCPercent, 483183820},
		{"cgroup v1 limit", nil, map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824"}, DefaultGCPercent, 966367641},
		{"no limit (max)", nil, map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}, DefaultGCPercent, math.MaxInt64},
		{"v1 unlimited", nil, map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, DefaultGCPercent, math.MaxInt64},
		{"no cgroup", nil, nil, DefaultGCPercent, math.MaxInt64},
		{"GOGC and GOMEMLIMIT set", map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB"}, map[string]string{"/sys/fs/cgroup/memory.max": "536870912"}, 100, math.MaxInt64},
	} {
		t.Run(c.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			tuneMemory(env(c.env), files(c.files))
			if gc, limit := effectiveMemorySettings(); gc != c.wantGC || limit != c.wantLimit {
				t.Errorf("after tuneMemory: GC percent %d, limit %d; want %d, %d", gc, limit, c.wantGC, c.wantLimit)
			}
		})
	}
	debug.SetGCPercent(55)
	debug.SetMemoryLimit(1 << 30)
	if gc, limit := effectiveMemorySettings(); gc != 55 || limit != 1<<30 {
		t.Errorf("effectiveMemorySettings = %d, %d; want 55, %d", gc, limit, 1<<30)
	}
	if gc, _ := effectiveMemorySettings(); gc != 55 {
		t.Errorf("reading the settings changed the GC percent to %d", gc)
	}
	if _, ok := cgroupMemoryLimit(func(string) ([]byte, error) { return nil, errors.New("denied") }); ok {
		t.Error("an unreadable cgroup gave a limit")
	}
}
