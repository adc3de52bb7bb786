// Package loadworker loads a repository's CUE files with bounded memory and
// time. Go cannot bound one goroutine, so the files that no earlier load
// evaluated are first evaluated in a child process (the running binary,
// re-executed with Env set), watched for its resident memory and time; a
// file that exceeds a budget is reported as a diagnostic and left out, and
// the others are then loaded in process by pkg/spec with its cache. Caps on
// file size, file count and total size are checked before any evaluation.
package loadworker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

// Env is the environment variable that makes the binary a worker: a main
// (or a TestMain) calls Serve when it is set.
const Env = "RECONCILER_LOAD_WORKER"

// Diagnostic codes.
const (
	CodeFileTooLarge = "file-too-large"
	CodeTooManyFiles = "too-many-files"
	CodeRepoTooLarge = "repository-too-large"
	CodeOverBudget   = "over-budget"
)

// Limits bound a load. Zero fields take the defaults.
type Limits struct {
	MaxFileBytes  int64
	MaxFiles      int
	MaxTotalBytes int64
	// FileTimeout bounds the CPU time of evaluating one file (the
	// worker's user and system time, so a busy machine does not make a
	// file over budget; wall time when the CPU time cannot be read),
	// RunTimeout the wall time of evaluating all files of one load.
	FileTimeout time.Duration
	RunTimeout  time.Duration
	// MemoryLimit bounds the worker's resident memory, in bytes.
	MemoryLimit int64
}

// Defaults.
var Defaults = Limits{
	MaxFileBytes:  1 << 20,
	MaxFiles:      20000,
	MaxTotalBytes: 256 << 20,
	FileTimeout:   30 * time.Second,
	RunTimeout:    10 * time.Minute,
	MemoryLimit:   1 << 30,
}

func (l Limits) withDefaults() Limits {
	d := Defaults
	if l.MaxFileBytes > 0 {
		d.MaxFileBytes = l.MaxFileBytes
	}
	if l.MaxFiles > 0 {
		d.MaxFiles = l.MaxFiles
	}
	if l.MaxTotalBytes > 0 {
		d.MaxTotalBytes = l.MaxTotalBytes
	}
	if l.FileTimeout > 0 {
		d.FileTimeout = l.FileTimeout
	}
	if l.RunTimeout > 0 {
		d.RunTimeout = l.RunTimeout
	}
	if l.MemoryLimit > 0 {
		d.MemoryLimit = l.MemoryLimit
	}
	return d
}

// BudgetError is returned, together with the Result, when a file or the
// repository exceeded a limit. The Result holds the diagnostics of every
// file, the over-budget ones included.
type BudgetError struct {
	Diagnostics diag.Diagnostics
}

func (e *BudgetError) Error() string { return "over the load budget: " + e.Diagnostics.Err().Error() }

// OverBudget reports true: the revision cannot be loaded within the limits.
func (e *BudgetError) OverBudget() bool { return true }

// Loader loads repositories within Limits. It keeps a spec cache across
// loads; files found in it are not evaluated again in a worker.
type Loader struct {
	Limits Limits
	Cache  *spec.Cache
	// Executable is the worker binary; empty means os.Executable.
	Executable string
}

// New returns a loader with a fresh cache.
func New(l Limits) *Loader { return &Loader{Limits: l, Cache: spec.NewCache()} }

type request struct {
	Names []string
	Srcs  [][]byte
}

// Load reads fsys and loads it within the limits.
func (l *Loader) Load(ctx context.Context, fsys fs.FS) (*spec.Result, error) {
	lim := l.Limits.withDefaults()
	names, err := spec.Files(fsys)
	if err != nil {
		return nil, err
	}
	var ds diag.Diagnostics
	skip := map[string]bool{}
	var req request
	var total int64
	for i, name := range names {
		if i >= lim.MaxFiles {
			ds = append(ds, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeTooManyFiles,
				"the repository has %d CUE files, more than the limit of %d: this file and those after it are not loaded", len(names), lim.MaxFiles))
			for _, n := range names[i:] {
				skip[n] = true
			}
			break
		}
		if fi, err := fs.Stat(fsys, name); err == nil && fi.Size() > lim.MaxFileBytes {
			ds = append(ds, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeFileTooLarge,
				"file of %d bytes is larger than the limit of %d bytes", fi.Size(), lim.MaxFileBytes))
			skip[name] = true
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		total += int64(len(src))
		if total > lim.MaxTotalBytes {
			ds = append(ds, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeRepoTooLarge,
				"the CUE files up to this one hold more than the limit of %d bytes: this file and those after it are not loaded", lim.MaxTotalBytes))
			for _, n := range names[i:] {
				skip[n] = true
			}
			break
		}
		if l.Cache.Has(name, src) {
			continue
		}
		req.Names = append(req.Names, name)
		req.Srcs = append(req.Srcs, src)
	}
	if len(req.Names) > 0 {
		over, err := l.probe(ctx, lim, req)
		if err != nil {
			return nil, err
		}
		for _, d := range over {
			skip[d.Pos.File] = true
		}
		ds = append(ds, over...)
	}
	res, err := spec.Load(ctx, without{fsys, skip}, spec.Options{Cache: l.Cache})
	if err != nil {
		return nil, err
	}
	res.Files += len(skip)
	if len(ds) == 0 {
		return res, nil
	}
	res.Diagnostics = append(res.Diagnostics, ds...).Sort()
	return res, &BudgetError{Diagnostics: ds.Sort()}
}

