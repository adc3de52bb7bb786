//go:build cgo

package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/leader"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/standin/leadertest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/internal/syncbuf"
)

// The election timings of the sharding test, short so that a takeover
// comes quickly; the bounds the test waits for are derived from them.
const (
	shardCount         = 4
	shardLeaseDuration = 4 * time.Second
	shardRenewDeadline = 3 * time.Second
	shardRetryPeriod   = time.Second
	shardSchedule      = 3 * time.Second
	// shardSlack covers what the bounds do not: process start, a run of
	// every source of a shard, a loaded machine.
	shardSlack = 90 * time.Second
)

// shardReplica is one `reconciler run` process of the sharding test.
type shardReplica struct {
	id     string
	base   string
	cmd    *exec.Cmd
	exited chan error
	logs   *syncbuf.Buffer
}

// shardStatus is the part of /status about shards.
type shardStatus struct {
	Identity string `json:"identity"`
	Shards   []struct {
		Shard   int      `json:"shard"`
		Lease   string   `json:"lease"`
		Holder  string   `json:"holder"`
		Held    bool     `json:"held"`
		Sources []string `json:"sources"`
	} `json:"shards"`
	Sources []struct {
		Name        string `json:"name"`
		Shard       int    `json:"shard"`
		ShardHolder string `json:"shard_holder"`
		ShardHeld   bool   `json:"shard_held"`
		LastRun     *struct {
			Result string `json:"result"`
		} `json:"last_run"`
	} `json:"sources"`
}

func (r *shardReplica) status(t *testing.T) (shardStatus, bool) {
	t.Helper()
	var st shardStatus
	resp, err := http.Get(r.base + "/status")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("%s /status: %v", r.id, err)
	}
	return st, true
}

// held returns the shards r holds by its /status.
func (r *shardReplica) held(t *testing.T) []int {
	t.Helper()
	st, ok := r.status(t)
	if !ok {
		return nil
	}
	var out []int
	for _, s := range st.Shards {
		if s.Held {
			out = append(out, s.Shard)
		}
	}
	return out
}

