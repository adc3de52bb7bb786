package source

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
)

func TestSSH(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	first := repo.Commit(t, "first", sample)
	key, pub := gittest.NewSSHKey(t)
	ss := srv.ServeSSH(t, pub)

	t.Run("known host", func(t *testing.T) {
		r := newRepo(t, Options{URL: ss.URL(repo), Path: "segments", Auth: Auth{SSHKey: key, KnownHosts: ss.KnownHosts()}})
		s := fetch(t, r)
		if s.Revision != first || readFile(t, s.FS, "team-a/one.cue") != sample["segments/team-a/one.cue"] {
			t.Fatalf("snapshot %s", s.Revision)
		}
		second := repo.Commit(t, "edit", map[string]string{"segments/new.cue": "n: 1\n"})
		s = fetch(t, r)
		if s.Revision != second || r.incremental != 1 {
			t.Fatalf("after change: %s (incremental %d), want %s", s.Revision, r.incremental, second)
		}
	})

	t.Run("host key mismatch", func(t *testing.T) {
		other := srv.ServeSSH(t, pub) // a different host key
		wrong := strings.Replace(string(other.KnownHosts()), addrOf(other.URL(repo)), addrOf(ss.URL(repo)), 1)
		r := newRepo(t, Options{URL: ss.URL(repo), Auth: Auth{SSHKey: key, KnownHosts: []byte(wrong)}})
		_, err := r.Fetch(context.Background())
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("error = %v, want ErrAuth", err)
		}
		t.Log(err)
	})

	t.Run("unknown host", func(t *testing.T) {
		other := srv.ServeSSH(t, pub)
		r := newRepo(t, Options{URL: ss.URL(repo), Auth: Auth{SSHKey: key, KnownHosts: other.KnownHosts()}})
		_, err := r.Fetch(context.Background())
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("error = %v, want ErrAuth", err)
		}
		t.Log(err)
	})

	t.Run("client key refused", func(t *testing.T) {
		otherKey, _ := gittest.NewSSHKey(t)
		r := newRepo(t, Options{URL: ss.URL(repo), Auth: Auth{SSHKey: otherKey, KnownHosts: ss.KnownHosts()}})
		_, err := r.LatestRevision(context.Background())
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("error = %v, want ErrAuth", err)
		}
		t.Log(err)
	})

	t.Run("insecure ignore host key", func(t *testing.T) {
		r := newRepo(t, Options{URL: ss.URL(repo), Auth: Auth{SSHKey: key, InsecureIgnoreHostKey: true}})
		if rev, err := r.LatestRevision(context.Background()); err != nil || rev != repo.Head(t, "main") {
			t.Fatalf("LatestRevision = %s, %v", rev, err)
		}
	})
}

// addrOf returns host:port of an ssh:// URL, as written in known_hosts.
func addrOf(u string) string {
	hostport := strings.TrimPrefix(u, "ssh://git@")
	hostport = hostport[:strings.Index(hostport, "/")]
	h, p, _ := net.SplitHostPort(hostport)
	return "[" + h + "]:" + p
}

// TestSSHHandshakeBoundedByContext: a server that accepts TCP connections
// but never speaks must not hold Fetch beyond its deadline (go-git's SSH
// handshake ignores the context).
func TestSSHHandshakeBoundedByContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	key, _ := gittest.NewSSHKey(t)
	r := newRepo(t, Options{
		URL:         "ssh://git@" + ln.Addr().String() + "/x.git",
		Auth:        Auth{SSHKey: key, InsecureIgnoreHostKey: true},
		DialTimeout: time.Hour, // only the context bounds the call
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = r.Fetch(ctx)
	if !errors.Is(err, ErrNetwork) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want ErrNetwork and DeadlineExceeded", err)
	}
}
