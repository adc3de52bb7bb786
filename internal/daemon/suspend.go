package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// suspendFile is the file in cacheDir that keeps the suspensions made
// through the API across restarts. A source name cannot begin with a dot,
// so it never collides with a source's git cache.
const suspendFile = ".suspended.json"

// Values of SourceStatus.SuspendedBy.
const (
	SuspendedByConfig = "config"
	SuspendedByAPI    = "api"
)

// suspensions is the content of suspendFile.
type suspensions struct {
	Version int `json:"version"`
	// Sources maps each source suspended through the API to when.
	Sources map[string]suspension `json:"sources"`
}

type suspension struct {
	At time.Time `json:"at"`
}

// readSuspensions reads the suspensions saved at path: none when the file
// does not exist.
func readSuspensions(path string) (map[string]time.Time, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s suspensions
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("unknown version %d", s.Version)
	}
	out := map[string]time.Time{}
	for name, e := range s.Sources {
		out[name] = e.At
	}
	return out, nil
}

// writeSuspensions replaces the file at path atomically: a temporary file
// in the same directory, synced, then renamed over it.
func writeSuspensions(path string, m map[string]time.Time) (err error) {
	s := suspensions{Version: 1, Sources: map[string]suspension{}}
	for name, at := range m {
		s.Sources[name] = suspension{At: at}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced: without it a
	// crash right after a suspend could bring back the previous file.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadSuspensions applies the suspensions saved in cacheDir to the
// sources, before the first run. A file that cannot be read is an error:
// starting would run sources that someone suspended.
func (d *Daemon) loadSuspensions() error {
	if d.cfg.CacheDir == "" {
		return nil
	}
	d.suspendPath = filepath.Join(d.cfg.CacheDir, suspendFile)
	saved, err := readSuspensions(d.suspendPath)
	if err != nil {
		return fmt.Errorf("daemon: saved suspensions %s: %w (refusing to start, as sources suspended through the API would run; "+
			"fix the file, or delete it to lift every suspension made through the API)", d.suspendPath, err)
	}
	names := make([]string, 0, len(saved))
	for name := range saved {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := d.byName[name]
		if st == nil {
			d.log.Warn("saved suspension of a source that is not configured: ignored", "source", name, "file", d.suspendPath)
			continue
		}
		st.suspended, st.apiSuspendedAt = true, saved[name]
		st.status.Suspended = true
		d.rec.SetSuspended(name, true)
		d.log.Info("source suspended through the API before the restart: still suspended", "source", name,
			"since", saved[name].Format(time.RFC3339))
	}
	return nil
}

// setSuspended suspends or resumes st on behalf of the API, and saves the
// suspensions when cacheDir is set. A resume that cannot be saved is not
// made, since the file would suspend the source again at the next start. A
// suspension that cannot be saved holds until the process ends; the error
// says so.
func (d *Daemon) setSuspended(st *sourceState, suspend bool) error {
	d.suspendMu.Lock()
	defer d.suspendMu.Unlock()
	at := time.Time{}
	if suspend {
		at = d.now().UTC()
	}
	if !suspend {
		if err := d.saveSuspensions(st, at); err != nil {
			return fmt.Errorf("not resumed: cannot save %s: %w", d.suspendPath, err)
		}
	}
	st.mu.Lock()
	st.suspended, st.apiSuspendedAt = suspend, at
	st.status.Suspended = suspend
	st.mu.Unlock()
	if suspend {
		if err := d.saveSuspensions(st, at); err != nil {
			return fmt.Errorf("suspended until the daemon stops, but not across a restart: cannot save %s: %w", d.suspendPath, err)
		}
	}
	return nil
}

// saveSuspensions writes every source's API suspension, with at for
// changed (zero: not suspended). The caller holds suspendMu.
func (d *Daemon) saveSuspensions(changed *sourceState, at time.Time) error {
	if d.suspendPath == "" {
		return nil
	}
	m := map[string]time.Time{}
	for _, st := range d.sources {
		t := at
		if st != changed {
			st.mu.Lock()
			t = st.apiSuspendedAt
			st.mu.Unlock()
		}
		if !t.IsZero() {
			m[st.name] = t
		}
	}
	return writeSuspensions(d.suspendPath, m)
}

// suspendedBy says where the suspension of a source comes from: the
// configuration, which a restart always restores, or the API. The caller
// holds st.mu.
func (st *sourceState) suspendedBy() string {
	switch {
	case !st.suspended:
		return ""
	case st.src.Config.Suspend:
		return SuspendedByConfig
	}
	return SuspendedByAPI
}
