package spec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Options configure Load.
type Options struct {
	// Cache keeps per-file results across loads; nil evaluates every file.
	Cache *Cache
	// Workers is the number of files evaluated at once; zero means
	// GOMAXPROCS.
	Workers int
	// FilesPerContext is how many files a worker evaluates before it drops
	// its CUE context and starts a new one, which bounds memory; zero means
	// 200.
	FilesPerContext int
	// Evaluating and Evaluated, when set, are called by a worker before
	// and after it evaluates a file (not for files found in Cache).
	Evaluating, Evaluated func(file string)
	// Lean is for a one-shot load, such as a command that checks a
	// repository once: Load holds no file's decoded result beyond the file
	// being checked (the others wait encoded, as in a one-shot Cache), and
	// the segments of Result.State come without their rules (the zero
	// Rule). The diagnostics, and the rest of the state, are those of a
	// load without Lean.
	Lean bool
}

// Result is a loaded repository.
type Result struct {
	// State is every valid object, in file order. Folders include those
	// implied by segments' folder paths (and their ancestors). Types that
	// the repository leaves out are empty.
	State segment.State
	// Diagnostics are all problems found, sorted by position.
	Diagnostics diag.Diagnostics
	// Files is the number of CUE files read.
	Files int
	// Cached is the number of files whose result came from Options.Cache.
	Cached int
}

// Load reads every CUE file of fsys (one commit of a repository), unifies
// each with the embedded schema, decodes the objects it declares and checks
// them together. Problems in the input are reported as Result.Diagnostics;
// the error is for internal failures only (an unreadable fsys, a broken
// embedded schema, a canceled ctx).
//
// Positions in diagnostics and Origins are the slash-separated paths of
// fsys. The returned state is the caller's to change (its slices, the
// objects in them, activations), except what it shares with the cache,
// read-only: Origin.Fields lists, Extra maps, and the condition sets of
// rules with everything under them. Take segment.Rule.CopyConditions of a
// rule before setting a condition's fields, and replace what a condition
// points to (LeftValue, Operator, ArrayMatching, Limit) rather than change
// it in place.
//
// When fsys is a GitObjectIDFS, files and directories whose path and
// object id a load with the same Cache saw are neither read nor listed.
func Load(ctx context.Context, fsys fs.FS, opts Options) (*Result, error) {
	runs, err := listFiles(fsys, opts.Cache)
	if err != nil {
		return nil, err
	}
	nfiles := 0
	for _, run := range runs {
		nfiles += len(run)
	}
	opts.Cache.begin()
	w := startWorkers(opts, nfiles, nil)
	cached, readErr := w.feed(ctx, fsys, runs)
	close(w.jobs)
	w.wg.Wait()
	if readErr != nil {
		return nil, readErr
	}
	if w.err != nil {
		return nil, fmt.Errorf("load schema: %w", w.err)
	}
	opts.Cache.sweep()
	res, err := assemble(w.results, opts.Cache != nil, opts.Lean)
	if err != nil {
		return nil, fmt.Errorf("load cached result: %w", err)
	}
	res.Files, res.Cached = nfiles, cached
	return res, nil
}

// loadJob is one file to evaluate: its index in the results, path, content
// and cache key.
type loadJob struct {
	i    int
	path string
	src  []byte
	key  cacheKey
}

// loadWorkers evaluates the files of one Load on a pool of goroutines, each
// with its own evaluator, renewed every perCtx files.
type loadWorkers struct {
	opts    Options
	perCtx  int
	results []*fileResult
	jobs    chan loadJob
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error // the last failure to build an evaluator
	// sink, when set, takes each result instead of results and the cache
	// (Evaluate).
	sink func(path string, r *fileResult)
}

// startWorkers starts the goroutines of opts (Workers, FilesPerContext) to
// evaluate n files (n < 0: not known beforehand): into results and
// opts.Cache, or, when sink is set, into sink.
func startWorkers(opts Options, n int, sink func(path string, r *fileResult)) *loadWorkers {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	perCtx := opts.FilesPerContext
	if perCtx <= 0 {
		perCtx = 200
	}
	w := &loadWorkers{opts: opts, perCtx: perCtx, jobs: make(chan loadJob), sink: sink}
	if sink == nil {
		w.results = make([]*fileResult, n)
	}
	if n >= 0 {
		workers = min(workers, max(n, 1))
	}
	for range workers {
		w.wg.Add(1)
		go w.run()
	}
	return w
}

// idleEvaluators holds evaluators between loads: building one compiles the
// schema, which cost more than evaluating the one file a load after a small
// change evaluates.
var idleEvaluators sync.Pool

