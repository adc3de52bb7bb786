package spec

import "io/fs"

// HasGitObject reports whether the result of file name, whose git blob id
// is id (as a GitObjectIDFS gives it), is cached: a Load with c would
// neither read nor evaluate the file. A nil Cache has nothing.
func (c *Cache) HasGitObject(name string, id [20]byte) bool {
	if c == nil {
		return false
	}
	k := objectKey('f', name, id)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k] != nil
}

// ListFiles lists the CUE files of fsys in lexical order, as Files does.
// When fsys is a GitObjectIDFS, the files under a directory whose path and
// tree id a load or listing with c saw are taken from c, not listed again,
// and the directories listed are kept in c.
func ListFiles(fsys fs.FS, c *Cache) ([]string, error) {
	runs, err := listFiles(fsys, c)
	if err != nil {
		return nil, err
	}
	var names []string
	for f := range allFiles(runs) {
		names = append(names, f.name)
	}
	return names, nil
}
