package spec

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

const retail = "../../examples/retail"

func segmentByName(t *testing.T, st segment.State, name string) *segment.Segment {
	t.Helper()
	for i := range st.Segments {
		if st.Segments[i].Name == name {
			return &st.Segments[i]
		}
	}
	t.Fatalf("segment %q not loaded", name)
	return nil
}

func TestRetailRepo(t *testing.T) {
	r := load(t, retail)
	if len(r.Diagnostics) > 0 {
		t.Fatalf("example repository has diagnostics:\n%s", render(r.Diagnostics))
	}
	if len(r.State.Parents) != 1 || len(r.State.Segments) < 20 {
		t.Fatalf("parents=%d segments=%d, want 1 and at least 20", len(r.State.Parents), len(r.State.Segments))
	}
	p := r.State.Parents[0]
	if p.Name != "Retail Customers" || p.Connection != "databricks-retail" ||
		p.Customers.String() != "retail_prod.cdp.customers" || p.Customers.Key != "customer_id" || p.Timezone != "America/New_York" {
		t.Errorf("parent = %+v", p)
	}
	orders, ok := p.Behavior("orders")
	if !ok || orders.Table.String() != "retail_prod.cdp.orders" || orders.Key != "customer_id" || orders.Time != "order_time" {
		t.Errorf("orders behavior defaults not filled: %+v", orders)
	}
	if a, _ := p.Attribute("email"); a == nil || a.Column != "email" || a.Type != "" {
		t.Errorf("email attribute = %+v, want column defaulted and type left to the warehouse", a)
	}
	if got := p.Origin.Pos; got.File != "parent.cue" || got.Line != 5 {
		t.Errorf("parent position = %v, want parent.cue:5", got)
	}

	// Every operator and aggregation is used, plus references (one
	// excluding), a limit, arrayMatching and Composite.
	ops, aggs := map[string]bool{}, map[string]bool{}
	var refs, excludedRefs, limits, arrays, composite int
	for _, s := range r.State.Segments {
		if s.Rule.Limit != nil {
			limits++
		}
		if s.Rule.Type == segment.Composite {
			composite++
		}
		for _, cs := range s.Rule.Conditions {
			for _, c := range cs.Conditions {
				if c.Type == segment.ReferenceCondition {
					refs++
					if c.Exclude {
						excludedRefs++
					}
					continue
				}
				ops[c.Operator.Type] = true
				if c.ArrayMatching != nil {
					arrays++
				}
				if c.IsBehavior() {
					aggs[c.LeftValue.Aggregation.Type] = true
					var walk func(f *segment.Filter)
					walk = func(f *segment.Filter) {
						if f.Operator != nil {
							ops[f.Operator.Type] = true
						}
						for i := range f.Conditions {
							walk(&f.Conditions[i])
						}
					}
					walk(c.LeftValue.Filter)
				}
			}
		}
	}
	for _, op := range segment.Operators {
		if !ops[op] {
			t.Errorf("operator %s is not used by the example repository", op)
		}
	}
	for _, a := range segment.Aggregations {
		if !aggs[a] {
			t.Errorf("aggregation %s is not used by the example repository", a)
		}
	}
	if refs < 3 || excludedRefs < 2 || limits < 1 || arrays < 1 || composite < 1 {
		t.Errorf("refs=%d excluded=%d limits=%d arrayMatching=%d composite=%d", refs, excludedRefs, limits, arrays, composite)
	}

	// Folders: declared ones first, then those implied by segments.
	var folders []string
	for _, f := range r.State.Folders {
		folders = append(folders, f.Path)
	}
	want := []string{"Marketing", "Marketing/VIP", "Lifecycle", "Engagement", "Engagement/Web", "Stores", "Stores/Regions"}
	if !slices.Equal(folders, want) {
		t.Errorf("folders = %v, want %v", folders, want)
	}
}

