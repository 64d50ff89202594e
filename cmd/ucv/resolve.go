package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	hid "ucv/hub/identity"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// resolveConfig is what `ucv resolve` was asked to do.
type resolveConfig struct {
	inputs  []string
	mapping []columnKind // in flag order
	idCols  []string
	output  string
	explain string
	// saveModel, when set, is the file the trained model is written to
	// (hub/identity's Marshal encoding), for POST /v1/admin/model.
	saveModel string
	region    string
	order     hid.DateOrder
}

type columnKind struct {
	column string
	kind   hid.Kind
}

const resolveUsage = `Usage: ucv resolve --input FILE [--input FILE…] --map COLUMN=KIND,… --id COLUMN[+COLUMN] --output clusters.csv [--explain explain.ndjson] [--save-model model.bin]

Clusters the records of one or more CSV files (with header rows) into
people and writes record_id,cluster_id. Several files form one job; a
mapped column that a file lacks is empty for that file's records.

KINDs: %s

national_id, passport and drivers_license values may name their issuer
as a prefix ("US:123-45-6789", "US-CA:D1234567"); different documents of
one issuer never merge. A record with an org_name is an organisation and
never merges with a person; generation holds Jr/Sr/II/III/IV. occupation
(a job or title) counts when both records give one: the same value for,
weighted by how common it is; a different one against.

The explain file holds one JSON object per link (why two records are one
person), then one per pending review item, highest expected benefit
first: the strongest pair between two clusters that are more likely one
person than not, with cluster_probability and expected_benefit (records
a ruling is expected to fix). It contains the compared values —
personal data — so treat it like the input files.

Flags:
`

// runResolve implements `ucv resolve`.
func runResolve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseResolveFlags(args, stderr)
	if err != nil {
		return err
	}
	recs, err := readResolveInputs(cfg)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("no records in the input files")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	icfg := hid.DefaultConfig()
	icfg.Region = cfg.region
	icfg.DateOrder = cfg.order
	model, err := hid.TrainResolved(recs, icfg)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	ix := hid.NewIndex(model)
	bar := newProgress(stderr, len(recs), "resolve")
	err = ix.Load(recs, bar.set)
	bar.finish()
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	if err := writeClusters(cfg.output, ix); err != nil {
		return err
	}
	if cfg.saveModel != "" {
		b, err := model.Marshal()
		if err != nil {
			return err
		}
		// 0600: the term-frequency tables hold names, cities and postcodes.
		if err := os.WriteFile(cfg.saveModel, b, 0o600); err != nil {
			return fmt.Errorf("save model: %w", err)
		}
	}
	if cfg.explain != "" {
		if err := writeExplain(cfg.explain, ix); err != nil {
			return err
		}
	}
	clusters := ix.Clusters()
	multi := 0
	for _, c := range clusters {
		if len(c.Records) > 1 {
			multi++
		}
	}
	fmt.Fprintf(stdout, "%d records, %d clusters (%d with more than one record), %d pending reviews\n",
		len(recs), len(clusters), multi, len(ix.Reviews()))
	return nil
}

