package api

import (
	"fmt"
	"net/http"
	"strings"

	"ucv/hub"
	"ucv/hub/identity"
	"ucv/profile/jsonbody"
)

// maxImportBytes bounds the body of POST /v1/admin/import.
const maxImportBytes = 32 << 20

// ImportRequest is the body of POST /v1/admin/import: records of one
// source, each a row of values in the order of Columns
// (docs/decisions/0044-import.md).
type ImportRequest struct {
	// Source names the source system: 1–64 bytes of a-z, 0-9, _ - .
	Source string `json:"source"`
	// Columns name the record's columns and their field kinds (the
	// kinds of `ucv resolve --map`, identity.ParseKind).
	Columns []ImportColumn `json:"columns"`
	// Region is the default region of phone numbers without a country
	// code ("US" when empty).
	Region string `json:"region,omitempty"`
	// DateOrder reads ambiguous slashed birth dates: "auto" (keep both
	// readings), "mdy" or "dmy".
	DateOrder string `json:"date_order,omitempty"`
	// Records are at most hub.MaxImportRecords rows.
	Records []ImportRow `json:"records"`
}

// ImportColumn is one column of an ImportRequest.
type ImportColumn struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// ImportRow is one source record: its ID in the source and its values,
// one per column ("" for none).
type ImportRow struct {
	ID     string   `json:"id"`
	Values []string `json:"values"`
}

// ImportResponse answers an import: the records applied (created or
// changed), unchanged (already held those values, or erased), and the
// refused ones with every bad column. Valid records are committed even
// when others are refused, as in a Segment batch.
type ImportResponse struct {
	Index     uint64        `json:"index,omitempty"`
	Applied   int           `json:"applied"`
	Unchanged int           `json:"unchanged"`
	Errors    []ImportError `json:"errors,omitempty"`
}

// ImportError is one bad field of a refused record; Record is its
// position in the request. Reason never holds the value.
type ImportError struct {
	Record int    `json:"record"`
	ID     string `json:"id"`
	Column string `json:"column"`
	Reason string `json:"reason"`
}

// importRecords commits a batch of source records as fragments of the
// identity graph and answers after the Raft commit. A record keyed by
// (source, id) is a fragment of its own (hub.ImportFragmentID), found
// as record:{source}/{id}.
func (s *Server) importRecords(w http.ResponseWriter, r *http.Request) error {
	var req ImportRequest
	if err := s.decodeJSONLimit(w, r, &req, maxImportBytes); err != nil {
		return err
	}
	if err := hub.ValidSource(req.Source); err != nil {
		return fmt.Errorf("%w: source: %w", ErrBadRequest, err)
	}
	if len(req.Columns) == 0 {
		return fmt.Errorf("%w: columns: at least one is required", ErrBadRequest)
	}
	if len(req.Records) > hub.MaxImportRecords {
		return fmt.Errorf("%w: records: %d, limit %d", ErrBadRequest, len(req.Records), hub.MaxImportRecords)
	}
	cols := make([]hub.ImportColumn, len(req.Columns))
	seen := map[string]bool{}
	for i, c := range req.Columns {
		k, err := identity.ParseKind(c.Kind)
		if err != nil {
			return fmt.Errorf("%w: columns[%d].kind: %w", ErrBadRequest, i, err)
		}
		if strings.TrimSpace(c.Name) == "" || seen[c.Name] {
			return fmt.Errorf("%w: columns[%d].name: empty or repeated", ErrBadRequest, i)
		}
		seen[c.Name] = true
		cols[i] = hub.ImportColumn{Name: c.Name, Kind: k}
	}
	traits, types, err := hub.ImportShape(cols)
	if err != nil {
		return fmt.Errorf("%w: columns: %w", ErrBadRequest, err)
	}
	region := req.Region
	if region == "" {
		region = "US"
	}
	order := identity.DateAuto
	switch strings.ToLower(req.DateOrder) {
	case "", "auto":
	case "mdy":
		order = identity.DateMDY
	case "dmy":
		order = identity.DateDMY
	default:
		return fmt.Errorf("%w: date_order: must be auto, mdy or dmy", ErrBadRequest)
	}
	im := &hub.Import{Source: req.Source, Traits: traits, Types: types, Records: make([]hub.ImportRecord, 0, len(req.Records))}
	var resp ImportResponse
	ids := make(map[string]int, len(req.Records))
	for i, row := range req.Records {
		rec, errs := hub.ImportRecordOf(req.Source, row.ID, cols, row.Values, region, order)
		if prev, dup := ids[row.ID]; dup && len(errs) == 0 {
			errs = append(errs, hub.ImportFieldError{Column: "(id)", Reason: fmt.Sprintf("record ID repeats record %d of the request", prev)})
		}
		for _, e := range errs {
			resp.Errors = append(resp.Errors, ImportError{Record: i, ID: row.ID, Column: e.Column, Reason: e.Reason})
		}
		if len(errs) > 0 {
			continue
		}
		ids[row.ID] = i
		im.Records = append(im.Records, rec)
	}
	if len(im.Records) > 0 {
		cmd, err := hub.MarshalImport(im)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		res, err := s.node.Apply(r.Context(), cmd)
		if err != nil {
			return err
		}
		resp.Index, resp.Applied, resp.Unchanged = res.Index, res.Applied, res.Skipped
	}
	writeJSON(w, http.StatusOK, &resp)
	return nil
}

// decodeJSONLimit is decodeJSON with a body limit of its own.
func (s *Server) decodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int) error {
	b, err := s.readBody(w, r, limit)
	if err != nil {
		return err
	}
	return decodeStrict(b, v)
}

// decodeStrict decodes one JSON value, refusing unknown fields; an error
// is a 400 naming the field (jsonbody).
func decodeStrict(b []byte, v any) error {
	if err := jsonbody.Decode(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

// importStats answers what the hub holds of a source's records.
func (s *Server) importStats(w http.ResponseWriter, r *http.Request) error {
	src := r.PathValue("source")
	if err := hub.ValidSource(src); err != nil {
		return fmt.Errorf("%w: source: %w", ErrBadRequest, err)
	}
	st := s.node.FSM().ImportStats(src)
	writeJSON(w, http.StatusOK, &st)
	return nil
}
