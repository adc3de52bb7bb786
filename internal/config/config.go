package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Config is the reconciler's configuration file. Field meanings and defaults
// are documented in schemas/config/config.cue and docs/configuration.md.
type Config struct {
	// Listen is the HTTP listen address for /metrics, /healthz, /readyz,
	// /status, the API and webhooks.
	Listen string `json:"listen"`
	// APIToken, when set, is required as a bearer token by the POST API.
	APIToken *Secret `json:"apiToken"`
	Log      Log     `json:"log"`
	// Debug holds troubleshooting switches, all off by default.
	Debug Debug `json:"debug"`
	// Load bounds the loading of each source's CUE files.
	Load LoadLimits `json:"load"`
	// Sources are the git repositories to reconcile, one Treasure owner each.
	Sources    []Source   `json:"sources"`
	Treasure   Treasure   `json:"treasure"`
	Databricks Databricks `json:"databricks"`
	// Prune is the default delete policy of every source.
	Prune Prune `json:"prune"`
	// Drift is the default drift mode: "correct" or "report".
	Drift string `json:"drift"`
	// Population is the default population preview of every source.
	Population     Population     `json:"population"`
	FreezeWindows  []FreezeWindow `json:"freezeWindows"`
	Webhooks       Webhooks       `json:"webhooks"`
	LeaderElection LeaderElection `json:"leaderElection"`
	// CacheDir keeps bare git repositories and the suspensions made through
	// the API across restarts; memory when empty.
	CacheDir string `json:"cacheDir"`
	// Timezone evaluates schedules and freeze windows.
	Timezone string `json:"timezone"`

	// Location is Timezone loaded.
	Location *time.Location `json:"-"`
	// File is the path the configuration was read from.
	File string `json:"-"`
	// Unresolved are the parts whose secrets were checked for shape only
	// and not read (Options.Skip): their Value is empty. Zero when every
	// secret was read.
	Unresolved Uses `json:"-"`
}

// Uses names parts of the configuration by the secrets they hold, so that a
// command reads only the secrets it uses.
type Uses uint8

// Parts of the configuration holding secrets.
const (
	// UseTreasure is treasure.apiKey.
	UseTreasure Uses = 1 << iota
	// UseWarehouse is databricks.token or databricks.oauth.clientSecret.
	UseWarehouse
	// UseGit is the auth of every source: token, basic password, ssh
	// passphrase and the ssh key and known_hosts files.
	UseGit
	// UseServer is apiToken and the webhook secrets.
	UseServer

	// UseNone reads no secret: every reference is checked for shape only.
	UseNone Uses = 0
	// UseAll reads every secret.
	UseAll = UseTreasure | UseWarehouse | UseGit | UseServer
)

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `json:"level"`
	// Format is json or text.
	Format string `json:"format"`
}

// Debug holds troubleshooting switches.
type Debug struct {
	// Pprof serves the Go runtime profiles under /debug/pprof/ on the
	// listen address.
	Pprof bool `json:"pprof"`
}

// Source is one git repository (branch and directory) of CUE definitions.
type Source struct {
	Name     string   `json:"name"`
	URL      string   `json:"url"`
	Branch   string   `json:"branch"`
	Path     string   `json:"path"`
	Auth     *Auth    `json:"auth"`
	Schedule string   `json:"schedule"`
	Jitter   Duration `json:"jitter"`
	Suspend  bool     `json:"suspend"`
	// Owner is written in ownership markers; Name when empty.
	Owner string `json:"owner"`
	// Prune and Drift override the global settings when set.
	Prune *Prune `json:"prune"`
	Drift string `json:"drift"`
	// Population replaces the global population settings when set.
	Population *Population `json:"population"`
}

// OwnerName returns the owner written in ownership markers.
func (s *Source) OwnerName() string {
	if s.Owner != "" {
		return s.Owner
	}
	return s.Name
}

// Auth holds git credentials. At most one method is set.
type Auth struct {
	Token *Secret    `json:"token"`
	Basic *BasicAuth `json:"basic"`
	SSH   *SSHAuth   `json:"ssh"`
}

// BasicAuth is HTTPS basic authentication.
type BasicAuth struct {
	Username string  `json:"username"`
	Password *Secret `json:"password"`
}

