package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"ucv/hub"
	"ucv/hub/api"
)

const importUsage = `Usage: ucv import --hub URL --source NAME --input FILE [--input FILE…] --map COLUMN=KIND,… --id COLUMN[+COLUMN] [--format csv|ndjson] [--errors FILE]

Sends the records of a source system (a CRM export, a loyalty file) to the
hub, where each becomes a fragment of the identity graph, resolved like an
edge's profile and found as record:{source}/{id}
(GET /v1/admin/profiles/record:crm%%2F1001). Records are keyed by source and
ID: importing a file again changes only the rows that changed, so an
interrupted import is resumed by running it again. Rows that cannot be
imported (a bad e-mail, phone or date, no ID) are skipped and listed in
--errors with their row, column and reason; the rest are imported.

Authenticates with an admin token: --token-file or UCV_TOKEN.

Kinds: %s

Flags:
`

// importConfig is what `ucv import` runs with.
type importConfig struct {
	hub, source, errors, format, region, order string
	inputs                                     []string
	columns                                    []hub.ImportColumn
	idCols                                     []string
	token                                      string
	batch, parallel                            int
	timeout                                    time.Duration
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseImportFlags(args, stderr)
	if err != nil {
		return err
	}
	im := &importer{cfg: cfg, client: &http.Client{Timeout: cfg.timeout}, stderr: stderr}
	sum, err := im.run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d rows: %d imported (%d created or changed, %d unchanged), %d bad", sum.rows, sum.applied+sum.unchanged, sum.applied, sum.unchanged, sum.bad)
	if sum.bad > 0 && cfg.errors != "" {
		fmt.Fprintf(stdout, " (listed in %s)", cfg.errors)
	}
	fmt.Fprintf(stdout, "; %.0f records/s\n", sum.rate)
	return nil
}

