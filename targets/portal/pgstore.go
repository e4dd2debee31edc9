package portal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGAccounts is an AccountStore on PostgreSQL, the account store of the
// container stack. It behaves as MemAccounts does. The same database holds
// the advisers (Advisers) and the audit log (Audit), shared by every replica;
// SeedPG creates and loads the tables.
type PGAccounts struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

var _ AccountStore = (*PGAccounts)(nil)

const pgAccountColumns = "id, nir, caf, number, first, last, email, phone, street, postal_code, city, salary, family, iban, state, adviser, salt, pass_hash"

// NewPGAccounts connects to the database at dsn with a pool of conns
// connections, kept open, each query bounded by timeout (waiting for a
// connection included). It does not wait for the database: the pool dials
// in the background, so a replica starts, and fails closed, while PostgreSQL
// is down.
//
// The pool is small and warm on purpose. A PostgreSQL connection is a forked
// backend, costly to open, and pgx closes a connection whose query outlived
// its context: a pool that grows under a burst and loses a connection on
// every timeout spends the database's CPU on opening connections, which
// makes more queries time out, and never recovers while the load lasts (on
// two cores, a killed replica's share of the load was enough to start it).
// Requests beyond the pool wait for a connection instead, within the same
// timeout.
func NewPGAccounts(dsn string, conns int32, timeout time.Duration) (*PGAccounts, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("accounts database: %w", err)
	}
	cfg.MaxConns, cfg.MinConns = conns, conns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("accounts database: %w", err)
	}
	return &PGAccounts{pool: pool, timeout: timeout}, nil
}

// Close closes the pool.
func (p *PGAccounts) Close() { p.pool.Close() }

