package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Repo follows one branch of one git repository. It is safe for concurrent
// use; Fetch calls are serialised.
type Repo struct {
	opts    Options
	kind    transportKind
	auth    transport.AuthMethod
	safeURL string
	red     *redactor

	fetchMu     sync.Mutex // serialises Fetch and Close
	st          *store     // current object store; nil before the first Fetch
	incremental int        // incremental fetches into st since it was cloned
	last        Snapshot   // last snapshot returned by Fetch
	closed      bool
}

// New validates opts and returns a Repo. It does no network I/O.
func New(opts Options) (*Repo, error) {
	o, kind, err := opts.withDefaults()
	if err != nil {
		red := newRedactor(append(opts.Auth.secrets(), urlSecrets(opts.URL)...)...)
		return nil, errors.New(red.String(err.Error()))
	}
	r := &Repo{
		opts:    o,
		kind:    kind,
		safeURL: RedactURL(o.URL),
		red:     newRedactor(append(o.Auth.secrets(), urlSecrets(o.URL)...)...),
	}
	if r.auth, err = authMethod(o, kind); err != nil {
		return nil, errors.New(r.red.String(err.Error()))
	}
	if o.CacheDir != "" {
		if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("source: create cache dir: %w", err)
		}
	}
	return r, nil
}

// URL returns the repository URL with credentials redacted, safe to log.
func (r *Repo) URL() string { return r.safeURL }

// Branch returns the followed branch.
func (r *Repo) Branch() string { return r.opts.Branch }

func (r *Repo) branchRef() plumbing.ReferenceName {
	return plumbing.NewBranchReferenceName(r.opts.Branch)
}

func (r *Repo) remoteRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", r.opts.Branch)
}

// LatestRevision returns the full SHA of the branch tip on the server. It
// lists the server's refs and transfers no objects, so it is cheap enough
// to call on every tick.
func (r *Repo) LatestRevision(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	h, err := r.latest(ctx)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (r *Repo) latest(ctx context.Context) (plumbing.Hash, error) {
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.opts.URL}})
	var refs []*plumbing.Reference
	err := r.withContext(ctx, func(ctx context.Context) error {
		var err error
		refs, err = rem.ListContext(ctx, &git.ListOptions{Auth: r.auth, CABundle: r.opts.CABundle})
		return err
	})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return plumbing.ZeroHash, r.errorf("list", KindNotFound, "branch not found: remote repository is empty")
		}
		return plumbing.ZeroHash, r.newError("list", KindOther, err)
	}
	for _, ref := range refs {
		if ref.Name() == r.branchRef() && ref.Type() == plumbing.HashReference {
			return ref.Hash(), nil
		}
	}
	return plumbing.ZeroHash, r.errorf("list", KindNotFound, "branch not found")
}

// withContext runs f so that the caller gets control back when ctx is done.
// Over HTTP go-git honours the context itself. Over SSH the handshake does
// not, so f runs on its own goroutine, which is abandoned (and finishes in
// the background when the connection fails or completes) if ctx ends first.
func (r *Repo) withContext(ctx context.Context, f func(context.Context) error) error {
	if r.kind != transportSSH {
		return f(ctx)
	}
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("ssh: %w", ctx.Err())
	}
}

