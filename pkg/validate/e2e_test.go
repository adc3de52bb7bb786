//go:build cgo

package validate_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
	"github.com/cas-reconciler/reconciler/pkg/validate"
	"github.com/databricks/databricks-sql-go/logger"
)

var update = flag.Bool("update", false, "rewrite golden files")

func init() { _ = logger.SetLogLevel("disabled") }

// loadRetail loads the example repository.
func loadRetail(t *testing.T) segment.State {
	t.Helper()
	res, err := spec.Load(context.Background(), os.DirFS("../../examples/retail"), spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Diagnostics.HasErrors() {
		t.Fatalf("retail repository is invalid: %v", res.Diagnostics)
	}
	return res.State
}

// checkAgainst serves fixture, snapshots the state's tables (with the key
// uniqueness check) and validates.
func checkAgainst(t *testing.T, st segment.State, fixture string) (segment.State, diag.Diagnostics) {
	t.Helper()
	_, ep := dbxtest.Start(t, fixture)
	c, err := warehouse.Open(warehouse.Options{Host: ep.Host, Port: ep.Port, HTTPPath: ep.HTTPPath, Insecure: true,
		Token: "dapi-treasure-sp", QueryTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	cat, err := c.Read(ctx, catalog.RequestOf(st, true))
	if err != nil {
		t.Fatal(err)
	}
	return validate.Check(st, cat, validate.Options{RequireUniqueKeys: true})
}

func TestRetailRepositoryFitsRetailWarehouse(t *testing.T) {
	st := loadRetail(t)
	out, ds := checkAgainst(t, st, "../../examples/retail-warehouse.yaml")
	if len(ds) != 0 {
		t.Fatalf("diagnostics:\n%s", render(ds))
	}
	// Types left out in the repository are filled from the warehouse.
	p := out.Parents[0]
	for _, a := range p.Attributes {
		if a.Type == "" {
			t.Errorf("attribute %s has no type after Check", a.Name)
		}
	}
	if a, ok := p.Attribute("email"); !ok || a.Type != segment.String {
		t.Errorf("email = %+v, want type string from the warehouse", a)
	}
	for _, b := range p.Behaviors {
		for _, c := range b.Columns {
			if c.Type == "" {
				t.Errorf("behavior %s column %s has no type", b.Name, c.Name)
			}
		}
	}
	// The input state is not modified.
	if a, _ := st.Parents[0].Attribute("email"); a.Type != "" {
		t.Errorf("input state changed: email type %q", a.Type)
	}
}

func TestBrokenWarehouses(t *testing.T) {
	st := loadRetail(t)
	fixtures, err := filepath.Glob("../../testdata/warehouse/broken-*.yaml")
	if err != nil || len(fixtures) < 5 {
		t.Fatalf("fixtures: %v %v", fixtures, err)
	}
	for _, fx := range fixtures {
		name := strings.TrimSuffix(filepath.Base(fx), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, ds := checkAgainst(t, st, fx)
			if !ds.HasErrors() {
				t.Fatalf("no errors:\n%s", render(ds))
			}
			got := render(ds)
			golden := strings.TrimSuffix(fx, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s (run with -update to accept):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// render writes one diagnostic a line, code in brackets, detail indented.
func render(ds diag.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String() + " [" + d.Code + "]\n")
		for l := range strings.SplitSeq(d.Detail, "\n") {
			if l != "" {
				b.WriteString("\t" + l + "\n")
			}
		}
	}
	return b.String()
}