// TestShortFormExpands checks the exact v5 rule the short form produces.
func TestShortFormExpands(t *testing.T) {
	r := load(t, retail)
	vip := segmentByName(t, r.State, "VIP Customers")
	got, err := json.Marshal(vip.Rule)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"conditions":[{"conditions":[` +
		`{"arrayMatching":null,"exclude":false,"leftValue":{"name":"ltv"},"operator":{"not":false,"rightValue":1000,"type":"GreaterEqual"},"type":"Value"},` +
		`{"arrayMatching":null,"exclude":false,"leftValue":{"aggregation":{"groupingColumns":[],"type":"Count"},"filter":{},"source":{"name":"orders"},"window":{"duration":{"day":30},"type":"TimeSliding"}},"operator":{"not":false,"rightValue":3,"type":"GreaterEqual"},"type":"Value"},` +
		`{"exclude":true,"segment":"Churn Risk","type":"Reference"}` +
		`],"type":"And"}],"type":"And"}`
	if normJSON(t, got) != normJSON(t, []byte(want)) {
		t.Errorf("VIP Customers rule\n got %s\nwant %s", normJSON(t, got), normJSON(t, []byte(want)))
	}
	// positions of the pieces the checks point at
	c := vip.Rule.Conditions[0].Conditions
	if p := c[0].LeftValue.Origin.At("name"); p.String() != "segments/marketing.cue:8:16" {
		t.Errorf("attribute position = %v", p)
	}
	if p := c[2].Origin.At("segment"); p.String() != "segments/marketing.cue:10:12" {
		t.Errorf("reference position = %v", p)
	}
	if p := vip.Origin.Pos; p.String() != "segments/marketing.cue:4:2" {
		t.Errorf("segment position = %v", p)
	}
}

func normJSON(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

const shopParent = `package shop

parents: "Shop": {
	connection: "databricks-retail"
	customers: {catalog: "retail_prod", schema: "cdp", table: "customers", key: "customer_id"}
	attributes: {
		email: type: "string"
		ltv: type: "number"
		tier: {}
		tags: type: "string_array"
		seen: type: "timestamp"
	}
	behaviors: orders: {
		time: "order_time"
		columns: {amount: type: "number", category: type: "string", note: {}}
	}
}
`

// loadSource loads the shop parent plus one file with the given source.
func loadSource(t testing.TB, src string) *Result {
	t.Helper()
	r, err := Load(context.Background(), fstest.MapFS{
		"parent.cue": {Data: []byte(shopParent)},
		"x.cue":      {Data: []byte("package shop\n" + src)},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func codes(ds diag.Diagnostics) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Severity.String()+":"+d.Code)
	}
	return out
}

// TestChecks runs each semantic check on a small repository.
func TestChecks(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"valid short form", `segments: a: where: [{attribute: "ltv", atLeast: 1}]`, nil},
		{"unknown attribute", `segments: a: where: [{attribute: "ltvv", atLeast: 1}]`, []string{"error:unknown-attribute"}},
		{"unknown behavior", `segments: a: where: [{behavior: "ordres", count: {atLeast: 1}}]`, []string{"error:unknown-behavior"}},
		{"unknown aggregation column", `segments: a: where: [{behavior: "orders", max: {of: "amt", atLeast: 1}}]`, []string{"error:unknown-column"}},
		{"unknown filter column", `segments: a: where: [{behavior: "orders", count: {atLeast: 1}, filter: [{column: "x", equals: "y"}]}]`, []string{"error:unknown-column"}},
		{"filter on time column", `segments: a: where: [{behavior: "orders", count: {atLeast: 1}, filter: [{column: "order_time", withinPast: {days: 3}}]}]`, nil},
		{"first without by", `segments: a: where: [{behavior: "orders", first: {of: "category", equals: "x"}}]`, []string{"error:aggregation"}},
		{"regexp on number", `segments: a: where: [{attribute: "ltv", matches: "1"}]`, []string{"error:operator-type"}},
		{"time op on string", `segments: a: where: [{attribute: "email", today: true}]`, []string{"error:operator-type"}},
		{"untyped attribute skips type checks", `segments: a: where: [{attribute: "tier", today: true}]`, nil},
		{"string for number", `segments: a: where: [{attribute: "ltv", equals: "1"}]`, []string{"error:value-type"}},
		{"contains with number", `segments: a: rule: {type: "And", conditions: [{type: "And", conditions: [{type: "Value", leftValue: name: "email", operator: {type: "Contain", rightValues: [1]}}]}]}`, []string{"error:value-type"}},
		{"between missing bound", `segments: a: rule: {type: "And", conditions: [{type: "And", conditions: [{type: "Value", leftValue: name: "ltv", operator: {type: "Between", minValue: 1}}]}]}`, []string{"error:operand"}},
		{"relative time ok", `segments: a: where: [{attribute: "seen", lessThan: {last: 3, unit: "month"}}]`, nil},
		{"bad regexp", `segments: a: where: [{attribute: "email", matches: "a[b"}]`, []string{"error:regexp"}},
		{"java regexp", `segments: a: where: [{attribute: "email", matches: "(?<=x)y"}]`, []string{"warning:regexp-unchecked"}},
		{"array matching on scalar", `segments: a: where: [{attribute: "email", equals: "x", arrayMatching: "any"}]`, []string{"warning:array-matching"}},
		{"array matching on array", `segments: a: where: [{attribute: "tags", contains: ["x"], arrayMatching: {atLeast: 2}}]`, nil},
		{"unknown reference", `segments: a: where: [{in: "b"}]`, []string{"error:unknown-segment"}},
		{"reference by id", `segments: a: rule: {type: "And", conditions: [{type: "And", conditions: [{type: "Reference", id: "12"}]}]}`, []string{"warning:reference-by-id"}},
		{"self reference", `segments: a: where: [{in: "a"}]`, []string{"error:reference-cycle"}},
		{"two cycle", `segments: {a: where: [{in: "b"}], b: where: [{notIn: "a"}]}`, []string{"error:reference-cycle"}},
		{"chain is fine", `segments: {a: where: [{in: "b"}], b: where: [{in: "c"}], c: where: [{attribute: "ltv", atLeast: 1}]}`, nil},
		{"empty rule", `segments: a: description: "x"`, []string{"error:empty-rule"}},
		{"both forms", `segments: a: {where: [{attribute: "ltv", atLeast: 1}], rule: {}}`, []string{"error:rule-form"}},
		{"unknown parent", `segments: a: {parent: "Shops", where: [{attribute: "ltv", atLeast: 1}]}`, []string{"error:unknown-parent"}},
		{"duplicate parent", `parents: "Shop": {connection: "c", customers: {catalog: "a", schema: "b", table: "c", key: "d"}, attributes: x: {}}`, []string{"error:duplicate-parent"}},
		{"no attributes", `parents: "P2": {connection: "c", customers: {catalog: "a", schema: "b", table: "c", key: "d"}, attributes: {}}