// Fetch returns a snapshot of the branch tip. When the tip is the one of
// the previous Fetch, it only lists the server's refs. Otherwise it fetches
// the new commits incrementally into the cached repository, or clones the
// branch shallowly (depth 1) when there is no cache yet, when the cache has
// taken RebuildAfter incremental fetches, or when an incremental fetch did
// not bring the commit (go-git can miss it after a force push behind the
// shallow boundary). No worktree is ever checked out: the snapshot reads
// the commit's tree from the object store.
func (r *Repo) Fetch(ctx context.Context) (Snapshot, error) {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	if r.closed {
		return Snapshot{}, r.errorf("fetch", KindOther, "repository closed")
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()

	head, err := r.latest(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	if r.last.FS != nil && r.last.Revision == head.String() {
		return r.last, nil
	}
	if r.st == nil && r.opts.CacheDir != "" {
		r.st = r.openCached()
	}
	if r.st != nil && r.st.has(head) {
		return r.snapshot(r.st, head)
	}
	if r.st != nil && r.incremental < r.opts.RebuildAfter {
		h, err := r.fetchInto(ctx, r.st)
		switch {
		case err == nil && r.st.has(h):
			r.incremental++
			return r.snapshot(r.st, h)
		case err != nil && ctx.Err() != nil:
			// The deadline passed: the store may be half-written (or, over
			// SSH, still in use), so start from a fresh clone next time.
			r.dropStore()
			return Snapshot{}, err
		case err != nil:
			var e *Error
			if errors.As(err, &e) && e.Kind != KindOther {
				return Snapshot{}, err
			}
		}
		// The fetch did not bring the commit or failed oddly: rebuild.
	}
	st, h, err := r.clone(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	r.replaceStore(st)
	return r.snapshot(st, h)
}

// fetchInto fetches the branch into st without a depth limit: on a shallow
// clone this transfers only the objects the server knows we lack.
func (r *Repo) fetchInto(ctx context.Context, st *store) (plumbing.Hash, error) {
	err := r.withContext(ctx, func(ctx context.Context) error {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin",
			RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", r.branchRef(), r.remoteRef()))},
			Auth:       r.auth,
			Tags:       git.NoTags,
			Force:      true,
			CABundle:   r.opts.CABundle,
		})
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, r.newError("fetch", KindOther, err)
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	ref, err := st.repo.Reference(r.remoteRef(), true)
	if err != nil {
		return plumbing.ZeroHash, r.newError("fetch", KindOther, err)
	}
	return ref.Hash(), nil
}

// clone makes a new shallow, single-branch, bare clone in memory or in a
// new directory under CacheDir.
func (r *Repo) clone(ctx context.Context) (*store, plumbing.Hash, error) {
	st := &store{}
	var s storage.Storer
	if r.opts.CacheDir == "" {
		s = memory.NewStorage()
	} else {
		gen := 1
		if r.st != nil {
			gen = r.st.gen + 1
		}
		for _, g := range r.generations() {
			gen = max(gen, g+1)
		}
		st.gen = gen
		st.dir = filepath.Join(r.opts.CacheDir, genPrefix+strconv.Itoa(gen))
		if err := os.RemoveAll(st.dir); err != nil {
			return nil, plumbing.ZeroHash, r.newError("clone", KindOther, err)
		}
		s = filesystem.NewStorage(osfs.New(st.dir), cache.NewObjectLRUDefault())
	}
	err := r.withContext(ctx, func(ctx context.Context) error {
		repo, err := git.CloneContext(ctx, s, nil, &git.CloneOptions{
			URL:           r.opts.URL,
			Auth:          r.auth,
			RemoteName:    "origin",
			ReferenceName: r.branchRef(),
			SingleBranch:  true,
			NoCheckout:    true,
			Depth:         1,
			Tags:          git.NoTags,
			CABundle:      r.opts.CABundle,
		})
		st.repo = repo
		return err
	})
	if err != nil {
		if st.dir != "" {
			os.RemoveAll(st.dir)
		}
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return nil, plumbing.ZeroHash, r.errorf("clone", KindNotFound, "branch not found: remote repository is empty")
		}
		return nil, plumbing.ZeroHash, r.newError("clone", KindOther, err)
	}
	ref, err := st.repo.Reference(r.remoteRef(), true)
	if err != nil {
		return nil, plumbing.ZeroHash, r.newError("clone", KindOther, err)
	}
	return st, ref.Hash(), nil
}

// genPrefix names the cache generations under CacheDir.
const genPrefix = "gen-"

// generations lists the cache generation numbers present on disk, newest
// first.
func (r *Repo) generations() []int {
	ents, err := os.ReadDir(r.opts.CacheDir)
	if err != nil {
		return nil
	}
	var gens []int
	for _, e := range ents {
		if n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), genPrefix)); err == nil && e.IsDir() && strings.HasPrefix(e.Name(), genPrefix) {
			gens = append(gens, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(gens)))
	return gens
}

