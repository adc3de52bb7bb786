// Package source follows one branch of a git repository and exposes the
// tree of its tip commit as a read-only fs.FS.
//
// It talks only to git (through go-git) and knows nothing of what the files
// contain. A Repo is created from Options (URL, branch, path within the
// repository, credentials, cache location):
//
//   - LatestRevision lists the server's refs to learn the branch tip. It
//     transfers no objects, so it suits a frequent "anything new?" check.
//   - Fetch returns a Snapshot of the tip. The repository is cloned once,
//     shallowly (depth 1) and without a worktree, into memory or into a bare
//     repository under Options.CacheDir; later changes arrive by incremental
//     fetches of the one branch, and the cache is replaced by a fresh shallow
//     clone every Options.RebuildAfter fetches so memory and disk stay
//     bounded. The snapshot's FS reads trees and blobs straight from the
//     object store, lazily; Snapshot.Materialize writes it to a directory
//     when a real one is needed.
//
// Every error returned is an *Error with a Kind (auth, not found, network,
// other) and text from which credentials have been removed: URLs are
// redacted with RedactURL and configured secrets are replaced. SSH requires
// a known_hosts content unless host key checking is disabled explicitly.
// Each call is bounded by its context and Options.Timeout; the SSH dial and
// handshake, which go-git does not bind to the context, are bounded too.
package source