segments: a: {parent: "Shop", where: [{attribute: "ltv", atLeast: 1}]}`, []string{"error:no-attributes"}},
		{"missing parent with two parents", `parents: "P2": {connection: "c", customers: {catalog: "a", schema: "b", table: "c", key: "d"}, attributes: x: {}}
segments: a: where: [{attribute: "ltv", atLeast: 1}]`, []string{"error:missing-parent"}},
		{"bad timezone", `parents: "P2": {timezone: "Mars/Olympus", connection: "c", customers: {catalog: "a", schema: "b", table: "c", key: "d"}, attributes: x: {}}`, []string{"error:timezone"}},
		{"attribute and behavior clash", `parents: "P2": {connection: "c", customers: {catalog: "a", schema: "b", table: "c", key: "d"}, attributes: Orders: {}, behaviors: orders: {time: "t", columns: {}}}`, []string{"error:duplicate-behavior"}},
		{"composite ok", `segments: a: rule: {type: "Composite", expr: "A or B", conditions: [{type: "And", conditions: [{type: "Value", leftValue: name: "ltv", operator: {type: "Greater", rightValue: 1}}]}, {type: "And", conditions: [{type: "Reference", segment: "b"}]}]}
segments: b: where: [{attribute: "ltv", atLeast: 1}]`, nil},
		{"composite bad", `segments: a: rule: {type: "Composite", expr: "1 and", conditions: [{type: "And", conditions: [{type: "Value", leftValue: name: "ltv", operator: {type: "Greater", rightValue: 1}}]}]}`, []string{"error:composite-expr"}},
		{"schema enum", `segments: a: {kind: "realtime", where: [{attribute: "ltv", atLeast: 1}]}`, []string{"error:schema"}},
		{"schema unknown field", `segments: a: {wher: [{attribute: "ltv", atLeast: 1}]}`, []string{"error:unknown-field"}},
		{"two tests", `segments: a: where: [{attribute: "ltv", atLeast: 1, atMost: 3}]`, []string{"error:where"}},
		{"where error hides no other condition", `segments: a: where: [{attribute: "ltv", atLeast: 1, atMost: 3}, {attribute: "email", matches: "a[b"}, {in: "b"}]`, []string{"error:where", "error:regexp", "error:unknown-segment"}},
		{"schema errors hide neither each other nor the checks", `segments: a: {descripton: "x", folder: 3, where: [{attribute: "ltvv", atLeast: 1}, {attribute: "ltv", atLeast: "1", within: {weeks: 2}}]}`, []string{"error:unknown-field", "error:schema", "error:unknown-attribute", "error:unknown-field"}},
		{"broken parent skips the parent checks", `segments: a: {parent: 3, where: [{attribute: "ltvv", matches: "a[b"}]}`, []string{"error:schema", "error:regexp"}},
		{"broken full rule type", `segments: a: rule: {type: "and", conditions: [{type: "And", conditions: [{type: "Value", leftValue: name: "ltvv", operator: {type: "Greater", rightValue: 1}}]}]}`, []string{"error:schema", "error:unknown-attribute"}},
		{"within on attribute", `segments: a: where: [{attribute: "ltv", atLeast: 1, within: {days: 3}}]`, []string{"error:where"}},
		{"bad window unit", `segments: a: where: [{behavior: "orders", count: {atLeast: 1}, within: {weeks: 3}}]`, []string{"error:unknown-field"}},
		{"limit percent", `segments: a: {where: [{attribute: "ltv", atLeast: 1}], limit: {type: "Percent", number: 150}}`, []string{"error:limit"}},
		{"duplicate folder", `folders: "X": description: "a"
