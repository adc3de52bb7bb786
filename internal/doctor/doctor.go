// Package doctor checks that the reconciler can work against a Treasure Data
// account and a Databricks warehouse before the daemon is turned on.
//
// Run is read-only: it checks the API key (valid, and a master key), the
// connections, the parent segments and which optional fields Treasure
// answered for them (the fallbacks in force), the warehouse and the
// privileges of its principal on the parent segments' tables. Sandbox adds a
// round trip of writes in a folder of its own, owned by Owner, and always
// removes what it made.
//
// Every check is a Check with a typed Reason; a Report renders as text or
// JSON.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/treasure"
)

// Owner is the owner named in the ownership markers of the sandbox's
// objects; leftovers of an interrupted sandbox are found by it.
const Owner = "doctor"

// Status is a check's outcome.
type Status string

// Statuses.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Reason says why a check did not pass (or what a warning is about). The
// set is closed.
type Reason string

// Reasons.
const (
	ReasonNone Reason = ""
	// ReasonBadKey: the API key is missing, unknown or revoked (401).
	ReasonBadKey Reason = "bad_key"
	// ReasonNotMaster: the key is refused on the CDP API (403): a
	// write-only key, or a user without the permissions.
	ReasonNotMaster Reason = "not_master"
	// ReasonNotFound: the named object does not exist.
	ReasonNotFound Reason = "not_found"
	// ReasonUnreachable: no answer, server errors or rate limits.
	ReasonUnreachable Reason = "unreachable"
	// ReasonCanceled: interrupted or out of time.
	ReasonCanceled Reason = "canceled"
	// ReasonUnknownFields: Treasure left out optional fields; the listed
	// fallbacks are in force.
	ReasonUnknownFields Reason = "unknown_fields"
	// ReasonNoAccess: the warehouse principal lacks privileges on a table.
	ReasonNoAccess Reason = "no_access"
	// ReasonNotConfigured: nothing to check (no warehouse configured, no
	// connection named, an earlier check failed).
	ReasonNotConfigured Reason = "not_configured"
	// ReasonRefused: Treasure refused a sandbox write.
	ReasonRefused Reason = "refused"
	// ReasonPlanNotEmpty: the plan right after a write was not
	// "No changes.".
	ReasonPlanNotEmpty Reason = "plan_not_empty"
	// ReasonLeftovers: objects of an earlier interrupted sandbox were found
	// (and removed).
	ReasonLeftovers Reason = "leftovers"
	// ReasonCleanupFailed: the sandbox could not remove what it made.
	ReasonCleanupFailed Reason = "cleanup_failed"
)

// Check is the result of one check.
type Check struct {
	// Name identifies the check: "treasure.key", "parent:<name>", ...
	Name   string `json:"name"`
	Status Status `json:"status"`
	Reason Reason `json:"reason,omitempty"`
	// Detail is for people; never parsed.
	Detail string `json:"detail,omitempty"`
}

// Report is the outcome of a doctor run.
type Report struct {
	Checks []Check `json:"checks"`
}

func (r *Report) add(c Check) Check {
	r.Checks = append(r.Checks, c)
	return c
}

// Failed reports whether a check failed.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Status == Fail })
}

