CREATE TABLE terminals (
	id          TEXT PRIMARY KEY,
	merchant_id TEXT NOT NULL,
	node_id     TEXT NOT NULL,
	key_hash    TEXT NOT NULL UNIQUE,
	created_at  TEXT NOT NULL,
	revoked_at  TEXT
);

-- Server nodes under this hub; their keys, like terminals', only as hashes.
CREATE TABLE nodes (
	id             TEXT PRIMARY KEY,
	key_hash       TEXT NOT NULL UNIQUE,
	hours_of_cover REAL NOT NULL DEFAULT 0,
	created_at     TEXT NOT NULL
);