folders: "X": parent: "Shop"`, nil},
		{"import of other module", `import "example.com/x"
segments: a: where: [{attribute: "ltv", atLeast: 1}]`, []string{"error:import"}},
		{"schema import is resolved", `import "cas.treasuredata.dev/schemas/cas"
segments: a: cas.#Segment & {where: [{attribute: "ltv", atLeast: 1}]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := loadSource(t, tt.src)
			got := codes(r.Diagnostics)
			if !slices.Equal(got, tt.want) {
				t.Errorf("codes = %v, want %v\n%s", got, tt.want, render(r.Diagnostics))
			}
			for _, d := range r.Diagnostics {
				if !d.Pos.IsValid() || d.Pos.Line == 0 || strings.HasPrefix(d.Pos.File, schemaFilePrefix) {
					t.Errorf("diagnostic not positioned in the repository: %v", d)
				}
			}
		})
	}
}

func TestSuggestions(t *testing.T) {
	r := loadSource(t, `segments: a: where: [{attribute: "ltvv", atLeast: 1}, {behavior: "orders", sum: {of: "ammount", atLeast: 1}}]`)
	text := render(r.Diagnostics)
	for _, want := range []string{`did you mean "ltv"?`, `did you mean "amount"?`, "x.cue:2:34"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, text)
		}
	}
}

func TestSingleParentDefault(t *testing.T) {
	r := loadSource(t, `segments: a: {folder: "A/B", where: [{attribute: "ltv", atLeast: 1}]}`)
	if len(r.Diagnostics) > 0 {
		t.Fatal(render(r.Diagnostics))
	}
	s := segmentByName(t, r.State, "a")
	if s.Parent != "Shop" || s.Kind != segment.Batch {
		t.Errorf("segment = %+v, want parent Shop and kind batch filled", s)
	}
	var paths []string
	for _, f := range r.State.Folders {
		paths = append(paths, f.Parent+":"+f.Path)
	}
	if !slices.Equal(paths, []string{"Shop:A", "Shop:A/B"}) {
		t.Errorf("implied folders = %v", paths)
	}
}

// ignoreSource drops what only desired state read from files carries.
var ignoreSource = cmp.Options{
	cmpopts.IgnoreTypes(segment.Origin{}),
	cmpopts.EquateEmpty(),
}

