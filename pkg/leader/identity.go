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
func DefaultNamespace() string {
	if n := os.Getenv("POD_NAMESPACE"); n != "" {
		return n
	}
	if b, err := os.ReadFile(serviceAccountDir + "/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}
