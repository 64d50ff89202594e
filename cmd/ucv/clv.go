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
	"strconv"
	"strings"
	"time"

	"ucv/profile/clv"
)

// clvConfig is what `ucv clv` was asked to do.
type clvConfig struct {
	inputs     []string
	customer   string
	date       string
	amount     string
	dateFormat string
	end        time.Time
	periodDays float64
	horizon    float64
	output     string
}

const clvUsage = `Usage: ucv clv --input FILE [--input FILE…] --customer COL --date COL --amount COL --calibration-end DATE [--date-format LAYOUT] [--period day|week] [--horizon N] [--output FILE]

Fits the BG/NBD model of repeat purchasing and the Gamma-Gamma model of
spend (Fader, Hardie & Lee 2005) on the purchases of CSV files (with header
rows) up to --calibration-end, and prints the parameters as one JSON object:
{"customers": N, "bgnbd": {"r","alpha","a","b"}, "gamma_gamma": {"p","q","v"},
"log_likelihood": BG/NBD log-likelihood}.

Several purchases of a customer on one day are one transaction worth their
sum; the first purchase is not a repeat. Time is counted in --period units
from each customer's first purchase. The calibration period runs up to and
including --calibration-end; later purchases are read and checked but not
fitted. Amounts must be numbers of
at least 0 (leave returns and cancellations out of the input).

With --output, writes one row per customer:
customer,frequency,recency,T,p_alive,expected_purchases,predicted_value
where expected_purchases is the BG/NBD conditional expectation over the
next --horizon periods and predicted_value that times the Gamma-Gamma
expected spend per transaction (undiscounted, in the input's currency).
`

func clvFlagGroups() []flagGroup {
	return []flagGroup{
		{title: "Input", flags: []string{"input", "customer", "date", "amount", "date-format"},
			example: "ucv clv --input orders.csv --customer customer_id --date order_date --amount revenue --calibration-end 2025-06-30"},
		{title: "Model", flags: []string{"calibration-end", "period", "horizon"},
			example: "--calibration-end 1997-09-30 --period week --horizon 39"},
		{title: "Output", flags: []string{"output"},
			example: "--output scores.csv"},
	}
}

