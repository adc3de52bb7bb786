package leader

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// serviceAccountDir is where Kubernetes mounts the pod's service account:
// token, ca.crt and namespace.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// tokenMaxAge is how long a token read from the service account is used
// before the file is read again. Projected tokens are rotated by the kubelet
// well before they expire (at 80% of their lifetime, at least an hour).
const tokenMaxAge = time.Minute

// InClusterClient returns a client for the API server of the cluster the
// pod runs in: the address comes from KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT, the server's CA and the bearer token from the
// service account. The token file is read again every minute, so rotated
// tokens are picked up.
func InClusterClient() (*Client, error) {
	return inClusterClient(serviceAccountDir, os.Getenv, time.Now)
}

// InClusterClientFrom is InClusterClient with the service account's token
// and ca.crt read from dir instead of the standard mount path (used when
// dir is empty).
func InClusterClientFrom(dir string) (*Client, error) {
	if dir == "" {
		dir = serviceAccountDir
	}
	return inClusterClient(dir, os.Getenv, time.Now)
}

func inClusterClient(dir string, getenv func(string) string, now func() time.Time) (*Client, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("leader: not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT unset)")
	}
	caFile := filepath.Join(dir, "ca.crt")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("leader: read cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("leader: no PEM certificate in %s", caFile)
	}
	tok := &fileToken{path: filepath.Join(dir, "token"), maxAge: tokenMaxAge, now: now}
	if _, err := tok.get(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return NewClient("https://"+net.JoinHostPort(host, port), &http.Client{Transport: tr}, tok.get), nil
}

// fileToken reads a bearer token from a file and caches it for maxAge.
type fileToken struct {
	path   string
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	token string
	read  time.Time
}

func (f *fileToken) get() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.token != "" && now.Sub(f.read) < f.maxAge {
		return f.token, nil
	}
	b, err := os.ReadFile(f.path)
	if err == nil && len(strings.TrimSpace(string(b))) == 0 {
		err = errors.New("file is empty")
	}
	if err != nil {
		if f.token != "" {
			// Keep the last token: the file may be in the middle of a
			// rotation, and the old token stays valid for a while.
			return f.token, nil
		}
		return "", fmt.Errorf("leader: read service account token %s: %w", f.path, err)
	}
	f.token, f.read = strings.TrimSpace(string(b)), now
	return f.token, nil
}