func parseResolveFlags(args []string, stderr io.Writer) (resolveConfig, error) {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kinds := kindNames()
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), resolveUsage, strings.Join(kinds, ", "))
		fs.PrintDefaults()
	}
	var inputs, maps stringList
	fs.Var(&inputs, "input", "CSV `file` to read (repeatable)")
	fs.Var(&maps, "map", "`COLUMN=KIND,…` column mapping (repeatable)")
	id := fs.String("id", "", "record id `COLUMN[+COLUMN]`; joined values become the record id")
	output := fs.String("output", "", "clusters CSV `file` to write (record_id,cluster_id)")
	explain := fs.String("explain", "", "optional NDJSON `file` explaining every link and review")
	saveModel := fs.String("save-model", "", "optional `file` to write the trained model to, for a hub's POST /v1/admin/model (holds names from the input: personal data)")
	region := fs.String("region", envOr("UCV_REGION", "US"), "region for phone numbers without a country code (env UCV_REGION)")
	order := fs.String("date-order", "auto", "reading of ambiguous slashed dates: auto, mdy or dmy")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return resolveConfig{}, err
		}
		return resolveConfig{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return resolveConfig{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg := resolveConfig{inputs: inputs, output: *output, explain: *explain, saveModel: *saveModel, region: *region}
	switch {
	case len(inputs) == 0:
		return cfg, fmt.Errorf("%w: --input is required", errUsage)
	case len(maps) == 0:
		return cfg, fmt.Errorf("%w: --map is required", errUsage)
	case strings.TrimSpace(*id) == "":
		return cfg, fmt.Errorf("%w: --id is required", errUsage)
	case *output == "":
		return cfg, fmt.Errorf("%w: --output is required", errUsage)
	}
	switch strings.ToLower(*order) {
	case "auto":
		cfg.order = hid.DateAuto
	case "mdy":
		cfg.order = hid.DateMDY
	case "dmy":
		cfg.order = hid.DateDMY
	default:
		return cfg, fmt.Errorf("%w: --date-order must be auto, mdy or dmy", errUsage)
	}
	mapping, err := parseColumnMap(maps, kinds)
	if err != nil {
		return cfg, err
	}
	cfg.mapping = mapping
	if cfg.idCols, err = parseIDColumns(*id); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// csvFile is one parsed input file.
type csvFile struct {
	path   string
	header map[string]int
	rows   [][]string
	lines  []int // line number of each row
}

func readCSVFile(path string) (*csvFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReader(f))
	cr.ReuseRecord = false
	head, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file (a header row is required)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, csvErr(err))
	}
	cf := &csvFile{path: path, header: map[string]int{}}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := cf.header[h]; dup && h != "" {
			return nil, fmt.Errorf("%s: line 1: column %q appears twice", path, h)
		}
		cf.header[h] = i
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return cf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, csvErr(err))
		}
		line, _ := cr.FieldPos(0)
		for i := range row {
			row[i] = strings.TrimSpace(row[i])
		}
		cf.rows = append(cf.rows, row)
		cf.lines = append(cf.lines, line)
	}
}

// csvErr rewrites csv.ParseError so it says "line N: …" without the
// offending content.
func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("line %d: ragged row: %w", pe.Line, pe.Err)
		}
		return fmt.Errorf("line %d, column %d: %w", pe.Line, pe.Column, pe.Err)
	}
	return err
}

