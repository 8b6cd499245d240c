CREATE TABLE terminals (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL,
	node_id     TEXT NOT NULL,
	key_hash    TEXT NOT NULL UNIQUE,
	created_at  TEXT NOT NULL,
	revoked_at  TEXT
);