// SSHAuth is SSH key authentication. The files are read at load time.
type SSHAuth struct {
	KeyFile        string  `json:"keyFile"`
	KnownHostsFile string  `json:"knownHostsFile"`
	Passphrase     *Secret `json:"passphrase"`
	User           string  `json:"user"`

	// Key and KnownHosts are the files' contents.
	Key        []byte `json:"-"`
	KnownHosts []byte `json:"-"`
}

// Treasure configures the Treasure Data client.
type Treasure struct {
	Region    string     `json:"region"`
	Endpoints *Endpoints `json:"endpoints"`
	APIKey    *Secret    `json:"apiKey"`
	RateLimit float64    `json:"rateLimit"`
	Burst     int        `json:"burst"`
	// RateMargin is the client's jitter allowance (treasure.Options.RateMargin).
	RateMargin Duration `json:"rateMargin"`
	// ParentCache reuses unchanged parent segments (nil: true).
	ParentCache *bool `json:"parentCache"`
	// ConnectionTTL is how long a resolved connection id is reused.
	ConnectionTTL Duration `json:"connectionTTL"`
	Concurrency   int      `json:"concurrency"`
	Timeout       Duration `json:"timeout"`
	MaxRetries    int      `json:"maxRetries"`
	// MaxResponseBytes bounds a response body (0: the client's default).
	MaxResponseBytes int64 `json:"maxResponseBytes"`
	// Principal is the user name Treasure Data records as the last updater
	// of the reconciler's own writes (the owner of APIKey); it tells drift
	// apart. Empty when unknown.
	Principal string `json:"principal"`
	// Wire overrides choices the public API documentation does not settle.
	Wire *Wire `json:"wire"`
}

// Wire holds the parts of Treasure Data's wire format that are not
// published for composable audiences: each empty field keeps the client's
// default (docs/treasure-api.md lists them and why they are what they are).
type Wire struct {
	// CASUploadPath is the path of the CAS configuration upload below the
	// CAS base URL.
	CASUploadPath string `json:"casUploadPath"`
	// SegmentType is the JSON:API type of composable segments.
	SegmentType string `json:"segmentType"`
	// SegmentFolderType is the type of a segment's parentFolder relationship.
	SegmentFolderType string `json:"segmentFolderType"`
	// FolderType is the type of folders and of their parent relationship.
	FolderType string `json:"folderType"`
	// MediaType is the Accept and Content-Type of the /entities endpoints.
	MediaType string `json:"mediaType"`
	// SyndicationsPath is the path of a segment's activations, with
	// {segment} for the segment id.
	SyndicationsPath string `json:"syndicationsPath"`
	// SyndicationColumns is how an exported column is sent: source or
	// plain.
	SyndicationColumns string `json:"syndicationColumns"`
}

// Endpoints override a region's base URLs.
type Endpoints struct {
	CDP     string `json:"cdp"`
	CAS     string `json:"cas"`
	Classic string `json:"classic"`
}

// Load bounds the loading of a repository's CUE files (internal/loadworker).
type LoadLimits struct {
	MaxFileBytes     int64    `json:"maxFileBytes"`
	MaxFiles         int      `json:"maxFiles"`
	MaxTotalBytes    int64    `json:"maxTotalBytes"`
	FileTimeout      Duration `json:"fileTimeout"`
	RunTimeout       Duration `json:"runTimeout"`
	MemoryLimitBytes int64    `json:"memoryLimitBytes"`
}

// Databricks configures the SQL warehouse client.
type Databricks struct {
	Host           string   `json:"host"`
	Port           int      `json:"port"`
	HTTPPath       string   `json:"httpPath"`
	Catalog        string   `json:"catalog"`
	Token          *Secret  `json:"token"`
	OAuth          *OAuth   `json:"oauth"`
	ConnectTimeout Duration `json:"connectTimeout"`
	QueryTimeout   Duration `json:"queryTimeout"`
	// StartTimeout is the start budget of a stopped warehouse; zero gives
	// up at the first HTTP 503.
	StartTimeout Duration `json:"startTimeout"`
	// Recheck is how long a passed check of a revision against the
	// warehouse stands: a run of the same, unchanged revision within it
	// sends the warehouse no statement. Zero checks on every run.
	Recheck         Duration `json:"recheck"`
	CheckUniqueness bool     `json:"checkUniqueness"`
	Insecure        bool     `json:"insecure"`
}

