// Package loadworker loads a repository's CUE files with bounded memory and
// time. Go cannot bound one goroutine, so the files that no earlier load
// evaluated are evaluated in a child process (the running binary,
// re-executed with Env set), watched for its resident memory and CPU time;
// a file that exceeds a budget is reported as a diagnostic and left out.
// The worker sends back each file's result, which enters the spec cache, so
// that the load in process that follows evaluates nothing again. Caps on
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
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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
	// RunTimeout the CPU time of evaluating all files of one load (every
	// worker's; wallLimit of it in wall time stops a load whatever its CPU).
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

	mu sync.Mutex
	// sizes holds the size of each file of the last load by git blob id,
	// for the files a load does not read again.
	sizes map[[20]byte]int64
	// Lean makes the load in process a spec.Options.Lean one: for a
	// command that loads once, with a spec.NewOneShotCache.
	Lean bool
}

// New returns a loader with a fresh cache.
func New(l Limits) *Loader { return &Loader{Limits: l, Cache: spec.NewCache()} }

// request is what one worker is to evaluate: the files, which it is sent
// one at a time as it takes them (the parent reads each again then, and
// neither side holds the sources of all files), with the parallelism.
type request struct {
	Names []string
	// Srcs holds the sources read while checking the caps, up to
	// keepSrcBytes in all (nil for the others, read again when sent):
	// the few files of a small change are read once.
	Srcs [][]byte
	// Workers is how many files the worker evaluates at once.
	Workers int
}

// keepSrcBytes bounds the sources a load keeps from its first read for the
// worker.
const keepSrcBytes = 8 << 20

// header opens a worker's input; a file message follows for each file,
// then the end of the input.
type header struct{ Workers int }

// file is one file a worker evaluates.
type file struct {
	Name string
	Src  []byte
}

// Load reads fsys and loads it within the limits. When fsys is a
// spec.GitObjectIDFS, a file whose path and blob id are in the cache is
// neither read nor hashed: its result is known and its size is the one an
// earlier load read (it passed the file size cap then; it still counts
// towards the total).
func (l *Loader) Load(ctx context.Context, fsys fs.FS) (*spec.Result, error) {
	lim := l.Limits.withDefaults()
	ids, _ := fsys.(spec.GitObjectIDFS)
	names, err := spec.ListFiles(fsys, l.Cache)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	known := l.sizes
	l.mu.Unlock()
	sizes := make(map[[20]byte]int64, len(known))
	var ds diag.Diagnostics
	skip := map[string]bool{}
	var req request
	var total, kept int64
	for i, name := range names {
		if i >= lim.MaxFiles {
			ds = append(ds, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeTooManyFiles,
				"the repository has %d CUE files, more than the limit of %d: this file and those after it are not loaded", len(names), lim.MaxFiles))
			for _, n := range names[i:] {
				skip[n] = true
			}
			break
		}
		var id [20]byte
		hasID := false
		if ids != nil {
			id, hasID = ids.GitObjectID(name)
		}
		// sized: the size is that of an earlier load, the result cached.
		size, sized := known[id]
		sized = sized && hasID && l.Cache.HasGitObject(name, id)
		if !sized {
			if fi, err := fs.Stat(fsys, name); err == nil {
				size = fi.Size()
			}
		}
		var src []byte
		if size <= lim.MaxFileBytes && !sized {
			if src, err = fs.ReadFile(fsys, name); err != nil {
				return nil, fmt.Errorf("read %s: %w", name, err)
			}
			size = int64(len(src))
		}
		if size > lim.MaxFileBytes {
			ds = append(ds, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeFileTooLarge,
				"file of %d bytes is larger than the limit of %d bytes", size, lim.MaxFileBytes))
			skip[name] = true
			continue
		}
		if hasID {
			sizes[id] = size
		}
		total += size
		if total > lim.MaxTotalBytes {
			ds = append(ds, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeRepoTooLarge,
				"the CUE files up to this one hold more than the limit of %d bytes: this file and those after it are not loaded", lim.MaxTotalBytes))
			for _, n := range names[i:] {
				skip[n] = true
			}
			break
		}
		if sized || hasID && l.Cache.HasGitObject(name, id) || !hasID && l.Cache.Has(name, src) {
			continue
		}
		req.Names = append(req.Names, name)
		if kept+int64(len(src)) > keepSrcBytes {
			src = nil
		}
		kept += int64(len(src))
		req.Srcs = append(req.Srcs, src)
	}
	l.mu.Lock()
	l.sizes = sizes
	l.mu.Unlock()
	if len(req.Names) > 0 {
		over, err := l.probe(ctx, lim, fsys, req)
		if err != nil {
			return nil, err
		}
		for _, d := range over {
			skip[d.Pos.File] = true
		}
		ds = append(ds, over...)
	}
	res, err := spec.Load(ctx, hide(fsys, skip), spec.Options{Cache: l.Cache, Lean: l.Lean})
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

