package segment

import (
	"regexp"
	"slices"
)

// Activation is an activation (a "syndication" in Treasure's API) of a
// segment: the segment's profiles exported through a Treasure connection on
// a schedule.
type Activation struct {
	// Parent and Segment name the parent segment and the activated segment.
	Parent  string `json:"-"`
	Segment string `json:"-"`
	// Name is the activation's name, unique within its segment.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Connection is the name of the Treasure connection (Integration Hub
	// authentication) the profiles are exported through. It is resolved to
	// ConnectionID before planning.
	Connection string `json:"connection"`
	// ConnectionID is Treasure's id of Connection: as observed, or, on
	// desired values, as resolved from Connection (empty when not resolved).
	ConnectionID string `json:"-"`
	// AllColumns exports every attribute of the parent segment; otherwise
	// Columns lists the attributes exported.
	AllColumns bool     `json:"allColumns,omitempty"`
	Columns    []string `json:"columns,omitempty"`
	Schedule   Schedule `json:"schedule"`
	// ConnectorConfig holds the connector's settings, by key.
	ConnectorConfig map[string]ConfigValue `json:"connectorConfig,omitempty"`
	Notify          Notify                 `json:"notify,omitzero"`
	Lifecycle       Lifecycle              `json:"lifecycle,omitzero"`

	// SegmentID is the id of the activated segment; only set on observed
	// values.
	SegmentID string `json:"-"`
	Meta      Meta   `json:"-"`
	Origin    Origin `json:"-"`
}

// Repeat units of a schedule, as Treasure's repeatUnit names them.
const (
	RepeatNone   = "none"
	RepeatMinute = "minute"
	RepeatHour   = "hour"
	RepeatDay    = "day"
	RepeatWeek   = "week"
	RepeatMonth  = "month"
	RepeatOnce   = "once"
)

// RepeatUnits lists every repeat unit.
var RepeatUnits = []string{RepeatNone, RepeatMinute, RepeatHour, RepeatDay, RepeatWeek, RepeatMonth, RepeatOnce}

// Schedule is when an activation runs.
type Schedule struct {
	// Repeat is the repeat unit (RepeatUnits); "none" runs only on demand.
	Repeat string `json:"repeat"`
	// Every is the repeat frequency: every N units (default 1).
	Every int `json:"every,omitempty"`
	// Weekdays are the days of a weekly schedule, 1 = Monday … 7 = Sunday.
	Weekdays []int `json:"weekdays,omitempty"`
	// StartAt is the first run, "YYYY-MM-DDThh:mm:ss" in Timezone.
	StartAt string `json:"startAt,omitempty"`
	// EndOn is the last day of the schedule, "YYYY-MM-DD".
	EndOn    string `json:"endOn,omitempty"`
	Timezone string `json:"timezone,omitempty"`
}

// Notify says whom to tell about runs.
type Notify struct {
	// On lists the events: "onSuccess", "onFailure".
	On []string `json:"on,omitempty"`
	// Recipients are Treasure user ids that receive e-mail.
	Recipients []string `json:"recipients,omitempty"`
}

// IsZero reports whether nothing is set.
func (n Notify) IsZero() bool { return len(n.On) == 0 && len(n.Recipients) == 0 }

// ConfigValue is one connector setting: a literal JSON value, or a
// reference to a secret read at apply time from an environment variable
// (Env) or a file (File). Exactly one of the three is set on desired
// values; observed values carry only Value.
type ConfigValue struct {
	// Value is the literal value as JSON.
	Value string `json:"value,omitempty"`
	Env   string `json:"env,omitempty"`
	File  string `json:"file,omitempty"`
	// Hidden, on observed values, marks a setting that holds a secret:
	// Treasure has a value, which is never read.
	Hidden bool `json:"-"`
}

// IsRef reports whether the value is a secret reference.
func (v ConfigValue) IsRef() bool { return v.Env != "" || v.File != "" }

// secretKeyRE matches the connector setting names that hold secrets.
var secretKeyRE = regexp.MustCompile(`(?i)(secret|password|passwd|token|credential|private|api[_-]?key|access[_-]?key)`)

// SecretKey reports whether a connector setting of this name holds a
// secret: its name contains secret, password, passwd, token, credential,
// private, api_key or access_key (in any case, with _ or - or
// nothing between api/access and key). Such a setting may only be written
// as a reference ({env} or {file}); its value is never read back, shown or
// compared.
func SecretKey(name string) bool { return secretKeyRE.MatchString(name) }

// Key returns the activation's identity: parent segment, and segment and
// activation name joined by " → ".
func (a *Activation) Key() Key { return Key{Parent: a.Parent, Name: ActivationName(a.Segment, a.Name)} }

// SegmentKey returns the identity of the activated segment.
func (a *Activation) SegmentKey() Key { return Key{Parent: a.Parent, Name: a.Segment} }

// ActivationName joins a segment name and an activation name as plans show
// them.
func ActivationName(segment, name string) string { return segment + " → " + name }

// ConfigKeys returns the connector setting names in order.
func (a *Activation) ConfigKeys() []string {
	keys := make([]string, 0, len(a.ConnectorConfig))
	for k := range a.ConnectorConfig {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ActivationsWanted selects the observed segments whose activations are
// read: those st (the desired state) declares with activations (even
// none), under their name or one of their earlier names (renamedFrom).
// Other segments' activations are not managed and cost no request.
func (st State) ActivationsWanted() func(*Segment) bool {
	want := map[Key]bool{}
	for _, s := range st.Segments {
		if !s.HasActivations {
			continue
		}
		want[s.Key()] = true
		for _, old := range s.RenamedFrom {
			want[Key{Parent: s.Parent, Name: old}] = true
		}
	}
	return func(s *Segment) bool { return want[s.Key()] }
}
