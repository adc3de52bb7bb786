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

// ruleCacheFile is the first line of the saved rule cache
// (Options.RuleCacheFile): the rules (wire form) of segments by id, each
// valid only while the segment's updatedAt in a listing is the one saved
// with it, exactly as the cache in memory. Sum is the SHA-256 of Entries as
// written; a file whose first line's sum, version, base URL or owner does
// not match is ignored as a whole, and an entry that does not decode is
// skipped, so a stale or corrupt file costs detail requests, never a wrong
// rule.
//
// Each further line is a ruleCacheRecord: the entries that changed since
// the line before, appended (an entry without updatedAt removes its id),
// so that a save after a small change writes the change, not every rule.
// A record that does not decode or whose sum does not match (a write cut
// short) ends the file there; the next save rewrites it whole, as it does
// once the records hold more than a quarter as many entries as the first
// line.
type ruleCacheFile struct {
	Version int             `json:"version"`
	CDPURL  string          `json:"cdpURL"`
	Owner   string          `json:"owner"`
	Sum     string          `json:"sha256"`
	Entries json.RawMessage `json:"entries"`
}

type ruleCacheRecord struct {
	Sum     string          `json:"sha256"`
	Entries json.RawMessage `json:"entries"`
}

type ruleCacheEntry struct {
	UpdatedAt string          `json:"updatedAt,omitempty"`
	Rule      json.RawMessage `json:"rule,omitempty"`
}

// ruleFile is what the client knows of the saved file: whether records may
// be appended to it (it holds what the cache held at the last save, and
// ends with a whole line), and how many entries its first line and its
// records hold.
type ruleFile struct {
	appendable    bool
	base, records int
}

// compact reports whether a save of n changed entries should rewrite the
// file whole rather than append them.
func (f ruleFile) compact(n int) bool { return !f.appendable || f.records+n > 64+f.base/4 }

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
	case err != nil && n > 0:
		c.o.Logger.Warn("the saved segment rule cache is damaged after its first lines; using what comes before, the other rules are read again", "file", path, "rules", n, "err", err)
	case err != nil:
		c.o.Logger.Warn("ignoring the saved segment rule cache; every rule is read again", "file", path, "err", err)
	default:
		c.o.Logger.Debug("loaded the saved segment rule cache", "file", path, "rules", n)
	}
}

// readRuleCache reads the saved file into c.rules and returns how many
// rules it held. An error after the first line (a bad record) comes with
// the rules of the lines before it.
func (c *Client) readRuleCache(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	head, rest, _ := bytes.Cut(b, []byte("\n"))
	var f ruleCacheFile
	if err := json.Unmarshal(head, &f); err != nil {
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
	rules := map[string]cachedRule{}
	file := ruleFile{appendable: true}
	if file.base, err = applyRuleEntries(rules, f.Entries); err != nil {
		return 0, fmt.Errorf("decode entries: %w", err)
	}
	for line := 2; len(rest) > 0; line++ {
		var rec []byte
		rec, rest, _ = bytes.Cut(rest, []byte("\n"))
		var r ruleCacheRecord
		if err = json.Unmarshal(rec, &r); err == nil && r.Sum != checksum(r.Entries) {
			err = errors.New("checksum mismatch")
		}
		var n int
		if err == nil {
			n, err = applyRuleEntries(rules, r.Entries)
		}
		if err != nil {
			err = fmt.Errorf("line %d and after ignored: %w", line, err)
			file.appendable = false
			break
		}
		file.records += n
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		file.appendable = false
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
	// (rulesVersion > 0, and those ids are in c.changed), and then the next
	// save writes them.
	c.ruleFile = file
	return len(rules), err
}

// applyRuleEntries decodes entries into rules: an entry with updatedAt
// sets its id's rule, one without removes it (as does one whose rule does
// not decode: it is read again). It returns how many entries it held.
func applyRuleEntries(rules map[string]cachedRule, raw json.RawMessage) (int, error) {
	var entries map[string]ruleCacheEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return 0, err
	}
	for id, e := range entries {
		var r segment.Rule
		if e.UpdatedAt == "" || json.Unmarshal(e.Rule, &r) != nil {
			delete(rules, id)
			continue
		}
		rules[id] = cachedRule{updatedAt: e.UpdatedAt, rule: r}
	}
	return len(entries), nil
}

func checksum(b []byte) string {
	s := sha256.Sum256(bytes.TrimSpace(b))
	return hex.EncodeToString(s[:])
}

// saveRuleCache writes the rule cache to Options.RuleCacheFile when it
// changed since it was loaded or last saved: the changed entries appended
// as one record, or, when the file cannot take records or holds many, a
// new file beside it renamed over it. A failure is logged; the cache in
// memory is unaffected, and the next save rewrites the file whole.
func (c *Client) saveRuleCache() {
	path := c.o.RuleCacheFile
	if path == "" {
		return
	}
	<-c.rulesLoaded
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	if c.savedRules == c.rulesVersion {
		c.mu.Unlock()
		return
	}
	ver, changed, file := c.rulesVersion, c.changed, c.ruleFile
	c.changed = map[string]bool{}
	whole := file.compact(len(changed))
	entries, err := c.ruleEntriesLocked(changed, whole)
	c.mu.Unlock()
	if err == nil && whole {
		err = writeRuleCache(path, c.o.CDPURL, c.o.Owner, entries)
		file = ruleFile{appendable: true, base: len(entries)}
	} else if err == nil {
		err = appendRuleRecord(path, entries)
		file.records += len(entries)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.o.Logger.Warn("cannot save the segment rule cache; a restart reads every rule again", "file", path, "err", err)
		c.ruleFile.appendable = false
		for id := range changed {
			c.changed[id] = true
		}
		return
	}
	c.ruleFile = file
	c.savedRules = max(c.savedRules, ver)
}

// ruleEntriesLocked returns the entries to save: every rule when whole,
// else those of the changed ids (a removed one without updatedAt).
func (c *Client) ruleEntriesLocked(changed map[string]bool, whole bool) (map[string]ruleCacheEntry, error) {
	entry := func(r cachedRule) (ruleCacheEntry, error) {
		raw, err := json.Marshal(r.rule)
		return ruleCacheEntry{UpdatedAt: r.updatedAt, Rule: raw}, err
	}
	var entries map[string]ruleCacheEntry
	if whole {
		entries = make(map[string]ruleCacheEntry, len(c.rules))
		for id, r := range c.rules {
			e, err := entry(r)
			if err != nil {
				return nil, err
			}
			entries[id] = e
		}
		return entries, nil
	}
	entries = make(map[string]ruleCacheEntry, len(changed))
	for id := range changed {
		r, ok := c.rules[id]
		if !ok {
			entries[id] = ruleCacheEntry{}
			continue
		}
		e, err := entry(r)
		if err != nil {
			return nil, err
		}
		entries[id] = e
	}
	return entries, nil
}

// appendRuleRecord appends entries to the file as one record line and
// syncs it.
func appendRuleRecord(path string, entries map[string]ruleCacheEntry) error {
	raw, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	line, err := json.Marshal(ruleCacheRecord{Sum: checksum(raw), Entries: raw})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
	b = append(b, '\n')
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
