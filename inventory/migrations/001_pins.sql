-- A batch is one import or one delivered replenishment order. Its PINs stay 'importing'
-- (invisible to sales) until every row has been checked, so an import is all or nothing.
CREATE TABLE pin_batches (
	id          TEXT PRIMARY KEY,
	product_id  TEXT NOT NULL,
	node_id     TEXT NOT NULL,
	count       INTEGER NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('importing', 'committing', 'active', 'failed')),
	order_id    TEXT,
	-- the process writing it ("pid/token"), so that a start only undoes imports whose writer died
	owner       TEXT NOT NULL DEFAULT '',
	-- the range of pins.id its rows were written in, so that finishing or undoing it walks
	-- the primary key instead of needing an index of its own
	first_id    INTEGER,
	last_id     INTEGER,
	created_at  TEXT NOT NULL
);

-- One row per PIN. The PIN itself is only ever stored sealed; pin_digest is a keyed hash that
-- finds duplicates without revealing the PIN.
CREATE TABLE pins (
	id          INTEGER PRIMARY KEY,
	product_id  TEXT NOT NULL,
	serial      TEXT NOT NULL UNIQUE,
	pin_sealed  BLOB NOT NULL,
	pin_digest  BLOB NOT NULL UNIQUE,
	expires_at  TEXT,
	node_id     TEXT NOT NULL,
	-- at a hub: available (unallocated), in_transit (handed to a node, not yet acknowledged),
	-- at_node (held by a node), sold, voided; at a server: available, sold, voided, handed_back
	state       TEXT NOT NULL CHECK (state IN ('importing', 'available', 'reserved', 'sold', 'voided',
	                                            'in_transit', 'at_node', 'handed_back')),
	handoff_id  TEXT,
	txn_id      TEXT,
	batch_id    TEXT NOT NULL REFERENCES pin_batches(id),
	sold_at     TEXT,
	updated_at  TEXT NOT NULL
);

-- First expiry first out; a PIN without expiry goes last. Partial indexes: a PIN being
-- imported is in neither, which keeps a million-row import cheap.
CREATE INDEX pins_pick ON pins(product_id, node_id, ifnull(expires_at, '9999'), id) WHERE state = 'available';
CREATE UNIQUE INDEX pins_txn ON pins(txn_id) WHERE txn_id IS NOT NULL;

-- Values the inventory keeps about itself, such as its digest key (sealed).
CREATE TABLE inventory_meta (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
);

CREATE TABLE stock_levels (
	node_id       TEXT NOT NULL,
	product_id    TEXT NOT NULL,
	target_level  INTEGER NOT NULL,
	reorder_level INTEGER NOT NULL,
	updated_at    TEXT NOT NULL,
	PRIMARY KEY (node_id, product_id)
);

CREATE TABLE replenishment_orders (
	id            TEXT PRIMARY KEY,
	product_id    TEXT NOT NULL,
	node_id       TEXT NOT NULL,
	supplier      TEXT NOT NULL,
	quantity      INTEGER NOT NULL,
	received      INTEGER NOT NULL DEFAULT 0,
	status        TEXT NOT NULL CHECK (status IN ('placed', 'received', 'failed')),
	supplier_ref  TEXT NOT NULL DEFAULT '',
	error         TEXT NOT NULL DEFAULT '',
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
);
-- At most one open order per product and node: no duplicate orders while one is open.
CREATE UNIQUE INDEX replenishment_one_open ON replenishment_orders(product_id, node_id) WHERE status = 'placed';

-- Hub: each movement of PINs between the hub and a node, open until the other side confirms.
CREATE TABLE handoffs (
	id          TEXT PRIMARY KEY,
	node_id     TEXT NOT NULL,
	product_id  TEXT NOT NULL,
	direction   TEXT NOT NULL CHECK (direction IN ('to_node', 'to_hub')),
	count       INTEGER NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('open', 'done')),
	created_at  TEXT NOT NULL,
	done_at     TEXT
);
CREATE INDEX handoffs_open ON handoffs(node_id, status);
CREATE INDEX pins_handoff ON pins(handoff_id) WHERE handoff_id IS NOT NULL;

-- Hub: what each node last told it.
CREATE TABLE node_sync (
	node_id      TEXT PRIMARY KEY,
	-- the server database the node is bound to: one database sells a node's stock
	instance     TEXT NOT NULL DEFAULT '',
	last_seq     INTEGER NOT NULL DEFAULT 0,
	last_sync_at TEXT,
	config_hash  TEXT NOT NULL DEFAULT '',
	report       TEXT NOT NULL DEFAULT '{}'
);

-- Server: handoffs applied here, kept until the hub confirms it has heard.
CREATE TABLE applied_handoffs (
	id          TEXT PRIMARY KEY,
	direction   TEXT NOT NULL,
	product_id  TEXT NOT NULL,
	serials     TEXT NOT NULL DEFAULT '[]',
	confirmed   INTEGER NOT NULL DEFAULT 0,
	applied_at  TEXT NOT NULL
);

-- Server: sales and voids not yet acknowledged by the hub, written with the sale itself.
CREATE TABLE sync_outbox (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	serial  TEXT NOT NULL,
	state   TEXT NOT NULL,
	txn_id  TEXT NOT NULL,
	at      TEXT NOT NULL
);

-- Server: this database's identity towards its hub, made once.
CREATE TABLE node_instance (
	id TEXT NOT NULL
);
