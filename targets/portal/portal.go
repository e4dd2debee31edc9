// Package portal is the reference portal crosstalk tests itself against: a
// small family-allowance portal with legacy login (beneficiary number),
// identifier-migration login (NIR and a temporary password, then a forced
// password change), a dossier page and API with personal data, bank-detail
// change and logout, served by N replicas behind an edge cache whose rules
// can be reloaded at run time.
//
// Correctly configured it is safe: private pages carry
// "Cache-Control: private, no-store", the edge honours it, sessions are
// unguessable. Latent defects, each reproducing one real incident class, are
// switched on by name (see Defects).
package portal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
)

// State is an account's position in the identifier migration.
type State string

// Account states.
const (
	StateLegacy   State = "legacy"            // logs in with the beneficiary number
	StatePending  State = "migration-pending" // NIR + temporary password, must change it
	StateMigrated State = "migrated"          // NIR + own password
)

// Account is one beneficiary's file as the portal stores it.
type Account struct {
	ID         int
	NIR        string
	CAF        string
	Number     string
	First      string
	Last       string
	Email      string
	Phone      string
	Street     string
	PostalCode string
	City       string
	Salary     int
	Family     string
	IBAN       string
	State      State
	Adviser    int // the adviser who follows this beneficiary
	Salt       string
	PassHash   string
}

// ErrNotFound is returned by stores for a missing account or session.
var ErrNotFound = errors.New("not found")

// AccountStore holds beneficiaries' files. Implementations are safe for
// concurrent use.
type AccountStore interface {
	Get(ctx context.Context, id int) (Account, error)
	ByNIR(ctx context.Context, nir string) (Account, error)
	ByBeneficiary(ctx context.Context, caf, number string) (Account, error)
	// SetPassword stores a new password hash and marks the account migrated.
	SetPassword(ctx context.Context, id int, passHash string) error
	SetIBAN(ctx context.Context, id int, iban string) error
	// Caseload returns up to limit beneficiaries that adviser follows.
	Caseload(ctx context.Context, adviser, limit int) ([]Account, error)
}

// Session is one login, as a replica understands it. The store keeps it
// encoded (see codec.go), so that the format can change between versions.
type Session struct {
	Account    int
	MustChange bool // temporary password still in use
	Migration  bool // opened through the identifier-migration login

	IsAdviser  bool // an adviser's session: Adviser is set, Account is not
	Adviser    int
	MFAPending bool // password given, second factor not yet
}

// SessionStore maps session tokens to encoded sessions. Implementations are
// safe for concurrent use; Get returns ErrNotFound for an unknown token.
type SessionStore interface {
	Get(ctx context.Context, token string) (string, error)
	Put(ctx context.Context, token, value string) error
	Delete(ctx context.Context, token string) error
}

// HashPassword returns the stored form of a password. The reference portal
// uses salted SHA-256, not bcrypt: a deliberately slow hash would make the
// harness measure the hash instead of the routing it is there to test.
func HashPassword(salt, password string) string {
	h := sha256.Sum256([]byte(salt + "\x00" + password))
	return hex.EncodeToString(h[:])
}

// CheckPassword reports whether password matches the account's hash.
func CheckPassword(a Account, password string) bool {
	return subtle.ConstantTimeCompare([]byte(HashPassword(a.Salt, password)), []byte(a.PassHash)) == 1
}