// probe evaluates the files of req in workers and returns a diagnostic for
// each file over budget. A worker that dies or is killed while evaluating a
// file blames that file; the files after it go to a new worker.
func (l *Loader) probe(ctx context.Context, lim Limits, req request) (diag.Diagnostics, error) {
	ctx, cancel := context.WithTimeout(ctx, lim.RunTimeout)
	defer cancel()
	var out diag.Diagnostics
	for len(req.Names) > 0 {
		done, reason, err := l.run(ctx, lim, req)
		if err != nil {
			return nil, err
		}
		if done == len(req.Names) {
			break
		}
		name := req.Names[done]
		out = append(out, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeOverBudget,
			"evaluating this file %s", reason).
			WithDetail("the file is not loaded; simplify it (a structure that doubles at each level grows exponentially)"))
		req.Names, req.Srcs = req.Names[done+1:], req.Srcs[done+1:]
	}
	return out, nil
}

// run starts one worker on req and returns how many files it evaluated;
// when fewer than all, reason says why the next one failed.
func (l *Loader) run(ctx context.Context, lim Limits, req request) (done int, reason string, err error) {
	exe := l.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return 0, "", fmt.Errorf("load worker: %w", err)
		}
	}
	var in bytes.Buffer
	if err := gob.NewEncoder(&in).Encode(req); err != nil {
		return 0, "", err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), Env+"=1", "GOMEMLIMIT="+strconv.FormatInt(lim.MemoryLimit*3/4, 10))
	cmd.Stdin = &in
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, "", err
	}
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("load worker: %w", err)
	}
	type event struct {
		line string
		ok   bool
	}
	events := make(chan event)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			events <- event{line: sc.Text(), ok: true}
		}
		close(events)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	fileDeadline := time.Now().Add(lim.FileTimeout)
	cpuAtDone, cpuKnown := cpuTime(cmd.Process.Pid)
	kill := func(why string) {
		reason = why
		_ = cmd.Process.Kill()
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				werr := cmd.Wait()
				if done == len(req.Names) {
					return done, "", nil
				}
				if ctx.Err() != nil && reason == "" {
					return 0, "", ctx.Err()
				}
				if reason == "" {
					reason = "ended the load worker"
					if werr != nil {
						reason += " (" + werr.Error() + ")"
					}
				}
				return done, reason, nil
			}
			if ev.line == "done" {
				done++
				fileDeadline = time.Now().Add(lim.FileTimeout)
				cpuAtDone, cpuKnown = cpuTime(cmd.Process.Pid)
			}
		case <-tick.C:
			cpu, ok := cpuTime(cmd.Process.Pid)
			overTime := time.Now().After(fileDeadline)
			if ok && cpuKnown {
				overTime = cpu-cpuAtDone > lim.FileTimeout
			}
			if rss := residentBytes(cmd.Process.Pid); rss > lim.MemoryLimit && reason == "" {
				kill(fmt.Sprintf("took more than the memory limit of %d MiB", lim.MemoryLimit>>20))
			} else if overTime && reason == "" {
				kill(fmt.Sprintf("took more CPU time than the limit of %s", lim.FileTimeout))
			}
		case <-ctx.Done():
			if reason == "" {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					kill(fmt.Sprintf("exceeded the load's time limit of %s", lim.RunTimeout))
				} else {
					kill("was canceled")
				}
			}
		}
	}
}

// clockTicks is the unit of the CPU times in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTicks = 100

// cpuTime returns the user plus system CPU time of a process, from
// /proc/PID/stat; false when unknown.
func cpuTime(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis (state is field 3, utime 14,
	// stime 15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / clockTicks, true
}

// residentBytes returns the resident memory of a process, zero when
// unknown.
func residentBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

// Serve is the worker: it reads a request from stdin, evaluates the files
// one by one and writes "done" after each. It returns the exit code.
func Serve() int {
	var req request
	if err := gob.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "load worker:", err)
		return 2
	}
	debug.SetGCPercent(50)
	w := bufio.NewWriter(os.Stdout)
	fsys := fstest.MapFS{}
	for i, name := range req.Names {
		fsys[name] = &fstest.MapFile{Data: req.Srcs[i]}
	}
	// One worker evaluates the files in order, so that the file being
	// evaluated when the worker is stopped is the one after the last done.
	_, err := spec.Load(context.Background(), fsys, spec.Options{Workers: 1, Evaluated: func(string) {
		fmt.Fprintln(w, "done")
		_ = w.Flush()
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "load worker:", err)
		return 2
	}
	return 0
}

// without hides files of an fs.FS.
type without struct {
	fs.FS
	skip map[string]bool
}

func (w without) Open(name string) (fs.File, error) {
	if w.skip[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return w.FS.Open(name)
}

func (w without) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := fs.ReadDir(w.FS, name)
	out := es[:0]
	for _, e := range es {
		if !w.skip[path.Join(name, e.Name())] {
			out = append(out, e)
		}
	}
	return out, err
}