func parseImportFlags(args []string, stderr io.Writer) (importConfig, error) {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kinds := kindNames()
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), importUsage, strings.Join(kinds, ", "))
		fs.PrintDefaults()
	}
	var inputs, maps stringList
	hubURL := fs.String("hub", envOr("UCV_HUB", ""), "hub `URL` (any node; followers forward) [UCV_HUB]")
	source := fs.String("source", "", "source system `NAME` (a-z, 0-9, _ - .): records are keyed by source and ID")
	fs.Var(&inputs, "input", "CSV or NDJSON `file` to read (repeatable)")
	fs.Var(&maps, "map", "`COLUMN=KIND,…` column mapping (repeatable; the kinds of ucv resolve)")
	id := fs.String("id", "", "record ID `COLUMN[+COLUMN]`; joined values (with ':') become the record's ID")
	format := fs.String("format", "", "input format, csv or ndjson (default: by file extension, else csv)")
	errs := fs.String("errors", "", "`FILE` to write the rows that cannot be imported to (CSV: file,row,column,reason)")
	tokenFile := fs.String("token-file", envOr("UCV_TOKEN_FILE", ""), "`FILE` holding an admin token [UCV_TOKEN_FILE; or the token in UCV_TOKEN]")
	region := fs.String("region", envOr("UCV_REGION", "US"), "region for phone numbers without a country code [UCV_REGION]")
	order := fs.String("date-order", "auto", "reading of ambiguous slashed dates: auto, mdy or dmy")
	batch := fs.Int("batch", 5000, "records per request (one Raft command each)")
	parallel := fs.Int("parallel", 2, "requests in flight")
	timeout := fs.Duration("timeout", time.Minute, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return importConfig{}, err
		}
		return importConfig{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return importConfig{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg := importConfig{hub: strings.TrimRight(*hubURL, "/"), source: *source, errors: *errs, format: strings.ToLower(*format),
		region: *region, order: strings.ToLower(*order), inputs: inputs, batch: *batch, parallel: *parallel, timeout: *timeout}
	switch {
	case cfg.hub == "":
		return cfg, fmt.Errorf("%w: --hub is required", errUsage)
	case len(inputs) == 0:
		return cfg, fmt.Errorf("%w: --input is required", errUsage)
	case len(maps) == 0:
		return cfg, fmt.Errorf("%w: --map is required", errUsage)
	case strings.TrimSpace(*id) == "":
		return cfg, fmt.Errorf("%w: --id is required", errUsage)
	case cfg.batch < 1 || cfg.batch > hub.MaxImportRecords:
		return cfg, fmt.Errorf("%w: --batch must be 1..%d", errUsage, hub.MaxImportRecords)
	case cfg.parallel < 1 || cfg.parallel > 64:
		return cfg, fmt.Errorf("%w: --parallel must be 1..64", errUsage)
	case cfg.format != "" && cfg.format != "csv" && cfg.format != "ndjson":
		return cfg, fmt.Errorf("%w: --format must be csv or ndjson", errUsage)
	case cfg.order != "auto" && cfg.order != "mdy" && cfg.order != "dmy":
		return cfg, fmt.Errorf("%w: --date-order must be auto, mdy or dmy", errUsage)
	}
	if err := hub.ValidSource(cfg.source); err != nil {
		return cfg, fmt.Errorf("%w: --source: %s", errUsage, strings.TrimPrefix(err.Error(), hub.ErrInvalid.Error()+": "))
	}
	mapping, err := parseColumnMap(maps, kinds)
	if err != nil {
		return cfg, err
	}
	for _, m := range mapping {
		cfg.columns = append(cfg.columns, hub.ImportColumn{Name: m.column, Kind: m.kind})
	}
	if _, _, err := hub.ImportShape(cfg.columns); err != nil {
		return cfg, fmt.Errorf("%w: --map: %s", errUsage, strings.TrimPrefix(err.Error(), hub.ErrInvalid.Error()+": "))
	}
	if cfg.idCols, err = parseIDColumns(*id); err != nil {
		return cfg, err
	}
	tok := os.Getenv("UCV_TOKEN")
	if *tokenFile != "" {
		if tok != "" {
			return cfg, fmt.Errorf("%w: set --token-file or UCV_TOKEN, not both", errUsage)
		}
		t, err := readSecretFile("--token-file", *tokenFile)
		if err != nil {
			return cfg, err
		}
		tok = t
	}
	cfg.token = strings.TrimSpace(tok)
	return cfg, nil
}

// importRow is one row read from an input.
type importRow struct {
	file   string
	line   int
	id     string
	values []string
}

// importBatch is a request's worth of rows.
type importBatch struct {
	rows []importRow
}

type importSummary struct {
	rows, applied, unchanged, bad int
	rate                          float64
}

// importer runs one `ucv import`: a reader validates rows and cuts
// batches, cfg.parallel senders post them, each answered after the
// hub's Raft commit.
type importer struct {
	cfg    importConfig
	client *http.Client
	stderr io.Writer

	mu      sync.Mutex
	errw    *csv.Writer
	sum     importSummary
	bar     *progress
	done    int
	problem error
}

func (im *importer) run(ctx context.Context) (importSummary, error) {
	total := 0
	for _, p := range im.cfg.inputs {
		n, err := countRows(p, im.format(p))
		if err != nil {
			return im.sum, err
		}
		total += n
	}
	if im.cfg.errors != "" {
		f, err := os.Create(im.cfg.errors)
		if err != nil {
			return im.sum, fmt.Errorf("errors file: %w", err)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		im.errw = csv.NewWriter(bw)
		_ = im.errw.Write([]string{"file", "row", "column", "reason"})
		defer func() {
			im.errw.Flush()
			_ = bw.Flush()
		}()
	}
	im.bar = &progress{bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(im.stderr),
		progressbar.OptionSetDescription("import "+im.cfg.source),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("records"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	batches := make(chan importBatch, im.cfg.parallel)
	var wg sync.WaitGroup
	for range im.cfg.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if err := im.send(ctx, b); err != nil {
					im.fail(err)
					cancel()
				}
			}
		}()
	}
	rerr := im.read(ctx, batches)
	close(batches)
	wg.Wait()
	im.bar.finish()
	if rerr != nil && ctx.Err() == nil {
		return im.sum, rerr
	}
	if im.problem != nil {
		return im.sum, im.problem
	}
	if err := ctx.Err(); err != nil {
		return im.sum, err
	}
	im.sum.rate = float64(im.sum.rows) / max(time.Since(start).Seconds(), 1e-9)
	return im.sum, nil
}

func (im *importer) fail(err error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.problem == nil {
		im.problem = err
	}
}

func (im *importer) format(path string) string {
	if im.cfg.format != "" {
		return im.cfg.format
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ndjson", ".jsonl":
		return "ndjson"
	}
	return "csv"
}

// badRow records a row that is not imported and counts it done.
func (im *importer) badRow(file string, line int, column, reason string) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.errw != nil {
		_ = im.errw.Write([]string{file, strconv.Itoa(line), column, reason})
	}
}

