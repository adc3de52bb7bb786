package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// randomState is a desired state of a few parents with folders and
// segments, drawn from r.
func randomState(r *rand.Rand) segment.State {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	types := []segment.IONType{segment.String, segment.Number, segment.Boolean, segment.StringArray, ""}
	var st segment.State
	for p := range 1 + r.IntN(3) {
		name := fmt.Sprintf("P%d", p)
		cat := pick("main", "prod", "lake")
		par := segment.Parent{Name: name, Description: pick("", "customers", "EU profiles"), Timezone: pick("UTC", "Asia/Tokyo"),
			Connection: "dbx", Customers: segment.KeyedTable{Table: segment.Table{Catalog: cat, Schema: "cdp", Table: "customers"}, Key: "id"},
			CustomersName: pick("", "Customers", "profiles")}
		for a := range 1 + r.IntN(5) {
			at := segment.Attribute{Name: fmt.Sprintf("a%d", a), Column: pick("", "col"), Type: types[r.IntN(len(types))], Group: pick("", "", "Profile")}
			if r.IntN(3) == 0 {
				at.Join = &segment.KeyedTable{Table: segment.Table{Catalog: pick(cat, "other"), Schema: "cdp", Table: pick("visits", "customers_ext")}, Key: "cid"}
			}
			par.Attributes = append(par.Attributes, at)
		}
		for b := range r.IntN(3) {
			bh := segment.Behavior{Name: fmt.Sprintf("b%d", b), Table: segment.Table{Catalog: pick(cat, "events"), Schema: "cdp", Table: fmt.Sprintf("t%d", b)},
				Key: "id", Time: pick("ts", "event_time")}
			for c := range 1 + r.IntN(3) {
				bh.Columns = append(bh.Columns, segment.Column{Name: fmt.Sprintf("c%d", c), Column: pick("", "raw"), Type: types[r.IntN(len(types))]})
			}
			par.Behaviors = append(par.Behaviors, bh)
		}
		st.Parents = append(st.Parents, par)
		for f := range r.IntN(3) {
			st.Folders = append(st.Folders, segment.Folder{Parent: name, Path: fmt.Sprintf("F%d", f), Description: pick("", "team folder")})
		}
		for s := range 1 + r.IntN(3) {
			sg := segment.Segment{Parent: name, Name: fmt.Sprintf("S%d", s), Description: pick("", "VIPs"), Kind: segment.Batch,
				Rule: valueRule(par.Attributes[0].Name, float64(r.IntN(100)))}
			st.Segments = append(st.Segments, sg)
		}
	}
	return st
}

// observedAs is what Treasure reports after the reconciler applied st:
// the same fields, owned by the source, with the types the warehouse
// filled in where the repository left them open.
func observedAs(st segment.State) segment.State {
	var o segment.State
	for i, p := range st.Parents {
		p.Meta = owned(fmt.Sprint(100 + i))
		p.ConnectionID = "341079"
		p.Attributes = slices.Clone(p.Attributes)
		for j := range p.Attributes {
			if p.Attributes[j].Type == "" {
				p.Attributes[j].Type = segment.String
			}
			if p.Attributes[j].Join != nil {
				j2 := *p.Attributes[j].Join
				p.Attributes[j].Join = &j2
			}
		}
		p.Behaviors = slices.Clone(p.Behaviors)
		for j := range p.Behaviors {
			p.Behaviors[j].Columns = slices.Clone(p.Behaviors[j].Columns)
			for k := range p.Behaviors[j].Columns {
				if p.Behaviors[j].Columns[k].Type == "" {
					p.Behaviors[j].Columns[k].Type = segment.Number
				}
			}
		}
		o.Parents = append(o.Parents, p)
	}
	for i, f := range st.Folders {
		f.Meta = owned(fmt.Sprint(200 + i))
		o.Folders = append(o.Folders, f)
	}
	for i, s := range st.Segments {
		s.Meta = owned(fmt.Sprint(300 + i))
		o.Segments = append(o.Segments, s)
	}
	return o
}

// A dropper removes one optional field from every observed object, as a
// Treasure response without that field is decoded: the zero value,
// recorded in Meta.Unknown.
type dropper struct {
	name string
	drop func(o *segment.State)
}

func unknown(m *segment.Meta, path string) { m.Unknown = append(m.Unknown, path) }

