// Package hooks holds the git hooks shipped for repositories of segment
// definitions (pre-commit) and the tests that run them in real
// repositories.
package hooks
