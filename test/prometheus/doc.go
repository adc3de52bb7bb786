// Package prometheus tests the alert rules end to end: a real Prometheus
// server on loopback scrapes a running reconciler daemon and evaluates the
// shipped rules.
package prometheus