// TestShardedReplicas runs three `reconciler run` processes with four
// shards against the Lease, Treasure, warehouse and git stand-ins. Each
// replica has its own Treasure API key, whose owner the Treasure stand-in
// records on every change, so the objects of a source tell who wrote them
// and when. Every source is reconciled by exactly one replica, the one
// holding its shard; after the replica with most shards is killed
// (SIGKILL), its shards move to the others within leaseDuration +
// (1.2 + shards − 1) × retryPeriod (plus slack), and new commits of its
// sources are applied by their new holders; the writes of a source never
// come from two replicas at once.
func TestShardedReplicas(t *testing.T) {
	bin := reconcilerBinary(t)
	git := gittest.NewServer(t, gittest.WithBasicAuth(e2eGitUser, e2eGitPass))

	// Eight sources, each with its own parent segment and one segment.
	names := []string{"team-ant", "team-bee", "team-cat", "team-dog", "team-eel", "team-fox", "team-gnu", "team-hen"}
	perShard := map[int][]string{}
	parentCue, err := os.ReadFile(filepath.Join(retailDir, "parent.cue"))
	if err != nil {
		t.Fatal(err)
	}
	repoCue, _ := os.ReadFile(filepath.Join(retailDir, "repo.cue"))
	moduleCue, _ := os.ReadFile(filepath.Join(retailDir, "cue.mod/module.cue"))
	repos := map[string]*gittest.Repo{}
	var srcCfg []string
	for _, n := range names {
		perShard[leader.ShardOf(n, shardCount)] = append(perShard[leader.ShardOf(n, shardCount)], n)
		repo := git.NewRepo(t, n)
		repo.Commit(t, "segments of "+n, map[string]string{
			"cue.mod/module.cue": string(moduleCue),
			"repo.cue":           string(repoCue),
			"parent.cue":         strings.Replace(string(parentCue), retailParent, parentOf(n), 1),
			"segments/a.cue":     segmentFile(n, "A"),
		})
		repos[n] = repo
		srcCfg = append(srcCfg, fmt.Sprintf(`{name: %q, url: %q, auth: basic: {username: %q, password: env: "E2E_GIT_PASSWORD"}, schedule: "@every %s", jitter: "0s"}`,
			n, repo.URL(), e2eGitUser, shardSchedule))
	}
	if len(perShard) != shardCount {
		t.Fatalf("the test's sources leave a shard empty: %v", perShard)
	}

	ids := []string{"replica-0", "replica-1", "replica-2"}
	keys := map[string]string{}
	var tokens []string
	for _, id := range ids {
		keys[id] = "1/" + id + "-0123456789abcdef0123456789"
		tokens = append(tokens, "token-"+id)
	}
	td, err := tdstandin.New(tdstandin.Options{MasterKeys: slices.Collect(maps.Values(keys)), KeyUsers: invert(keys),
		Connections: map[string]string{"databricks-retail": "341079", "s3-retail-exports": "341090"}})
	if err != nil {
		t.Fatal(err)
	}
	td.Start()
	t.Cleanup(td.Close)
	_, ep := dbxtest.Start(t, "../../examples/retail-warehouse.yaml")

	api := leadertest.New(tokens...)
	kube := httptest.NewTLSServer(api)
	t.Cleanup(kube.Close)
	ku, _ := url.Parse(kube.URL)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kube.Certificate().Raw})

	var replicas []*shardReplica
	for _, id := range ids {
		dir := t.TempDir()
		sa := filepath.Join(dir, "serviceaccount")
		if err := os.MkdirAll(sa, 0o700); err != nil {
			t.Fatal(err)
		}
		for f, v := range map[string]string{"ca.crt": string(caPEM), "token": "token-" + id, "namespace": "cas", "td-api-key": keys[id]} {
			p := filepath.Join(sa, f)
			if f == "td-api-key" {
				p = filepath.Join(dir, f)
			}
			if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		port := freeTCPPort(t)
		cfg := fmt.Sprintf(`// written by the end-to-end tests
listen: "127.0.0.1:%d"
log: {level: "debug", format: "json"}
sources: [%s]
treasure: {
	endpoints: {cdp: %q, cas: %q, classic: %q}
	apiKey: file: %q
	rateLimit: 1000
	burst:     100
}
databricks: {host: %q, port: %d, httpPath: %q, insecure: true, token: env: "E2E_DBX_TOKEN"}
leaderElection: {
	enabled:           true
	shards:            %d
	leaseDuration:     %q
	renewDeadline:     %q
	retryPeriod:       %q
	serviceAccountDir: %q
}
`, port, strings.Join(srcCfg, ",\n\t"), td.URL(), td.URL(), td.URL(), filepath.Join(dir, "td-api-key"), ep.Host, ep.Port, ep.HTTPPath,
			shardCount, shardLeaseDuration, shardRenewDeadline, shardRetryPeriod, sa)
		cfgPath := filepath.Join(dir, "reconciler.cue")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := &shardReplica{id: id, base: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &syncbuf.Buffer{}, exited: make(chan error, 1)}
		r.cmd = exec.Command(bin, "run", "--config", cfgPath)
		r.cmd.Env = append(os.Environ(), "E2E_GIT_PASSWORD="+e2eGitPass, "E2E_DBX_TOKEN="+e2eDBXToken, "NO_COLOR=1",
			"KUBERNETES_SERVICE_HOST="+ku.Hostname(), "KUBERNETES_SERVICE_PORT="+ku.Port(), "POD_NAME="+id, "POD_NAMESPACE=")
		r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
		replicas = append(replicas, r)
	}
	// All three start together, as the pods of a new Deployment do.
	for _, r := range replicas {
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.exited <- r.cmd.Wait() }()
	}
	t.Cleanup(func() {
		for _, r := range replicas {
			if r.cmd.ProcessState == nil {
				_ = r.cmd.Process.Kill()
				<-r.exited
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", r.id, tail(r.logs.String(), 40))
			}
		}
	})

	// Every shard is held by exactly one replica, and every source's
	// segment is in Treasure.
	holders := func(rs []*shardReplica) map[int][]string {
		h := map[int][]string{}
		for _, r := range rs {
			for _, s := range r.held(t) {
				h[s] = append(h[s], r.id)
			}
		}
		return h
	}
	eventually(t, "every shard held and every source applied", 3*time.Minute, func() bool {
		h := holders(replicas)
		for s := range shardCount {
			if len(h[s]) != 1 {
				return false
			}
		}
		seg := segmentNames(td)
		for _, n := range names {
			if seg[segmentName(n, "A")] == 0 {
				return false
			}
		}
		// Every replica has seen every holder (followers poll the leases
		// they do not hold).
		for _, r := range replicas {
			st, _ := r.status(t)
			for _, sh := range st.Shards {
				if sh.Holder != h[sh.Shard][0] {
					return false
				}
			}
		}
		return true
	})
	before := holders(replicas)
	holderOf := func(h map[int][]string, src string) string { return h[leader.ShardOf(src, shardCount)][0] }
	t.Logf("shards before the kill: %v", before)

	// Exactly one replica reconciled each source: the holder of its shard
	// ran it (its /status has a last run), the others never did, and
	// Treasure's objects of the source were all written by the holder.
	for _, r := range replicas {
		st, ok := r.status(t)
		if !ok {
			t.Fatalf("%s does not answer /status", r.id)
		}
		if st.Identity != r.id {
			t.Errorf("%s /status identity %q", r.id, st.Identity)
		}
		for _, s := range st.Sources {
			holds := holderOf(before, s.Name) == r.id
			if s.ShardHeld != holds || (s.LastRun != nil) != holds {
				t.Errorf("%s /status of %s: shard %d held %v, ran %v; the holder of its shard is %s",
					r.id, s.Name, s.Shard, s.ShardHeld, s.LastRun != nil, holderOf(before, s.Name))
			}
			if s.ShardHolder != holderOf(before, s.Name) {
				t.Errorf("%s /status of %s: shard holder %q, want %q", r.id, s.Name, s.ShardHolder, holderOf(before, s.Name))
			}
		}
		m := fetchMetrics(t, r.base)
		for s := range shardCount {
			want := 0.0
			if before[s][0] == r.id {
				want = 1
			}
			if got := metricValue(m, fmt.Sprintf(`reconciler_shard_held{shard="%d"}`, s)); got != want {
				t.Errorf("%s: reconciler_shard_held{shard=%q} = %v, want %v", r.id, fmt.Sprint(s), got, want)
			}
		}
	}
	for _, n := range names {
		for _, w := range writesOf(td, n) {
			if w.user != holderOf(before, n) {
				t.Errorf("%s: %s written by %s; its shard is held by %s", n, w.what, w.user, holderOf(before, n))
			}
		}
	}

	// Kill the replica holding most shards.
	victim := replicas[0]
	for _, r := range replicas[1:] {
		if len(r.held(t)) > len(victim.held(t)) {
			victim = r
		}
	}
	moved := victim.held(t)
	if len(moved) == 0 {
		t.Fatalf("no replica holds a shard: %v", before)
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	killedAt := time.Now()
	var survivors []*shardReplica
	for _, r := range replicas {
		if r != victim {
			survivors = append(survivors, r)
		}
	}
	t.Logf("killed %s holding shards %v", victim.id, moved)

	// A new commit on every source.
	for _, n := range names {
		repos[n].Commit(t, "one more segment", map[string]string{"segments/b.cue": segmentFile(n, "B")})
	}

	// The victim renewed last before it was killed: the survivors take its
	// shards within the takeover bound.
	takeover := shardLeaseDuration + time.Duration((1.2+shardCount-1)*float64(shardRetryPeriod))
	eventually(t, fmt.Sprintf("the shards of %s taken over within leaseDuration + (1.2 + shards - 1) × retryPeriod (%s) + %s slack",
		victim.id, takeover, shardSlack), takeover+shardSlack, func() bool {
		h := holders(survivors)
		for s := range shardCount {
			if len(h[s]) != 1 {
				return false
			}
		}
		return true
	})
	after := holders(survivors)
	t.Logf("shards after the kill: %v (%s after it)", after, time.Since(killedAt).Round(time.Millisecond))
	eventually(t, "every source's new segment applied", takeover+shardSlack+2*shardSchedule, func() bool {
		seg := segmentNames(td)
		for _, n := range names {
			if seg[segmentName(n, "B")] == 0 {
				return false
			}
		}
		return true
	})

	// No overlap: each segment once; a source's writes come from its
	// holder before the kill until the kill, and from its holder after
	// the kill only after it; sources that did not move have one writer.
	seg := segmentNames(td)
	for _, n := range names {
		for _, v := range []string{"A", "B"} {
			if c := seg[segmentName(n, v)]; c != 1 {
				t.Errorf("segment %q exists %d times", segmentName(n, v), c)
			}
		}
		old, now := holderOf(before, n), holderOf(after, n)
		if old != victim.id && old != now {
			t.Errorf("%s moved from %s to %s although %s lives", n, old, now, old)
		}
		for _, w := range writesOf(td, n) {
			switch {
			case w.user != old && w.user != now:
				t.Errorf("%s: %s written by %s, neither its holder before (%s) nor after (%s) the kill", n, w.what, w.user, old, now)
			case old != now && w.user == old && w.at.After(killedAt):
				t.Errorf("%s: %s written by %s at %s, after it was killed", n, w.what, w.user, w.at)
			case old != now && w.user == now && w.at.Before(killedAt):
				t.Errorf("%s: %s written by %s at %s, before the kill, while %s held the shard", n, w.what, w.user, w.at, old)
			}
		}
		if old != now {
			b := segmentObject(td, segmentName(n, "B"))
			if b.CreatedBy != now {
				t.Errorf("%s: the new segment was created by %s, want the new holder %s", n, b.CreatedBy, now)
			}
		}
	}
	for _, r := range survivors {
		checkNoSecrets(t, r.id+"'s logs", r.logs.String())
	}
}

