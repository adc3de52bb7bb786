package dbxstandin

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

func (g *ColumnGen) validate() error {
	if g == nil {
		return fmt.Errorf("generated table needs a gen for every column")
	}
	switch g.Kind {
	case GenSeq, GenRef, GenEmail:
		if g.Format == "" {
			return fmt.Errorf("%s generator needs a format", g.Kind)
		}
		if g.Kind == GenRef && g.Max < 1 {
			return fmt.Errorf("ref generator needs max >= 1")
		}
		if g.Kind == GenEmail && len(g.Values) == 0 {
			return fmt.Errorf("email generator needs domains in values")
		}
	case GenChoice, GenList:
		if len(g.Values) == 0 {
			return fmt.Errorf("%s generator needs values", g.Kind)
		}
		if len(g.Weights) > 0 && len(g.Weights) != len(g.Values) {
			return fmt.Errorf("choice generator has %d weights for %d values", len(g.Weights), len(g.Values))
		}
	case GenInt, GenFloat:
		if g.Max < g.Min {
			return fmt.Errorf("%s generator: max < min", g.Kind)
		}
	case GenDate, GenTimestamp, GenEpoch:
		if g.From.IsZero() || g.To.Before(g.From) {
			return fmt.Errorf("%s generator needs from <= to", g.Kind)
		}
	case GenBool, GenName:
	default:
		return fmt.Errorf("unknown generator kind %q", g.Kind)
	}
	if g.Nulls < 0 || g.Nulls >= 1 {
		return fmt.Errorf("nulls must be in [0, 1)")
	}
	return nil
}

var firstNames = []string{
	"Aiko", "Akira", "Alice", "Amara", "Ana", "Ben", "Carla", "Chen", "Daniel", "Elena",
	"Emma", "Farah", "Felix", "Grace", "Hana", "Hiro", "Ines", "Ivan", "Jonas", "Julia",
	"Kai", "Kenji", "Lara", "Leo", "Lucas", "Maya", "Mei", "Mia", "Noah", "Nora",
	"Oliver", "Omar", "Priya", "Rafael", "Ren", "Sara", "Sofia", "Tariq", "Yuki", "Zoe",
}

// columnValues renders n generated values of one column as text DuckDB can
// cast to the column type; a nil entry is NULL. The sequence depends only on
// the seed, the column name and the row number.
func columnValues(seed uint64, col Column, dt *DataType, n int) []*string {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(col.Name)))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	g := col.Gen
	out := make([]*string, n)
	total := 0
	for _, w := range g.Weights {
		total += w
	}
	for i := range n {
		// Draw the null decision first so the value stream stays aligned.
		isNull := g.Nulls > 0 && rng.Float64() < g.Nulls
		var v string
		switch g.Kind {
		case GenSeq:
			v = fmt.Sprintf(g.Format, i+1)
		case GenRef:
			v = fmt.Sprintf(g.Format, 1+rng.IntN(int(g.Max)))
		case GenEmail:
			v = strings.ToLower(fmt.Sprintf(g.Format, i+1)) + "@" + g.Values[rng.IntN(len(g.Values))]
		case GenChoice:
			v = g.Values[pick(rng, g.Weights, total, len(g.Values))]
		case GenName:
			v = firstNames[rng.IntN(len(firstNames))]
		case GenInt:
			v = strconv.FormatInt(int64(g.Min)+rng.Int64N(int64(g.Max)-int64(g.Min)+1), 10)
		case GenFloat:
			f := g.Min + rng.Float64()*(g.Max-g.Min)
			scale := g.Scale
			if scale == 0 && dt.Name == "DECIMAL" {
				scale = dt.Scale
			}
			p := math.Pow(10, float64(scale))
			v = strconv.FormatFloat(math.Round(f*p)/p, 'f', scale, 64)
		case GenBool:
			v = strconv.FormatBool(rng.Float64() < g.P)
		case GenDate:
			days := int(g.To.Sub(g.From).Hours() / 24)
			v = g.From.AddDate(0, 0, rng.IntN(days+1)).Format(time.DateOnly)
		case GenTimestamp, GenEpoch:
			secs := int64(g.To.Sub(g.From) / time.Second)
			t := g.From.Add(time.Duration(rng.Int64N(secs+1)) * time.Second).UTC()
			if g.Kind == GenEpoch {
				v = strconv.FormatInt(t.Unix(), 10)
			} else {
				v = t.Format("2006-01-02 15:04:05") + "+00"
			}
		case GenList:
			k := rng.IntN(int(math.Max(g.Max, 1)) + 1)
			perm := rng.Perm(len(g.Values))
			if k > len(perm) {
				k = len(perm)
			}
			items := make([]string, k)
			for j := range k {
				items[j] = g.Values[perm[j]]
			}
			b, _ := json.Marshal(items)
			v = string(b)
		}
		if !isNull {
			out[i] = &v
		}
	}
	return out
}

func pick(rng *rand.Rand, weights []int, total, n int) int {
	if total <= 0 {
		return rng.IntN(n)
	}
	r := rng.IntN(total)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return n - 1
}

// literalText renders an inline fixture value as text DuckDB can cast to
// the column type; nil stays NULL.
func literalText(v any, dt *DataType) (*string, error) {
	if v == nil {
		return nil, nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		s = x.String()
	case time.Time:
		switch dt.Name {
		case "DATE":
			s = x.Format(time.DateOnly)
		case "BIGINT", "INT":
			s = strconv.FormatInt(x.Unix(), 10)
		default:
			s = x.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
		}
	default:
		b, err := json.Marshal(normalizeYAML(x))
		if err != nil {
			return nil, fmt.Errorf("value %v: %w", v, err)
		}
		s = string(b)
	}
	return &s, nil
}

// normalizeYAML turns map[any]any, as YAML decoders may produce, into
// map[string]any so it can be encoded as JSON.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalizeYAML(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeYAML(e)
		}
		return out
	}
	return v
}