func (w *loadWorkers) run() {
	defer w.wg.Done()
	ev, _ := idleEvaluators.Get().(*evaluator)
	defer func() {
		if ev != nil && ev.files < w.perCtx {
			idleEvaluators.Put(ev)
		}
	}()
	for j := range w.jobs {
		if ev == nil || ev.files >= w.perCtx {
			var err error
			if ev, err = newEvaluator(); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				continue
			}
		}
		if w.opts.Evaluating != nil {
			w.opts.Evaluating(j.path)
		}
		r := ev.eval(j.path, j.src)
		if w.sink != nil {
			w.sink(j.path, r)
			continue
		}
		w.results[j.i] = w.keep(j.key, r)
		if w.opts.Evaluated != nil {
			w.opts.Evaluated(j.path)
		}
	}
}

// keep puts the result of a file evaluated in the cache and returns what
// the load keeps of it: encoded for a lean load, unless the cache holds it
// decoded.
func (w *loadWorkers) keep(key cacheKey, r *fileResult) *fileResult {
	if w.opts.Cache.put(key, r) || !w.opts.Lean {
		return r
	}
	if e, err := encoded(r); err == nil {
		return e
	}
	return r
}

// feed reads the files in order, takes each one's result from the cache
// when it is there and hands the others to the workers. A file whose key
// the file system gave is read only when its result is not cached. It
// returns how many came from the cache, and the error that stopped it (a
// read, ctx).
func (w *loadWorkers) feed(ctx context.Context, fsys fs.FS, runs [][]fileRef) (int, error) {
	cached, i := w.opts.Cache.getKeyed(runs, w.results), -1
	// buf holds each file while it is looked up in the cache; only the
	// files to evaluate are copied.
	var buf []byte
	for f := range allFiles(runs) {
		i++
		if err := ctx.Err(); err != nil {
			return cached, err
		}
		if w.results[i] != nil {
			continue
		}
		var err error
		if buf, err = readFile(fsys, f.name, buf); err != nil {
			return cached, fmt.Errorf("read %s: %w", f.name, err)
		}
		key := f.key
		if w.opts.Cache != nil && !f.keyed {
			// A keyed file is not in the cache (getKeyed looked): its key
			// is that of its content, nothing to hash or look up again.
			key = newCacheKey(f.name, buf)
			if r := w.opts.Cache.get(key); r != nil {
				w.results[i] = r
				cached++
				continue
			}
		}
		src := bytes.Clone(buf)
		select {
		case w.jobs <- loadJob{i: i, path: f.name, src: src, key: key}:
		case <-ctx.Done():
			return cached, ctx.Err()
		}
	}
	return cached, nil
}

// allFiles yields the files of runs in order.
func allFiles(runs [][]fileRef) iter.Seq[*fileRef] {
	return func(yield func(*fileRef) bool) {
		for _, run := range runs {
			for i := range run {
				if !yield(&run[i]) {
					return
				}
			}
		}
	}
}

// readFile reads file name of fsys into buf, growing it as needed, and
// returns the contents.
func readFile(fsys fs.FS, name string, buf []byte) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// Files lists the CUE files of fsys that Load reads, in the order it reads
// them.
func Files(fsys fs.FS) ([]string, error) { return cueFiles(fsys) }

// assemble merges the per-file results, fills what needs the whole
// repository, and runs the semantic checks. It copies what it keeps when the
// results are shared (with a Cache); otherwise it takes them over. A lean
// load assembles in two passes over the files (lean.go).
func assemble(results []*fileResult, shared, lean bool) (*Result, error) {
	if lean {
		return assembleLean(results, shared)
	}
	a, err := gather(results, shared)
	if err != nil {
		return nil, err
	}
	res := a.res
	a.defaultParent()
	for i := range res.State.Segments {
		s := &res.State.Segments[i]
		for j := range s.Activations {
			s.Activations[j].Parent, s.Activations[j].Segment = s.Parent, s.Name
		}
	}
	parentSrc := make(map[*segment.Parent]*segment.Parent, len(a.parentFrom))
	for i := range res.State.Parents {
		parentSrc[&res.State.Parents[i]] = a.parentFrom[i]
	}
	res.Diagnostics = append(res.Diagnostics, check(&res.State, a.known, a.inFileOrder(), parentSrc)...)
	res.State.Folders = impliedFolders(res.State.Folders, res.State.Segments)
	res.Diagnostics = res.Diagnostics.Sort()
	return res, nil
}

// assembly is the repository merged from the per-file results.
type assembly struct {
	res     *Result
	known   knownNames
	partial []partialSegment
	// files are the file results, in order, so that the checks see every
	// segment in file order with its memo slot (none without a cache).
	files []*fileResult
	// parentFrom holds, per parent of the state, the object in its file
	// result that it was copied from.
	parentFrom []*segment.Parent
}