var droppers = []dropper{
	{"description", func(o *segment.State) {
		for i := range o.Parents {
			o.Parents[i].Description = ""
			unknown(&o.Parents[i].Meta, segment.UnknownDescription)
		}
		for i := range o.Folders {
			o.Folders[i].Description = ""
			unknown(&o.Folders[i].Meta, segment.UnknownDescription)
		}
		for i := range o.Segments {
			o.Segments[i].Description = ""
			unknown(&o.Segments[i].Meta, segment.UnknownDescription)
		}
	}},
	{"masterName", func(o *segment.State) {
		for i := range o.Parents {
			// The client reports the table name when masterName is absent.
			o.Parents[i].CustomersName = o.Parents[i].Customers.Table.Table
			unknown(&o.Parents[i].Meta, segment.UnknownCustomersName)
		}
	}},
	{"groupingName", func(o *segment.State) {
		for i := range o.Parents {
			for j := range o.Parents[i].Attributes {
				a := &o.Parents[i].Attributes[j]
				a.Group = ""
				unknown(&o.Parents[i].Meta, segment.AttributePath(a.Name, segment.UnknownGroup))
			}
		}
	}},
	{"attribute type", func(o *segment.State) {
		for i := range o.Parents {
			for j := range o.Parents[i].Attributes {
				a := &o.Parents[i].Attributes[j]
				a.Type = ""
				unknown(&o.Parents[i].Meta, segment.AttributePath(a.Name, segment.UnknownType))
			}
		}
	}},
	{"attribute catalog", func(o *segment.State) {
		for i := range o.Parents {
			p := &o.Parents[i]
			for j := range p.Attributes {
				a := &p.Attributes[j]
				// The client assumes the customers catalog, and a table
				// equal to the customers table is no join.
				if a.Join != nil {
					a.Join.Catalog = p.Customers.Catalog
					if a.Join.Table == p.Customers.Table && a.Join.Key == p.Customers.Key {
						a.Join = nil
					}
				}
				unknown(&p.Meta, segment.AttributePath(a.Name, segment.UnknownCatalog))
			}
		}
	}},
	{"behavior catalog", func(o *segment.State) {
		for i := range o.Parents {
			p := &o.Parents[i]
			for j := range p.Behaviors {
				p.Behaviors[j].Table.Catalog = p.Customers.Catalog
				unknown(&p.Meta, segment.BehaviorPath(p.Behaviors[j].Name, segment.UnknownCatalog))
			}
		}
	}},
	{"timeColumn", func(o *segment.State) {
		for i := range o.Parents {
			p := &o.Parents[i]
			for j := range p.Behaviors {
				p.Behaviors[j].Time = ""
				unknown(&p.Meta, segment.BehaviorPath(p.Behaviors[j].Name, segment.UnknownTime))
			}
		}
	}},
	{"column type", func(o *segment.State) {
		for i := range o.Parents {
			p := &o.Parents[i]
			for j := range p.Behaviors {
				b := &p.Behaviors[j]
				for k := range b.Columns {
					b.Columns[k].Type = ""
					unknown(&p.Meta, segment.ColumnPath(b.Name, b.Columns[k].Name, segment.UnknownType))
				}
			}
		}
	}},
}

// TestUnknownIsNotDifferent is a property test: for random desired
// states, dropping any optional field from every observed object never
// produces a change, and with a real difference elsewhere the plan names
// exactly that difference, never the dropped field.
func TestUnknownIsNotDifferent(t *testing.T) {
	opts := defaultOpts()
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		desired := randomState(r)
		if p := Compute(desired, observedAs(desired), opts); p.HasChanges() {
			t.Fatalf("seed %d: the applied state itself plans changes:\n%s", seed, text(p))
		}
		for _, d := range droppers {
			observed := observedAs(desired)
			d.drop(&observed)
			p := Compute(desired, observed, opts)
			if p.HasChanges() {
				t.Fatalf("seed %d, without %s: plan has changes:\n%s", seed, d.name, text(p))
			}
			// A real difference: the first parent's time zone.
			changed := desired
			changed.Parents = slices.Clone(desired.Parents)
			changed.Parents[0].Timezone = "Europe/Paris"
			p = Compute(changed, observed, opts)
			var paths []string
			for _, ch := range p.Changes {
				if ch.Action != NoOp {
					if ch.Action != Replace || ch.Kind != KindParent {
						t.Fatalf("seed %d, without %s: unexpected %s %s", seed, d.name, ch.Action, ch.Ref())
					}
					for _, fd := range ch.Diff {
						paths = append(paths, fd.Path)
					}
				}
			}
			if !slices.Equal(paths, []string{"timezone"}) {
				t.Fatalf("seed %d, without %s: replace names %v, want [timezone]:\n%s", seed, d.name, paths, text(p))
			}
		}
	}
}

func text(p *Plan) string {
	var b []byte
	for _, ch := range p.Changes {
		b = fmt.Appendf(b, "%s %s %v\n", ch.Action, ch.Ref(), ch.Diff)
	}
	return string(b)
}
