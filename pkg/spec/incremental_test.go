package spec

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// editRepo is a small repository that randomEdit changes: segments with
// names from a small pool (so that names clash, references resolve and stop
// resolving, and cycles form), one or two parent segments, some broken.
type editRepo struct {
	rng    *rand.Rand
	fsys   fstest.MapFS
	parent string // the retail parent segment's source
	next   int    // number of the next new file
}

var editNames = []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"}

func newEditRepo(t *testing.T, seed uint64) *editRepo {
	parent, err := os.ReadFile(filepath.Join(retail, "parent.cue"))
	if err != nil {
		t.Fatal(err)
	}
	e := &editRepo{rng: rand.New(rand.NewPCG(seed, 1)), fsys: fstest.MapFS{}, parent: string(parent)}
	e.fsys["parent.cue"] = &fstest.MapFile{Data: parent}
	for range 10 {
		e.addFile()
	}
	return e
}

func (e *editRepo) pick(xs ...string) string { return xs[e.rng.IntN(len(xs))] }

// condition returns one short-form condition: valid, of an unknown
// attribute, of the wrong type, a reference, or broken for the schema.
func (e *editRepo) condition() string {
	switch e.rng.IntN(8) {
	case 0, 1:
		return fmt.Sprintf(`{attribute: "ltv", atLeast: %d}`, e.rng.IntN(100))
	case 2:
		return `{attribute: "loyalty_tier", oneOf: ["gold"]}`
	case 3:
		return `{attribute: "nosuch", equals: "x"}`
	case 4:
		return `{attribute: "country", atLeast: 3}`
	case 5, 6:
		return fmt.Sprintf(`{in: %q}`, e.pick(append(editNames, "Unknown")...))
	default:
		return `{attribute: "ltv", atLeast: "many"}`
	}
}

// segmentSource returns one segment declaration.
func (e *editRepo) segmentSource() string {
	var b strings.Builder
	fmt.Fprintf(&b, "segments: %q: {\n", e.pick(editNames...))
	switch e.rng.IntN(6) {
	case 0:
		b.WriteString("\tparent: \"Retail Customers\"\n")
	case 1:
		b.WriteString("\tparent: \"Other Customers\"\n")
	case 2:
		b.WriteString("\tparent: \"Nobody\"\n")
	}
	if e.rng.IntN(4) == 0 {
		fmt.Fprintf(&b, "\tfolder: %q\n", e.pick("Marketing", "Team/Sub", "Lifecycle"))
	}
	if e.rng.IntN(8) == 0 {
		fmt.Fprintf(&b, "\trenamedFrom: [%q]\n", e.pick(editNames...))
	}
	if e.rng.IntN(6) == 0 {
		b.WriteString("\tactivations: \"Export\": {connection: \"s3-prod\", allColumns: true, schedule: {repeat: \"day\"}}\n")
	}
	b.WriteString("\twhere: [\n")
	for range 1 + e.rng.IntN(3) {
		b.WriteString("\t\t" + e.condition() + ",\n")
	}
	b.WriteString("\t]\n}\n")
	return b.String()
}

func (e *editRepo) fileSource() string {
	src := "package retail\n\n" + e.segmentSource()
	if e.rng.IntN(4) == 0 {
		src += e.segmentSource()
	}
	return src
}

func (e *editRepo) addFile() {
	e.fsys[fmt.Sprintf("segs/f%03d.cue", e.next)] = &fstest.MapFile{Data: []byte(e.fileSource())}
	e.next++
}

func (e *editRepo) segmentFiles() []string {
	var names []string
	for n := range e.fsys {
		if strings.HasPrefix(n, "segs/") {
			names = append(names, n)
		}
	}
	return names
}