func parentOf(src string) string { return "Shard " + src }

func segmentName(src, v string) string { return src + " " + v + " Names" }

func segmentFile(src, v string) string {
	return fmt.Sprintf("package retail\n\nsegments: %q: where: [{attribute: \"first_name\", startsWith: [%q]}]\n", segmentName(src, v), v)
}

// write is one change of a Treasure object, as the stand-in stamped it.
type write struct {
	what string
	user string
	at   time.Time
}

// writesOf returns the creations and last updates of the parent segment,
// folders and segments of src.
func writesOf(td *tdstandin.Server, src string) []write {
	var parent string
	var out []write
	stamp := func(what string, s tdstandin.Stamp) {
		out = append(out, write{what + " created", s.CreatedBy, s.CreatedAt}, write{what + " updated", s.UpdatedBy, s.UpdatedAt})
	}
	for _, p := range td.Parents() {
		if p.Name == parentOf(src) {
			parent = p.ID
			stamp("parent "+p.Name, p.Stamp)
		}
	}
	if parent == "" {
		return nil
	}
	for _, f := range td.Folders() {
		if f.AudienceID == parent {
			stamp("folder "+f.Name, f.Stamp)
		}
	}
	for _, s := range td.Segments() {
		if s.AudienceID == parent {
			stamp("segment "+s.Name, s.Stamp)
		}
	}
	return out
}

func segmentObject(td *tdstandin.Server, name string) tdstandin.Segment {
	for _, s := range td.Segments() {
		if s.Name == name {
			return s
		}
	}
	return tdstandin.Segment{}
}

func fetchMetrics(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func invert(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[v] = k
	}
	return out
}
