package profile

import (
	"errors"
	"testing"
)

// U+0000 in an identifier, a trait key or an event name is refused
// naming the field.
func TestNULRefused(t *testing.T) {
	tests := []struct{ name, body, field string }{
		{"userId", `{"type":"track","userId":"u\u0000x","event":"E"}`, "userId"},
		{"anonymousId", `{"type":"track","anonymousId":"a\u0000","event":"E"}`, "anonymousId"},
		{"event name", `{"type":"track","userId":"u","event":"Signed\u0000Up"}`, "event"},
		{"page name", `{"type":"page","userId":"u","name":"\u0000"}`, "name"},
		{"trait key", `{"type":"identify","userId":"u","traits":{"pl\u0000an":"pro"}}`, "traits"},
		{"context trait key", `{"type":"identify","userId":"u","context":{"traits":{"\u0000":"x"}}}`, "traits"},
		{"e-mail", `{"type":"identify","userId":"u","traits":{"email":"ann@example.com\u0000"}}`, "traits.email"},
		{"device id", `{"type":"track","userId":"u","event":"E","context":{"device":{"id":"d\u0000"}}}`, "context.device.id"},
		{"external id", `{"type":"track","userId":"u","event":"E","context":{"externalIds":[{"id":"x\u0000","type":"crm"}]}}`, "context.externalIds[0].id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage([]byte(tt.body), "", t0, parseOpts())
			var fe *FieldError
			nul := errors.As(err, &fe) && (fe.Reason == reasonNUL || fe.Reason == "has a key holding a NUL character")
			if !nul || fe.Field != tt.field {
				t.Fatalf("err = %v, want a NUL FieldError naming %s", err, tt.field)
			}
		})
	}
	if _, err := NewIdentifier("identifier", UserID, "u\x00", DefaultNormalizeOptions()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewIdentifier with NUL = %v, want ErrInvalid", err)
	}
}