// randomEdit changes, adds or removes a segment file, or changes the
// parent segments.
func (e *editRepo) randomEdit() string {
	files := e.segmentFiles()
	switch r := e.rng.IntN(20); {
	case r < 11 && len(files) > 0:
		n := files[e.rng.IntN(len(files))]
		e.fsys[n] = &fstest.MapFile{Data: []byte(e.fileSource())}
		return "change " + n
	case r < 14:
		e.addFile()
		return "add a file"
	case r < 17 && len(files) > 0:
		n := files[e.rng.IntN(len(files))]
		delete(e.fsys, n)
		return "remove " + n
	case r < 18:
		// The retail parent with or without the ltv attribute.
		src := e.parent
		if e.rng.IntN(2) == 0 {
			src = strings.Replace(src, "ltv: type: \"number\"\n", "", 1)
		}
		e.fsys["parent.cue"] = &fstest.MapFile{Data: []byte(src)}
		return "change the parent"
	case r < 19:
		// A second parent segment: segments without parent no longer
		// default to the retail one.
		if _, ok := e.fsys["other.cue"]; ok {
			delete(e.fsys, "other.cue")
			return "remove the second parent"
		}
		src, _, _ := strings.Cut(strings.Replace(e.parent, `"Retail Customers"`, `"Other Customers"`, 1), "\nfolders:")
		e.fsys["other.cue"] = &fstest.MapFile{Data: []byte(src)}
		return "add a second parent"
	default:
		// A parent that fails the schema: references to it are not
		// reported.
		if _, ok := e.fsys["broken.cue"]; ok {
			delete(e.fsys, "broken.cue")
			return "remove the broken parent"
		}
		e.fsys["broken.cue"] = &fstest.MapFile{Data: []byte("package retail\n\nparents: \"Nobody\": {timezone: 5}\n")}
		return "add a broken parent"
	}
}

// TestIncrementalChecksMatchFullCheck loads a repository through a Cache
// after each of a sequence of random edits and compares the result with a
// load without cache, which checks every segment: the diagnostics and the
// state must be the same. A second cache is used through a file system that
// gives object ids (files and directories seen before are not read). After
// each comparison the states of the cached loads are changed as callers may
// change them, which the next loads must not see.
func TestIncrementalChecksMatchFullCheck(t *testing.T) {
	seeds, steps := 4, 30
	if testing.Short() {
		seeds, steps = 1, 15
	}
	ctx := context.Background()
	rechecked, unread := 0, 0
	for seed := range uint64(seeds) {
		e := newEditRepo(t, seed)
		cache, idCache := NewCache(), NewCache()
		var history []string
		for step := range steps {
			if step > 0 {
				history = append(history, e.randomEdit())
			}
			full, err := Load(ctx, e.fsys, Options{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			idFS := newIDFS(e.fsys)
			for _, c := range []struct {
				name  string
				fsys  fs.FS
				cache *Cache
			}{{"incremental", e.fsys, cache}, {"by object id", idFS, idCache}} {
				inc, err := Load(ctx, c.fsys, Options{Cache: c.cache})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := render(inc.Diagnostics), render(full.Diagnostics); got != want {
					t.Fatalf("seed %d after %s:\n%s:\n%s\nfull check:\n%s", seed, strings.Join(history, ", "), c.name, got, want)
				}
				if !reflect.DeepEqual(inc.State, full.State) {
					t.Fatalf("seed %d after %s: the states differ (%s)", seed, strings.Join(history, ", "), c.name)
				}
				rechecked += inc.Cached
				scribble(&inc.State)
			}
			unread += len(e.fsys) - idFS.opens
		}
	}
	if rechecked == 0 || unread == 0 {
		t.Fatalf("%d files came from the cache, %d were not read", rechecked, unread)
	}
}

// scribble changes what Load lets its caller change in a state: names,
// activations (reconcile sets their connection ids), and the conditions of
// a copy of each rule (apply sets the ids of referenced segments).
func scribble(st *segment.State) {
	for i := range st.Parents {
		p := &st.Parents[i]
		p.Name += "!"
		p.ConnectionID = "1"
		for j := range p.Attributes {
			p.Attributes[j].Name += "!"
		}
		for j := range p.Behaviors {
			p.Behaviors[j].Name += "!"
			for k := range p.Behaviors[j].Columns {
				p.Behaviors[j].Columns[k].Name += "!"
			}
		}
	}
	for i := range st.Folders {
		st.Folders[i].Path += "!"
	}
	for i := range st.Segments {
		s := &st.Segments[i]
		s.Name += "!"
		s.Parent += "!"
		for j := range s.Activations {
			s.Activations[j].ConnectionID = "1"
			s.Activations[j].Name += "!"
		}
		s.Rule = s.Rule.CopyConditions()
		for j := range s.Rule.Conditions {
			for k := range s.Rule.Conditions[j].Conditions {
				c := &s.Rule.Conditions[j].Conditions[k]
				c.ID = "1"
				c.Segment += "!"
			}
		}
	}
}