func (p *PGAccounts) one(ctx context.Context, where string, args ...any) (Account, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	a, err := scanAccount(p.pool.QueryRow(ctx, "SELECT "+pgAccountColumns+" FROM accounts WHERE "+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	return a, err
}

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	var state string
	err := row.Scan(&a.ID, &a.NIR, &a.CAF, &a.Number, &a.First, &a.Last, &a.Email, &a.Phone, &a.Street,
		&a.PostalCode, &a.City, &a.Salary, &a.Family, &a.IBAN, &state, &a.Adviser, &a.Salt, &a.PassHash)
	a.State = State(state)
	return a, err
}

// Get implements AccountStore.
func (p *PGAccounts) Get(ctx context.Context, id int) (Account, error) {
	return p.one(ctx, "id = $1", id)
}

// ByNIR implements AccountStore.
func (p *PGAccounts) ByNIR(ctx context.Context, nir string) (Account, error) {
	return p.one(ctx, "nir = $1", nir)
}

// ByBeneficiary implements AccountStore.
func (p *PGAccounts) ByBeneficiary(ctx context.Context, caf, number string) (Account, error) {
	return p.one(ctx, "caf = $1 AND number = $2", caf, number)
}

func (p *PGAccounts) exec(ctx context.Context, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	tag, err := p.pool.Exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return err
}

// SetPassword implements AccountStore.
func (p *PGAccounts) SetPassword(ctx context.Context, id int, passHash string) error {
	return p.exec(ctx, "UPDATE accounts SET pass_hash = $2, state = $3 WHERE id = $1", id, passHash, string(StateMigrated))
}

// SetIBAN implements AccountStore.
func (p *PGAccounts) SetIBAN(ctx context.Context, id int, iban string) error {
	return p.exec(ctx, "UPDATE accounts SET iban = $2 WHERE id = $1", id, iban)
}

// Caseload implements AccountStore.
func (p *PGAccounts) Caseload(ctx context.Context, adviser, limit int) ([]Account, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	rows, err := p.pool.Query(ctx, "SELECT "+pgAccountColumns+" FROM accounts WHERE adviser = $1 ORDER BY id LIMIT $2", adviser, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
}

// SeedPG (re)creates the reference portal's tables in the database at dsn
// (accounts, advisers, the audit log and its alerts) and loads n accounts,
// account(0) to account(n-1), and the advisers, each with one COPY; the
// indexes are built after the load, which is what makes 100 k rows take a
// second.
func SeedPG(ctx context.Context, dsn string, n int, account func(int) Account, advisers []Adviser) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("accounts database: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS accounts, advisers, audit, audit_alerts;
CREATE TABLE advisers (id int PRIMARY KEY, login text NOT NULL UNIQUE, first text, last text,
  salt text NOT NULL, pass_hash text NOT NULL, totp_secret text NOT NULL, failures int NOT NULL DEFAULT 0);
CREATE TABLE audit (at timestamptz NOT NULL, reader text NOT NULL, subject int NOT NULL, granted bool NOT NULL,
  outside bool NOT NULL, replica text NOT NULL, src text NOT NULL);
CREATE INDEX audit_reader ON audit (reader, at) WHERE outside;
CREATE TABLE audit_alerts (reader text PRIMARY KEY, at timestamptz NOT NULL, reason text NOT NULL);
CREATE TABLE accounts (id int PRIMARY KEY, nir text NOT NULL, caf text NOT NULL, number text NOT NULL,
  first text, last text, email text, phone text, street text, postal_code text, city text, salary int,
  family text, iban text NOT NULL, state text NOT NULL, adviser int NOT NULL, salt text NOT NULL, pass_hash text NOT NULL)`); err != nil {
		return fmt.Errorf("creating the tables: %w", err)
	}
	cols := strings.Split(strings.ReplaceAll(pgAccountColumns, " ", ""), ",")
	i := 0
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		a := account(i)
		i++
		return []any{a.ID, a.NIR, a.CAF, a.Number, a.First, a.Last, a.Email, a.Phone, a.Street, a.PostalCode,
			a.City, a.Salary, a.Family, a.IBAN, string(a.State), a.Adviser, a.Salt, a.PassHash}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"accounts"}, cols, rows); err != nil {
		return fmt.Errorf("loading the accounts: %w", err)
	}
	if len(advisers) > 0 {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"advisers"}, []string{"id", "login", "first", "last", "salt", "pass_hash", "totp_secret"},
			pgx.CopyFromSlice(len(advisers), func(i int) ([]any, error) {
				a := advisers[i]
				return []any{a.ID, a.Login, a.First, a.Last, a.Salt, a.PassHash, a.TOTPSecret}, nil
			})); err != nil {
			return fmt.Errorf("loading the advisers: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE UNIQUE INDEX accounts_nir ON accounts (nir);
CREATE UNIQUE INDEX accounts_benef ON accounts (caf, number);
CREATE INDEX accounts_adviser ON accounts (adviser, id);
ANALYZE accounts`); err != nil {
		return fmt.Errorf("indexing the accounts: %w", err)
	}
	return nil
}

// Advisers returns the adviser store in the same database.
func (p *PGAccounts) Advisers() AdviserStore { return pgAdvisers{p} }

// Audit returns the audit log in the same database.
func (p *PGAccounts) Audit() AuditSink { return pgAudit{p} }

// pgAdvisers is an AdviserStore on the advisers table; its failed-login
// counter is one row per adviser, shared by every replica.
type pgAdvisers struct{ p *PGAccounts }

const pgAdviserColumns = "id, login, first, last, salt, pass_hash, totp_secret"

func (s pgAdvisers) one(ctx context.Context, where string, arg any) (Adviser, error) {
	ctx, cancel := context.WithTimeout(ctx, s.p.timeout)
	defer cancel()
	var a Adviser
	err := s.p.pool.QueryRow(ctx, "SELECT "+pgAdviserColumns+" FROM advisers WHERE "+where, arg).
		Scan(&a.ID, &a.Login, &a.First, &a.Last, &a.Salt, &a.PassHash, &a.TOTPSecret)
	if errors.Is(err, pgx.ErrNoRows) {
		return Adviser{}, ErrNotFound
	}
	return a, err
}

func (s pgAdvisers) ByLogin(ctx context.Context, login string) (Adviser, error) {
	return s.one(ctx, "login = $1", login)
}

func (s pgAdvisers) ByID(ctx context.Context, id int) (Adviser, error) {
	return s.one(ctx, "id = $1", id)
}

func (s pgAdvisers) counter(ctx context.Context, sql string, id int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.p.timeout)
	defer cancel()
	var n int
	err := s.p.pool.QueryRow(ctx, sql, id).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return n, err
}

