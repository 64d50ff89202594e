package profile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An invalid item is refused on its own; the valid ones are kept with
// their positions.
func TestParseBatchKeepsValidItems(t *testing.T) {
	big := `{"type":"track","userId":"u","event":"E","properties":{"p":"` + strings.Repeat("x", MaxEventBytes) + `"}}`
	body := `{"batch":[
		{"type":"identify","userId":"u1","traits":{"email":"ann@example.com"}},
		{"type":"identify","userId":"u2","traits":{"email":"ann at example"}},
		"not an object",
		{"type":"track","userId":"u3","event":"E"},
		` + big + `,
		{"type":"track","userId":"u4"}]}`
	b, err := ParseBatch([]byte(body), t0, parseOpts())
	if err != nil {
		t.Fatalf("ParseBatch: %v", err)
	}
	var users []string
	for _, m := range b.Messages {
		users = append(users, m.UserID)
	}
	if diff := cmp.Diff(users, []string{"u1", "u3"}); diff != "" {
		t.Errorf("valid users (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(b.Index, []int{0, 3}); diff != "" {
		t.Errorf("Index (-got +want):\n%s", diff)
	}
	type rej struct {
		Index    int
		Field    string
		TooLarge bool
	}
	var got []rej
	for _, r := range b.Rejected {
		var fe *FieldError
		var le *LimitError
		switch {
		case errors.As(r.Err, &fe):
			got = append(got, rej{r.Index, fe.Field, false})
		case errors.As(r.Err, &le):
			got = append(got, rej{r.Index, le.Field, errors.Is(r.Err, ErrTooLarge)})
		default:
			t.Fatalf("item %d: error %T %v names no field", r.Index, r.Err, r.Err)
		}
		if strings.Contains(r.Err.Error(), "ann at example") {
			t.Errorf("item %d: error %q echoes the value", r.Index, r.Err)
		}
	}
	want := []rej{{1, "batch[1].traits.email", false}, {2, "batch[2]", false}, {4, "batch[4]", true}, {5, "batch[5].event", false}}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Rejected (-got +want):\n%s", diff)
	}
}
