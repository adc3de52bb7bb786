// Package metrics defines every Prometheus metric the reconciler exports.
//
// One Recorder is built per process (or per test) with New on an injected
// prometheus.Registerer; nothing is registered on the global default registry.
// All names, help texts and label sets live in metrics.go, so that alerts and
// dashboards have a single place to look. Label values are bounded: the
// source label takes configured source names, every other label takes values
// from a closed set that is pre-initialised so series exist before the first
// event. Nothing is labelled per segment, folder or commit except the single
// reconciler_source_info series per source, whose old series is deleted when
// the revision changes.
//
// The package is a leaf: client packages report events through callbacks that
// the daemon connects to a Recorder.
package metrics
