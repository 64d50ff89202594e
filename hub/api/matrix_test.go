package api_test

import (
	"os"
	"strings"
	"testing"

	"ucv/hub/api"
	hubtoken "ucv/hub/token"
)

// TestRoleMatrixInREADME: the README's "Hub roles" table is the role
// matrix the routes are registered from, cell for cell.
func TestRoleMatrixInREADME(t *testing.T) {
	want := matrixMarkdown(api.RoleMatrix())
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), want) {
		t.Errorf("the README's role matrix differs from api.RoleMatrix; it should read:\n\n%s", want)
	}
}

// matrixMarkdown renders the matrix as a Markdown table: a column per
// role, ✓ for a whole-route grant, the grant's note for a limited one.
func matrixMarkdown(routes []api.Route) string {
	var sb strings.Builder
	roles := hubtoken.Roles()
	sb.WriteString("| route | anyone |")
	for _, r := range roles {
		sb.WriteString(" " + string(r) + " |")
	}
	sb.WriteString("\n|---|---|" + strings.Repeat("---|", len(roles)) + "\n")
	for _, rt := range routes {
		cells := []string{"`" + rt.Method + " " + rt.Path + "`", ""}
		if rt.Open {
			cells[1] = "✓"
		}
		for _, r := range roles {
			cell := ""
			for _, g := range rt.Grants {
				if g.Role == r {
					cell = "✓"
					if g.Note != "" {
						cell = g.Note
					}
				}
			}
			cells = append(cells, cell)
		}
		sb.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return sb.String()
}
