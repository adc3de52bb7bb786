// Package diag defines diagnostics: problems found in a repository of segment
// definitions, each with a severity, a summary, a detail and the source
// position it refers to. Every stage that judges user input (the CUE loader,
// the semantic checks, the warehouse checks) reports through this one type, so
// that all problems can be collected, sorted and rendered together.
//
// A nil Diagnostics means "no problems".
package diag
