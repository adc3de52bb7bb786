package spec

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// wireResult is a fileResult in a form the codec (codec.go) can carry, so that a
// file evaluated in another process (internal/loadworker) enters this process's
// cache without being evaluated again.
type wireResult struct {
	Path            string
	Parents         []segment.Parent
	Folders         []segment.Folder
	Segments        []segment.Segment
	InvalidParents  []string
	InvalidSegments []string
	Partial         []wirePartial
	Diags           diag.Diagnostics
	Empty           bool
}

type wirePartial struct {
	Seg    segment.Segment
	Broken *wireBroken
}

type wireBroken struct {
	Parent, Name, Rule bool
	Where, Sets        map[int]bool
	Conds              map[[2]int]bool
}

func toWire(r *fileResult) wireResult {
	w := wireResult{Path: r.path, Parents: r.parents, Folders: r.folders, Segments: r.segments,
		InvalidParents: r.invalidParents, InvalidSegments: r.invalidSegments, Diags: r.diags, Empty: r.empty}
	for _, p := range r.partial {
		wp := wirePartial{Seg: p.seg}
		if b := p.broken; b != nil {
			wp.Broken = &wireBroken{Parent: b.parent, Name: b.name, Rule: b.rule, Where: b.where, Sets: b.sets, Conds: b.conds}
		}
		w.Partial = append(w.Partial, wp)
	}
	return w
}

func fromWire(w wireResult) *fileResult {
	r := &fileResult{path: w.Path, parents: w.Parents, folders: w.Folders, segments: w.Segments,
		invalidParents: w.InvalidParents, invalidSegments: w.InvalidSegments, diags: w.Diags, empty: w.Empty}
	for _, p := range w.Partial {
		ps := partialSegment{seg: p.Seg}
		if b := p.Broken; b != nil {
			ps.broken = &brokenParts{parent: b.Parent, name: b.Name, rule: b.Rule, where: b.Where, sets: b.Sets, conds: b.Conds}
		}
		r.partial = append(r.partial, ps)
	}
	return r
}

// ErrNotCached is returned by Cache.Export for a file it does not hold.
var ErrNotCached = errors.New("file not in the cache")

// Export encodes the cached result of a file (by its path and content),
// for Import into the cache of another process of the same binary.
func (c *Cache) Export(name string, src []byte) ([]byte, error) {
	if c == nil {
		return nil, ErrNotCached
	}
	c.mu.Lock()
	e := c.entries[newCacheKey(name, src)]
	c.mu.Unlock()
	if e == nil {
		return nil, ErrNotCached
	}
	if e.r.encoded != nil {
		return e.r.encoded, nil
	}
	return encodeResult(e.r)
}

// Evaluate evaluates files (names[i] holds srcs[i]) on opts.Workers
// goroutines and hands each one's encoded result, as Cache.Export gives it,
// to done as soon as it is ready, from the goroutine that evaluated it. It
// neither keeps the results nor checks the files together: it is the
// evaluation half of Load for a process that passes results on (see
// Cache.Import), whose memory then stays that of the files being evaluated.
// opts.Cache is ignored; opts.Evaluating is called before each file. The
// first error of done stops the evaluation and is returned.
func Evaluate(ctx context.Context, names []string, srcs [][]byte, opts Options, done func(name string, data []byte) error) error {
	return EvaluateSeq(ctx, func(yield func(string, []byte) bool) {
		for i, name := range names {
			if !yield(name, srcs[i]) {
				return
			}
		}
	}, opts, done)
}

// EvaluateSeq is Evaluate over the files that files yields (path, content),
// taken one at a time as a goroutine is free: it holds no content but that
// of the files being evaluated, so a caller that reads the files as they
// are asked for (a stream) holds no more either.
func EvaluateSeq(ctx context.Context, files iter.Seq2[string, []byte], opts Options, done func(name string, data []byte) error) error {
	var mu sync.Mutex
	var sinkErr error
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := startWorkers(Options{Workers: opts.Workers, FilesPerContext: opts.FilesPerContext, Evaluating: opts.Evaluating}, -1,
		func(path string, r *fileResult) {
			data, err := encodeResult(r)
			if err == nil {
				err = done(path, data)
			}
			if err != nil {
				mu.Lock()
				if sinkErr == nil {
					sinkErr = err
				}
				mu.Unlock()
				cancel()
			}
		})
	err := func() error {
		i := 0
		for name, src := range files {
			select {
			case w.jobs <- loadJob{i: i, path: name, src: src}:
			case <-ctx.Done():
				return ctx.Err()
			}
			i++
		}
		return nil
	}()
	close(w.jobs)
	w.wg.Wait()
	switch {
	case sinkErr != nil:
		return sinkErr
	case w.err != nil:
		return fmt.Errorf("load schema: %w", w.err)
	}
	return err
}

// encodeResult encodes r for Export.
func encodeResult(r *fileResult) ([]byte, error) {
	w := toWire(r)
	var enc wireEncoder
	if err := enc.value(reflect.ValueOf(&w).Elem()); err != nil {
		return nil, err
	}
	return enc.b, nil
}

// Import adds the result of a file that Export encoded: a later Load of a
// file with this path and content uses it instead of evaluating the file.
// The result must come from the same binary (the cache key includes the
// schema version, the encoding does not).
func (c *Cache) Import(name string, src, data []byte) error {
	if c != nil && c.oneShot {
		// Decoded when the load uses it: a bad encoding fails that load.
		c.putEntry(newCacheKey(name, src), &fileResult{path: name, encoded: data})
		return nil
	}
	r, err := decodeResult(data, name)
	if err != nil {
		return err
	}
	c.put(newCacheKey(name, src), r)
	return nil
}

// decodeResult decodes what encodeResult encoded, the result of file name.
func decodeResult(data []byte, name string) (*fileResult, error) {
	var w wireResult
	dec := wireDecoder{b: data}
	if err := dec.value(reflect.ValueOf(&w).Elem()); err != nil {
		return nil, err
	}
	if len(dec.b) != 0 {
		return nil, errors.New("cached result with trailing bytes")
	}
	if w.Path != name {
		return nil, errors.New("cached result of " + w.Path + " imported as " + name)
	}
	return fromWire(w), nil
}