// Check returns the check called name.
func (r *Report) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// WriteText writes one line per check and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	counts := map[Status]int{}
	for _, c := range r.Checks {
		counts[c.Status]++
		line := fmt.Sprintf("%-4s  %s", strings.ToUpper(string(c.Status)), c.Name)
		if c.Reason != "" {
			line += " (" + string(c.Reason) + ")"
		}
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d ok, %d warnings, %d failed, %d skipped\n", counts[OK], counts[Warn], counts[Fail], counts[Skip])
	return err
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	out := struct {
		OK     bool    `json:"ok"`
		Checks []Check `json:"checks"`
	}{OK: !r.Failed(), Checks: r.Checks}
	if out.Checks == nil {
		out.Checks = []Check{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// Treasure is what the read-only checks use of Treasure Data.
type Treasure interface {
	ParentNames(ctx context.Context) ([]string, error)
	LookupParent(ctx context.Context, name string) (*segment.Parent, error)
	ResolveConnection(ctx context.Context, name string) (string, error)
}

// Warehouse is what the warehouse checks use: the snapshot the validation
// takes (it connects, asks for current_user() and checks privileges).
type Warehouse interface {
	Snapshot(ctx context.Context, tables []segment.Table) (*catalog.Catalog, error)
}

// Options configure Run.
type Options struct {
	// Parents are the parent segments to check; empty checks every parent
	// segment the key may see.
	Parents []string
	// Connections are connection names to resolve.
	Connections []string
	// Warehouse is nil when none is configured.
	Warehouse Warehouse
	// WarehouseTimeout bounds the warehouse checks (a cold start included);
	// zero leaves it to the client's own timeouts.
	WarehouseTimeout time.Duration
	// Progress receives progress lines while waiting (nil discards them).
	Progress io.Writer
	// ProgressEvery is the interval of the "still waiting" lines (default
	// 10s).
	ProgressEvery time.Duration
}

// Run runs the read-only checks. It returns the parents it could read, for
// Sandbox.
func Run(ctx context.Context, td Treasure, o Options, r *Report) []*segment.Parent {
	names, err := td.ParentNames(ctx)
	if err != nil {
		r.add(fromError("treasure.key", err))
		r.add(Check{Name: "treasure.parents", Status: Skip, Reason: ReasonNotConfigured, Detail: "the API key check failed"})
		checkWarehouse(ctx, o, nil, r)
		return nil
	}
	r.add(Check{Name: "treasure.key", Status: OK, Detail: fmt.Sprintf("valid and allowed on the CDP API (%d parent segments visible)", len(names))})

	for _, c := range o.Connections {
		name := "connection:" + c
		id, err := td.ResolveConnection(ctx, c)
		if err != nil {
			r.add(fromError(name, err))
			continue
		}
		r.add(Check{Name: name, Status: OK, Detail: "id " + id})
	}

	want := o.Parents
	if len(want) == 0 {
		want = names
	}
	var parents []*segment.Parent
	for _, n := range want {
		name := "parent:" + n
		p, err := td.LookupParent(ctx, n)
		switch {
		case err != nil:
			r.add(fromError(name, err))
			continue
		case p == nil:
			r.add(Check{Name: name, Status: Fail, Reason: ReasonNotFound, Detail: "no parent segment of this name is visible to the key"})
			continue
		}
		parents = append(parents, p)
		r.add(Check{Name: name, Status: OK, Detail: fmt.Sprintf("id %s, root folder %s, %d attributes, %d behaviors",
			p.Meta.ID, p.RootFolderID, len(p.Attributes), len(p.Behaviors))})
		unknown := slices.Clone(p.Meta.Unknown)
		sort.Strings(unknown)
		if len(unknown) == 0 {
			r.add(Check{Name: name + ":fields", Status: OK, Detail: "Treasure returned every field the reconciler writes"})
		} else {
			r.add(Check{Name: name + ":fields", Status: Warn, Reason: ReasonUnknownFields,
				Detail: "not returned, so not compared (the written value is trusted): " + strings.Join(unknown, ", ")})
		}
	}
	checkWarehouse(ctx, o, parents, r)
	return parents
}

// tables lists the warehouse tables of parents.
func tables(parents []*segment.Parent) []segment.Table {
	var out []segment.Table
	seen := map[segment.Table]bool{}
	add := func(t segment.Table) {
		if t.Table != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, p := range parents {
		add(p.Customers.Table)
		for _, a := range p.Attributes {
			if a.Join != nil {
				add(a.Join.Table)
			}
		}
		for _, b := range p.Behaviors {
			add(b.Table)
		}
	}
	return out
}

func checkWarehouse(ctx context.Context, o Options, parents []*segment.Parent, r *Report) {
	if o.Warehouse == nil {
		r.add(Check{Name: "warehouse", Status: Skip, Reason: ReasonNotConfigured, Detail: "no warehouse configured"})
		return
	}
	if o.WarehouseTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.WarehouseTimeout)
		defer cancel()
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	every := o.ProgressEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	fmt.Fprintln(progress, "connecting to the warehouse (a stopped warehouse takes a while to start)...")
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		waited := time.Duration(0)
		for {
			select {
			case <-done:
				return
			case <-t.C:
				waited += every
				fmt.Fprintf(progress, "still waiting for the warehouse (%s)...\n", waited)
			}
		}
	}()
	ts := tables(parents)
	cat, err := o.Warehouse.Snapshot(ctx, ts)
	close(done)
	<-stopped
	if err != nil {
		reason := ReasonUnreachable
		if ctx.Err() != nil {
			reason = ReasonCanceled
		}
		r.add(Check{Name: "warehouse", Status: Fail, Reason: reason, Detail: err.Error()})
		return
	}
	r.add(Check{Name: "warehouse", Status: OK, Detail: "connected as " + cat.Principal})
	if len(ts) == 0 {
		r.add(Check{Name: "warehouse.privileges", Status: Skip, Reason: ReasonNotConfigured, Detail: "no parent segment tables to check"})
		return
	}
	var missing []string
	for _, t := range ts {
		tab := cat.Tables[catalog.Key(t)]
		switch {
		case tab == nil:
			missing = append(missing, t.String()+": not checked")
		case tab.Access.NotFound || (!tab.Found && len(tab.Access.Missing) == 0):
			missing = append(missing, t.String()+": not found")
		case len(tab.Access.Missing) > 0:
			missing = append(missing, t.String()+": lacks "+strings.Join(tab.Access.Missing, ", "))
		}
	}
	if len(missing) > 0 {
		r.add(Check{Name: "warehouse.privileges", Status: Fail, Reason: ReasonNoAccess,
			Detail: cat.Principal + ": " + strings.Join(missing, "; ")})
		return
	}
	r.add(Check{Name: "warehouse.privileges", Status: OK,
		Detail: fmt.Sprintf("%s may read all %d tables of the parent segments", cat.Principal, len(ts))})
}

// fromError turns a Treasure error into a failed check.
func fromError(name string, err error) Check {
	c := Check{Name: name, Status: Fail, Reason: ReasonUnreachable, Detail: err.Error()}
	switch treasure.ReasonOf(err) {
	case treasure.ReasonAuth:
		c.Reason, c.Detail = ReasonBadKey, "the API key is not valid (missing, unknown or revoked): "+err.Error()
	case treasure.ReasonForbidden:
		c.Reason, c.Detail = ReasonNotMaster, "the API key is refused on the CDP API; a master key is needed (write-only keys only import data): "+err.Error()
	case treasure.ReasonNotFound:
		c.Reason = ReasonNotFound
	case treasure.ReasonCanceled:
		c.Reason = ReasonCanceled
	case treasure.ReasonConflict, treasure.ReasonValidation:
		c.Reason = ReasonRefused
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		c.Reason = ReasonCanceled
	}
	return c
}
