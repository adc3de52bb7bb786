// Package e2e measures the whole daemon end to end: a real git server, both
// stand-ins, and the daemon wired from a configuration file as a user runs it.
package e2e
