package spec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"
)

// A compact binary encoding of exported Go values for the cache's Export
// and Import between processes of the same binary: both sides know the
// type, so only values are written. Unlike encoding/gob it keeps a pointer
// to a zero value (a *bool false is not nil) and nil apart from empty.
// A string that occurs again (a file's path in every position, field
// names) is written as the number of its first occurrence, and decoded as
// the same string, which the decoded result then holds once.

var timeType = reflect.TypeOf(time.Time{})

type wireEncoder struct {
	b []byte
	// strs numbers the non-empty strings written, from 1.
	strs map[string]uint64
}

// str writes a string: 0 and the counted bytes the first time, its number
// after that.
func (e *wireEncoder) str(s string) {
	if n, ok := e.strs[s]; ok {
		e.uvarint(n)
		return
	}
	e.uvarint(0)
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
	if s != "" {
		if e.strs == nil {
			e.strs = map[string]uint64{}
		}
		e.strs[s] = uint64(len(e.strs)) + 1
	}
}

func (e *wireEncoder) uvarint(n uint64) { e.b = binary.AppendUvarint(e.b, n) }

func (e *wireEncoder) value(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.b = binary.AppendVarint(e.b, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		e.uvarint(v.Uint())
	case reflect.Float32, reflect.Float64:
		e.uvarint(math.Float64bits(v.Float()))
	case reflect.String:
		e.str(v.String())
	case reflect.Pointer:
		if v.IsNil() {
			e.b = append(e.b, 0)
			return nil
		}
		e.b = append(e.b, 1)
		return e.value(v.Elem())
	case reflect.Slice:
		return e.slice(v)
	case reflect.Array:
		for i := range v.Len() {
			if err := e.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		return e.mapValue(v)
	case reflect.Struct:
		return e.structValue(v)
	default:
		return fmt.Errorf("cannot encode a %s", v.Type())
	}
	return nil
}

// slice writes nil as 0 and otherwise the length plus one and the
// elements.
func (e *wireEncoder) slice(v reflect.Value) error {
	if v.IsNil() {
		e.uvarint(0)
		return nil
	}
	e.uvarint(uint64(v.Len()) + 1)
	if v.Type().Elem().Kind() == reflect.Uint8 {
		e.b = append(e.b, v.Bytes()...)
		return nil
	}
	for i := range v.Len() {
		if err := e.value(v.Index(i)); err != nil {
			return err
		}
	}
	return nil
}

// mapValue writes nil as 0 and otherwise the length plus one and the keys
// and values.
func (e *wireEncoder) mapValue(v reflect.Value) error {
	if v.IsNil() {
		e.uvarint(0)
		return nil
	}
	e.uvarint(uint64(v.Len()) + 1)
	it := v.MapRange()
	for it.Next() {
		if err := e.value(it.Key()); err != nil {
			return err
		}
		if err := e.value(it.Value()); err != nil {
			return err
		}
	}
	return nil
}

// structValue writes a time in its binary form and any other struct field
// by field; every field must be exported.
func (e *wireEncoder) structValue(v reflect.Value) error {
	if v.Type() == timeType {
		t := v.Interface().(time.Time)
		b, err := t.MarshalBinary()
		if err != nil {
			return err
		}
		e.uvarint(uint64(len(b)))
		e.b = append(e.b, b...)
		return nil
	}
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			return fmt.Errorf("cannot encode the unexported field %s.%s", v.Type(), v.Type().Field(i).Name)
		}
		if err := e.value(v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

type wireDecoder struct {
	b []byte
	// strs are the non-empty strings read, by number less one.
	strs []string
}

var errShort = errors.New("cached result truncated")

// str reads what wireEncoder.str wrote.
func (d *wireDecoder) str() (string, error) {
	n, err := d.uvarint()
	if err != nil {
		return "", err
	}
	if n > 0 {
		if n > uint64(len(d.strs)) {
			return "", errors.New("cached result refers to a string it does not hold")
		}
		return d.strs[n-1], nil
	}
	b, err := d.counted()
	if err != nil || len(b) == 0 {
		return "", err
	}
	s := string(b)
	d.strs = append(d.strs, s)
	return s, nil
}

func (d *wireDecoder) uvarint() (uint64, error) {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		return 0, errShort
	}
	d.b = d.b[k:]
	return n, nil
}

func (d *wireDecoder) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)) {
		return nil, errShort
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b, nil
}

func (d *wireDecoder) value(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Bool:
		b, err := d.bytes(1)
		if err != nil {
			return err
		}
		v.SetBool(b[0] == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, k := binary.Varint(d.b)
		if k <= 0 {
			return errShort
		}
		d.b = d.b[k:]
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := d.uvarint()
		if err != nil {
			return err
		}
		v.SetFloat(math.Float64frombits(n))
	case reflect.String:
		s, err := d.str()
		if err != nil {
			return err
		}
		v.SetString(s)
	case reflect.Pointer:
		b, err := d.bytes(1)
		if err != nil || b[0] == 0 {
			return err
		}
		p := reflect.New(v.Type().Elem())
		if err := d.value(p.Elem()); err != nil {
			return err
		}
		v.Set(p)
	case reflect.Slice:
		return d.slice(v)
	case reflect.Array:
		for i := range v.Len() {
			if err := d.value(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		return d.mapValue(v)
	case reflect.Struct:
		return d.structValue(v)
	default:
		return fmt.Errorf("cannot decode a %s", v.Type())
	}
	return nil
}

// counted reads a length and that many bytes.
func (d *wireDecoder) counted() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	return d.bytes(n)
}

// slice reads what wireEncoder.slice wrote; a 0 leaves v nil.
func (d *wireDecoder) slice(v reflect.Value) error {
	n, err := d.uvarint()
	if err != nil || n == 0 {
		return err
	}
	n--
	if v.Type().Elem().Kind() == reflect.Uint8 {
		b, err := d.bytes(n)
		if err != nil {
			return err
		}
		v.SetBytes(append([]byte(nil), b...))
		return nil
	}
	if n > uint64(len(d.b)) { // every element takes at least one byte
		return errShort
	}
	s := reflect.MakeSlice(v.Type(), int(n), int(n))
	for i := range int(n) {
		if err := d.value(s.Index(i)); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

// mapValue reads what wireEncoder.mapValue wrote; a 0 leaves v nil.
func (d *wireDecoder) mapValue(v reflect.Value) error {
	n, err := d.uvarint()
	if err != nil || n == 0 {
		return err
	}
	n--
	if n > uint64(len(d.b)) {
		return errShort
	}
	m := reflect.MakeMapWithSize(v.Type(), int(n))
	for range n {
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		if err := d.value(k); err != nil {
			return err
		}
		if err := d.value(e); err != nil {
			return err
		}
		m.SetMapIndex(k, e)
	}
	v.Set(m)
	return nil
}

// structValue reads what wireEncoder.structValue wrote.
func (d *wireDecoder) structValue(v reflect.Value) error {
	if v.Type() == timeType {
		b, err := d.counted()
		if err != nil {
			return err
		}
		var t time.Time
		if err := t.UnmarshalBinary(b); err != nil {
			return err
		}
		v.Set(reflect.ValueOf(t))
		return nil
	}
	for i := range v.NumField() {
		if err := d.value(v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}
