package gittest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// SSHServer serves a Server's repositories over SSH by running
// git-upload-pack and git-receive-pack for authenticated public keys.
type SSHServer struct {
	root    string
	ln      net.Listener
	hostKey ssh.Signer
	config  *ssh.ServerConfig
	wg      sync.WaitGroup
}

// NewSSHKey returns a new ed25519 private key in OpenSSH PEM form and its
// public key.
func NewSSHKey(t testing.TB) ([]byte, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), sp
}

// ServeSSH starts an SSH server on 127.0.0.1 for the server's repositories.
// Only the authorized keys may connect.
func (s *Server) ServeSSH(t testing.TB, authorized ...ssh.PublicKey) *SSHServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, a := range authorized {
				if bytes.Equal(a.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("unknown public key")
		},
	}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss := &SSHServer{root: s.root, ln: ln, hostKey: signer, config: cfg}
	ss.wg.Add(1)
	go ss.serve()
	t.Cleanup(func() {
		ln.Close()
		ss.wg.Wait()
	})
	return ss
}

// URL returns the ssh:// clone URL of repo on this server.
func (ss *SSHServer) URL(repo *Repo) string {
	return fmt.Sprintf("ssh://git@%s/%s.git", ss.ln.Addr(), repo.name)
}

// KnownHosts returns a known_hosts line for this server's host key.
func (ss *SSHServer) KnownHosts() []byte {
	return []byte(knownHostsLine(ss.ln.Addr().String(), ss.hostKey.PublicKey()))
}

// HostKey returns the server's public host key.
func (ss *SSHServer) HostKey() ssh.PublicKey { return ss.hostKey.PublicKey() }

// knownHostsLine formats a known_hosts entry for addr ("host:port").
func knownHostsLine(addr string, key ssh.PublicKey) string {
	host, port, _ := net.SplitHostPort(addr)
	h := host
	if port != "22" {
		h = "[" + host + "]:" + port
	}
	return h + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n"
}

func (ss *SSHServer) serve() {
	defer ss.wg.Done()
	for {
		c, err := ss.ln.Accept()
		if err != nil {
			return
		}
		ss.wg.Add(1)
		go func() {
			defer ss.wg.Done()
			ss.handle(c)
		}()
	}
}

func (ss *SSHServer) handle(c net.Conn) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, ss.config)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go ss.session(ch, chReqs)
	}
}

// session runs one exec request: git-upload-pack or git-receive-pack.
func (ss *SSHServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(false, nil)
			continue
		}
		if len(req.Payload) < 4 {
			req.Reply(false, nil)
			return
		}
		n := binary.BigEndian.Uint32(req.Payload)
		command := string(req.Payload[4 : 4+min(int(n), len(req.Payload)-4)])
		service, arg, _ := strings.Cut(command, " ")
		if service != "git-upload-pack" && service != "git-receive-pack" {
			req.Reply(false, nil)
			return
		}
		repo := strings.Trim(strings.TrimSpace(arg), "'\"")
		dir := filepath.Join(ss.root, filepath.Clean("/"+repo))
		req.Reply(true, nil)
		cmd := exec.Command("git", strings.TrimPrefix(service, "git-"), dir)
		cmd.Env = Env()
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		// Feed stdin ourselves: exec would wait for the client to close its
		// side even after git has exited.
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return
		}
		go func() {
			io.Copy(stdin, ch)
			stdin.Close()
		}()
		code := uint32(0)
		if err := cmd.Run(); err != nil {
			code = 1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = uint32(ee.ExitCode())
			}
		}
		ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, code))
		return
	}
}
