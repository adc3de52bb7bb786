package reconcile

import (
	"context"
	"errors"
	"time"
)

// Condition is the state a run leaves its source in. The set is closed
// (Conditions); a value goes unchanged to the result label of
// reconciler_runs_total, to last_run.result in /status and to the result
// field of the run's log line.
type Condition string

// Conditions of a run.
const (
	// ConditionSucceeded: the run went through; Treasure matches the
	// revision unless the plan held or blocked changes.
	ConditionSucceeded Condition = "success"
	// ConditionFailed: the run failed for a reason that retrying may fix.
	ConditionFailed Condition = "failed"
	// ConditionStalled: the run needs a human; retrying the same revision
	// cannot help (Stalled).
	ConditionStalled Condition = "stalled"
	// ConditionWaiting: a dependency is unavailable; the run is retried
	// later (Waiting).
	ConditionWaiting Condition = "waiting"
)

// Conditions lists every Condition.
func Conditions() []Condition {
	return []Condition{ConditionSucceeded, ConditionFailed, ConditionStalled, ConditionWaiting}
}

func (c Condition) String() string { return string(c) }

// Reason says why a run did not succeed. The set is closed (Reasons); each
// value is decided by the step that met the problem and goes unchanged to
// reason in /status and to the reason field of the run's log line. A run
// that succeeded has no reason ("").
type Reason string

// Reasons of Stalled, Waiting and failed runs.
const (
	// ReasonGitUnavailable: the git server could not be reached (waiting).
	ReasonGitUnavailable Reason = "GitUnavailable"
	// ReasonGitFetchFailed: the git fetch failed otherwise (failed).
	ReasonGitFetchFailed Reason = "GitFetchFailed"
	// ReasonInvalidSpec: the repository does not load (stalled).
	ReasonInvalidSpec Reason = "InvalidSpec"
	// ReasonLoadBudget: a file or the repository exceeded a load limit
	// (file size, file count, total size, evaluation memory or time).
	ReasonLoadBudget Reason = "LoadBudget"
	// ReasonWarehouseMismatch: the repository does not fit the
	// warehouse's tables (stalled).
	ReasonWarehouseMismatch Reason = "WarehouseMismatch"
	// ReasonWarehouseDown: the warehouse does not answer (waiting).
	ReasonWarehouseDown Reason = "WarehouseUnavailable"
	// ReasonWarehouseStarting: the warehouse answered 503 because it is
	// starting, and the run gave up within the start budget (it was
	// canceled); the next run waits again.
	ReasonWarehouseStarting Reason = "WarehouseStarting"
	// ReasonWarehouseStartTimeout: the warehouse was still starting when
	// the start budget (databricks.startTimeout) ran out.
	ReasonWarehouseStartTimeout Reason = "WarehouseStartTimeout"
	// ReasonWarehouseUnauthorized: the warehouse or its token URL refused
	// the credentials.
	ReasonWarehouseUnauthorized Reason = "WarehouseUnauthorized"
	// ReasonTreasureDown: Treasure Data is unavailable or throttles
	// (waiting).
	ReasonTreasureDown Reason = "TreasureUnavailable"
	// ReasonTreasureRefused: Treasure Data refused to be observed for
	// another reason than the API key (waiting).
	ReasonTreasureRefused Reason = "TreasureRefused"
	// ReasonTreasureUnauthorized: Treasure refused the API key (401).
	ReasonTreasureUnauthorized Reason = "TreasureUnauthorized"
	// ReasonTreasureForbidden: Treasure refused a request for the key's
	// permissions (403).
	ReasonTreasureForbidden Reason = "TreasureForbidden"
	// ReasonUnknownConnection: a parent segment names a connection that
	// Treasure Data does not have.
	ReasonUnknownConnection Reason = "UnknownConnection"
	// ReasonInvalidPlan is a plan that cannot be applied as a whole (see
	// plan.Plan.Errors).
	ReasonInvalidPlan Reason = "InvalidPlan"
	// ReasonApplyFailed: changes failed for reasons that are not
	// temporary (ApplyError).
	ReasonApplyFailed Reason = "ApplyFailed"
	// ReasonFailed: any other error (a canceled run, a loader that broke).
	ReasonFailed Reason = "Failed"
)

// Reasons lists every Reason.
func Reasons() []Reason {
	return []Reason{ReasonGitUnavailable, ReasonGitFetchFailed, ReasonInvalidSpec, ReasonLoadBudget, ReasonWarehouseMismatch,
		ReasonWarehouseDown, ReasonWarehouseStarting, ReasonWarehouseStartTimeout, ReasonWarehouseUnauthorized,
		ReasonTreasureDown, ReasonTreasureRefused, ReasonTreasureUnauthorized, ReasonTreasureForbidden,
		ReasonUnknownConnection, ReasonInvalidPlan, ReasonApplyFailed, ReasonFailed}
}

func (r Reason) String() string { return string(r) }

// WarehouseDown reports whether the reason means the warehouse does not
// answer statements (unavailable, starting, not started in time, or
// refusing the credentials).
func (r Reason) WarehouseDown() bool {
	switch r {
	case ReasonWarehouseDown, ReasonWarehouseStarting, ReasonWarehouseStartTimeout, ReasonWarehouseUnauthorized:
		return true
	}
	return false
}