// probe evaluates the files of req in workers, imports their results into
// the cache and returns a diagnostic for each file over budget. A first
// worker evaluates all files in parallel; when it is stopped (memory, time,
// a crash), each file it was evaluating is evaluated again alone in a
// worker of its own, which blames it or clears it, and the files it had not
// reached go to a new parallel worker.
func (l *Loader) probe(ctx context.Context, lim Limits, fsys fs.FS, req request) (diag.Diagnostics, error) {
	ctx, cancel := context.WithTimeout(ctx, wallLimit(lim.RunTimeout))
	defer cancel()
	var out diag.Diagnostics
	blamed := map[string]bool{}
	overBudget := func(name, detail, format string, args ...any) {
		blamed[name] = true
		out = append(out, diag.Errorf(diag.Pos{File: name, Line: 1, Col: 1}, CodeOverBudget, format, args...).WithDetail("%s", detail))
	}
	// spentOut ends the load once its CPU budget is spent: what is neither
	// done nor blamed is not evaluated, and no further worker is started.
	spentOut := func(names []string, done map[string]bool, reason string) diag.Diagnostics {
		for _, n := range names {
			if !done[n] && !blamed[n] {
				overBudget(n, "the files of one revision that are new or changed share load.runTimeout; split the change or raise the limit",
					"this file was not evaluated: the load %s", reason)
			}
		}
		return out
	}
	var spent time.Duration // CPU time of the workers so far
	for len(req.Names) > 0 {
		req.Workers = max(1, min(runtime.GOMAXPROCS(0), len(req.Names)))
		r, err := l.run(ctx, lim, fsys, req, &spent)
		if err != nil {
			return nil, err
		}
		if r.reason == "" {
			break
		}
		if r.runOver {
			return spentOut(req.Names, r.done, r.reason), nil
		}
		if len(r.done) == 0 && len(r.inflight) == 0 {
			// Stopped before it reported a file: the files it would
			// have started first are the suspects.
			for _, n := range req.Names[:req.Workers] {
				r.inflight[n] = true
			}
		}
		var rest request
		srcOf := map[string][]byte{}
		for i, n := range req.Names {
			if !r.done[n] && !r.inflight[n] {
				rest.Names, rest.Srcs = append(rest.Names, n), append(rest.Srcs, req.Srcs[i])
			} else if r.inflight[n] {
				srcOf[n] = req.Srcs[i]
			}
		}
		for _, n := range req.Names {
			if !r.inflight[n] {
				continue
			}
			one, err := l.run(ctx, lim, fsys, request{Names: []string{n}, Srcs: [][]byte{srcOf[n]}, Workers: 1}, &spent)
			if err != nil {
				return nil, err
			}
			switch {
			case one.reason == "":
				r.done[n] = true
			case one.runOver:
				return spentOut(req.Names, r.done, one.reason), nil
			default:
				overBudget(n, "the file is not loaded; simplify it (a structure that doubles at each level grows exponentially)",
					"evaluating this file %s", one.reason)
			}
		}
		req = rest
	}
	return out, nil
}

// wallLimit is the wall time after which a load stops whatever CPU time it
// used (a worker that waits instead of computing): twice the CPU budget plus
// ten seconds for starting workers.
func wallLimit(cpu time.Duration) time.Duration { return 2*cpu + 10*time.Second }

// event is what a worker reports of one file: evaluation started, or done
// with the file's encoded result.
type event struct {
	Done bool
	Name string
	Data []byte
}