// openCached opens the newest usable cache generation left on disk by an
// earlier process, or returns nil.
func (r *Repo) openCached() *store {
	for _, g := range r.generations() {
		dir := filepath.Join(r.opts.CacheDir, genPrefix+strconv.Itoa(g))
		s := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
		repo, err := git.Open(s, nil)
		if err != nil {
			continue
		}
		rem, err := repo.Remote("origin")
		if err != nil || len(rem.Config().URLs) == 0 || rem.Config().URLs[0] != r.opts.URL {
			continue
		}
		if _, err := repo.Reference(r.remoteRef(), true); err != nil {
			continue
		}
		// Count it as well used, so the next change triggers a rebuild soon
		// rather than growing a cache of unknown history.
		r.incremental = r.opts.RebuildAfter / 2
		return &store{repo: repo, dir: dir, gen: g}
	}
	return nil
}

// replaceStore makes st current. Cache generations older than the previous
// one are removed; the previous one stays, so snapshots taken from it
// remain readable until the next rebuild.
func (r *Repo) replaceStore(st *store) {
	prev := r.st
	r.st = st
	r.incremental = 0
	if r.opts.CacheDir == "" {
		return
	}
	for _, g := range r.generations() {
		if g == st.gen || (prev != nil && g == prev.gen) {
			continue
		}
		os.RemoveAll(filepath.Join(r.opts.CacheDir, genPrefix+strconv.Itoa(g)))
	}
}

// dropStore forgets the current store so the next Fetch clones afresh.
func (r *Repo) dropStore() {
	r.st = nil
	r.incremental = 0
}

// Close releases the cached repository. Snapshots from an in-memory cache
// stay readable; the on-disk cache is kept for the next process.
func (r *Repo) Close() error {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.closed = true
	r.st = nil
	r.last = Snapshot{}
	return nil
}

// snapshot builds the Snapshot of commit h in st and remembers it.
func (r *Repo) snapshot(st *store, h plumbing.Hash) (Snapshot, error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	c, err := object.GetCommit(st.repo.Storer, h)
	if err != nil {
		return Snapshot{}, r.newError("read", KindOther, fmt.Errorf("commit %s: %w", h, err))
	}
	root, err := c.Tree()
	if err != nil {
		return Snapshot{}, r.newError("read", KindOther, fmt.Errorf("tree of %s: %w", h, err))
	}
	if r.opts.Path != "." {
		sub, err := root.Tree(r.opts.Path)
		if err != nil {
			return Snapshot{}, r.errorf("read", KindNotFound, "path %q not found at %s", r.opts.Path, h)
		}
		root = sub
	}
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	s := Snapshot{
		Revision: h.String(),
		Branch:   r.opts.Branch,
		Path:     r.opts.Path,
		URL:      r.safeURL,
		Time:     c.Committer.When.UTC(),
		Author:   c.Author.Name,
		Subject:  subject,
		FS:       newTreeFS(st, root, c.Committer.When),
	}
	r.last = s
	return s, nil
}

// store is one object store (a shallow bare clone) and the lock that
// serialises writes (fetches) against reads (snapshots).
type store struct {
	mu   sync.RWMutex
	repo *git.Repository
	dir  string // on-disk generation directory; "" in memory
	gen  int
}

// has reports whether the commit h and its root tree are present.
func (s *store) has(h plumbing.Hash) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := object.GetCommit(s.repo.Storer, h)
	if err != nil {
		return false
	}
	_, err = c.Tree()
	return err == nil
}
