package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Activations are planned per segment that manages them
// (Segment.HasActivations on the desired side): each declared activation
// is created, updated or left as it is, and each activation of the
// reconciler that the segment no longer declares is deleted under the
// prune rules. A segment that does not declare activations has its
// activations left alone; a deleted segment takes its activations with it.
// Activations are applied after every segment, and their deletes come
// before any other delete.

// Levels of activations: after every segment create or update, and their
// deletes before those of segments.
const (
	levelActivation       = 4000
	levelDeleteActivation = 4500
)

// Activations returns Before and After of an activation change, nil where
// absent or of another kind.
func (c *Change) Activations() (before, after *segment.Activation) {
	before, _ = c.Before.(*segment.Activation)
	after, _ = c.After.(*segment.Activation)
	return before, after
}

func (c *computer) activations(desired, observed segment.State) {
	obs := map[segment.Key]*segment.Segment{}
	for i := range observed.Segments {
		obs[observed.Segments[i].Key()] = &observed.Segments[i]
	}
	for i := range desired.Segments {
		d := &desired.Segments[i]
		if !d.HasActivations {
			continue
		}
		o := obs[d.Key()]
		var observedActs map[string]*segment.Activation
		segConflict := ""
		if o != nil {
			if _, conflict, _ := c.ownership(o.Meta, d.Lifecycle); conflict != "" {
				segConflict = "its segment is not managed by the reconciler"
			}
			observedActs = map[string]*segment.Activation{}
			for j := range o.Activations {
				a := o.Activations[j]
				// Under the segment's desired name (renames).
				a.Parent, a.Segment = d.Parent, d.Name
				observedActs[a.Name] = &a
			}
		}
		want := map[string]bool{}
		for j := range d.Activations {
			a := &d.Activations[j]
			want[a.Name] = true
			ch := Change{Kind: KindActivation, Key: a.Key(), After: a, Level: levelActivation,
				DependsOn: []string{Ref(KindSegment, d.Key())}}
			if segConflict != "" {
				ch.Action, ch.Reason, ch.ConflictBy = Conflict, segConflict, ConflictUnowned
				c.add(ch)
				continue
			}
			ob, ok := observedActs[a.Name]
			var meta segment.Meta
			if ok {
				meta = ob.Meta
			}
			adopt, settled := c.match(&ch, ok, ob, meta, a.Lifecycle)
			if settled {
				continue
			}
			ch.Diff = append(activationDiff(ob, a), c.takeover(ob.Meta, adopt)...)
			c.updateOrNoOp(&ch, adopt, ob.Meta, ob)
			c.add(ch)
		}
		if segConflict != "" {
			continue
		}
		names := make([]string, 0, len(observedActs))
		for n := range observedActs {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			ob := observedActs[n]
			if want[n] || !c.owned(ob.Meta) {
				continue
			}
			c.add(Change{Action: Delete, Kind: KindActivation, Key: ob.Key(), ID: ob.Meta.ID, Before: ob,
				Level: levelDeleteActivation, DependsOn: []string{Ref(KindSegment, d.Key())}})
		}
	}
}

// activationFields renders what the plan compares of an activation.
// Connector settings written as references (every secret) are write-only:
// Treasure's copy is never read, so they are not compared.
func activationFields(a *segment.Activation, withConnection bool) map[string]string {
	sc := a.Schedule
	every := sc.Every
	switch {
	case sc.Repeat == segment.RepeatNone || sc.Repeat == segment.RepeatOnce:
		every = 0
	case every == 0:
		every = 1
	}
	cols := "(all attributes)"
	if !a.AllColumns {
		cols = strings.Join(a.Columns, ", ")
	}
	days := make([]string, len(sc.Weekdays))
	for i, d := range sc.Weekdays {
		days[i] = strconv.Itoa(d)
	}
	m := map[string]string{
		"description":       normDescription(a.Description),
		"columns":           cols,
		"schedule.repeat":   sc.Repeat,
		"schedule.every":    strconv.Itoa(every),
		"schedule.weekdays": strings.Join(days, ", "),
		"schedule.startAt":  sc.StartAt,
		"schedule.endOn":    sc.EndOn,
		"schedule.timezone": sc.Timezone,
		"notify.on":         strings.Join(a.Notify.On, ", "),
		"notify.recipients": strings.Join(a.Notify.Recipients, ", "),
	}
	if withConnection {
		m["connection"] = "id " + a.ConnectionID
	}
	for k, v := range a.ConnectorConfig {
		if v.IsRef() || segment.SecretKey(k) {
			continue
		}
		m["connectorConfig."+k] = canonicalJSON(v.Value)
	}
	return m
}

func canonicalJSON(s string) string {
	v, err := decodeNumbers([]byte(s))
	if err != nil {
		return s
	}
	return encodeCanonical(v)
}

func activationDiff(o, d *segment.Activation) []FieldDiff {
	before, after := activationFields(o, false), activationFields(d, false)
	// Keys written as references on the desired side are not compared;
	// neither are their observed values.
	for k, v := range d.ConnectorConfig {
		if v.IsRef() {
			delete(before, "connectorConfig."+k)
		}
	}
	if !o.Meta.Known("description") {
		before["description"] = after["description"]
	}
	out := diffFields(before, after)
	if cd := activationConnectionDiff(d, o); cd != nil {
		out = append([]FieldDiff{*cd}, out...)
	}
	return out
}

// activationConnectionDiff compares connections by id when both are
// known, by name otherwise.
func activationConnectionDiff(d, o *segment.Activation) *FieldDiff {
	switch {
	case d.ConnectionID != "" && o.ConnectionID != "":
		if d.ConnectionID == o.ConnectionID {
			return nil
		}
		before := "id " + o.ConnectionID
		if o.Connection != "" {
			before = o.Connection + " (id " + o.ConnectionID + ")"
		}
		return &FieldDiff{Path: "connection", Before: before, After: d.Connection + " (id " + d.ConnectionID + ")"}
	case o.Connection != "" && o.Connection != d.Connection:
		return &FieldDiff{Path: "connection", Before: o.Connection, After: d.Connection}
	}
	return nil
}

// activationSummary renders the fields of a created or deleted activation.
func activationSummary(a *segment.Activation) []string {
	lines := []string{"segment: " + strconv.Quote(a.Segment)}
	if a.Connection != "" {
		lines = append(lines, "connection: "+strconv.Quote(a.Connection))
	} else if a.ConnectionID != "" {
		lines = append(lines, "connection: id "+a.ConnectionID)
	}
	f := activationFields(a, false)
	keys := make([]string, 0, len(f))
	for k, v := range f {
		if v != "" && !(k == "schedule.every" && v == "0") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		lines = append(lines, k+": "+f[k])
	}
	for _, k := range a.ConfigKeys() {
		v := a.ConnectorConfig[k]
		switch {
		case v.Env != "":
			lines = append(lines, fmt.Sprintf("connectorConfig.%s: (from environment variable %s)", k, v.Env))
		case v.File != "":
			lines = append(lines, fmt.Sprintf("connectorConfig.%s: (from file %s)", k, v.File))
		}
	}
	return lines
}
