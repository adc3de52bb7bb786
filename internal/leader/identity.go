package leader

import (
	"os"
	"strings"
)

// DefaultIdentity names this process for the lease: $POD_NAME when set (the
// Deployment passes it through the downward API), else the hostname, which
// Kubernetes also sets to the pod name.
func DefaultIdentity() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "reconciler"
}

// DefaultNamespace returns $POD_NAMESPACE, else the namespace of the pod's
// service account, else "".
func DefaultNamespace() string { return DefaultNamespaceIn("") }

// DefaultNamespaceIn is DefaultNamespace with the service account in dir
// (the standard mount path when empty).
func DefaultNamespaceIn(dir string) string {
	if n := os.Getenv("POD_NAMESPACE"); n != "" {
		return n
	}
	if dir == "" {
		dir = serviceAccountDir
	}
	if b, err := os.ReadFile(dir + "/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}