func (s pgAdvisers) Failures(ctx context.Context, id int) (int, error) {
	return s.counter(ctx, "SELECT failures FROM advisers WHERE id = $1", id)
}

func (s pgAdvisers) Failed(ctx context.Context, id int) (int, error) {
	return s.counter(ctx, "UPDATE advisers SET failures = failures + 1 WHERE id = $1 RETURNING failures", id)
}

func (s pgAdvisers) Succeeded(ctx context.Context, id int) error {
	return s.p.exec(ctx, "UPDATE advisers SET failures = 0 WHERE id = $1", id)
}

// pgAudit is an AuditSink on the audit table. The mass-read rule runs in the
// same statement as the insert, over every replica's entries: the alert is
// raised when the reader already has massReadLimit out-of-caseload entries
// within massReadWindow, as AuditLog does in memory.
type pgAudit struct{ p *PGAccounts }

func (s pgAudit) Append(ctx context.Context, e AuditEntry) error {
	ctx, cancel := context.WithTimeout(ctx, s.p.timeout)
	defer cancel()
	_, err := s.p.pool.Exec(ctx, `WITH recent AS (
  SELECT count(*) AS n FROM audit WHERE outside AND reader = $2 AND at >= $8
), entry AS (
  INSERT INTO audit (at, reader, subject, granted, outside, replica, src) VALUES ($1, $2, $3, $4, $5, $6, $7)
)
INSERT INTO audit_alerts (reader, at, reason)
SELECT $2, $1, $9 FROM recent WHERE $5 AND $2 <> '' AND n >= $10
ON CONFLICT (reader) DO NOTHING`,
		e.At, e.Reader, e.Subject, e.Granted, e.Outside, e.Replica, e.From, e.At.Add(-massReadWindow), massReadReason, massReadLimit)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// pgAuditSettled is how old an audit row must be to be read: an insert
// runs under the replicas' 2 s PostgreSQL deadline, so a row whose time is
// older than this has committed or never will. Without it, a read could
// pass over a row that commits just after it.
const pgAuditSettled = 3 * time.Second

// ReadPGAudit reads back from db the audit entries timed after the
// position after (microseconds since the epoch; 0 from the first) and
// settled, the position of the next read, the instant up to which the
// entries are complete, and every alert, in order.
func ReadPGAudit(ctx context.Context, db *pgxpool.Pool, after int64) ([]AuditEntry, []AuditAlert, int64, time.Time, error) {
	var upper time.Time
	if err := db.QueryRow(ctx, "SELECT clock_timestamp() - make_interval(secs => $1)", pgAuditSettled.Seconds()).Scan(&upper); err != nil {
		return nil, nil, 0, time.Time{}, fmt.Errorf("reading the audit log: %w", err)
	}
	upper = upper.Truncate(time.Microsecond)
	rows, err := db.Query(ctx, "SELECT at, reader, subject, granted, outside, replica, src FROM audit WHERE at > $1 AND at <= $2 ORDER BY at",
		time.UnixMicro(after), upper)
	if err != nil {
		return nil, nil, 0, time.Time{}, fmt.Errorf("reading the audit log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.At, &e.Reader, &e.Subject, &e.Granted, &e.Outside, &e.Replica, &e.From)
		return e, err
	})
	if err != nil {
		return nil, nil, 0, time.Time{}, fmt.Errorf("reading the audit log: %w", err)
	}
	rows, err = db.Query(ctx, "SELECT at, reader, reason FROM audit_alerts ORDER BY at")
	if err != nil {
		return nil, nil, 0, time.Time{}, fmt.Errorf("reading the audit alerts: %w", err)
	}
	alerts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditAlert, error) {
		var a AuditAlert
		err := r.Scan(&a.At, &a.Reader, &a.Reason)
		return a, err
	})
	if err != nil {
		return nil, nil, 0, time.Time{}, fmt.Errorf("reading the audit alerts: %w", err)
	}
	return entries, alerts, max(after, upper.UnixMicro()), upper, nil
}
