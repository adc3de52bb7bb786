// Package spec loads a segment repository: the CUE files of one commit,
// unified with the embedded schemas (package schemas), decoded into
// pkg/segment values with their source positions, and checked for the
// problems the schema cannot see (names that match nothing, operators that
// do not fit a type, unknown or cyclic segment references, duplicates).
//
// Every CUE file is evaluated on its own against #Repo, in a pool of workers,
// so a broken file hides nothing else and memory stays bounded. A file may
// declare parent segments, folders and segments; it must not refer to fields
// of another file. Files whose names start with "." or "_", and the
// directories cue.mod, testdata and those starting with "." or "_", are
// skipped. A segment that fails the schema is left out of the state, but
// what is not broken in it is still checked, so that one load reports every
// problem of every segment.
//
// A segment's rule is written in short form (a where list of conditions such
// as {attribute: "ltv", atLeast: 1000}) or in Treasure Data's full v5 form
// (rule); Load always returns the full v5 form.
//
// The package is pure: it reads only the fs.FS it is given and never the
// clock or the network. Format is the inverse of Load and writes CUE files
// for a segment.State.
package spec