// runResult is what one worker did: the files it finished (their results
// are in the cache) and the ones it was evaluating when it stopped; reason
// says why it stopped before finishing, "" when it finished.
type runResult struct {
	done, inflight map[string]bool
	reason         string
	// runOver is set when the load's CPU budget (RunTimeout) ran out.
	runOver bool
}

// run starts one worker on req, sends it the files of fsys as it takes
// them and imports the results it reports. Its CPU budget is
// lim.FileTimeout per file evaluated at once, counted from the last file
// it finished.
func (l *Loader) run(ctx context.Context, lim Limits, fsys fs.FS, req request, spent *time.Duration) (runResult, error) {
	res := runResult{done: map[string]bool{}, inflight: map[string]bool{}}
	var lastCPU time.Duration
	defer func() { *spent += lastCPU }()
	exe := l.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return res, fmt.Errorf("load worker: %w", err)
		}
	}
	cmd := exec.Command(exe)
	// The soft limit is the kill limit: below it the collector runs at the
	// worker's GOGC; a soft limit under it made a file whose memory
	// explodes run the collector without pause until the CPU limit ended
	// it, minutes later, instead of being stopped at the memory limit.
	cmd.Env = append(os.Environ(), Env+"=1", "GOMEMLIMIT="+strconv.FormatInt(lim.MemoryLimit, 10))
	cmd.Stderr = io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("load worker: %w", err)
	}
	in := sendFiles(fsys, req, lim.MaxFileBytes, stdin)
	defer in.wait()
	events := make(chan event)
	go func() {
		dec := gob.NewDecoder(bufio.NewReader(stdout))
		for {
			var ev event
			if dec.Decode(&ev) != nil {
				break
			}
			events <- ev
		}
		close(events)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	budget := lim.FileTimeout * time.Duration(max(req.Workers, 1))
	deadline := time.Now().Add(budget)
	cpuAtDone, cpuKnown := cpuTime(cmd.Process.Pid)
	var importErr error
	kill := func(why string) {
		res.reason = why
		_ = cmd.Process.Kill()
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				werr := cmd.Wait()
				if importErr != nil {
					return res, importErr
				}
				if err := in.wait(); err != nil {
					return res, err
				}
				if len(res.done) == len(req.Names) {
					res.reason = ""
					return res, nil
				}
				if ctx.Err() != nil && res.reason == "" {
					return res, ctx.Err()
				}
				if res.reason == "" {
					res.reason = "ended the load worker"
					if werr != nil {
						res.reason += " (" + werr.Error() + ")"
					}
				}
				return res, nil
			}
			if !ev.Done {
				res.inflight[ev.Name] = true
				continue
			}
			if err := l.Cache.Import(ev.Name, in.take(ev.Name), ev.Data); err != nil && importErr == nil {
				importErr = fmt.Errorf("load worker result of %s: %w", ev.Name, err)
			}
			delete(res.inflight, ev.Name)
			res.done[ev.Name] = true
			deadline = time.Now().Add(budget)
			cpuAtDone, cpuKnown = cpuTime(cmd.Process.Pid)
			if cpuKnown {
				lastCPU = cpuAtDone
			}
		case <-tick.C:
			if res.reason != "" {
				continue
			}
			cpu, ok := cpuTime(cmd.Process.Pid)
			overTime := time.Now().After(deadline)
			if ok && cpuKnown {
				overTime = cpu-cpuAtDone > budget
			}
			if ok {
				lastCPU = cpu
			}
			if rss := residentBytes(cmd.Process.Pid); rss > lim.MemoryLimit {
				kill(fmt.Sprintf("took more than the memory limit of %d MiB", lim.MemoryLimit>>20))
			} else if ok && *spent+cpu > lim.RunTimeout {
				kill(fmt.Sprintf("used up its CPU time limit of %s", lim.RunTimeout))
				res.runOver = true
			} else if overTime {
				kill(fmt.Sprintf("took more CPU time than the limit of %s", lim.FileTimeout))
			}
		case <-ctx.Done():
			if res.reason == "" {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					kill(fmt.Sprintf("took longer than %s in wall time (its CPU time limit is %s)", wallLimit(lim.RunTimeout), lim.RunTimeout))
					res.runOver = true
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
// with the requested parallelism and reports, on stdout, each file it
// starts and each it finished with its encoded result. It returns the exit
// code.
func Serve() int {
	dec := gob.NewDecoder(bufio.NewReaderSize(os.Stdin, 64<<10))
	var req header
	if err := dec.Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "load worker:", err)
		return 2
	}
	var readErr error
	files := func(yield func(string, []byte) bool) {
		for {
			var f file
			if err := dec.Decode(&f); err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
			if !yield(f.Name, f.Src) {
				return
			}
		}
	}
	// The worker keeps no result once sent (spec.Evaluate), so its live
	// heap is that of the files being evaluated: collecting at a small
	// multiple of it would run the collector almost without pause. The
	// parent stops a worker over the memory limit.
	debug.SetGCPercent(400)
	w := bufio.NewWriter(os.Stdout)
	enc := gob.NewEncoder(w)
	var mu sync.Mutex
	send := func(ev event) {
		mu.Lock()
		defer mu.Unlock()
		if enc.Encode(ev) == nil {
			_ = w.Flush()
		}
	}
	err := spec.EvaluateSeq(context.Background(), files, spec.Options{
		Workers:    max(req.Workers, 1),
		Evaluating: func(name string) { send(event{Name: name}) },
	}, func(name string, data []byte) error {
		send(event{Done: true, Name: name, Data: data})
		return nil
	})
	if err == nil {
		err = readErr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load worker:", err)
		return 2
	}
	return 0
}