// OAuth is OAuth machine-to-machine authentication of a service principal.
type OAuth struct {
	ClientID     string  `json:"clientId"`
	ClientSecret *Secret `json:"clientSecret"`
	TokenURL     string  `json:"tokenUrl"`
}

// Population configures the population preview of plans.
type Population struct {
	Enabled bool `json:"enabled"`
	// Timeout bounds each counting statement.
	Timeout Duration `json:"timeout"`
	// MaxSegments caps the changed segments counted per run.
	MaxSegments int `json:"maxSegments"`
	// MaxChangePercent, when positive, holds the apply of a segment whose
	// population moves by more than this percentage.
	MaxChangePercent float64 `json:"maxChangePercent"`
}

// Prune bounds deletes.
type Prune struct {
	Enabled           bool `json:"enabled"`
	MaxDeletes        int  `json:"maxDeletes"`
	MaxDeletePercent  int  `json:"maxDeletePercent"`
	AllowEmpty        bool `json:"allowEmpty"`
	AllowParentDelete bool `json:"allowParentDelete"`
	// AllowParentReplace allows the full replace every parent segment
	// update is (new attribute and behavior ids).
	AllowParentReplace bool `json:"allowParentReplace"`
	// Protect lists objects that are never deleted. A source's list adds
	// to the global one.
	Protect []Protected `json:"protect"`
}

// Kinds of protected objects.
const (
	KindParent  = "parent"
	KindFolder  = "folder"
	KindSegment = "segment"
	// KindActivation is an activation, by parent, segment and name.
	KindActivation = "activation"
)

// Protected identifies one object that is never deleted: a parent segment
// (Kind "parent" and Name), a folder (Kind "folder", Parent and Path, the
// slash-separated path below the parent segment's root folder) or a
// segment (Kind "segment", Parent and Name).
type Protected struct {
	Kind   string `json:"kind"`
	Parent string `json:"parent,omitempty"`
	Name   string `json:"name,omitempty"`
	Path   string `json:"path,omitempty"`
	// Segment is the activated segment of an activation.
	Segment string `json:"segment,omitempty"`
}

// FreezeWindow holds applies from each time Start fires for Duration.
type FreezeWindow struct {
	Name     string   `json:"name"`
	Start    string   `json:"start"`
	Duration Duration `json:"duration"`
}

// Webhooks holds the secrets of the webhook providers; a provider is
// enabled only when its secret is set.
type Webhooks struct {
	GitHub       *Secret `json:"github"`
	GitLab       *Secret `json:"gitlab"`
	Generic      *Secret `json:"generic"`
	MaxBodyBytes int64   `json:"maxBodyBytes"`
}

// LeaderElection configures the Kubernetes Lease election.
type LeaderElection struct {
	Enabled       bool     `json:"enabled"`
	LeaseName     string   `json:"leaseName"`
	Namespace     string   `json:"namespace"`
	LeaseDuration Duration `json:"leaseDuration"`
	RenewDeadline Duration `json:"renewDeadline"`
	RetryPeriod   Duration `json:"retryPeriod"`
	// Shards is the number of shards the sources are split into, one
	// Lease each; 1 (the default) is a single leader.
	Shards int `json:"shards"`
	// ServiceAccountDir holds the token, ca.crt and namespace of the
	// service account; the standard mount path when empty.
	ServiceAccountDir string `json:"serviceAccountDir"`
}

// Secret is a value read from an environment variable or a file. Its
// String and MarshalJSON never reveal the value.
type Secret struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`

	value   string
	literal bool
}

// Value returns the secret, resolved at load time.
func (s *Secret) Value() string {
	if s == nil {
		return ""
	}
	return s.value
}

// NewSecret returns a resolved secret, for callers that build a Config in
// code (tests, the demo).
func NewSecret(env, value string) *Secret { return &Secret{Env: env, value: value} }

// String describes where the secret comes from, never its value.
func (s *Secret) String() string {
	switch {
	case s == nil:
		return "<none>"
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	}
	return "<redacted>"
}

// UnmarshalJSON accepts {"env": ...} or {"file": ...}; a plain string is
// remembered as a literal (without its value) so that the loader can refuse
// it.
func (s *Secret) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		*s = Secret{literal: true}
		return nil
	}
	type plain Secret
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Secret(p)
	return nil
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalJSON parses a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
