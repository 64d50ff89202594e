package jsonbody_test

import (
	"errors"
	"strings"
	"testing"

	"ucv/profile/jsonbody"
)

type cap struct {
	Max    int    `json:"max"`
	Window string `json:"window"`
}

type offer struct {
	Placement string            `json:"placement"`
	Cap       *cap              `json:"cap"`
	Tags      []string          `json:"tags"`
	Payload   map[string]string `json:"payload"`
	On        bool              `json:"on"`
	Weight    float64           `json:"weight"`
	Count     uint              `json:"count"`
}

func TestDecodeNamesTheField(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"placement":{"a":1}}`, "placement: must be a string, not an object"},
		{`{"cap":{"max":"three"}}`, "cap.max: must be a whole number, not a string"},
		{`{"cap":{"max":1.5}}`, "cap.max: must be a whole number, not a number"},
		{`{"cap":[1]}`, "cap: must be an object, not an array"},
		{`{"tags":"a"}`, "tags: must be an array, not a string"},
		{`{"on":"yes"}`, "on: must be true or false, not a string"},
		{`{"weight":true}`, "weight: must be a number, not true or false"},
		{`{"count":-1}`, "count: must be a whole number of at least 0, not a number"},
		{`{"payload":{"code":7}}`, "payload: each value must be a string, not a number"},
		{`{"tags":["a",2]}`, "tags: each element must be a string, not a number"},
		{`{"colour":"red"}`, "colour: is not a known field"},
		{`[1,2]`, "body: must be an object, not an array"},
		{`{"placement":"a",}`, "body: is not valid JSON (at byte 18)"},
		{``, "body: is empty"},
		{`{"placement":"a"`, "body: ends in the middle of a JSON value"},
		{`{"placement":"a"} {}`, "body: holds more than one JSON value"},
	} {
		var o offer
		err := jsonbody.Decode([]byte(c.body), &o)
		var je *jsonbody.Error
		if !errors.As(err, &je) || err.Error() != c.want {
			t.Errorf("Decode(%s) = %v, want %q", c.body, err, c.want)
		}
	}
	var o offer
	if err := jsonbody.Decode([]byte(` {"placement":"checkout","cap":{"max":3}} `), &o); err != nil || o.Cap.Max != 3 {
		t.Fatalf("a good body: %+v, %v", o, err)
	}
}

// No value of the body reaches a message: a body may hold personal data.
func TestDecodeKeepsValuesOut(t *testing.T) {
	for _, body := range []string{`{"count":123456789123456789123456789}`, `{"placement":12345}`, `{"weight":"ann@example.com"}`} {
		var o offer
		err := jsonbody.Decode([]byte(body), &o)
		if err == nil {
			t.Fatalf("Decode(%s) accepted", body)
		}
		for _, v := range []string{"123456789", "12345", "ann@"} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("Decode(%s) = %q: carries a value", body, err)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"placement":"a","cap":{"max":1}}`, `{"x":1}`, `[`, `{"tags":[1]}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o offer
		err := jsonbody.Decode(b, &o)
		var je *jsonbody.Error
		if err != nil && (!errors.As(err, &je) || je.Field == "" || je.Message == "") {
			t.Fatalf("Decode(%q) = %#v, want an *Error naming a field", b, err)
		}
	})
}
