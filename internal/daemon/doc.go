// Package daemon runs the reconciler as a service.
//
// It builds no client: its creator turns the configuration into clients
// with package wiring (a git repository, a Treasure Data client and a
// reconcile.Reconciler per source plus one Databricks client) and hands
// them to New with the metrics recorder they report to. A Daemon adds the
// rest of a long-running process:
//
//   - one scheduler job per source (cron or @every, jitter, single flight,
//     backoff on failure); webhooks and POST /api/v1/sources/{name}/reconcile
//     trigger a run at once;
//   - outcomes from package reconcile: a stalled source (invalid repository,
//     schema mismatch with the warehouse, a credential Treasure or Databricks
//     refused) is not retried until its branch moves; a waiting one (Treasure or Databricks unavailable, throttled) is
//     retried with backoff, and no earlier than the Retry-After Treasure
//     sent (capped at the backoff maximum);
//   - freeze windows, during which plans are computed and shown but not
//     applied;
//   - suspend and resume per source; with a cacheDir, suspensions made
//     through the API are saved there and restored at start (a file that
//     cannot be read stops the start), and suspend in the configuration
//     always wins at start;
//   - leader election (package leader): only the leader runs the scheduler,
//     standby replicas serve /metrics and /readyz; with several shards each
//     replica schedules the sources of the shards whose Lease it holds;
//   - HTTP: /metrics, /healthz, /readyz, /status (snake_case, versioned by
//     api_version), the trigger, suspend and resume API, and webhook
//     receivers under /hooks/{provider}. A source is ready when its last run
//     succeeded, nothing was held and its plan left nothing unresolved (no
//     conflict, no blocked change but protected objects); /status shows only
//     the last run's plan, never an older revision's;
//   - metrics through one metrics.Recorder, and JSON logs with a run id on
//     every line of a run, behind the redaction of package logging;
//   - graceful shutdown: when the context ends the daemon refuses new
//     triggers, lets a run in flight finish (or, after ShutdownTimeout,
//     stops it between two changes) and returns nil.
package daemon
