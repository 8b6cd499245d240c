CREATE TABLE products (
	id         TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	name       TEXT NOT NULL,
	currency   TEXT NOT NULL,
	amount     INTEGER,
	min_amount INTEGER,
	max_amount INTEGER,
	suppliers  TEXT NOT NULL,
	active     INTEGER NOT NULL,
	updated_at TEXT NOT NULL
);
