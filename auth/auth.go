// Package auth knows who is calling: API keys, stored only as hashes, and the roles they carry.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"embed"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/prepaidgw/gateway/internal/sqlitedb"
)

// Role is what a key may do.
type Role string

// The roles of the contract.
const (
	RoleAdmin    Role = "admin"
	RoleSupport  Role = "support"
	RoleTerminal Role = "terminal"
	RoleNode     Role = "node"
)

// Principal is an authenticated caller.
type Principal struct {
	Role       Role
	TerminalID string // set for RoleTerminal
	MerchantID string // set for RoleTerminal
	NodeID     string // set for RoleTerminal and RoleNode
}

// Terminal is a POS lane's identity.
type Terminal struct {
	ID         string    `json:"id"`
	MerchantID string    `json:"merchant_id"`
	NodeID     string    `json:"node_id"`
	CreatedAt  time.Time `json:"created_at"`
}

var (
	// ErrUnauthenticated means no key, or a key that is unknown or revoked.
	ErrUnauthenticated = errors.New("auth: missing or invalid API key")
	// ErrNotFound means no active terminal has that id.
	ErrNotFound = errors.New("auth: terminal not found")
	// ErrOtherMerchant means the terminal id was registered for another merchant: reusing it
	// would show that merchant's sales to the new lane.
	ErrOtherMerchant = errors.New("auth: this terminal id belongs to another merchant")
)

// NewKey returns a fresh random API key.
func NewKey(prefix string) string {
	b := make([]byte, 25)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// HashKey is how a key is stored: keys are long and random, so a plain SHA-256 cannot be
// reversed by guessing, and it lets a lookup use an index.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps terminals and checks keys.
type Store struct {
	db     *sqlitedb.DB
	static map[string]Principal // hash → principal for the admin and support keys
}

// NewStore migrates the terminals table. staticKeys maps an admin or support key to its role.
func NewStore(ctx context.Context, db *sqlitedb.DB, staticKeys map[string]Role) (*Store, error) {
	sub, _ := fs.Sub(migrations, "migrations")
	if err := db.Migrate(ctx, "auth", sub); err != nil {
		return nil, err
	}
	s := &Store{db: db, static: map[string]Principal{}}
	for key, role := range staticKeys {
		s.static[HashKey(key)] = Principal{Role: role}
	}
	return s, nil
}

// Authenticate returns the principal that key belongs to.
func (s *Store) Authenticate(ctx context.Context, key string) (Principal, error) {
	if key == "" {
		return Principal{}, ErrUnauthenticated
	}
	h := HashKey(key)
	for sh, p := range s.static {
		if subtle.ConstantTimeCompare([]byte(sh), []byte(h)) == 1 {
			return p, nil
		}
	}
	var t struct {
		ID         string `db:"id"`
		MerchantID string `db:"merchant_id"`
		NodeID     string `db:"node_id"`
	}
	err := s.db.R.GetContext(ctx, &t, `SELECT id, merchant_id, node_id FROM terminals WHERE key_hash=? AND revoked_at IS NULL`, h)
	if errors.Is(err, sql.ErrNoRows) {
		return s.authenticateNode(ctx, h)
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{Role: RoleTerminal, TerminalID: t.ID, MerchantID: t.MerchantID, NodeID: t.NodeID}, nil
}

// PutTerminal creates the terminal, or replaces it and its key; the returned key is the only
// copy there will ever be.
func (s *Store) PutTerminal(ctx context.Context, id, merchantID, nodeID string) (t Terminal, key string, created bool, err error) {
	key = NewKey("gwt_")
	now := time.Now().UTC()
	err = s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		var prev struct {
			MerchantID string `db:"merchant_id"`
			Active     bool   `db:"active"`
		}
		err := tx.GetContext(ctx, &prev, `SELECT merchant_id, revoked_at IS NULL AS active FROM terminals WHERE id=?`, id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
		case err != nil:
			return err
		case prev.MerchantID != merchantID:
			return ErrOtherMerchant
		default:
			created = !prev.Active
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO terminals(id, merchant_id, node_id, key_hash, created_at) VALUES (?,?,?,?,?)
			ON CONFLICT(id) DO UPDATE SET merchant_id=excluded.merchant_id, node_id=excluded.node_id,
			key_hash=excluded.key_hash, created_at=excluded.created_at, revoked_at=NULL`,
			id, merchantID, nodeID, HashKey(key), sqlitedb.FormatTime(now))
		return err
	})
	if err != nil {
		return Terminal{}, "", false, err
	}
	return Terminal{ID: id, MerchantID: merchantID, NodeID: nodeID, CreatedAt: now}, key, created, nil
}

// RevokeTerminal makes the terminal's key useless at once.
func (s *Store) RevokeTerminal(ctx context.Context, id string) error {
	return s.db.Tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE terminals SET revoked_at=? WHERE id=? AND revoked_at IS NULL`,
			sqlitedb.FormatTime(time.Now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
