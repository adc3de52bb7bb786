package treasure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/internal/version"
)

// Region is a Treasure Data site.
type Region struct {
	// CDP is the CDP API base URL (api-cdp).
	CDP string
	// CAS is the base URL of the CAS configuration upload (api-cas).
	CAS string
	// Classic is the classic API base URL (api), without /v3.
	Classic string
}

// Regions maps the site codes to their base URLs. us01, jp01 and eu01 are
// documented for all three hosts; the api-cas hosts of ap02 and ap03 and
// the classic host of ap03 follow the naming pattern and are not confirmed
// by the public documentation.
var Regions = map[string]Region{
	"us01": {CDP: "https://api-cdp.treasuredata.com", CAS: "https://api-cas.treasuredata.com", Classic: "https://api.treasuredata.com"},
	"jp01": {CDP: "https://api-cdp.treasuredata.co.jp", CAS: "https://api-cas.treasuredata.co.jp", Classic: "https://api.treasuredata.co.jp"},
	"eu01": {CDP: "https://api-cdp.eu01.treasuredata.com", CAS: "https://api-cas.eu01.treasuredata.com", Classic: "https://api.eu01.treasuredata.com"},
	"ap02": {CDP: "https://api-cdp.ap02.treasuredata.com", CAS: "https://api-cas.ap02.treasuredata.com", Classic: "https://api.ap02.treasuredata.com"},
	"ap03": {CDP: "https://api-cdp.ap03.treasuredata.com", CAS: "https://api-cas.ap03.treasuredata.com", Classic: "https://api.ap03.treasuredata.com"},
}

// DefaultCASUploadPath is the documented path of the CAS configuration
// upload. Newer documentation calls the step "via CDP API" without showing
// the path; set Options.CASURL to the CDP base URL (and, if needed,
// Options.CASUploadPath) to use that instead.
const DefaultCASUploadPath = "/composable_audiences"

// Defaults of the JSON:API type names (Options.SegmentType,
// SegmentFolderType, FolderType). None of them is published for composable
// segments; see docs/treasure-api.md.
const (
	DefaultSegmentType       = "composable-segment"
	DefaultSegmentFolderType = "folder"
	DefaultFolderType        = "folder-segment"
)

// DefaultSyndicationsPath is the published JSON:API path of a segment's
// activations; {segment} stands for the segment id.
const DefaultSyndicationsPath = "/entities/segments/{segment}/syndications"

