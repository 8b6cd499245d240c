CREATE TABLE pin_batches (
	id          TEXT PRIMARY KEY,
	product_id  TEXT NOT NULL,
	node_id     TEXT NOT NULL,
	count       INTEGER NOT NULL,
	created_at  TEXT NOT NULL
);

-- One row per PIN. The PIN itself is only ever stored sealed; pin_digest is a keyed hash that
-- finds duplicates without revealing the PIN.
CREATE TABLE pins (
	id          INTEGER PRIMARY KEY,
	product_id  TEXT NOT NULL,
	serial      TEXT NOT NULL UNIQUE,
	pin_sealed  BLOB NOT NULL,
	pin_digest  TEXT NOT NULL UNIQUE,
	expires_at  TEXT,
	node_id     TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('available', 'reserved', 'sold', 'voided')),
	txn_id      TEXT UNIQUE,
	batch_id    TEXT NOT NULL REFERENCES pin_batches(id),
	sold_at     TEXT,
	updated_at  TEXT NOT NULL
);

-- First expiry first out; a PIN without expiry goes last.
CREATE INDEX pins_pick ON pins(product_id, node_id, state, ifnull(expires_at, '9999'), id);
