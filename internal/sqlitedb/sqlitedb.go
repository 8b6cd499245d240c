// Package sqlitedb opens the gateway's embedded SQLite databases the way a sale ledger needs
// them (WAL, synchronous=FULL, immediate write transactions, one writer and a reader pool) and
// applies each owning package's embedded migrations.
package sqlitedb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// DB is one SQLite database file: W is the single writer connection (every write goes through
// it, so SQLite never answers "database is locked" to a sale), R a pool of read-only ones.
type DB struct {
	W    *sqlx.DB
	R    *sqlx.DB
	Path string
}

// Open opens (creating if needed) the database at file path.
func Open(file string) (*DB, error) {
	// Pragmas go in the DSN: a one-off PRAGMA would set only one pooled connection.
	common := url.Values{}
	common.Set("_busy_timeout", "10000")
	common.Set("_foreign_keys", "on")
	common.Set("_journal_mode", "WAL")
	w := url.Values{}
	for k, v := range common {
		w[k] = v
	}
	w.Set("_synchronous", "FULL") // an answered sale must survive a power cut
	w.Set("_txlock", "immediate")
	// A larger page cache keeps the index inserts of a big import in memory (64 MiB).
	w.Set("_cache_size", "-65536")
	wdb, err := sqlx.Open("sqlite3", "file:"+file+"?"+w.Encode())
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetConnMaxIdleTime(0)
	if err := wdb.Ping(); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", file, err)
	}
	r := url.Values{}
	for k, v := range common {
		r[k] = v
	}
	r.Set("_query_only", "true")
	rdb, err := sqlx.Open("sqlite3", "file:"+file+"?"+r.Encode())
	if err != nil {
		_ = wdb.Close()
		return nil, err
	}
	rdb.SetMaxOpenConns(4)
	return &DB{W: wdb, R: rdb, Path: file}, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.R.Close(), db.W.Close())
}

// Tx runs fn in one immediate write transaction and commits it. Every write of a sale goes
// through here, so a later group commit can batch many callers into one fsync in this one place.
func (db *DB) Tx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.W.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Ping checks that the database answers and has been migrated.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	return db.R.GetContext(ctx, &n, `SELECT count(*) FROM schema_migrations`)
}

// Migrate applies, in order and once each, the files NNN_name.sql found at the top of fsys,
// recording them under owner so that packages can keep their own numbering.
func (db *DB) Migrate(ctx context.Context, owner string, fsys fs.FS) error {
	if _, err := db.W.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		owner TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL,
		PRIMARY KEY (owner, version))`); err != nil {
		return err
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return err
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		ms = append(ms, migration{v, e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for _, m := range ms {
		body, err := fs.ReadFile(fsys, m.name)
		if err != nil {
			return err
		}
		err = db.Tx(ctx, func(tx *sqlx.Tx) error {
			var done int
			if err := tx.GetContext(ctx, &done, `SELECT count(*) FROM schema_migrations WHERE owner=? AND version=?`, owner, m.version); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s/%s: %w", owner, m.name, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(owner, version, applied_at) VALUES (?,?,?)`,
				owner, m.version, time.Now().UTC().Format(time.RFC3339))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// IsUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY constraint failure.
func IsUniqueViolation(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}

// TimeFormat is how every time is stored: sortable text in UTC.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// FormatTime renders t for storage.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }
