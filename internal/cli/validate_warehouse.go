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

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
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
		d, err := databricksFlags(*host, *httpPath, *insecure, *tokenFile, *clientID, *secretFile, *tokenURL)
		if err != nil {
			return st, nil, err
		}
		d.StartTimeout = config.Duration(*startTimeout)
		var priv warehouse.PrivilegeCheck
		switch *privileges {
		case "probe":
			priv = warehouse.ProbeTables
		case "grants":
			priv = warehouse.ReadGrants
		default:
			return st, nil, fmt.Errorf("--privileges: want probe or grants, not %q", *privileges)
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout+max(*startTimeout, 0))
		defer cancel()
		client, err := wiring.Warehouse(d, wiring.Options{
			// Waits for a starting warehouse are reported on stderr.
			Logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Warehouse: func(o *warehouse.Options) { o.Privileges = priv },
		})
		if err != nil {
			return st, nil, err
		}
		defer client.Close()
		cat, err := client.Read(ctx, catalog.RequestOf(st, *checkKeys))
		if err != nil {
			return st, nil, err
		}
		out, ds := validate.Check(st, cat, validate.Options{RequireUniqueKeys: *checkKeys})
		return out, ds, nil
	}
}

// databricksFlags merges flags with the environment into the databricks
// section of a configuration, for wiring.Warehouse: validate --warehouse
// reaches the warehouse the way the daemon does.
func databricksFlags(host, httpPath string, insecure bool, tokenFile, clientID, secretFile, tokenURL string) (config.Databricks, error) {
	var d config.Databricks
	host = firstNonEmpty(host, os.Getenv("DATABRICKS_HOST"))
	if host == "" {
		return d, errors.New("--warehouse needs a host: set --warehouse-host or DATABRICKS_HOST")
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
			return d, fmt.Errorf("warehouse host %q: bad port", host)
		}
		host, d.Port = h, port
	}
	d.Host, d.Insecure = host, insecure
	d.HTTPPath = firstNonEmpty(httpPath, os.Getenv("DATABRICKS_HTTP_PATH"))
	if d.HTTPPath == "" {
		return d, errors.New("--warehouse needs an HTTP path: set --warehouse-http-path or DATABRICKS_HTTP_PATH")
	}
	secret := func(file, env string) (*config.Secret, error) {
		if file == "" {
			if v := os.Getenv(env); v != "" {
				return config.NewSecret(env, v), nil
			}
			return nil, nil
		}
		v, err := readSecret(file)
		if err != nil {
			return nil, err
		}
		return config.NewSecret("", v), nil
	}
	token, err := secret(tokenFile, "DATABRICKS_TOKEN")
	if err != nil {
		return d, err
	}
	clientIDFlag := clientID
	clientID = firstNonEmpty(clientID, os.Getenv("DATABRICKS_CLIENT_ID"))
	clientSecret, err := secret(secretFile, "DATABRICKS_CLIENT_SECRET")
	if err != nil {
		return d, err
	}
	if token != nil && clientID != "" {
		// An explicit token file wins over ambient OAuth settings and the
		// reverse; both from the environment is ambiguous.
		switch {
		case tokenFile != "":
			clientID, clientSecret = "", nil
		case clientIDFlag != "" || secretFile != "":
			token = nil
		default:
			return d, errors.New("both DATABRICKS_TOKEN and DATABRICKS_CLIENT_ID are set; unset one")
		}
	}
	d.Token = token
	if clientID != "" || clientSecret != nil {
		d.OAuth = &config.OAuth{ClientID: clientID, ClientSecret: clientSecret, TokenURL: firstNonEmpty(tokenURL, os.Getenv("DATABRICKS_TOKEN_URL"))}
	}
	return d, nil
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