func (im *importer) progressed(rows, bad, applied, unchanged int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.sum.rows += rows
	im.sum.bad += bad
	im.sum.applied += applied
	im.sum.unchanged += unchanged
	im.done += rows
	im.bar.set(im.done, 0)
}

// read reads every input and hands batches of valid rows to out. A row
// with a bad field is reported (every bad column) and left out.
func (im *importer) read(ctx context.Context, out chan<- importBatch) error {
	seen := map[string]string{}
	cur := importBatch{}
	flush := func() error {
		if len(cur.rows) == 0 {
			return nil
		}
		select {
		case out <- cur:
		case <-ctx.Done():
			return ctx.Err()
		}
		cur = importBatch{}
		return nil
	}
	for _, path := range im.cfg.inputs {
		emit := func(r importRow, rowErr error, column string) error {
			if rowErr != nil {
				im.badRow(path, r.line, column, rowErr.Error())
				im.progressed(1, 1, 0, 0)
				return nil
			}
			// Fields are checked by the hub, in parallel request
			// handlers (a phone number's check costs as much as its
			// import); only a repeated ID is caught here.
			if prev, dup := seen[r.id]; dup {
				im.badRow(path, r.line, strings.Join(im.cfg.idCols, "+"), "record ID repeats "+prev)
				im.progressed(1, 1, 0, 0)
				return nil
			}
			seen[r.id] = fmt.Sprintf("%s row %d", filepath.Base(path), r.line)
			r.file = path
			cur.rows = append(cur.rows, r)
			if len(cur.rows) >= im.cfg.batch {
				return flush()
			}
			return nil
		}
		var err error
		if im.format(path) == "ndjson" {
			err = im.readNDJSON(path, emit)
		} else {
			err = im.readCSV(path, emit)
		}
		if err != nil {
			return err
		}
	}
	return flush()
}

type emitFunc func(r importRow, rowErr error, column string) error

func (im *importer) rowOf(line int, get func(col string) (string, bool)) (r importRow, column string, err error) {
	r = importRow{line: line, values: make([]string, len(im.cfg.columns))}
	parts := make([]string, len(im.cfg.idCols))
	for i, c := range im.cfg.idCols {
		v, _ := get(c)
		parts[i] = strings.TrimSpace(v)
		if parts[i] == "" {
			return r, c, errors.New("record ID is empty")
		}
	}
	r.id = strings.Join(parts, ":")
	for i, c := range im.cfg.columns {
		r.values[i], _ = get(c.Name)
	}
	return r, "", nil
}

