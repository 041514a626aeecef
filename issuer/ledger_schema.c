/* ledger_schema.c - the ledger's tables, once per backend. Bounds are
 * CHECK constraints and one charge per authorization is a UNIQUE
 * constraint on both, so that no code path (nor a hand edit) stores what
 * the code would not. */
#include "config.h"
#include "issuer/ledger_db.h"

#include <stddef.h>

/* Bounds are also CHECK constraints, so that no code path (nor a hand
 * edit through sqlite3) stores an amount the code would not. */
const char ldb_sqlite_schema[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE blobs(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE accounts("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" holder_id BLOB NOT NULL UNIQUE CHECK(length(holder_id) = 8),"
	" balance INTEGER NOT NULL CHECK(balance BETWEEN -1000000000000000 AND 1000000000000000),"
	" credit_line INTEGER NOT NULL CHECK(credit_line BETWEEN 0 AND 1000000000000000),"
	" flagged INTEGER NOT NULL DEFAULT 0,"
	" opened INTEGER NOT NULL);"
	"CREATE TABLE history("
	" id INTEGER PRIMARY KEY,"
	" account INTEGER NOT NULL REFERENCES accounts(id),"
	" time INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" amount INTEGER NOT NULL,"
	" balance INTEGER NOT NULL,"
	" ref TEXT NOT NULL);"
	"CREATE INDEX history_account ON history(account, id);"
	"CREATE TABLE issuer_keys("
	" n INTEGER NOT NULL,"
	" usage INTEGER NOT NULL CHECK(usage IN (1, 2)),"
	" label TEXT NOT NULL UNIQUE,"
	" cka_id BLOB NOT NULL,"
	" kid BLOB NOT NULL UNIQUE CHECK(length(kid) = 4),"
	" alg INTEGER NOT NULL,"
	" public_key BLOB NOT NULL,"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL CHECK(not_after > not_before),"
	" PRIMARY KEY(usage, n));"
	"CREATE TABLE credentials("
	" serial INTEGER PRIMARY KEY AUTOINCREMENT,"
	" holder_id BLOB NOT NULL,"
	" holder_alg INTEGER NOT NULL,"
	" holder_key BLOB NOT NULL,"
	" issuer_kid BLOB NOT NULL,"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL,"
	" issued_at INTEGER NOT NULL,"
	" offline_total INTEGER NOT NULL CHECK(offline_total >= 0),"
	" replaced INTEGER NOT NULL DEFAULT 0,"
	" credential BLOB);"
	"CREATE INDEX credentials_holder ON credentials(holder_id, not_after);"
	/* One code per account at a time, kept as its HKDF key (FORMAT.md):
	 * never the code itself. */
	"CREATE TABLE enrollment_codes("
	" account INTEGER PRIMARY KEY REFERENCES accounts(id),"
	" code_key BLOB NOT NULL CHECK(length(code_key) = 32),"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" tries INTEGER NOT NULL DEFAULT 0 CHECK(tries >= 0),"
	" used INTEGER);"
	/* Keys a code has enrolled: each belongs to one account for good. */
	"CREATE TABLE holder_keys("
	" holder_key BLOB PRIMARY KEY,"
	" account INTEGER NOT NULL REFERENCES accounts(id),"
	" alg INTEGER NOT NULL,"
	" enrolled INTEGER NOT NULL);"
	"CREATE TABLE revoked_keys("
	" holder_key BLOB PRIMARY KEY,"
	" serial INTEGER NOT NULL,"
	" added INTEGER NOT NULL);"
	/* settled_seq: the gate's batches 1..settled_seq are all settled;
	 * settled_through: the latest period_end among them (0: none). Kept
	 * by ofp_ledger_batch_add, so that an issuance reads one row per gate,
	 * not every batch ever settled (docs/ISSUER.md 9). */
	"CREATE TABLE gates("
	" verifier_id BLOB PRIMARY KEY CHECK(length(verifier_id) = 8),"
	" alg INTEGER NOT NULL,"
	" public_key BLOB NOT NULL,"
	" kid BLOB NOT NULL CHECK(length(kid) = 4),"
	" added INTEGER NOT NULL,"
	" settled_seq INTEGER NOT NULL DEFAULT 0,"
	" settled_through INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE batches("
	" verifier_id BLOB NOT NULL,"
	" sequence INTEGER NOT NULL CHECK(sequence >= 1),"
	" digest BLOB NOT NULL,"
	" first_prev BLOB NOT NULL,"
	" last_hash BLOB NOT NULL,"
	" records INTEGER NOT NULL,"
	" settled_at INTEGER NOT NULL,"
	" period_end INTEGER NOT NULL,"
	" PRIMARY KEY(verifier_id, sequence));"
	/* A ride is its signed authorization: one charge per auth_hash. */
	"CREATE TABLE charges("
	" holder_id BLOB NOT NULL,"
	" counter INTEGER NOT NULL,"
	" verifier_id BLOB NOT NULL,"
	" batch INTEGER NOT NULL,"
	" amount INTEGER NOT NULL CHECK(amount >= 0),"
	" serial INTEGER NOT NULL,"
	" time INTEGER NOT NULL,"
	" auth_hash BLOB NOT NULL UNIQUE CHECK(length(auth_hash) = 32),"
	" holder_key BLOB NOT NULL);"
	"CREATE INDEX charges_key ON charges(holder_key, counter);"
	"CREATE INDEX charges_serial ON charges(serial, verifier_id);"
	/* copy: the same authorization again (not charged); counter-reuse: the
	 * same key and counter over other contents (charged, flagged). */
	"CREATE TABLE double_uses("
	" id INTEGER PRIMARY KEY,"
	" holder_id BLOB NOT NULL,"
	" counter INTEGER NOT NULL,"
	" verifier_id BLOB NOT NULL,"
	" batch INTEGER NOT NULL,"
	" amount INTEGER NOT NULL,"
	" serial INTEGER NOT NULL,"
	" time INTEGER NOT NULL,"
	" auth_hash BLOB NOT NULL,"
	" holder_key BLOB NOT NULL,"
	" kind TEXT NOT NULL CHECK(kind IN ('copy', 'counter-reuse')),"
	" found_at INTEGER NOT NULL);"
	"CREATE INDEX double_uses_holder ON double_uses(holder_id);"
	"CREATE TABLE denied("
	" entry BLOB PRIMARY KEY CHECK(length(entry) = 9),"
	" added INTEGER NOT NULL);"
	"PRAGMA user_version = 3;";

/* The same tables on PostgreSQL: BIGINT for every integer (the driver binds
 * and reads int8), BYTEA for BYTEA, identity columns for SQLite's integer
 * primary keys (BY DEFAULT, so that migrate can copy the ids), and the
 * same UNIQUE and CHECK constraints. charges gets an explicit rowid: the
 * insertion order SQLite keeps implicitly ("the first charge of this
 * counter"). The version is the meta row schema_version. */
const char ldb_pg_schema[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
	"CREATE TABLE blobs(name TEXT PRIMARY KEY, value BYTEA NOT NULL);"
	"CREATE TABLE accounts("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" holder_id BYTEA NOT NULL UNIQUE CHECK(length(holder_id) = 8),"
	" balance BIGINT NOT NULL CHECK(balance BETWEEN -1000000000000000 AND 1000000000000000),"
	" credit_line BIGINT NOT NULL CHECK(credit_line BETWEEN 0 AND 1000000000000000),"
	" flagged BIGINT NOT NULL DEFAULT 0,"
	" opened BIGINT NOT NULL);"
	"CREATE TABLE history("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" account BIGINT NOT NULL REFERENCES accounts(id),"
	" time BIGINT NOT NULL,"
	" kind TEXT NOT NULL,"
	" amount BIGINT NOT NULL,"
	" balance BIGINT NOT NULL,"
	" ref TEXT NOT NULL);"
	"CREATE INDEX history_account ON history(account, id);"
	"CREATE TABLE issuer_keys("
	" n BIGINT NOT NULL,"
	" usage BIGINT NOT NULL CHECK(usage IN (1, 2)),"
	" label TEXT NOT NULL UNIQUE,"
	" cka_id BYTEA NOT NULL,"
	" kid BYTEA NOT NULL UNIQUE CHECK(length(kid) = 4),"
	" alg BIGINT NOT NULL,"
	" public_key BYTEA NOT NULL,"
	" not_before BIGINT NOT NULL,"
	" not_after BIGINT NOT NULL CHECK(not_after > not_before),"
	" PRIMARY KEY(usage, n));"
	"CREATE TABLE credentials("
	" serial BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" holder_id BYTEA NOT NULL,"
	" holder_alg BIGINT NOT NULL,"
	" holder_key BYTEA NOT NULL,"
	" issuer_kid BYTEA NOT NULL,"
	" not_before BIGINT NOT NULL,"
	" not_after BIGINT NOT NULL,"
	" issued_at BIGINT NOT NULL,"
	" offline_total BIGINT NOT NULL CHECK(offline_total >= 0),"
	" replaced BIGINT NOT NULL DEFAULT 0,"
	" credential BYTEA);"
	"CREATE INDEX credentials_holder ON credentials(holder_id, not_after);"
	/* One code per account at a time, kept as its HKDF key (FORMAT.md):
	 * never the code itself. */
	"CREATE TABLE enrollment_codes("
	" account BIGINT PRIMARY KEY REFERENCES accounts(id),"
	" code_key BYTEA NOT NULL CHECK(length(code_key) = 32),"
	" created BIGINT NOT NULL,"
	" expires BIGINT NOT NULL,"
	" tries BIGINT NOT NULL DEFAULT 0 CHECK(tries >= 0),"
	" used BIGINT);"
	/* Keys a code has enrolled: each belongs to one account for good. */
	"CREATE TABLE holder_keys("
	" holder_key BYTEA PRIMARY KEY,"
	" account BIGINT NOT NULL REFERENCES accounts(id),"
	" alg BIGINT NOT NULL,"
	" enrolled BIGINT NOT NULL);"
	"CREATE TABLE revoked_keys("
	" holder_key BYTEA PRIMARY KEY,"
	" serial BIGINT NOT NULL,"
	" added BIGINT NOT NULL);"
	"CREATE TABLE gates("
	" verifier_id BYTEA PRIMARY KEY CHECK(length(verifier_id) = 8),"
	" alg BIGINT NOT NULL,"
	" public_key BYTEA NOT NULL,"
	" kid BYTEA NOT NULL CHECK(length(kid) = 4),"
	" added BIGINT NOT NULL,"
	" settled_seq BIGINT NOT NULL DEFAULT 0,"
	" settled_through BIGINT NOT NULL DEFAULT 0);"
	"CREATE TABLE batches("
	" verifier_id BYTEA NOT NULL,"
	" sequence BIGINT NOT NULL CHECK(sequence >= 1),"
	" digest BYTEA NOT NULL,"
	" first_prev BYTEA NOT NULL,"
	" last_hash BYTEA NOT NULL,"
	" records BIGINT NOT NULL,"
	" settled_at BIGINT NOT NULL,"
	" period_end BIGINT NOT NULL,"
	" PRIMARY KEY(verifier_id, sequence));"
	/* A ride is its signed authorization: one charge per auth_hash. */
	"CREATE TABLE charges("
	" rowid BIGINT GENERATED ALWAYS AS IDENTITY,"
	" holder_id BYTEA NOT NULL,"
	" counter BIGINT NOT NULL,"
	" verifier_id BYTEA NOT NULL,"
	" batch BIGINT NOT NULL,"
	" amount BIGINT NOT NULL CHECK(amount >= 0),"
	" serial BIGINT NOT NULL,"
	" time BIGINT NOT NULL,"
	" auth_hash BYTEA NOT NULL UNIQUE CHECK(length(auth_hash) = 32),"
	" holder_key BYTEA NOT NULL);"
	"CREATE INDEX charges_key ON charges(holder_key, counter);"
	"CREATE INDEX charges_serial ON charges(serial, verifier_id);"
	/* copy: the same authorization again (not charged); counter-reuse: the
	 * same key and counter over other contents (charged, flagged). */
	"CREATE TABLE double_uses("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" holder_id BYTEA NOT NULL,"
	" counter BIGINT NOT NULL,"
	" verifier_id BYTEA NOT NULL,"
	" batch BIGINT NOT NULL,"
	" amount BIGINT NOT NULL,"
	" serial BIGINT NOT NULL,"
	" time BIGINT NOT NULL,"
	" auth_hash BYTEA NOT NULL,"
	" holder_key BYTEA NOT NULL,"
	" kind TEXT NOT NULL CHECK(kind IN ('copy', 'counter-reuse')),"
	" found_at BIGINT NOT NULL);"
	"CREATE INDEX double_uses_holder ON double_uses(holder_id);"
	"CREATE TABLE denied("
	" entry BYTEA PRIMARY KEY CHECK(length(entry) = 9),"
	" added BIGINT NOT NULL);"
	"INSERT INTO meta(name, value) VALUES('schema_version', 3);";

/* Version 2 to 3 (both databases): the gates' settled prefix, computed
 * once from the batches as the issuance did each time: a gate's batches
 * in sequence order, numbered; those whose number is their sequence are
 * the prefix 1..n with none missing. */
#define GATE_PREFIX(col)                                                                                         \
	"(SELECT " col " FROM (SELECT sequence, period_end, ROW_NUMBER() OVER (ORDER BY sequence) AS n "         \
	"FROM batches b WHERE b.verifier_id = gates.verifier_id) p WHERE sequence = n)"
const char ldb_upgrade_2_3[] =
	"ALTER TABLE gates ADD COLUMN settled_seq BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE gates ADD COLUMN settled_through BIGINT NOT NULL DEFAULT 0;"
	"UPDATE gates SET settled_seq = COALESCE(" GATE_PREFIX("MAX(sequence)") ", 0), "
	"settled_through = COALESCE(" GATE_PREFIX("MAX(period_end)") ", 0);";

/* Parents before children: the order migrate copies in. charges go in
 * insertion order (rowid on both), so that "the first charge of this
 * counter" stays the first. */
const ldb_table_t ldb_tables[] = {
	{ "meta", "name, value", "ti", "name" },
	{ "blobs", "name, value", "tb", "name" },
	{ "accounts", "id, name, holder_id, balance, credit_line, flagged, opened", "itbiiii", "id" },
	{ "history", "id, account, time, kind, amount, balance, ref", "iiitiit", "id" },
	{ "issuer_keys", "n, usage, label, cka_id, kid, alg, public_key, not_before, not_after", "iitbbibii",
	  "usage, n" },
	{ "credentials",
	  "serial, holder_id, holder_alg, holder_key, issuer_kid, not_before, not_after, issued_at, offline_total, "
	  "replaced, credential",
	  "ibibbiiiiib", "serial" },
	{ "enrollment_codes", "account, code_key, created, expires, tries, used", "ibiiii", "account" },
	{ "holder_keys", "holder_key, account, alg, enrolled", "biii", "holder_key" },
	{ "revoked_keys", "holder_key, serial, added", "bii", "holder_key" },
	{ "gates", "verifier_id, alg, public_key, kid, added, settled_seq, settled_through", "bibbiii", "verifier_id" },
	{ "batches", "verifier_id, sequence, digest, first_prev, last_hash, records, settled_at, period_end",
	  "bibbbiii", "verifier_id, sequence" },
	{ "charges", "holder_id, counter, verifier_id, batch, amount, serial, time, auth_hash, holder_key",
	  "bibiiiibb", "rowid" },
	{ "double_uses",
	  "id, holder_id, counter, verifier_id, batch, amount, serial, time, auth_hash, holder_key, kind, found_at",
	  "ibibiiiibbti", "id" },
	{ "denied", "entry, added", "bi", "entry" },
};
const size_t ldb_n_tables = sizeof(ldb_tables) / sizeof(ldb_tables[0]);