// gather merges the per-file results, copying what it keeps when they are
// shared and decoding those held encoded.
func gather(results []*fileResult, shared bool) (*assembly, error) {
	res := &Result{}
	var np, nf, ns int
	for _, r := range results {
		if r != nil {
			np, nf, ns = np+len(r.parents), nf+len(r.folders), ns+len(r.segments)
		}
	}
	res.State.Parents = make([]segment.Parent, 0, np)
	res.State.Folders = make([]segment.Folder, 0, nf)
	res.State.Segments = make([]segment.Segment, 0, ns)
	a := &assembly{res: res, known: knownNames{parents: map[string]bool{}, segments: map[string]bool{}}, files: make([]*fileResult, 0, len(results))}
	for _, held := range results {
		r, err := decoded(held)
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		shared := shared && r == held
		res.Diagnostics = append(res.Diagnostics, r.diags...)
		for i := range r.parents {
			p := r.parents[i]
			if shared {
				p = cloneParent(p)
			}
			res.State.Parents = append(res.State.Parents, p)
			a.parentFrom = append(a.parentFrom, &r.parents[i])
		}
		res.State.Folders = append(res.State.Folders, r.folders...)
		res.State.Segments = append(res.State.Segments, r.segments...)
		if shared {
			for i := len(res.State.Segments) - len(r.segments); i < len(res.State.Segments); i++ {
				ownActivations(&res.State.Segments[i])
			}
		}
		for _, p := range r.partial {
			a.partial = append(a.partial, p)
			if shared {
				ownActivations(&a.partial[len(a.partial)-1].seg)
			}
		}
		a.files = append(a.files, r)
		for _, n := range r.invalidParents {
			a.known.parents[n] = true
		}
		for _, n := range r.invalidSegments {
			a.known.segments[n] = true
		}
	}
	return a, nil
}

// defaultParent names the parent segment of the segments and folders that
// leave it out, in a repository with one parent segment.
func (a *assembly) defaultParent() {
	st := &a.res.State
	name, ok := onlyParent(st.Parents, a.known)
	if !ok {
		return
	}
	for i := range st.Segments {
		if st.Segments[i].Parent == "" {
			st.Segments[i].Parent = name
		}
	}
	for i := range a.partial {
		if a.partial[i].seg.Parent == "" && !a.partial[i].broken.parent {
			a.partial[i].seg.Parent = name
		}
	}
	for i := range st.Folders {
		if st.Folders[i].Parent == "" {
			st.Folders[i].Parent = name
		}
	}
}

// onlyParent returns the name of the repository's one parent segment, valid
// or failing the schema; false when there are none or several.
func onlyParent(parents []segment.Parent, known knownNames) (string, bool) {
	if len(parents)+len(known.parents) != 1 {
		return "", false
	}
	for _, p := range parents {
		return p.Name, true
	}
	for n := range known.parents {
		return n, true
	}
	return "", false
}

// inFileOrder lists the valid and partial segments for the checks, file by
// file, each file's in source order.
func (a *assembly) inFileOrder() []checkedSegment {
	st := &a.res.State
	segs := make([]checkedSegment, 0, len(st.Segments)+len(a.partial))
	var vi, pi int
	for _, r := range a.files {
		file := segs[len(segs):]
		memo := func(i int) *segMemo {
			if r.memo == nil {
				return nil
			}
			return &r.memo[i]
		}
		for i := range r.segments {
			file = append(file, checkedSegment{seg: &st.Segments[vi], memo: memo(i)})
			vi++
		}
		for i := range r.partial {
			file = append(file, checkedSegment{seg: &a.partial[pi].seg, broken: a.partial[pi].broken, memo: memo(len(r.segments) + i)})
			pi++
		}
		slices.SortStableFunc(file, func(x, y checkedSegment) int { return x.seg.Origin.Pos.Compare(y.seg.Origin.Pos) })
		segs = segs[:len(segs)+len(file)]
	}
	return segs
}

