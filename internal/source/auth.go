package source

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// authMethod turns Options into a go-git auth method.
func authMethod(o Options, kind transportKind) (transport.AuthMethod, error) {
	a := o.Auth
	switch kind {
	case transportHTTP:
		switch {
		case a.BearerToken != "":
			return &githttp.TokenAuth{Token: a.BearerToken}, nil
		case a.Token != "":
			user := a.Username
			if user == "" {
				user = "git"
			}
			return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
		case a.Username != "" || a.Password != "":
			return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
		}
		return nil, nil
	case transportSSH:
		return sshAuth(o)
	}
	return nil, nil
}

// sshAuth builds public-key auth with strict host key checking against
// Auth.KnownHosts (or none, only if explicitly disabled) and a bounded dial.
func sshAuth(o Options) (transport.AuthMethod, error) {
	a := o.Auth
	user, host, port := sshTarget(o.URL)
	if a.SSHUser != "" {
		user = a.SSHUser
	}
	if user == "" {
		user = "git"
	}
	pk, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
	if err != nil {
		// The parser's message names no secret, but keep it generic anyway.
		return nil, fmt.Errorf("source: parse Auth.SSHKey: %s", newRedactor(a.SSHKeyPassphrase).String(err.Error()))
	}
	if a.InsecureIgnoreHostKey {
		pk.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	} else {
		cb, algos, err := knownHostsCallback(a.KnownHosts, net.JoinHostPort(host, port))
		if err != nil {
			return nil, err
		}
		pk.HostKeyCallback = cb
		pk.HostKeyAlgorithms = algos
	}
	return &timeoutAuth{PublicKeys: pk, timeout: o.DialTimeout}, nil
}

// knownHostsCallback parses known_hosts content. The knownhosts parser only
// reads files, so the content goes through a short-lived temporary file.
func knownHostsCallback(content []byte, hostport string) (ssh.HostKeyCallback, []string, error) {
	f, err := os.CreateTemp("", "known_hosts-*")
	if err != nil {
		return nil, nil, fmt.Errorf("source: write known_hosts: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(content); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("source: write known_hosts: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, nil, fmt.Errorf("source: write known_hosts: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		return nil, nil, fmt.Errorf("source: parse Auth.KnownHosts: %w", err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostport), nil
}

// sshTarget extracts user, host and port from an ssh or SCP-like URL.
func sshTarget(raw string) (user, host, port string) {
	port = "22"
	if isSCPLike(raw) {
		at := strings.Index(raw, "@")
		rest := raw[at+1:]
		return raw[:at], rest[:strings.Index(rest, ":")], port
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", port
	}
	if u.User != nil {
		user = u.User.Username()
	}
	if p := u.Port(); p != "" {
		if _, err := strconv.Atoi(p); err == nil {
			port = p
		}
	}
	return user, u.Hostname(), port
}

// timeoutAuth sets ssh.ClientConfig.Timeout, which bounds go-git's TCP dial
// for SSH: go-git does not pass the operation's context to it. The handshake
// that follows is bounded by running SSH operations under withContext.
type timeoutAuth struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

// ClientConfig returns the key's client configuration with a dial timeout.
func (a *timeoutAuth) ClientConfig() (*ssh.ClientConfig, error) {
	c, err := a.PublicKeys.ClientConfig()
	if c != nil {
		c.Timeout = a.timeout
	}
	return c, err
}
