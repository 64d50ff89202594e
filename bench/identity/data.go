package identity

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	hid "ucv/hub/identity"
)

// ErrNoData is returned when a data set's files are missing.
var ErrNoData = errors.New("bench/identity: data set not found")

// Dataset is records with ground truth.
type Dataset struct {
	Name string
	// Link is true for a two-source linkage task (FEBRL4): pairwise
	// scores are then also reported for cross-source pairs only.
	Link    bool
	Records []hid.Record
	// Entity maps record ID → true entity.
	Entity map[string]string
	// Source maps record ID → source file (used for link tasks).
	Source map[string]string
	// Customers is the generated data behind a "customers" set (nil for
	// the files): Run then adds an error Breakdown.
	Customers *CustomerData
}

// Names lists the data sets Load knows, in report order.
func Names() []string {
	return []string{"febrl1", "febrl2", "febrl3", "febrl4", "febrl4-no-ssn", "historical_50k", "customers", "customers-realistic"}
}

// Generated reports whether data set name is generated in memory (no
// data directory needed).
func Generated(name string) bool { return name == "customers" || name == "customers-realistic" }

// CustomerNames returns the name pools of generated set name: realistic
// for "customers-realistic", dense otherwise.
func CustomerNames(name string) NamePools {
	if name == "customers-realistic" {
		return NamesRealistic
	}
	return NamesDense
}

var febrlEntity = regexp.MustCompile(`^rec-(\d+)`)

// Load reads data set name from dataDir (the directory holding febrl/ and
// historical_50k/). "customers" and "customers-realistic" are generated:
// GenerateCustomersWith CustomersSeed, CustomersHouseholds and their
// name pools (CustomerNames), mapped with CustomersMap.
func Load(dataDir, name string) (Dataset, error) {
	switch name {
	case "customers", "customers-realistic":
		return GenerateCustomersWith(CustomersSeed, CustomersHouseholds, CustomerNames(name)).Dataset(name), nil
	case "febrl1", "febrl2", "febrl3":
		return loadFEBRL(dataDir, name, true, "dataset"+name[len(name)-1:]+".csv")
	case "febrl4":
		return loadFEBRL(dataDir, name, true, "dataset4a.csv", "dataset4b.csv")
	case "febrl4-no-ssn":
		return loadFEBRL(dataDir, name, false, "dataset4a.csv", "dataset4b.csv")
	case "historical_50k":
		return loadHistorical(dataDir)
	}
	return Dataset{}, fmt.Errorf("bench/identity: unknown data set %q (known: %s)", name, strings.Join(Names(), ", "))
}

// FEBRLMap is the column mapping used for FEBRL, the same one a user
// would pass to `ucv resolve --map`.
var FEBRLMap = map[string]hid.Kind{
	"given_name": hid.FirstName, "surname": hid.LastName, "street_number": hid.StreetNumber,
	"address_1": hid.AddressLine, "address_2": hid.AddressLine, "suburb": hid.City,
	"postcode": hid.Postcode, "state": hid.State, "date_of_birth": hid.BirthDate,
	"soc_sec_id": hid.NationalID,
}

// HistoricalMap is the column mapping used for historical_50k.
var HistoricalMap = map[string]hid.Kind{
	"first_name": hid.FirstName, "surname": hid.LastName, "dob": hid.BirthDate,
	"birth_place": hid.City, "postcode_fake": hid.Postcode, "gender": hid.Gender, "occupation": hid.Occupation,
}

func loadFEBRL(dataDir, name string, ssn bool, files ...string) (Dataset, error) {
	ds := Dataset{Name: name, Link: len(files) > 1, Entity: map[string]string{}, Source: map[string]string{}}
	for _, f := range files {
		path := filepath.Join(dataDir, "febrl", f)
		err := readCSV(path, func(header, row []string) error {
			r := hid.Record{}
			for i, h := range header {
				if h == "rec_id" {
					r.ID = row[i]
					continue
				}
				k, ok := FEBRLMap[h]
				if !ok || (!ssn && k == hid.NationalID) {
					continue
				}
				r.Fields = append(r.Fields, hid.Field{Kind: k, Name: h, Value: row[i]})
			}
			m := febrlEntity.FindStringSubmatch(r.ID)
			if m == nil {
				return fmt.Errorf("record id %q does not name its entity", r.ID)
			}
			ds.Entity[r.ID] = m[1]
			ds.Source[r.ID] = f
			ds.Records = append(ds.Records, r)
			return nil
		})
		if err != nil {
			return Dataset{}, err
		}
	}
	return ds, nil
}

func loadHistorical(dataDir string) (Dataset, error) {
	ds := Dataset{Name: "historical_50k", Entity: map[string]string{}, Source: map[string]string{}}
	path := filepath.Join(dataDir, "historical_50k", "historical_figures_with_errors_50k.csv")
	err := readCSV(path, func(header, row []string) error {
		r := hid.Record{}
		for i, h := range header {
			switch h {
			case "unique_id":
				r.ID = row[i]
			case "cluster":
				ds.Entity[r.ID] = row[i]
			default:
				if k, ok := HistoricalMap[h]; ok {
					r.Fields = append(r.Fields, hid.Field{Kind: k, Name: h, Value: row[i]})
				}
			}
		}
		ds.Source[r.ID] = "historical"
		ds.Records = append(ds.Records, r)
		return nil
	})
	return ds, err
}

func readCSV(path string, fn func(header, row []string) error) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNoData, path)
		}
		return fmt.Errorf("bench/identity: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("bench/identity: %s: header: %w", path, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	// unique_id must come before cluster for the historical loader.
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bench/identity: %s: %w", path, err)
		}
		for i := range row {
			row[i] = strings.TrimSpace(row[i])
		}
		if err := fn(header, row); err != nil {
			return fmt.Errorf("bench/identity: %s: %w", path, err)
		}
	}
}

// FindDataDir walks up from dir looking for shared/data (the layout of the
// ucv workspace: the repository sits next to shared/). It returns "" when
// there is none.
func FindDataDir(dir string) string {
	for {
		for _, cand := range []string{filepath.Join(dir, "shared", "data"), filepath.Join(dir, "data")} {
			if st, err := os.Stat(filepath.Join(cand, "febrl")); err == nil && st.IsDir() {
				return cand
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
