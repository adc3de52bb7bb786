package plan

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func act(segName, name string) segment.Activation {
	return segment.Activation{Parent: parentName, Segment: segName, Name: name, Connection: "s3", ConnectionID: "9",
		Columns: []string{"ltv"}, Schedule: segment.Schedule{Repeat: "day"},
		ConnectorConfig: map[string]segment.ConfigValue{"bucket": {Value: `"b"`}, "password": {Env: "PW"}}}
}

// observedAct is act as Treasure reports it: ids, the secret hidden, the
// frequency filled in.
func observedAct(segName, name, id string, m segment.Meta) segment.Activation {
	a := act(segName, name)
	a.Connection = ""
	a.Schedule.Every = 1
	a.ConnectorConfig = map[string]segment.ConfigValue{"bucket": {Value: `"b"`}, "password": {Hidden: true}}
	m.ID = id
	a.Meta, a.SegmentID = m, "10"
	return a
}

func activated(s segment.Segment, acts ...segment.Activation) segment.Segment {
	s.HasActivations, s.Activations = true, acts
	return s
}

func TestActivations(t *testing.T) {
	p := parent()
	vip := seg("VIP", "", valueRule("ltv", 1))
	obsVIP := withMeta(vip, owned("10"))
	unowned := segment.Meta{UpdatedBy: "alice"}
	changed := act("VIP", "S3")
	changed.Columns = []string{"ltv", "email"}
	tests := []struct {
		name              string
		desired, observed []segment.Segment
		opts              func(*Options)
		want              []string
	}{
		{"create after a new segment", []segment.Segment{activated(vip, act("VIP", "S3"))}, nil, nil,
			[]string{"create segment Retail/VIP", "create activation Retail/VIP → S3"}},
		{"unchanged, secret not compared", []segment.Segment{activated(vip, act("VIP", "S3"))},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", owned("20")))}, nil,
			[]string{"no-op segment Retail/VIP", "no-op activation Retail/VIP → S3"}},
		{"update", []segment.Segment{activated(vip, changed)},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", owned("20")))}, nil,
			[]string{"no-op segment Retail/VIP", "update activation Retail/VIP → S3"}},
		{"prune an owned one", []segment.Segment{activated(vip)},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", owned("20")))}, nil,
			[]string{"no-op segment Retail/VIP", "delete activation Retail/VIP → S3"}},
		{"prune disabled", []segment.Segment{activated(vip)},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", owned("20")))},
			func(o *Options) { o.Prune.Enabled = false },
			[]string{"no-op segment Retail/VIP", "delete activation Retail/VIP → S3 [blocked]"}},
		{"prune over the cap", []segment.Segment{activated(vip)},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "A", "20", owned("20")), observedAct("VIP", "B", "21", owned("21")))},
			func(o *Options) { o.Prune.MaxDeletes = 1 },
			[]string{"no-op segment Retail/VIP", "delete activation Retail/VIP → A [blocked]", "delete activation Retail/VIP → B [blocked]"}},
		{"protected", []segment.Segment{activated(vip)},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", owned("20")))},
			func(o *Options) {
				o.Protect = []Object{{Kind: KindActivation, Key: segment.Key{Parent: parentName, Name: "VIP → S3"}}}
			},
			[]string{"no-op segment Retail/VIP", "delete activation Retail/VIP → S3 [blocked]"}},
		{"unowned is never pruned", []segment.Segment{activated(vip)},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", unowned))}, nil,
			[]string{"no-op segment Retail/VIP"}},
		{"unowned of a declared name conflicts", []segment.Segment{activated(vip, act("VIP", "S3"))},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", unowned))}, nil,
			[]string{"no-op segment Retail/VIP", "conflict activation Retail/VIP → S3"}},
		{"not declared: left alone", []segment.Segment{vip},
			[]segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", owned("20")))}, nil,
			[]string{"no-op segment Retail/VIP"}},
		{"renamed segment keeps its activation", []segment.Segment{func() segment.Segment {
			s := activated(seg("Top", "", valueRule("ltv", 1)), act("Top", "S3"))
			s.RenamedFrom = []string{"VIP"}
			return s
		}()}, []segment.Segment{activated(obsVIP, observedAct("VIP", "S3", "20", owned("20")))}, nil,
			[]string{"update segment Retail/Top", "no-op activation Retail/Top → S3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOpts()
			if tt.opts != nil {
				tt.opts(&o)
			}
			pl := Compute(segment.State{Parents: []segment.Parent{p}, Segments: tt.desired},
				segment.State{Parents: []segment.Parent{withParentMeta(p, owned("1"))}, Segments: tt.observed}, o)
			var got []string
			for _, l := range actions(pl) {
				if !strings.Contains(l, "parent ") {
					got = append(got, l)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("actions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, c := range pl.Changes {
				if c.Kind != KindActivation {
					continue
				}
				if c.Action == Delete && c.Level <= levelActivation || c.Action != Delete && c.Level >= levelDeleteSegment {
					t.Errorf("%s at level %d", c.Ref(), c.Level)
				}
				if !slices.Contains(c.DependsOn, Ref(KindSegment, segment.Key{Parent: parentName, Name: strings.SplitN(c.Key.Name, " → ", 2)[0]})) {
					t.Errorf("%s does not depend on its segment: %v", c.Ref(), c.DependsOn)
				}
			}
		})
	}
}

func TestActivationRendering(t *testing.T) {
	p := parent()
	pl := Compute(segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{activated(seg("VIP", "", valueRule("ltv", 1)), act("VIP", "S3"))}},
		segment.State{Parents: []segment.Parent{withParentMeta(p, owned("1"))}}, defaultOpts())
	var text, md, js bytes.Buffer
	if err := WriteText(&text, pl, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, pl, "", 0); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, pl, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`+ activation "VIP → S3"`, `connectorConfig.bucket: "b"`, "connectorConfig.password: (from environment variable PW)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "activation <b>VIP → S3</b>") {
		t.Errorf("markdown lacks the activation:\n%s", md.String())
	}
	var doc struct {
		Changes []struct{ Action, Kind, Name string }
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range doc.Changes {
		found = found || c.Kind == "activation" && c.Action == "create" && c.Name == "VIP → S3"
	}
	if !found {
		t.Errorf("JSON lacks the activation: %s", js.String())
	}
}

// TestActivationFingerprintIgnoresSecrets: what Treasure reports of a
// written activation has the fingerprint that was written.
func TestActivationFingerprintIgnoresSecrets(t *testing.T) {
	d := act("VIP", "S3")
	o := observedAct("VIP", "S3", "20", owned("20"))
	if Fingerprint(&d) != Fingerprint(&o) {
		t.Errorf("fingerprints differ: %s %s", Fingerprint(&d), Fingerprint(&o))
	}
	o.Schedule.Repeat = "week"
	if Fingerprint(&d) == Fingerprint(&o) {
		t.Error("a changed schedule keeps the fingerprint")
	}
}
