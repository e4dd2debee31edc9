package population

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ExportFormats are the formats Export writes.
var ExportFormats = []string{"csv", "json", "sql"}

// exportColumns are the fields of an exported user, in order.
var exportColumns = []string{"index", "nir", "caf", "beneficiary_number", "first_name", "last_name", "email", "phone",
	"street", "postal_code", "city", "salary", "family", "iban", "state", "password", "adviser", "idp_password", "totp_secret"}

// InitialPassword is the password user i holds when the run starts: the
// temporary one for accounts pending migration, its own otherwise.
func (p *Population) InitialPassword(i int) string {
	if p.State(i) == MigrationPending {
		return p.Password(i, 0)
	}
	return p.Password(i, 1)
}

func (p *Population) exportRow(i int) []string {
	u := p.User(i)
	adviser := ""
	if p.advisers != nil {
		adviser = p.advisers.Login(p.advisers.Of(i))
	}
	return []string{strconv.Itoa(i), u.NIR, u.CAF, u.Number, u.First, u.Last, u.Email, u.Phone, u.Street,
		u.PostalCode, u.City, strconv.Itoa(u.Salary), u.Family, u.IBAN, u.State.String(), p.InitialPassword(i), adviser,
		u.IdPPassword, p.TOTPSecret(i)}
}

// Export writes every user of the population in format (csv, json or sql),
// streaming: memory does not grow with the population. progress, if set,
// is called every 100,000 users.
func (p *Population) Export(w io.Writer, format string, progress func(done int)) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var err error
	switch format {
	case "csv":
		err = p.exportCSV(bw, progress)
	case "json":
		err = p.exportJSON(bw, progress)
	case "sql":
		err = p.exportSQL(bw, progress)
	default:
		return fmt.Errorf("unknown format %q (known: %s)", format, strings.Join(ExportFormats, ", "))
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func (p *Population) each(progress func(int), f func(i int) error) error {
	for i := 0; i < p.size; i++ {
		if err := f(i); err != nil {
			return err
		}
		if progress != nil && (i+1)%100_000 == 0 {
			progress(i + 1)
		}
	}
	return nil
}

func (p *Population) exportCSV(w io.Writer, progress func(int)) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns); err != nil {
		return err
	}
	if err := p.each(progress, func(i int) error { return cw.Write(p.exportRow(i)) }); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func (p *Population) exportJSON(w io.Writer, progress func(int)) error {
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return err
	}
	err := p.each(progress, func(i int) error {
		row := p.exportRow(i)
		obj := make(map[string]any, len(row))
		for c, v := range row {
			obj[exportColumns[c]] = v
		}
		obj["index"], obj["salary"] = i, p.User(i).Salary
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		sep := ",\n"
		if i == p.size-1 {
			sep = "\n"
		}
		_, err = fmt.Fprintf(w, "  %s%s", b, sep)
		return err
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "]\n")
	return err
}

func (p *Population) exportSQL(w io.Writer, progress func(int)) error {
	_, err := fmt.Fprintf(w, "-- crosstalk synthetic population: %d users, seed %d\nCREATE TABLE IF NOT EXISTS crosstalk_users (\n"+
		"  \"index\" integer PRIMARY KEY,\n%s\n);\n", p.size, p.seed, sqlColumns())
	if err != nil {
		return err
	}
	return p.each(progress, func(i int) error {
		if i%1000 == 0 {
			if i > 0 {
				if _, err := io.WriteString(w, ";\n"); err != nil {
					return err
				}
			}
			if _, err := fmt.Fprintf(w, "INSERT INTO crosstalk_users (%s) VALUES\n", quotedColumns()); err != nil {
				return err
			}
		} else if _, err := io.WriteString(w, ",\n"); err != nil {
			return err
		}
		row := p.exportRow(i)
		vals := make([]string, len(row))
		for c, v := range row {
			if exportColumns[c] == "index" || exportColumns[c] == "salary" {
				vals[c] = v
			} else {
				vals[c] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			}
		}
		_, err := io.WriteString(w, "  ("+strings.Join(vals, ", ")+")")
		if err == nil && i == p.size-1 {
			_, err = io.WriteString(w, ";\n")
		}
		return err
	})
}

func sqlColumns() string {
	var cols []string
	for _, c := range exportColumns[1:] {
		t := "text NOT NULL"
		if c == "salary" {
			t = "integer NOT NULL"
		}
		cols = append(cols, fmt.Sprintf("  %q %s", c, t))
	}
	return strings.Join(cols, ",\n")
}

func quotedColumns() string {
	var cols []string
	for _, c := range exportColumns {
		cols = append(cols, strconv.Quote(c))
	}
	return strings.Join(cols, ", ")
}
