package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cas-reconciler/reconciler/internal/leader"
	"github.com/cas-reconciler/reconciler/internal/schedule"
	"github.com/cas-reconciler/reconciler/internal/version"
	"github.com/cas-reconciler/reconciler/internal/webhook"
)

// StatusAPIVersion is the version of the /status and /status/{name}
// documents (their api_version field). It changes when a field is removed,
// renamed or changes meaning; new fields may appear without a change.
// Version 1 was the unversioned document with capitalised plan counts.
const StatusAPIVersion = 2

// Status is the document served at /status. Every key is snake_case.
type Status struct {
	APIVersion int `json:"api_version"`
	// Version is the reconciler's version.
	Version string `json:"version"`
	// Leader is true while this replica holds at least one shard.
	Leader   bool      `json:"leader"`
	Draining bool      `json:"draining"`
	Time     time.Time `json:"time"`
	// Identity names this replica in the Leases.
	Identity string `json:"identity,omitempty"`
	// Shards lists every shard's lease and its holder.
	Shards  []ShardStatus  `json:"shards"`
	Sources []SourceStatus `json:"sources"`
}

// ShardStatus is the ownership of one shard.
type ShardStatus struct {
	Shard int `json:"shard"`
	// Lease is the name of the shard's Lease.
	Lease string `json:"lease"`
	// Holder is the holder of the lease last observed by this replica.
	Holder string `json:"holder,omitempty"`
	// Held is true while this replica holds the lease and reconciles the
	// shard's sources.
	Held bool `json:"held"`
	// Sources names the shard's sources.
	Sources []string `json:"sources"`
}

// Handler returns the daemon's HTTP handler.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.opts.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, d.Status()) })
	mux.HandleFunc("GET /status/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range d.Status().Sources {
			if s.Name == r.PathValue("name") {
				writeJSON(w, http.StatusOK, struct {
					APIVersion int `json:"api_version"`
					SourceStatus
				}{StatusAPIVersion, s})
				return
			}
		}
		writeError(w, http.StatusNotFound, "no source named "+r.PathValue("name"))
	})
	mux.HandleFunc("POST /api/v1/sources/{name}/{action}", d.api)
	if d.opts.Config.Debug.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("POST /hooks/{provider}", func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains([]string{webhook.GitHub, webhook.GitLab, webhook.Generic}, r.PathValue("provider")) {
			writeError(w, http.StatusNotFound, "unknown webhook provider")
			return
		}
		d.hook.ServeHTTP(w, r)
	})
	return mux
}

// Ready reports whether the daemon is ready: on the leader, every source
// (of the shards it holds) that is not suspended has finished its first run
// (it observed Treasure, or stalled on an invalid repository); a standby
// replica is ready.
func (d *Daemon) Ready() (bool, string) {
	if d.draining.Load() {
		return false, "shutting down"
	}
	if d.leading.Load() == 0 {
		return true, "standby"
	}
	var pending []string
	for _, st := range d.sources {
		if d.scheduler(st) == nil {
			continue
		}
		st.mu.Lock()
		if !st.suspended && !st.firstRun {
			pending = append(pending, st.name)
		}
		st.mu.Unlock()
	}
	if len(pending) > 0 {
		return false, "waiting for the first run of " + strings.Join(pending, ", ")
	}
	return true, "ready"
}

func (d *Daemon) readyz(w http.ResponseWriter, _ *http.Request) {
	ok, msg := d.Ready()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	state := msg
	if ok && msg != "standby" {
		state = "ready"
	} else if !ok {
		state = "not ready"
	}
	writeJSON(w, code, map[string]any{"status": state, "message": msg, "leader": d.leading.Load() > 0})
}

// Status returns the state of every source.
func (d *Daemon) Status() Status {
	out := Status{APIVersion: StatusAPIVersion, Version: version.Version, Leader: d.leading.Load() > 0, Draining: d.draining.Load(),
		Time: d.now(), Identity: d.identity()}
	d.mu.Lock()
	for i := range d.shards {
		out.Shards = append(out.Shards, ShardStatus{Shard: i, Lease: leader.ShardLeaseName(d.cfg.LeaderElection.LeaseName, i, d.shards),
			Holder: d.holder[i], Held: d.sched[i] != nil, Sources: []string{}})
	}
	d.mu.Unlock()
	for _, st := range d.sources {
		sh := &out.Shards[st.shard]
		sh.Sources = append(sh.Sources, st.name)
		st.mu.Lock()
		ss := st.status
		ss.Suspended, ss.SuspendedBy = st.suspended, st.suspendedBy()
		st.mu.Unlock()
		ss.ShardHolder, ss.ShardHeld = sh.Holder, sh.Held
		s := d.scheduler(st)
		if s != nil {
			if js, err := s.Status(st.name); err == nil {
				ss.NextRun, ss.NextRetry, ss.Running = js.NextRun, js.NextRetry, js.Running
			}
		}
		ss.Summary = summarize(&ss)
		out.Sources = append(out.Sources, ss)
	}
	return out
}

// api serves POST /api/v1/sources/{name}/{reconcile,suspend,resume}.
func (d *Daemon) api(w http.ResponseWriter, r *http.Request) {
	if tok := d.cfg.APIToken.Value(); tok != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
	}
	name, action := r.PathValue("name"), r.PathValue("action")
	st := d.byName[name]
	if st == nil {
		writeError(w, http.StatusNotFound, "no source named "+name)
		return
	}
	if d.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, errDraining.Error())
		return
	}
	s := d.scheduler(st)
	log := d.log.With("source", name, "remote", r.RemoteAddr)
	switch action {
	case "reconcile":
		if s == nil {
			writeError(w, http.StatusServiceUnavailable, d.notLeading().Error())
			return
		}
		st.mu.Lock()
		st.force = true
		st.mu.Unlock()
		if err := s.Trigger(name); err != nil {
			code := http.StatusConflict
			if !errors.Is(err, schedule.ErrSuspended) {
				code = http.StatusServiceUnavailable
			}
			writeError(w, code, err.Error())
			return
		}
		log.Info("reconcile requested through the API")
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "triggered", "source": name})
	case "suspend", "resume":
		suspend := action == "suspend"
		saveErr := d.setSuspended(st, suspend)
		if saveErr != nil && !suspend {
			log.Error("source not resumed", "err", saveErr)
			writeError(w, http.StatusInternalServerError, saveErr.Error())
			return
		}
		if s != nil {
			var err error
			if suspend {
				err = s.Suspend(name)
			} else {
				err = s.Resume(name)
			}
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, err.Error())
				return
			}
		}
		d.rec.SetSuspended(name, suspend)
		if saveErr != nil {
			log.Error("source suspended through the API, but not across a restart", "err", saveErr)
			writeError(w, http.StatusInternalServerError, saveErr.Error())
			return
		}
		done := "resumed"
		if suspend {
			done = "suspended"
		}
		log.Info("source " + done + " through the API")
		writeJSON(w, http.StatusOK, map[string]any{"status": done, "source": name})
	default:
		writeError(w, http.StatusNotFound, "unknown action "+action)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
