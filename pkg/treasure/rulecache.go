package treasure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// ruleCacheVersion changes whenever the file's layout or the meaning of
// its entries does; a file of another version is ignored.
const ruleCacheVersion = 1

// ruleCacheFile is the saved rule cache (Options.RuleCacheFile): the rules
// (wire form) of segments by id, each valid only while the segment's
// updatedAt in a listing is the one saved with it, exactly as the cache in
// memory. Sum is the SHA-256 of Entries as written; a file whose sum,
// version, base URL or owner does not match is ignored as a whole, and an
// entry that does not decode is skipped, so a stale or corrupt file costs
// detail requests, never a wrong rule.
type ruleCacheFile struct {
	Version int             `json:"version"`
	CDPURL  string          `json:"cdpURL"`
	Owner   string          `json:"owner"`
	Sum     string          `json:"sha256"`
	Entries json.RawMessage `json:"entries"`
}

type ruleCacheEntry struct {
	UpdatedAt string          `json:"updatedAt"`
	Rule      json.RawMessage `json:"rule"`
}

// loadRuleCache fills c.rules from Options.RuleCacheFile. A missing file is
// no error; an unusable one is logged and ignored.
func (c *Client) loadRuleCache() {
	path := c.o.RuleCacheFile
	if path == "" {
		return
	}
	n, err := c.readRuleCache(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		c.o.Logger.Warn("ignoring the saved segment rule cache; every rule is read again", "file", path, "err", err)
	default:
		c.o.Logger.Debug("loaded the saved segment rule cache", "file", path, "rules", n)
	}
}

func (c *Client) readRuleCache(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var f ruleCacheFile
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, fmt.Errorf("decode: %w", err)
	}
	switch {
	case f.Version != ruleCacheVersion:
		return 0, fmt.Errorf("version %d, want %d", f.Version, ruleCacheVersion)
	case f.CDPURL != c.o.CDPURL || f.Owner != c.o.Owner:
		return 0, errors.New("written for another endpoint or owner")
	case f.Sum != checksum(f.Entries):
		return 0, errors.New("checksum mismatch")
	}
	var entries map[string]ruleCacheEntry
	if err := json.Unmarshal(f.Entries, &entries); err != nil {
		return 0, fmt.Errorf("decode entries: %w", err)
	}
	rules := make(map[string]cachedRule, len(entries))
	for id, e := range entries {
		var r segment.Rule
		if e.UpdatedAt == "" || json.Unmarshal(e.Rule, &r) != nil {
			continue
		}
		rules[id] = cachedRule{updatedAt: e.UpdatedAt, rule: r}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, r := range rules {
		if _, ok := c.rules[id]; !ok {
			c.rules[id] = r
		}
	}
	// savedRules is still 0 (saving waits for this load): the file agrees
	// with memory unless a rule was remembered while it was read
	// (rulesVersion > 0), and then the next save writes it.
	return len(rules), nil
}

func checksum(b []byte) string {
	s := sha256.Sum256(bytes.TrimSpace(b))
	return hex.EncodeToString(s[:])
}

// saveRuleCache writes the rule cache to Options.RuleCacheFile when it
// changed since it was loaded or last saved: a new file beside it, renamed
// over it. A failure is logged; the cache in memory is unaffected.
func (c *Client) saveRuleCache() {
	path := c.o.RuleCacheFile
	if path == "" {
		return
	}
	<-c.rulesLoaded
	c.mu.Lock()
	if c.savedRules == c.rulesVersion {
		c.mu.Unlock()
		return
	}
	ver := c.rulesVersion
	entries := make(map[string]ruleCacheEntry, len(c.rules))
	var err error
	for id, r := range c.rules {
		var raw []byte
		if raw, err = json.Marshal(r.rule); err != nil {
			break
		}
		entries[id] = ruleCacheEntry{UpdatedAt: r.updatedAt, Rule: raw}
	}
	c.mu.Unlock()
	if err == nil {
		err = writeRuleCache(path, c.o.CDPURL, c.o.Owner, entries)
	}
	if err != nil {
		c.o.Logger.Warn("cannot save the segment rule cache; a restart reads every rule again", "file", path, "err", err)
		return
	}
	c.mu.Lock()
	c.savedRules = max(c.savedRules, ver)
	c.mu.Unlock()
}

func writeRuleCache(path, cdpURL, owner string, entries map[string]ruleCacheEntry) error {
	raw, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	b, err := json.Marshal(ruleCacheFile{Version: ruleCacheVersion, CDPURL: cdpURL, Owner: owner, Sum: checksum(raw), Entries: raw})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