// Options configure a Client. Zero values take the documented defaults.
type Options struct {
	// APIKey is the Treasure Data master API key, sent as "TD1 <key>".
	APIKey string
	// Region is the site code: us01 (default), jp01, eu01, ap02 or ap03.
	Region string
	// CDPURL, CASURL and ClassicURL override the region's base URLs.
	CDPURL, CASURL, ClassicURL string
	// CASUploadPath is the path of the configuration upload below CASURL;
	// default DefaultCASUploadPath.
	CASUploadPath string
	// Owner names the source in the ownership marker written on every
	// object ([managed-by: cas-reconciler source=<Owner>]). Required;
	// letters, digits and . _ - / only.
	Owner string

	// HTTPClient sends the requests; default a client without timeout (the
	// per-attempt Timeout applies). Wrap its Transport to instrument it.
	HTTPClient *http.Client
	// Timeout bounds one HTTP attempt; default 60s.
	Timeout time.Duration
	// UserAgent is sent with every request; default version.UserAgent().
	UserAgent string

	// RateLimit is the client-side request rate in requests per second;
	// default 2. Negative disables the limit.
	RateLimit float64
	// Burst is the token bucket size; default 2.
	Burst int
	// RateMargin is how much earlier than its place in the schedule a
	// request may reach Treasure (latency jitter, scheduling, clock rate)
	// without being refused by a server that enforces RateLimit and Burst
	// exactly; default 100ms, negative none. It costs RateLimit*RateMargin
	// of the burst (0.2 of a token at 2 requests/s); when less than one
	// token would be left, the rate is lowered instead. The bucket starts
	// empty, and a 429 empties it.
	RateMargin time.Duration
	// MaxConcurrent caps requests in flight; default 4.
	MaxConcurrent int
	// MaxRetries is how many times a failed request is retried; default 8.
	// Negative disables retries.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the exponential backoff; defaults 1s
	// and 60s. Retry-After overrides the backoff (capped at MaxRetryAfter).
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps an honoured Retry-After; default 5m. A longer
	// Retry-After ends the retries with a rate_limited error.
	MaxRetryAfter time.Duration

	// Now is the clock; default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends; default a timer. Tests inject fake
	// time here (backoff and rate limiting both sleep through it).
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1) for backoff jitter; default
	// math/rand/v2.
	Jitter func() float64

	// Observer, when set, is called after every HTTP exchange with a bounded
	// endpoint name ("audiences", "cas_upload", "connections", "folders",
	// "by_folder", "parent_segments", "segments", "syndications"), the method, the status (0
	// when no answer arrived) and the duration.
	Observer func(endpoint, method string, code int, d time.Duration)
	// Logger receives debug lines about retries; default discards.
	Logger *slog.Logger

	// SegmentType is the JSON:API type of segments; default
	// "composable-segment" (the composable schema; classic parent segments
	// use "segment-batch").
	SegmentType string
	// SegmentFolderType is the type of a segment's parentFolder
	// relationship; default "folder" (the composable create schema; classic
	// segments use "folder-segment").
	SegmentFolderType string
	// FolderType is the JSON:API type of folders and of their parentFolder
	// relationship; default "folder-segment".
	FolderType string
	// MediaType is the Accept and Content-Type of the /entities (JSON:API)
	// endpoints; default JSONAPIMediaType.
	MediaType string
	// SyndicationsPath is the path of a segment's activations, with
	// {segment} standing for the segment id; default
	// DefaultSyndicationsPath (the published JSON:API path, not published
	// for composable segments).
	SyndicationsPath string
	// SyndicationColumns is how an exported column is sent: "source"
	// (default: {column, source: {column}}) or "plain" ({column}). The
	// published schema does not describe source.
	SyndicationColumns string
	// ByFolderDepth is the depth of one by-folder listing; default 20.
	// Deeper trees are listed with further requests.
	ByFolderDepth int
	// DisableParentCache makes every Observe read every parent segment
	// with GET /audiences/{id}. By default Observe uses the parent segment
	// it read in an earlier run while the updatedAt that GET /audiences
	// lists for it is unchanged (and it was not written since), saving one
	// request per parent and run.
	DisableParentCache bool
	// ConnectionTTL is how long ResolveConnection reuses a connection id
	// it resolved by name; default 10m, negative never.
	ConnectionTTL time.Duration
	// LookupEnv and ReadFile read the secrets of activation connector
	// settings written as {env} and {file}; defaults os.LookupEnv and
	// os.ReadFile. Values are read when an activation is written and
	// never kept, logged or put in errors.
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
	// RuleCacheFile, when set, keeps the cache of segment rules across
	// restarts: loaded in the background from New (Observe waits for it),
	// saved after an Observe that changed it (the changed rules appended
	// as one checksummed line; a new file renamed over the old one when
	// the appended lines grow past a quarter of the rules, or one is
	// damaged). An entry is used only while the
	// segment's updatedAt is the one saved with it; a file that is
	// corrupt, of another version, or written for another CDPURL or Owner
	// is ignored (every rule is read again). The file holds rules, never
	// the API key.
	RuleCacheFile string
	// MaxResponseBytes bounds a successful response body; default
	// DefaultMaxResponseBytes. The by-folder listing of a parent segment,
	// which is not paginated, is the largest: about 0.5 KiB per segment.
	MaxResponseBytes int64
}

// DefaultConnectionTTL is the default of Options.ConnectionTTL.
const DefaultConnectionTTL = 10 * time.Minute

// DefaultRateMargin is the default of Options.RateMargin.
const DefaultRateMargin = 100 * time.Millisecond