// ConditionOf classifies the error Run returned by its type, never by its
// text: nil succeeded, Stalled and Waiting carry their reason, an
// ApplyError failed with ReasonApplyFailed, a Failure with its reason, and
// any other error failed with ReasonFailed.
func ConditionOf(err error) (Condition, Reason) {
	var st *Stalled
	var w *Waiting
	var a *ApplyError
	var f *Failure
	switch {
	case err == nil:
		return ConditionSucceeded, ""
	case errors.As(err, &st):
		return ConditionStalled, st.Reason
	case errors.As(err, &w):
		return ConditionWaiting, w.Reason
	case errors.As(err, &a):
		return ConditionFailed, ReasonApplyFailed
	case errors.As(err, &f):
		return ConditionFailed, f.Reason
	}
	return ConditionFailed, ReasonFailed
}

// Stalled is an outcome that needs a human; retrying the same revision
// cannot help.
type Stalled struct {
	Reason Reason
	Err    error
}

func (e *Stalled) Error() string { return "stalled (" + string(e.Reason) + "): " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Stalled) Unwrap() error { return e.Err }

// Waiting is an outcome that should be retried later.
type Waiting struct {
	Reason     Reason
	Err        error
	RetryAfter time.Duration
}

func (e *Waiting) Error() string { return "waiting (" + string(e.Reason) + "): " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Waiting) Unwrap() error { return e.Err }

// Failure is a failed run whose step named its reason (ReasonGitFetchFailed).
type Failure struct {
	Reason Reason
	Err    error
}

func (e *Failure) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Failure) Unwrap() error { return e.Err }

// ApplyError is the outcome of a run in which changes failed for reasons
// that are not temporary. Its message starts with ReasonApplyFailed.
type ApplyError struct {
	Err error
}

func (e *ApplyError) Error() string { return string(ReasonApplyFailed) + ": " + e.Err.Error() }

// Unwrap returns the joined errors of the failed changes.
func (e *ApplyError) Unwrap() error { return e.Err }

// Credentials name where the credentials of a Reconciler come from: a
// configuration field and its environment variable or file, never a value
// ("treasure.apiKey (env:TD_API_KEY)").
type Credentials struct {
	// Treasure names the Treasure Data API key.
	Treasure string
	// Warehouse names the Databricks token or OAuth client secret.
	Warehouse string
}

// CredentialError is a credential that Treasure Data or the warehouse
// refused. Retrying cannot help until someone replaces the credential or
// grants what it lacks, so the run stalls with Reason.
type CredentialError struct {
	// Reason is ReasonTreasureUnauthorized, ReasonTreasureForbidden or
	// ReasonWarehouseUnauthorized.
	Reason Reason
	// Credential names where the credential comes from (see
	// Credentials); empty when unknown.
	Credential string
	Err        error
}

func (e *CredentialError) Error() string {
	from := ""
	if e.Credential != "" {
		from = " from " + e.Credential
	}
	var msg string
	switch e.Reason {
	case ReasonTreasureUnauthorized:
		msg = "Treasure Data refused the API key" + from + " (401: wrong, expired or revoked): " +
			"put a valid master API key there and restart the reconciler"
	case ReasonTreasureForbidden:
		msg = "Treasure Data refused a request made with the API key" + from + " (403: the key's user lacks a permission, " +
			"or it is not a master key): grant the permission or use a master API key that has it, then trigger a run or restart the reconciler"
	default:
		msg = "Databricks refused the credentials" + from + " (wrong, expired or revoked, or the principal may not use the warehouse): " +
			"fix them and restart the reconciler"
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the adapter's error.
func (e *CredentialError) Unwrap() error { return e.Err }

// unauthorized and forbidden are implemented by adapter errors that can
// tell refused credentials: 401 (wrong, expired or revoked) and 403 (valid,
// but lacking a permission).
type (
	unauthorized interface{ Unauthorized() bool }
	forbidden    interface{ Forbidden() bool }
)

// treasureRefusal returns the reason of a Treasure failure caused by the
// API key, or "".
func treasureRefusal(err error) Reason {
	var u unauthorized
	var f forbidden
	switch {
	case errors.As(err, &u) && u.Unauthorized():
		return ReasonTreasureUnauthorized
	case errors.As(err, &f) && f.Forbidden():
		return ReasonTreasureForbidden
	}
	return ""
}

// refused is the stall of a run whose credential was refused.
func refused(reason Reason, credential string, err error) *Stalled {
	return &Stalled{Reason: reason, Err: &CredentialError{Reason: reason, Credential: credential, Err: err}}
}

// warehouseWaitReason tells a starting warehouse, and one that did not
// start within its budget, from one that is unavailable.
func warehouseWaitReason(err error) Reason {
	var st interface {
		IsStarting() bool
		StartTimedOut() bool
	}
	if errors.As(err, &st) {
		switch {
		case st.StartTimedOut():
			return ReasonWarehouseStartTimeout
		case st.IsStarting():
			return ReasonWarehouseStarting
		}
	}
	return ReasonWarehouseDown
}

// temporary is implemented by adapter errors that pass by themselves.
type temporary interface{ Temporary() bool }

type retryDelay interface{ RetryDelay() time.Duration }

// temporaryOutcome returns the Waiting outcome of a Treasure failure that
// passes by itself.
func temporaryOutcome(err error) (*Waiting, bool) {
	var t temporary
	if !errors.As(err, &t) || !t.Temporary() {
		return nil, false
	}
	w := &Waiting{Reason: ReasonTreasureDown, Err: err}
	var d retryDelay
	if errors.As(err, &d) {
		w.RetryAfter = d.RetryDelay()
	}
	return w, true
}

// remoteOutcome classifies a failure to observe Treasure other than a
// refused key: every one waits, except a canceled run.
func remoteOutcome(err error) error {
	if w, ok := temporaryOutcome(err); ok {
		return w
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &Waiting{Reason: ReasonTreasureRefused, Err: err}
}