func TestFormatRoundTrip(t *testing.T) {
	r := load(t, retail)
	files, err := Format(r.State, FormatOptions{Package: "retail"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["retail-customers/parent.cue"]; !ok {
		t.Fatalf("no parent file in %v", mapKeys(files))
	}
	if _, ok := files["retail-customers/marketing/vip/segments.cue"]; !ok {
		t.Fatalf("no Marketing/VIP file in %v", mapKeys(files))
	}
	fsys := fstest.MapFS{}
	for name, b := range files {
		fsys[name] = &fstest.MapFile{Data: b}
	}
	back, err := Load(context.Background(), fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Diagnostics) > 0 {
		t.Fatalf("formatted files have diagnostics:\n%s\n%s", render(back.Diagnostics), files["retail-customers/parent.cue"])
	}
	sortState(&r.State)
	sortState(&back.State)
	if d := cmp.Diff(r.State, back.State, ignoreSource); d != "" {
		t.Errorf("round trip changed the state (-loaded +reloaded):\n%s", d)
	}
}

// TestFormatWireRule formats a rule as read from Treasure Data (ids on
// references, unknown fields) and reads it back unchanged.
func TestFormatWireRule(t *testing.T) {
	b, err := os.ReadFile("../segment/testdata/wire_rule.json")
	if err != nil {
		t.Fatal(err)
	}
	var rule segment.Rule
	if err := json.Unmarshal(b, &rule); err != nil {
		t.Fatal(err)
	}
	st := load(t, retail).State
	st.Segments = []segment.Segment{{Name: "From Wire", Parent: "Retail Customers", Folder: "Imported", Kind: segment.Batch, Rule: rule,
		Lifecycle: segment.Lifecycle{Adopt: true}}}
	st.Folders = []segment.Folder{{Parent: "Retail Customers", Path: "Imported", Description: "from Treasure"}}
	files, err := Format(st, FormatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for name, b := range files {
		fsys[name] = &fstest.MapFile{Data: b}
	}
	back, err := Load(context.Background(), fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range back.Diagnostics {
		if d.Code == "schema" || d.Code == "unknown-field" || d.Code == "syntax" || d.Code == "decode" {
			t.Fatalf("formatted wire rule does not load: %v\n%s", d, files["retail-customers/imported/segments.cue"])
		}
	}
	got := segmentByName(t, back.State, "From Wire")
	want, _ := json.Marshal(rule)
	have, _ := json.Marshal(got.Rule)
	if normJSON(t, want) != normJSON(t, have) {
		t.Errorf("rule changed\n got %s\nwant %s", normJSON(t, have), normJSON(t, want))
	}
	if !got.Lifecycle.Adopt || back.State.Folders[0].Description != "from Treasure" {
		t.Errorf("lifecycle or folder lost: %+v %+v", got.Lifecycle, back.State.Folders)
	}
}

func sortState(st *segment.State) {
	slices.SortFunc(st.Segments, func(a, b segment.Segment) int { return strings.Compare(a.Key().String(), b.Key().String()) })
	slices.SortFunc(st.Folders, func(a, b segment.Folder) int { return strings.Compare(a.Key().String(), b.Key().String()) })
	slices.SortFunc(st.Parents, func(a, b segment.Parent) int { return strings.Compare(a.Name, b.Name) })
}

// TestCache checks that unchanged files come from the cache, changed files
// are evaluated again, and callers cannot change cached values through what
// Load lets them change (conditions are shared: a caller changes those of
// segment.Rule.CopyConditions).
func TestCache(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, name := range []string{"parent.cue", "segments/marketing.cue", "segments/lifecycle.cue", "segments/stores.cue"} {
		b, err := os.ReadFile(retail + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: b}
	}
	cache := NewCache()
	ctx := context.Background()
	first, err := Load(ctx, fsys, Options{Cache: cache})
	if err != nil || first.Cached != 0 || len(first.Diagnostics) > 0 {
		t.Fatalf("first load: cached=%d err=%v diags=%v", first.Cached, err, first.Diagnostics)
	}
	// Mutate what the first load returned.
	first.State.Parents[0].Attributes[0].Type = "number"
	vip := segmentByName(t, first.State, "VIP Customers")
	vip.Rule = vip.Rule.CopyConditions()
	vip.Rule.Conditions[0].Conditions[0].Operator = &segment.Operator{Type: segment.Equal}
	vip.Rule.Conditions[0].Conditions[2].Segment = "Other"

	second, err := Load(ctx, fsys, Options{Cache: cache})
	if err != nil || second.Cached != 4 {
		t.Fatalf("second load: cached=%d err=%v", second.Cached, err)
	}
	if second.State.Parents[0].Attributes[0].Type != "" {
		t.Errorf("cache shares attributes with a previous result")
	}
	vip = segmentByName(t, second.State, "VIP Customers")
	if op := vip.Rule.Conditions[0].Conditions[0].Operator; op.Type != segment.GreaterEqual || op.RightValue.Num != "1000" {
		t.Errorf("cache shares conditions with a previous result: %+v", op)
	}
	if ref := vip.Rule.Conditions[0].Conditions[2].Segment; ref != "Churn Risk" {
		t.Errorf("cache shares conditions with a previous result: reference to %q", ref)
	}

	src := strings.Replace(string(fsys["segments/marketing.cue"].Data), `atLeast: 1000`, `atLeast: "lots"`, 1)
	fsys["segments/marketing.cue"] = &fstest.MapFile{Data: []byte(src)}
	third, err := Load(ctx, fsys, Options{Cache: cache})
	if err != nil || third.Cached != 3 {
		t.Fatalf("third load: cached=%d err=%v", third.Cached, err)
	}
	if got := codes(third.Diagnostics); !slices.Equal(got, []string{"error:value-type"}) {
		t.Errorf("after the change: %v", got)
	}
	if cache.Len() != 5 {
		t.Errorf("cache holds %d entries, want 5 (4 files and the old version of one)", cache.Len())
	}
	// Two more loads drop the old version.
	for range 2 {
		if _, err := Load(ctx, fsys, Options{Cache: cache}); err != nil {
			t.Fatal(err)
		}
	}
	if cache.Len() != 4 {
		t.Errorf("cache holds %d entries after the old version went unused, want 4", cache.Len())
	}
}

func TestLoadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, os.DirFS(retail), Options{}); err == nil {
		t.Fatal("Load with a canceled context returned no error")
	}
}

func TestSkippedFiles(t *testing.T) {
	r, err := Load(context.Background(), fstest.MapFS{
		"parent.cue":                 {Data: []byte(shopParent)},
		"cue.mod/module.cue":         {Data: []byte("this is not CUE at all {")},
		".hidden/x.cue":              {Data: []byte("{")},
		"_draft.cue":                 {Data: []byte("{")},
		"testdata/x.cue":             {Data: []byte("{")},
		"notes.txt":                  {Data: []byte("{")},
		"cue.mod/pkg/x/schema.cue":   {Data: []byte("{")},
		"segments/more/deeper/a.cue": {Data: []byte("package shop\nsegments: a: where: [{attribute: \"ltv\", atLeast: 1}]\n")},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 2 || len(r.Diagnostics) > 0 || len(r.State.Segments) != 1 {
		t.Errorf("files=%d segments=%d diags=%v", r.Files, len(r.State.Segments), r.Diagnostics)
	}
}

// TestEnumOfOtherKind checks the message of an enum given a value of another
// kind, for which CUE names the values the other way round.
func TestEnumOfOtherKind(t *testing.T) {
	for _, tc := range []struct{ src, summary, detail string }{
		{`segments: a: {match: 3, where: [{attribute: "ltv", atLeast: 1}]}`,
			"segments.a.match: invalid value 3", `allowed values: "all", "any"`},
		{`segments: a: {match: "both", where: [{attribute: "ltv", atLeast: 1}]}`,
			`segments.a.match: invalid value "both"`, `allowed values: "all", "any"`},
	} {
		r := loadSource(t, tc.src)
		if len(r.Diagnostics) != 1 || r.Diagnostics[0].Summary != tc.summary || r.Diagnostics[0].Detail != tc.detail {
			t.Errorf("%s: diagnostics =\n%s\nwant %s\n    %s", tc.src, render(r.Diagnostics), tc.summary, tc.detail)
		}
	}
}

// TestAdoptFrom: lifecycle.adopt is true (unowned objects) or {from:
// "<source>"} (also objects of that source); anything else is a schema
// error.
func TestAdoptFrom(t *testing.T) {
	r := loadSource(t, `
segments: "A": {lifecycle: adopt: true, where: [{attribute: "ltv", atLeast: 1}]}
segments: "B": {lifecycle: adopt: from: "team-b", where: [{attribute: "ltv", atLeast: 1}]}
folders: "F": lifecycle: adopt: from: "team-f"
`)
	if r.Diagnostics.HasErrors() {
		t.Fatalf("diagnostics: %v", r.Diagnostics)
	}
	a, b := segmentByName(t, r.State, "A"), segmentByName(t, r.State, "B")
	if !a.Lifecycle.Adopt || a.Lifecycle.AdoptFrom != "" {
		t.Errorf("adopt: true decoded as %+v", a.Lifecycle)
	}
	if !b.Lifecycle.Adopt || b.Lifecycle.AdoptFrom != "team-b" {
		t.Errorf("adopt: from: team-b decoded as %+v", b.Lifecycle)
	}
	if f := r.State.Folders[0]; f.Lifecycle.AdoptFrom != "team-f" {
		t.Errorf("folder lifecycle %+v", f.Lifecycle)
	}
	files, err := Format(r.State, FormatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all string
	for _, b := range files {
		all += string(b)
	}
	if !strings.Contains(all, `from: "team-b"`) {
		t.Errorf("formatted files lose adopt.from:\n%s", all)
	}
	for _, bad := range []string{`adopt: from: ""`, `adopt: "team-b"`, `adopt: {from: "x", to: "y"}`} {
		r := loadSource(t, `segments: "C": {lifecycle: `+bad+`, where: [{attribute: "ltv", atLeast: 1}]}`)
		if !r.Diagnostics.HasErrors() {
			t.Errorf("lifecycle: %s loads without error", bad)
		}
	}
}

// TestRenamedFrom: renamedFrom lists earlier names of a segment or paths of
// a folder; one the repository declares, or one two objects claim, is an
// error at the renamedFrom field.
func TestRenamedFrom(t *testing.T) {
	r := loadSource(t, `
segments: "A": {renamedFrom: ["Old A", "Older A"], where: [{attribute: "ltv", atLeast: 1}]}
folders: "F/G": renamedFrom: ["E/G"]
`)
	if r.Diagnostics.HasErrors() {
		t.Fatalf("diagnostics: %v", r.Diagnostics)
	}
	if a := segmentByName(t, r.State, "A"); strings.Join(a.RenamedFrom, ",") != "Old A,Older A" {
		t.Errorf("segment renamedFrom %q", a.RenamedFrom)
	}
	var fr []string
	for _, f := range r.State.Folders {
		if f.Path == "F/G" {
			fr = f.RenamedFrom
		}
	}
	if strings.Join(fr, ",") != "E/G" {
		t.Errorf("folder renamedFrom %q", fr)
	}
	for src, want := range map[string]string{
		`segments: "A": {renamedFrom: ["B"], where: [{attribute: "ltv", atLeast: 1}]}
segments: "B": where: [{attribute: "ltv", atLeast: 2}]`: `segment "A" is renamedFrom "B", which the repository declares`,
		`segments: "A": {renamedFrom: ["C"], where: [{attribute: "ltv", atLeast: 1}]}
segments: "B": {renamedFrom: ["C"], where: [{attribute: "ltv", atLeast: 2}]}`: `which segment "A" also names`,
		`segments: "A": {renamedFrom: [], where: [{attribute: "ltv", atLeast: 1}]}`: `renamedFrom`,
		`folders: "F": renamedFrom: ["F"]`:                                          `folder "F" is renamedFrom "F"`,
	} {
		r := loadSource(t, src)
		out := render(r.Diagnostics)
		if !r.Diagnostics.HasErrors() || !strings.Contains(out, want) || !strings.Contains(out, "x.cue:") {
			t.Errorf("%s:\n%s\nwant an error with %q at x.cue", src, out, want)
		}
	}
}

// TestFormatKeepsTheCallersRule: Format drops the id of a reference by
// name from its own copy of the rule, never from the state it was given.
func TestFormatKeepsTheCallersRule(t *testing.T) {
	st := load(t, retail).State
	ref := segment.Condition{Type: segment.ReferenceCondition, ID: "12345", Segment: "Big Spenders"}
	st.Segments = []segment.Segment{{Name: "Referrer", Parent: "Retail Customers", Kind: segment.Batch,
		Rule: segment.Rule{Type: "And", Conditions: []segment.ConditionSet{{Type: "And", Conditions: []segment.Condition{ref}}}}}}
	if _, err := Format(st, FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := st.Segments[0].Rule.Conditions[0].Conditions[0]; got.ID != "12345" || got.Segment != "Big Spenders" {
		t.Errorf("Format changed the rule it was given: reference %+v", got)
	}
}
