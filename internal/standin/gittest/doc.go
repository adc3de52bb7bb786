// Package gittest runs a real git server for tests.
//
// A Server serves bare repositories with `git http-backend` behind
// net/http/cgi on an httptest server, so clients speak git's smart HTTP
// protocol (fetch and push) exactly as they would against a hosted forge.
// Access can be guarded by HTTP basic auth or a bearer token.
//
// Repositories are created and changed with the git command line through a
// private working clone: Repo.Commit writes files, commits and pushes them;
// Repo.Head reports the branch tip; Repo.ResetBranch force-moves a branch.
// The package needs the git binary (with git-http-backend) on PATH; tests
// that use it are skipped when git is missing.
package gittest