func readResolveInputs(cfg resolveConfig) ([]hid.Record, error) {
	files := make([]*csvFile, 0, len(cfg.inputs))
	for _, p := range cfg.inputs {
		f, err := readCSVFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	for _, ck := range cfg.mapping {
		found := false
		for _, f := range files {
			if _, ok := f.header[ck.column]; ok {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("mapped column %q is in none of the input files", ck.column)
		}
	}
	for _, f := range files {
		for _, c := range cfg.idCols {
			if _, ok := f.header[c]; !ok {
				return nil, fmt.Errorf("%s: id column %q is missing", f.path, c)
			}
		}
	}
	var recs []hid.Record
	where := map[string]string{}
	for _, f := range files {
		// Birth-date order is decided per column from its values.
		orders := map[string]hid.DateOrder{}
		for _, ck := range cfg.mapping {
			if i, ok := f.header[ck.column]; ok && ck.kind == hid.BirthDate && cfg.order == hid.DateAuto {
				vals := make([]string, len(f.rows))
				for r, row := range f.rows {
					vals[r] = row[i]
				}
				orders[ck.column] = hid.DetectDateOrder(vals)
			}
		}
		for r, row := range f.rows {
			parts := make([]string, len(cfg.idCols))
			for i, c := range cfg.idCols {
				parts[i] = row[f.header[c]]
			}
			id := strings.Join(parts, ":")
			at := fmt.Sprintf("%s:%d", f.path, f.lines[r])
			if strings.Trim(id, ":") == "" {
				return nil, fmt.Errorf("%s: empty record id", at)
			}
			if prev, dup := where[id]; dup {
				return nil, fmt.Errorf("%s: record id %q already used at %s (use --id with more columns, e.g. source+id)", at, id, prev)
			}
			where[id] = at
			rec := hid.Record{ID: id}
			for _, ck := range cfg.mapping {
				i, ok := f.header[ck.column]
				if !ok || row[i] == "" {
					continue
				}
				v := row[i]
				if o, ok := orders[ck.column]; ok && o != hid.DateAuto {
					if ds := hid.ParseBirthDate(v, o); len(ds) == 1 {
						v = ds[0]
					}
				}
				rec.Fields = append(rec.Fields, hid.Field{Kind: ck.kind, Name: ck.column, Value: v})
			}
			recs = append(recs, rec)
		}
	}
	return recs, nil
}

func writeClusters(path string, ix *hid.Index) error {
	return writeFile(path, func(w *bufio.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"record_id", "cluster_id"}); err != nil {
			return err
		}
		for _, a := range ix.Assignments() {
			if err := cw.Write([]string{a[0], a[1]}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// explainLine is one line of the explain file.
type explainLine struct {
	Type        string   `json:"type"` // "link" or "review"
	ClusterID   string   `json:"cluster_id,omitempty"`
	A           string   `json:"a"`
	B           string   `json:"b"`
	Rule        string   `json:"rule,omitempty"`
	Weight      float64  `json:"weight"`
	Probability float64  `json:"probability"`
	Identifiers []string `json:"identifiers,omitempty"`
	Swapped     bool     `json:"names_swapped,omitempty"`
	// Review items only (hid.Review): the clusters' match probability,
	// the expected benefit the queue is ordered by, the clusters' sizes
	// and the candidate pairs the item stands for.
	ClusterProbability float64     `json:"cluster_probability,omitempty"`
	ExpectedBenefit    float64     `json:"expected_benefit,omitempty"`
	SizeA              int         `json:"size_a,omitempty"`
	SizeB              int         `json:"size_b,omitempty"`
	Pairs              int         `json:"pairs,omitempty"`
	Levels             []hid.Level `json:"levels"`
}

func writeExplain(path string, ix *hid.Index) error {
	return writeFile(path, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		emit := func(l explainLine) error {
			e, err := ix.Explain(l.A, l.B)
			if err != nil {
				return err
			}
			l.Levels, l.Swapped = e.Levels, e.Swapped
			return enc.Encode(l)
		}
		for _, c := range ix.Clusters() {
			for _, lk := range c.Links {
				l := explainLine{Type: "link", ClusterID: c.ID, A: lk.A, B: lk.B, Rule: lk.Rule,
					Weight: round3(lk.Weight), Probability: round6(lk.Probability)}
				for _, id := range lk.Identifiers {
					l.Identifiers = append(l.Identifiers, id.Key())
				}
				if err := emit(l); err != nil {
					return err
				}
			}
		}
		// The review queue in its own order: highest expected benefit
		// first (decision 0048).
		for _, r := range ix.Reviews() {
			if err := emit(explainLine{Type: "review", A: r.A, B: r.B, Weight: round3(r.Weight), Probability: round6(r.Probability),
				ClusterProbability: round6(r.ClusterProbability), ExpectedBenefit: round3(r.Benefit),
				SizeA: r.SizeA, SizeB: r.SizeB, Pairs: r.Pairs}); err != nil {
				return err
			}
		}
		return nil
	})
}

func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// writeFile writes through a temporary file and renames it into place, so
// a failed run never leaves a half-written output.
func writeFile(path string, fill func(w *bufio.Writer) error) error {
	tmp, err := os.CreateTemp(dirOf(path), ".ucv-resolve-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	if err := fill(w); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// parseColumnMap parses --map values (each COLUMN=KIND[,COLUMN=KIND…])
// into columns and their kinds, in order; kinds names the known kinds
// for the error. A usage error names the entry at fault.
func parseColumnMap(maps, kinds []string) ([]columnKind, error) {
	var out []columnKind
	seen := map[string]bool{}
	for _, m := range maps {
		for _, item := range strings.Split(m, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			col, kind, ok := strings.Cut(item, "=")
			col = strings.TrimSpace(col)
			if !ok || col == "" {
				return nil, fmt.Errorf("%w: --map entry %q is not COLUMN=KIND", errUsage, item)
			}
			k, err := hid.ParseKind(kind)
			if err != nil {
				return nil, fmt.Errorf("%w: --map %s: unknown kind %q (known: %s)", errUsage, col, strings.TrimSpace(kind), strings.Join(kinds, ", "))
			}
			if seen[col] {
				return nil, fmt.Errorf("%w: --map names column %q twice", errUsage, col)
			}
			seen[col] = true
			out = append(out, columnKind{col, k})
		}
	}
	return out, nil
}

// kindNames lists the names of hub/identity's field kinds, in order.
func kindNames() []string {
	out := make([]string, 0, len(hid.Kinds()))
	for _, k := range hid.Kinds() {
		out = append(out, string(k))
	}
	return out
}

// parseIDColumns parses --id COLUMN[+COLUMN…]; an empty column name is a
// usage error.
func parseIDColumns(id string) ([]string, error) {
	var out []string
	for _, c := range strings.Split(id, "+") {
		c = strings.TrimSpace(c)
		if c == "" {
			return nil, fmt.Errorf("%w: --id %q has an empty column name", errUsage, id)
		}
		out = append(out, c)
	}
	return out, nil
}