// DefaultMaxResponseBytes is the default of Options.MaxResponseBytes,
// room for listings of about 200,000 segments.
const DefaultMaxResponseBytes = 128 << 20

var ownerRE = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// withDefaults validates o and fills defaults.
func (o Options) withDefaults() (Options, error) {
	if err := o.endpointDefaults(); err != nil {
		return o, err
	}
	o.transportDefaults()
	o.retryDefaults()
	o.processDefaults()
	if err := o.wireDefaults(); err != nil {
		return o, err
	}
	return o, nil
}

// endpointDefaults checks the key and the owner and fills the base URLs of
// the region and the CAS upload path.
func (o *Options) endpointDefaults() error {
	if o.APIKey == "" {
		return errors.New("treasure: Options.APIKey is required")
	}
	if !ownerRE.MatchString(o.Owner) {
		return fmt.Errorf("treasure: Options.Owner %q must be non-empty and use only letters, digits and . _ - /", o.Owner)
	}
	if o.Region == "" {
		o.Region = "us01"
	}
	reg, ok := Regions[strings.ToLower(o.Region)]
	if !ok && (o.CDPURL == "" || o.CASURL == "" || o.ClassicURL == "") {
		return fmt.Errorf("treasure: unknown Options.Region %q (us01, jp01, eu01, ap02, ap03)", o.Region)
	}
	pick := func(v, d string) string {
		if v == "" {
			v = d
		}
		return strings.TrimRight(v, "/")
	}
	o.CDPURL, o.CASURL, o.ClassicURL = pick(o.CDPURL, reg.CDP), pick(o.CASURL, reg.CAS), pick(o.ClassicURL, reg.Classic)
	if o.CASUploadPath == "" {
		o.CASUploadPath = DefaultCASUploadPath
	}
	if !strings.HasPrefix(o.CASUploadPath, "/") {
		o.CASUploadPath = "/" + o.CASUploadPath
	}
	return nil
}

// transportDefaults fills the HTTP client, its bounds and the user agent.
func (o *Options) transportDefaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = version.UserAgent()
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.ConnectionTTL == 0 {
		o.ConnectionTTL = DefaultConnectionTTL
	}
}

// retryDefaults fills the rate limit, the concurrency and the retry
// schedule.
func (o *Options) retryDefaults() {
	if o.RateLimit == 0 {
		o.RateLimit = 2
	}
	if o.Burst <= 0 {
		o.Burst = 2
	}
	if o.RateMargin == 0 {
		o.RateMargin = DefaultRateMargin
	}
	if o.RateMargin < 0 {
		o.RateMargin = 0
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 4
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 8
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 5 * time.Minute
	}
}

// processDefaults fills what the client takes from the process: the clock,
// sleeping, randomness, the logger, the environment and files.
func (o *Options) processDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
}

// wireDefaults fills and checks the parts of the wire format that are not
// published (see docs/treasure-api.md).
func (o *Options) wireDefaults() error {
	if o.SegmentType == "" {
		o.SegmentType = DefaultSegmentType
	}
	if o.SegmentFolderType == "" {
		o.SegmentFolderType = DefaultSegmentFolderType
	}
	if o.FolderType == "" {
		o.FolderType = DefaultFolderType
	}
	if o.MediaType == "" {
		o.MediaType = JSONAPIMediaType
	}
	if o.SyndicationsPath == "" {
		o.SyndicationsPath = DefaultSyndicationsPath
	}
	if !strings.Contains(o.SyndicationsPath, "{segment}") || !strings.HasPrefix(o.SyndicationsPath, "/") {
		return fmt.Errorf("treasure: Options.SyndicationsPath %q must start with / and contain {segment}", o.SyndicationsPath)
	}
	switch o.SyndicationColumns {
	case "":
		o.SyndicationColumns = "source"
	case "source", "plain":
	default:
		return fmt.Errorf("treasure: Options.SyndicationColumns %q is neither source nor plain", o.SyndicationColumns)
	}
	if o.ByFolderDepth <= 0 {
		o.ByFolderDepth = 20
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