// hide returns fsys without the files of skip. When fsys gives git object
// ids, so does the result, except for the directories that hold a hidden
// file (spec.Load would take their listing, which has it, from the cache).
func hide(fsys fs.FS, skip map[string]bool) fs.FS {
	w := without{fsys, skip}
	ids, ok := fsys.(spec.GitObjectIDFS)
	if !ok {
		return w
	}
	if len(skip) == 0 {
		return ids
	}
	dirs := map[string]bool{}
	for name := range skip {
		for d := path.Dir(name); !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			if d == "." {
				break
			}
		}
	}
	return withoutIDs{w, ids, dirs}
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

// withoutIDs is a without over a GitObjectIDFS: it gives the ids of the
// files it shows and of the directories that hide nothing.
type withoutIDs struct {
	without
	ids spec.GitObjectIDFS
	// hiding holds the directories with a hidden file under them.
	hiding map[string]bool
}

func (w withoutIDs) GitObjectID(name string) ([20]byte, bool) {
	if w.skip[name] || w.hiding[name] {
		return [20]byte{}, false
	}
	return w.ids.GitObjectID(name)
}

// sender writes the files of a request to a worker's input, each read
// again from the file system as the worker takes it, and holds the
// contents of those sent and not yet reported done: the pipe and the
// worker's read buffer bound them.
type sender struct {
	mu      sync.Mutex
	pending map[string][]byte
	err     error
	done    chan struct{}
}

// sendFiles starts writing req to w, closing w after the last file or at
// the first failure (a read, a worker gone).
func sendFiles(fsys fs.FS, req request, maxBytes int64, w io.WriteCloser) *sender {
	s := &sender{pending: map[string][]byte{}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer w.Close()
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := gob.NewEncoder(bw)
		if enc.Encode(header{Workers: req.Workers}) != nil {
			return
		}
		for i, name := range req.Names {
			src, err := req.Srcs[i], error(nil)
			if src == nil {
				src, err = fs.ReadFile(fsys, name)
			}
			if err == nil && int64(len(src)) > maxBytes {
				err = fmt.Errorf("the file grew past the limit of %d bytes during the load", maxBytes)
			}
			if err != nil {
				s.mu.Lock()
				s.err = fmt.Errorf("read %s: %w", name, err)
				s.mu.Unlock()
				return
			}
			s.mu.Lock()
			s.pending[name] = src
			s.mu.Unlock()
			if enc.Encode(file{Name: name, Src: src}) != nil {
				return // the worker is gone: run reports why
			}
		}
		_ = bw.Flush()
	}()
	return s
}

// take returns the contents sent of a file reported done and forgets them.
func (s *sender) take(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.pending[name]
	delete(s.pending, name)
	return src
}

// wait waits until the sender ends and returns its read error.
func (s *sender) wait() error {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
