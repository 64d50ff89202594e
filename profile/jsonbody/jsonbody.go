// Package jsonbody decodes the JSON bodies of API requests strictly: one
// JSON value, no field the target type does not declare, and an error
// that names the field at fault in the API's own terms ("cap.max: must
// be a number, not a string") instead of encoding/json's, which speak of
// Go types and struct names.
//
// Values never appear in its messages: a body may hold personal data.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Error is a body that could not be decoded: Field is the JSON path of
// the value at fault ("identifier", "cap.max") or "body" when the body as
// a whole is; Message says what is wrong with it.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Field + ": " + e.Message }

// Decode decodes b, which must hold exactly one JSON value, into v,
// refusing object fields v's type does not declare. Errors are *Error.
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explain(err, reflect.TypeOf(v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Field: "body", Message: "holds more than one JSON value"}
	}
	return nil
}

// explain turns an error of encoding/json's decoder, decoding into a
// value of type t, into an *Error naming the field (errors it does not
// know become a "body" error carrying their text).
func explain(err error, t reflect.Type) error {
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case errors.As(err, &te) && te.Field != "":
		what := "must be"
		// encoding/json's path stops at a map or array: say it is one of
		// its values that is wrong.
		if ft := fieldType(t, strings.Split(te.Field, ".")); ft != nil && ft != te.Type {
			switch ft.Kind() {
			case reflect.Map:
				what = "each value must be"
			case reflect.Slice, reflect.Array:
				what = "each element must be"
			}
		}
		return &Error{Field: te.Field, Message: fmt.Sprintf("%s %s, not %s", what, describe(te.Type), article(te.Value))}
	case errors.As(err, &te):
		return &Error{Field: "body", Message: fmt.Sprintf("must be %s, not %s", describe(te.Type), article(te.Value))}
	case errors.As(err, &se):
		return &Error{Field: "body", Message: fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset)}
	case errors.Is(err, io.EOF):
		return &Error{Field: "body", Message: "is empty"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Field: "body", Message: "ends in the middle of a JSON value"}
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f = strings.Trim(f, `"`); f == "" {
			return &Error{Field: "body", Message: "has a field with an empty name"}
		}
		return &Error{Field: f, Message: "is not a known field"}
	}
	return &Error{Field: "body", Message: "is not valid: " + err.Error()}
}

// fieldType follows path (JSON field names) from t through structs, and
// through the elements of pointers, maps and arrays met on the way, and
// returns the type the path ends at, nil if a name is not a field.
func fieldType(t reflect.Type, path []string) reflect.Type {
	for _, name := range path {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Map || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		f, ok := structField(t, name)
		if !ok {
			return nil
		}
		t = f.Type
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// structField finds the field of struct type t that JSON name decodes
// into, as encoding/json matches it (tag name, else the Go name, case
// folded).
func structField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if strings.EqualFold(tag, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// describe names what a Go type accepts in JSON terms.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number of at least 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	}
	return "a JSON value of another kind"
}

// article puts "a"/"an" before a JSON kind as encoding/json names it
// ("object", "number 1.5" — only the kind is kept: values stay out of
// messages).
func article(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "object", "array":
		return "an " + kind
	case "bool":
		return "true or false"
	case "":
		return "a value of another kind"
	}
	return "a " + kind
}
