package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/validate"
)

// Warehouse connection settings come from flags and the environment:
//
//	DATABRICKS_HOST       workspace host, optionally with https:// or http:// and :port
//	DATABRICKS_HTTP_PATH  warehouse path, /sql/1.0/warehouses/<id>
//	DATABRICKS_TOKEN      personal access token, or
//	DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET
//	                      OAuth machine-to-machine credentials of a service principal
//	DATABRICKS_TOKEN_URL  OAuth token endpoint (default https://<host>/oidc/v1/token)
//
// Secrets are never flag values: --token-file and --client-secret-file
// read them from files instead.

// warehouseFlags registers the flags of the warehouse checks of validate and
// returns the check to run after the CUE files are loaded; the check returns
// the state with types filled from the warehouse and its diagnostics.
func warehouseFlags(fs *flag.FlagSet, stderr io.Writer) func(ctx context.Context, st segment.State) (segment.State, diag.Diagnostics, error) {
	enabled := fs.Bool("warehouse", false, "also check the definitions against live warehouse metadata (Unity Catalog)")
	host := fs.String("warehouse-host", "", "warehouse `host`, optionally with :port (default 443) and an https:// or http:// scheme (default $DATABRICKS_HOST)")
	httpPath := fs.String("warehouse-http-path", "", "warehouse HTTP `path` (default $DATABRICKS_HTTP_PATH)")
	insecure := fs.Bool("warehouse-insecure", false, "use plain HTTP (loopback stand-ins only)")
	tokenFile := fs.String("token-file", "", "read the personal access token from `file` (default $DATABRICKS_TOKEN)")
	clientID := fs.String("client-id", "", "OAuth client `id` of a service principal (default $DATABRICKS_CLIENT_ID)")
	secretFile := fs.String("client-secret-file", "", "read the OAuth client secret from `file` (default $DATABRICKS_CLIENT_SECRET)")
	tokenURL := fs.String("token-url", "", "OAuth token `url` (default $DATABRICKS_TOKEN_URL, else https://<host>/oidc/v1/token)")
	privileges := fs.String("privileges", "probe", "privilege check: probe (exact, one statement per table) or grants (reads grant relations)")
	checkKeys := fs.Bool("check-keys", false, "also check that each customers key is unique (one aggregate query per parent segment)")
	timeout := fs.Duration("warehouse-timeout", 2*time.Minute, "overall time limit of the warehouse checks, on top of the start budget")
	startTimeout := fs.Duration("warehouse-start-timeout", warehouse.DefaultStartTimeout, "how long to wait for a stopped warehouse to start (it answers 503 while it starts); 0 gives up at once")

	return func(ctx context.Context, st segment.State) (segment.State, diag.Diagnostics, error) {
		if !*enabled {
			return st, nil, nil
		}
		if *startTimeout < 0 {
			return st, nil, fmt.Errorf("--warehouse-start-timeout: must not be negative, got %s", *startTimeout)
		}
		opts, err := warehouseOptions(*host, *httpPath, *insecure, *tokenFile, *clientID, *secretFile, *tokenURL)
		if err != nil {
			return st, nil, err
		}
		opts.StartTimeout = *startTimeout
		if opts.StartTimeout == 0 {
			opts.StartTimeout = -1
		}
		// Waits for a starting warehouse are reported on stderr.
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		switch *privileges {
		case "probe":
			opts.Privileges = warehouse.ProbeTables
		case "grants":
			opts.Privileges = warehouse.ReadGrants
		default:
			return st, nil, fmt.Errorf("--privileges: want probe or grants, not %q", *privileges)
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout+max(*startTimeout, 0))
		defer cancel()
		client, err := warehouse.Open(opts)
		if err != nil {
			return st, nil, err
		}
		defer client.Close()
		cat, err := client.Snapshot(ctx, warehouse.TablesOf(st))
		if err != nil {
			return st, nil, err
		}
		if *checkKeys {
			if err := client.CheckKeys(ctx, cat, warehouse.CustomerKeys(st)); err != nil {
				return st, nil, err
			}
		}
		out, ds := validate.Check(st, cat, validate.Options{RequireUniqueKeys: *checkKeys})
		return out, ds, nil
	}
}

// warehouseOptions merges flags with the environment.
func warehouseOptions(host, httpPath string, insecure bool, tokenFile, clientID, secretFile, tokenURL string) (warehouse.Options, error) {
	var o warehouse.Options
	host = firstNonEmpty(host, os.Getenv("DATABRICKS_HOST"))
	if host == "" {
		return o, errors.New("--warehouse needs a host: set --warehouse-host or DATABRICKS_HOST")
	}
	if rest, ok := strings.CutPrefix(host, "http://"); ok {
		host, insecure = rest, true
	} else {
		host = strings.TrimPrefix(host, "https://")
	}
	host = strings.TrimSuffix(host, "/")
	if h, p, err := net.SplitHostPort(host); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil {
			return o, fmt.Errorf("warehouse host %q: bad port", host)
		}
		host, o.Port = h, port
	}
	o.Host, o.Insecure = host, insecure
	o.HTTPPath = firstNonEmpty(httpPath, os.Getenv("DATABRICKS_HTTP_PATH"))
	if o.HTTPPath == "" {
		return o, errors.New("--warehouse needs an HTTP path: set --warehouse-http-path or DATABRICKS_HTTP_PATH")
	}
	var err error
	if tokenFile != "" {
		if o.Token, err = readSecret(tokenFile); err != nil {
			return o, err
		}
	} else {
		o.Token = os.Getenv("DATABRICKS_TOKEN")
	}
	o.ClientID = firstNonEmpty(clientID, os.Getenv("DATABRICKS_CLIENT_ID"))
	if secretFile != "" {
		if o.ClientSecret, err = readSecret(secretFile); err != nil {
			return o, err
		}
	} else {
		o.ClientSecret = os.Getenv("DATABRICKS_CLIENT_SECRET")
	}
	if o.Token != "" && o.ClientID != "" {
		// An explicit token file wins over ambient OAuth settings and the
		// reverse; both from the environment is ambiguous.
		switch {
		case tokenFile != "":
			o.ClientID, o.ClientSecret = "", ""
		case clientID != "" || secretFile != "":
			o.Token = ""
		default:
			return o, errors.New("both DATABRICKS_TOKEN and DATABRICKS_CLIENT_ID are set; unset one")
		}
	}
	o.TokenURL = firstNonEmpty(tokenURL, os.Getenv("DATABRICKS_TOKEN_URL"))
	return o, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
