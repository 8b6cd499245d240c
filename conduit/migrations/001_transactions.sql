-- Every recorded transaction. (terminal_id, idempotency_key) is unique, and the row is written
-- before any supplier is called, so a retried request can never sell twice, even across a crash.
CREATE TABLE transactions (
	seq             INTEGER PRIMARY KEY,
	id              TEXT NOT NULL UNIQUE,
	terminal_id     TEXT NOT NULL,
	merchant_id     TEXT NOT NULL,
	node_id         TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	request_hash    TEXT NOT NULL,
	type            TEXT NOT NULL,
	product_id      TEXT NOT NULL,
	suppliers       TEXT NOT NULL,
	amount          INTEGER NOT NULL,
	currency        TEXT NOT NULL,
	status          TEXT NOT NULL CHECK (status IN ('approved', 'pending', 'declined', 'failed', 'voided')),
	reference       TEXT NOT NULL DEFAULT '',
	msisdn          TEXT NOT NULL DEFAULT '',
	card_last4      TEXT NOT NULL DEFAULT '',
	card_sealed     BLOB,
	pin_serial      TEXT NOT NULL DEFAULT '',
	pin_sealed      BLOB,
	pin_expires_at  TEXT,
	supplier        TEXT NOT NULL DEFAULT '',
	supplier_ref    TEXT NOT NULL DEFAULT '',
	error_code      TEXT NOT NULL DEFAULT '',
	error_message   TEXT NOT NULL DEFAULT '',
	-- the first answer given, sealed (it may hold a PIN); NULL while the first answer is not given
	reply           BLOB,
	-- status inquiries made of a pending transaction, and when the next is due (backoff)
	inquiries       INTEGER NOT NULL DEFAULT 0,
	next_inquiry_at TEXT,
	-- '' for a transaction made here; at a hub, the server node that made it and reported it
	origin          TEXT NOT NULL DEFAULT '',
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL,
	UNIQUE (terminal_id, idempotency_key)
);
CREATE INDEX transactions_status ON transactions(status, seq);
CREATE INDEX transactions_terminal ON transactions(terminal_id, seq);
-- The resolver looks for unanswered transactions every few seconds: only a crash leaves any.
CREATE INDEX transactions_unanswered ON transactions(created_at) WHERE reply IS NULL;

-- Server: transactions whose latest state the hub has not yet heard of, written in the same
-- commit as the state.
CREATE TABLE txn_outbox (
	seq    INTEGER PRIMARY KEY AUTOINCREMENT,
	txn_id TEXT NOT NULL
);

-- Hub: the last report applied from each server node.
CREATE TABLE txn_reports (
	node_id  TEXT PRIMARY KEY,
	last_seq INTEGER NOT NULL
);