// impliedFolders adds the folders named by segments, and the ancestors of
// every folder, that are not declared. Declared folders come first, in file
// order; implied ones follow sorted by parent and path.
func impliedFolders(declared []segment.Folder, segs []segment.Segment) []segment.Folder {
	have := map[segment.Key]bool{}
	for _, f := range declared {
		have[f.Key()] = true
	}
	var implied []segment.Folder
	// add adds folder p of parent and its ancestors, at the position of
	// field of o (of o itself when field is empty), looked up only when a
	// folder is added.
	add := func(parent, p string, o segment.Origin, field string) {
		for p != "" && parent != "" {
			k := segment.Key{Parent: parent, Name: p}
			if have[k] {
				return
			}
			have[k] = true
			implied = append(implied, segment.Folder{Parent: parent, Path: p, Origin: segment.Origin{Pos: o.At(field)}})
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return
			}
			p = p[:i]
		}
	}
	for _, f := range declared {
		if f.ParentPath() != "" {
			add(f.Parent, f.ParentPath(), segment.Origin{Pos: f.Origin.Pos}, "")
		}
	}
	for i := range segs {
		add(segs[i].Parent, segs[i].Folder, segs[i].Origin, "folder")
	}
	slices.SortFunc(implied, func(a, b segment.Folder) int {
		if c := strings.Compare(a.Parent, b.Parent); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return append(declared, implied...)
}

// cacheKey identifies a file result (path, git blob id of the content,
// schema version) or a directory listing (path, git tree id, schema
// version): see objectKey.
type cacheKey [32]byte

// newCacheKey returns the key of the result of file name with content src.
func newCacheKey(name string, src []byte) cacheKey { return objectKey('f', name, gitBlobID(src)) }

// Cache keeps the results of evaluated files, keyed by path, content and
// schema version, so that a load after a small change evaluates only the
// changed files. It is safe for concurrent use. Entries used by neither of
// the two most recent loads are dropped, so memory follows the repository.
// Use one Cache per repository.
type Cache struct {
	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
	// listings holds the CUE files under directories of a GitObjectIDFS,
	// by path and tree id.
	listings map[cacheKey]*listingEntry
	gen      uint64
	// oneShot keeps imported results encoded, and hands each out once
	// (NewOneShotCache).
	oneShot bool
}

type cacheEntry struct {
	r   *fileResult
	gen uint64
}

type listingEntry struct {
	runs [][]fileRef
	gen  uint64
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{entries: map[cacheKey]*cacheEntry{}, listings: map[cacheKey]*listingEntry{}}
}

// NewOneShotCache returns an empty cache for a single load of results
// that Import brings from another process (internal/loadworker): it keeps
// each result encoded, a tenth of its decoded size, decodes it when the
// load uses it, and drops it then (a later load evaluates the file again).
// With Options.Lean, the load then holds one file's decoded result at a
// time. Results that the load evaluates itself are not kept.
func NewOneShotCache() *Cache {
	c := NewCache()
	c.oneShot = true
	return c
}

// begin starts a load.
func (c *Cache) begin() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// sweep drops entries used by neither this load nor the one before.
func (c *Cache) sweep() {
	if c == nil {
		return
	}
	c.mu.Lock()
	for k, e := range c.entries {
		if e.gen+1 < c.gen {
			delete(c.entries, k)
		}
	}
	for k, e := range c.listings {
		if e.gen+1 < c.gen {
			delete(c.listings, k)
		}
	}
	c.mu.Unlock()
}

// listing returns the runs of files under a directory listed before; false when
// the directory is not cached.
func (c *Cache) listing(k cacheKey) ([][]fileRef, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.listings[k]
	if e == nil {
		return nil, false
	}
	e.gen = c.gen
	return e.runs, true
}

func (c *Cache) putListing(k cacheKey, runs [][]fileRef) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.listings[k] = &listingEntry{runs: runs, gen: c.gen}
	c.mu.Unlock()
}

func (c *Cache) get(k cacheKey) *fileResult {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil {
		return nil
	}
	e.gen = c.gen
	if c.oneShot {
		delete(c.entries, k)
	}
	return e.r
}

// getKeyed sets results[i] to the cached result of the i-th file of runs
// when the file has a key and its result is cached, and returns how many it
// set.
func (c *Cache) getKeyed(runs [][]fileRef, results []*fileResult) int {
	if c == nil {
		return 0
	}
	n, i := 0, 0
	c.mu.Lock()
	defer c.mu.Unlock()
	for f := range allFiles(runs) {
		if f.keyed {
			if e := c.entries[f.key]; e != nil {
				e.gen = c.gen
				results[i] = e.r
				n++
				if c.oneShot {
					delete(c.entries, f.key)
				}
			}
		}
		i++
	}
	return n
}

// put caches the result of a file evaluated; false when the cache does
// not keep it (no cache, or a one-shot one).
func (c *Cache) put(k cacheKey, r *fileResult) bool {
	if c == nil || c.oneShot {
		return false
	}
	r.memo = make([]segMemo, len(r.segments)+len(r.partial))
	c.putEntry(k, r)
	return true
}

func (c *Cache) putEntry(k cacheKey, r *fileResult) {
	c.mu.Lock()
	c.entries[k] = &cacheEntry{r: r, gen: c.gen}
	c.mu.Unlock()
}

// Has reports whether the result of the file is cached. A nil Cache has
// nothing.
func (c *Cache) Has(name string, src []byte) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[newCacheKey(name, src)] != nil
}

// Len returns the number of cached files.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