func (im *importer) readCSV(path string, emit emitFunc) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s: empty file (a header row is required)", path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, csvErr(err))
	}
	header := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := header[h]; dup && h != "" {
			return fmt.Errorf("%s: line 1: column %q appears twice", path, h)
		}
		header[h] = i
	}
	for _, c := range im.cfg.idCols {
		if _, ok := header[c]; !ok {
			return fmt.Errorf("%s: id column %q is missing", path, c)
		}
	}
	for _, c := range im.cfg.columns {
		if _, ok := header[c.Name]; !ok {
			return fmt.Errorf("%s: mapped column %q is missing", path, c.Name)
		}
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("%s: %w", path, err)
			}
			reason := pe.Err.Error()
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				reason = fmt.Sprintf("%d fields, the header has %d", len(row), len(head))
			}
			if err := emit(importRow{line: pe.StartLine}, errors.New(reason), "(row)"); err != nil {
				return err
			}
			continue
		}
		r, col, rowErr := im.rowOf(line, func(c string) (string, bool) { return row[header[c]], true })
		if err := emit(r, rowErr, col); err != nil {
			return err
		}
	}
}

func (im *importer) readNDJSON(path string, emit emitFunc) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(bufio.NewReaderSize(f, 1<<20))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || obj == nil {
			if err := emit(importRow{line: line}, errors.New("not a JSON object"), "(row)"); err != nil {
				return err
			}
			continue
		}
		var bad string
		r, col, rowErr := im.rowOf(line, func(c string) (string, bool) {
			switch v := obj[c].(type) {
			case nil:
				return "", false
			case string:
				return v, true
			case json.Number:
				return v.String(), true
			case bool:
				return strconv.FormatBool(v), true
			default:
				bad = c
				return "", false
			}
		})
		if rowErr == nil && bad != "" {
			rowErr, col = errors.New("not a string, number or boolean"), bad
		}
		if err := emit(r, rowErr, col); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: line %d: %w", path, line+1, err)
	}
	return nil
}

// countRows counts the data rows of an input, for the progress bar.
func countRows(path, format string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if format == "ndjson" {
		n := 0
		sc := bufio.NewScanner(bufio.NewReaderSize(f, 1<<20))
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				n++
			}
		}
		return n, nil
	}
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	n := -1 // the header
	for {
		_, err := cr.Read()
		if err == io.EOF {
			return max(n, 0), nil
		}
		n++
	}
}

// send posts one batch, retrying while the hub is unreachable or has
// no leader (the batch is idempotent: records are keyed by source and
// ID), and reports the rows the hub refused.
func (im *importer) send(ctx context.Context, b importBatch) error {
	req := api.ImportRequest{Source: im.cfg.source, Region: im.cfg.region, DateOrder: im.cfg.order,
		Records: make([]api.ImportRow, len(b.rows))}
	for _, c := range im.cfg.columns {
		req.Columns = append(req.Columns, api.ImportColumn{Name: c.Name, Kind: string(c.Kind)})
	}
	for i, r := range b.rows {
		req.Records[i] = api.ImportRow{ID: r.id, Values: r.values}
	}
	body, err := json.Marshal(&req)
	if err != nil {
		return fmt.Errorf("encode batch: %w", err)
	}
	var resp api.ImportResponse
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		retry, err := im.post(ctx, body, &resp)
		if err == nil {
			break
		}
		if !retry || attempt >= 20 || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(2*delay, 5*time.Second)
	}
	bad := map[int]bool{}
	for _, e := range resp.Errors {
		if e.Record >= 0 && e.Record < len(b.rows) {
			r := b.rows[e.Record]
			im.badRow(r.file, r.line, e.Column, e.Reason)
			bad[e.Record] = true
		}
	}
	im.progressed(len(b.rows), len(bad), resp.Applied, resp.Unchanged)
	return nil
}

// post sends one request; retry says whether the failure may pass.
func (im *importer) post(ctx context.Context, body []byte, out *api.ImportResponse) (retry bool, err error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, im.cfg.hub+"/v1/admin/import", bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("hub: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if im.cfg.token != "" {
		hr.Header.Set("Authorization", "Bearer "+im.cfg.token)
	}
	res, err := im.client.Do(hr)
	if err != nil {
		return true, fmt.Errorf("hub: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return true, fmt.Errorf("hub: read answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		err := fmt.Errorf("hub: %s: %s %s", res.Status, e.Error.Code, e.Error.Message)
		return res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return false, fmt.Errorf("hub: answer: %w", err)
	}
	return false, nil
}