// runCLV implements `ucv clv`.
func runCLV(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseCLVFlags(args, stderr)
	if err != nil {
		return err
	}
	txs, err := readCLVInputs(cfg)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	customers, err := clv.Summarize(txs, epochDay(cfg.end), cfg.periodDays)
	if err != nil {
		return err
	}
	if len(customers) == 0 {
		return fmt.Errorf("no purchases on or before --calibration-end %s", cfg.end.Format(time.DateOnly))
	}
	sums := make([]clv.Summary, len(customers))
	for i, c := range customers {
		sums[i] = c.Summary
	}
	bg, err := clv.FitBGNBD(sums)
	if err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	gg, err := clv.FitGammaGamma(sums)
	if err != nil {
		return fmt.Errorf("fit: %w", err)
	}
	if cfg.output != "" {
		if err := writeCLVScores(cfg, customers, bg.Model, gg.Model); err != nil {
			return err
		}
	}
	out := struct {
		Customers     int            `json:"customers"`
		BGNBD         clv.BGNBD      `json:"bgnbd"`
		GammaGamma    clv.GammaGamma `json:"gamma_gamma"`
		LogLikelihood float64        `json:"log_likelihood"`
	}{len(customers), bg.Model, gg.Model, bg.LogLikelihood}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

func parseCLVFlags(args []string, stderr io.Writer) (clvConfig, error) {
	fs := flag.NewFlagSet("clv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), clvUsage)
		printFlagGroups(fs.Output(), fs, clvFlagGroups())
	}
	var inputs stringList
	fs.Var(&inputs, "input", "CSV `FILE` with a header row (repeatable); default: the comma-separated files of UCV_CLV_INPUT [UCV_CLV_INPUT]")
	customer := fs.String("customer", envOr("UCV_CLV_CUSTOMER", ""), "customer id `COLUMN` [UCV_CLV_CUSTOMER]")
	date := fs.String("date", envOr("UCV_CLV_DATE", ""), "purchase date `COLUMN` [UCV_CLV_DATE]")
	amount := fs.String("amount", envOr("UCV_CLV_AMOUNT", ""), "purchase value `COLUMN` (a number ≥ 0) [UCV_CLV_AMOUNT]")
	dateFormat := fs.String("date-format", envOr("UCV_CLV_DATE_FORMAT", time.DateOnly), "Go time `LAYOUT` of the date column; the calendar date as written is the purchase day [UCV_CLV_DATE_FORMAT]")
	end := fs.String("calibration-end", envOr("UCV_CLV_CALIBRATION_END", ""), "last day of the calibration period, `DATE` as YYYY-MM-DD or in --date-format (required) [UCV_CLV_CALIBRATION_END]")
	period := fs.String("period", envOr("UCV_CLV_PERIOD", "week"), "time `UNIT` of the model: day or week [UCV_CLV_PERIOD]")
	horizon := fs.String("horizon", envOr("UCV_CLV_HORIZON", ""), "prediction horizon in periods, `N` > 0; default: one year (52 weeks or 365 days) [UCV_CLV_HORIZON]")
	output := fs.String("output", envOr("UCV_CLV_OUTPUT", ""), "optional scores CSV `FILE` to write [UCV_CLV_OUTPUT]")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return clvConfig{}, err
		}
		return clvConfig{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return clvConfig{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if len(inputs) == 0 {
		for p := range strings.SplitSeq(os.Getenv("UCV_CLV_INPUT"), ",") {
			if p = strings.TrimSpace(p); p != "" {
				inputs = append(inputs, p)
			}
		}
	}
	cfg := clvConfig{inputs: inputs, customer: *customer, date: *date, amount: *amount, dateFormat: *dateFormat, output: *output}
	switch {
	case len(cfg.inputs) == 0:
		return cfg, fmt.Errorf("%w: --input is required", errUsage)
	case cfg.customer == "":
		return cfg, fmt.Errorf("%w: --customer is required", errUsage)
	case cfg.date == "":
		return cfg, fmt.Errorf("%w: --date is required", errUsage)
	case cfg.amount == "":
		return cfg, fmt.Errorf("%w: --amount is required", errUsage)
	case *end == "":
		return cfg, fmt.Errorf("%w: --calibration-end is required", errUsage)
	}
	t, err := time.Parse(time.DateOnly, *end)
	if err != nil {
		if t, err = time.Parse(cfg.dateFormat, *end); err != nil {
			return cfg, fmt.Errorf("%w: --calibration-end: %q is neither YYYY-MM-DD nor in --date-format %q", errUsage, *end, cfg.dateFormat)
		}
	}
	cfg.end = t
	year := 0.0
	switch *period {
	case "week":
		cfg.periodDays, year = 7, 52
	case "day":
		cfg.periodDays, year = 1, 365
	default:
		return cfg, fmt.Errorf("%w: --period must be day or week, not %q", errUsage, *period)
	}
	cfg.horizon = year
	if *horizon != "" {
		h, err := strconv.ParseFloat(*horizon, 64)
		if err != nil || !(h > 0) || math.IsInf(h, 0) {
			return cfg, fmt.Errorf("%w: --horizon must be a positive number of periods, not %q", errUsage, *horizon)
		}
		cfg.horizon = h
	}
	return cfg, nil
}

// epochDay is the calendar date of t, as written in its own zone, as days
// since 1970-01-01.
func epochDay(t time.Time) int {
	y, m, d := t.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func readCLVInputs(cfg clvConfig) ([]clv.Transaction, error) {
	var txs []clv.Transaction
	for _, p := range cfg.inputs {
		f, err := readCSVFile(p)
		if err != nil {
			return nil, err
		}
		col := map[string]int{}
		for _, c := range []struct{ flag, name string }{{"--customer", cfg.customer}, {"--date", cfg.date}, {"--amount", cfg.amount}} {
			i, ok := f.header[c.name]
			if !ok {
				return nil, fmt.Errorf("%s: no column %q (%s)", p, c.name, c.flag)
			}
			col[c.flag] = i
		}
		for i, row := range f.rows {
			line := f.lines[i]
			get := func(flag string) string {
				if j := col[flag]; j < len(row) {
					return row[j]
				}
				return ""
			}
			id := get("--customer")
			if id == "" {
				return nil, fmt.Errorf("%s: line %d: empty customer column %q", p, line, cfg.customer)
			}
			d, err := time.Parse(cfg.dateFormat, get("--date"))
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: date column %q does not match --date-format %q", p, line, cfg.date, cfg.dateFormat)
			}
			amt, err := strconv.ParseFloat(get("--amount"), 64)
			if err != nil || math.IsNaN(amt) || math.IsInf(amt, 0) {
				return nil, fmt.Errorf("%s: line %d: amount column %q is not a number", p, line, cfg.amount)
			}
			if amt < 0 {
				return nil, fmt.Errorf("%s: line %d: amount column %q is negative (leave returns out of the input)", p, line, cfg.amount)
			}
			txs = append(txs, clv.Transaction{Customer: id, Day: epochDay(d), Amount: amt})
		}
	}
	return txs, nil
}

// writeCLVScores writes the scores file through writeFile (a temporary
// file renamed into place: a failed run leaves no half-written output).
func writeCLVScores(cfg clvConfig, customers []clv.Customer, bg clv.BGNBD, gg clv.GammaGamma) error {
	return writeFile(cfg.output, func(bw *bufio.Writer) error {
		w := csv.NewWriter(bw)
		num := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
		_ = w.Write([]string{"customer", "frequency", "recency", "T", "p_alive", "expected_purchases", "predicted_value"})
		for _, c := range customers {
			e := bg.ExpectedPurchases(c.Summary, cfg.horizon)
			_ = w.Write([]string{c.ID, strconv.Itoa(c.Frequency), num(c.Recency), num(c.Age),
				num(bg.PAlive(c.Summary)), num(e), num(e * gg.ExpectedSpend(c.Summary))})
		}
		w.Flush()
		return w.Error()
	})
}
