// Package deploy holds the Kubernetes manifests, alert rules and dashboard of
// the reconciler, and tests that keep them consistent with the code.
package deploy
