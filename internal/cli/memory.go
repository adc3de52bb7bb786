package cli

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the garbage collector's target of the daemon when
// GOGC is not set. Most of the daemon's heap is long-lived caches (the CUE
// results of every file, the rules last observed in Treasure Data), so the
// default of 100 lets the heap grow to twice that between collections; 70
// keeps a 10,000-segment daemon well under 256 MiB at no measured latency
// cost (bench/daemon.sh).
const DefaultGCPercent = 70

// memoryLimitShare is the part of a container's memory limit given to the
// Go runtime as its soft limit when GOMEMLIMIT is not set: the collector
// works harder near it instead of letting the kernel kill the process.
const memoryLimitShare = 0.9

// cgroup files holding the memory limit: v2, then v1.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// tuneMemory applies DefaultGCPercent unless GOGC is set, and a soft
// memory limit of 90% of the cgroup's limit unless GOMEMLIMIT is set.
// effectiveMemorySettings reports what is in force afterwards.
func tuneMemory(getenv func(string) string, readFile func(string) ([]byte, error)) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		if limit, ok := cgroupMemoryLimit(readFile); ok {
			debug.SetMemoryLimit(int64(float64(limit) * memoryLimitShare))
		}
	}
}

// effectiveMemorySettings returns the collector's GC percent (-1: off) and
// soft memory limit (math.MaxInt64: none) in force.
func effectiveMemorySettings() (gcPercent int, memoryLimit int64) {
	gcPercent = debug.SetGCPercent(100)
	debug.SetGCPercent(gcPercent)
	return gcPercent, debug.SetMemoryLimit(-1)
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup, if
// there is one ("max" and the huge v1 "unlimited" value are none).
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	for _, f := range cgroupLimitFiles {
		b, err := readFile(f)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= 1<<60 {
			return 0, false
		}
		return v, true
	}
	return 0, false
}
