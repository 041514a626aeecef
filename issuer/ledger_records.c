/* ledger_records.c - the ledger's other books: issuer keys, credentials,
 * gates, settled batches, charges and double uses, the deny list. */
#include "config.h"
#include "issuer/ledger_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex8(char out[17], const uint8_t id[OFP_ID_LEN])
{
	for (size_t i = 0; i < OFP_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* ---- issuer keys ------------------------------------------------------------- */

int ofp_ledger_key_add(ofp_ledger_t *l, const ofp_ledger_key_t *k)
{
	static const char sql[] = "INSERT INTO issuer_keys(n, usage, label, cka_id, kid, alg, public_key, "
				  "not_before, not_after) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, k->n);
	ldb_bind_int64(st, 2, (int)k->usage);
	ldb_bind_text(st, 3, k->label);
	ldb_bind_blob(st, 4, k->cka_id, k->cka_id_len);
	ldb_bind_blob(st, 5, k->kid, OFP_KEY_ID_LEN);
	ldb_bind_int64(st, 6, (int)k->alg);
	ldb_bind_blob(st, 7, k->pub, k->pub_len);
	ldb_bind_int64(st, 8, k->not_before);
	ldb_bind_int64(st, 9, k->not_after);
	ldg_memo_clear(l);
	return ldg_exec(l, st, "issuer key");
}

int ofp_ledger_keys(ofp_ledger_t *l, ofp_ledger_key_t **out, size_t *n)
{
	static const char sql[] = "SELECT n, usage, label, cka_id, kid, alg, public_key, not_before, not_after "
				  "FROM issuer_keys ORDER BY usage, n";
	ldb_stmt_t *st;
	ofp_ledger_key_t *keys = NULL, *k;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (ldg_memo_keys(l, out, n))
		return OFP_LEDGER_OK;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	while ((rc = ldb_step(st)) == LDB_ROW) {
		if (*n == cap) {
			ofp_ledger_key_t *grown = reallocarray(keys, cap * 2 + 4, sizeof(*keys));
			if (grown == NULL) {
				rc = ldg_fail(l, OFP_LEDGER_ERROR, "issuer keys: out of memory");
				goto out;
			}
			keys = grown;
			cap = cap * 2 + 4;
		}
		k = &keys[*n];
		memset(k, 0, sizeof(*k));
		k->n = ldb_col_int64(st, 0);
		k->usage = (unsigned)ldb_col_int64(st, 1);
		snprintf(k->label, sizeof(k->label), "%s", ldb_col_text(st, 2));
		k->alg = (unsigned)ldb_col_int64(st, 5);
		k->not_before = (uint32_t)ldb_col_int64(st, 7);
		k->not_after = (uint32_t)ldb_col_int64(st, 8);
		if (!ldg_col_blob_var(st, 3, k->cka_id, sizeof(k->cka_id), &k->cka_id_len) ||
		    !ldg_col_blob(st, 4, k->kid, OFP_KEY_ID_LEN) ||
		    !ldg_col_blob_var(st, 6, k->pub, sizeof(k->pub), &k->pub_len)) {
			rc = ldg_fail(l, OFP_LEDGER_ERROR, "issuer key '%s': damaged row", k->label);
			goto out;
		}
		(*n)++;
	}
	rc = rc == LDB_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, "issuer keys");
out:
	ldb_reset(st);
	if (rc != OFP_LEDGER_OK) {
		free(keys);
		*n = 0;
	} else {
		*out = keys;
		ldg_memo_keys_set(l, keys, *n);
	}
	return rc;
}

/* ---- credentials ------------------------------------------------------------- */

int ofp_ledger_credential_new(ofp_ledger_t *l, const ofp_credential_t *c, uint32_t now, uint64_t *serial)
{
	static const char sql[] = "INSERT INTO credentials(holder_id, holder_alg, holder_key, issuer_kid, "
				  "not_before, not_after, issued_at, offline_total) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
				  "RETURNING serial";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, c->holder_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, c->holder_alg);
	ldb_bind_blob(st, 3, c->holder_key, ofp_holder_key_len(c->holder_alg));
	ldb_bind_blob(st, 4, c->issuer_kid, OFP_KEY_ID_LEN);
	ldb_bind_int64(st, 5, c->not_before);
	ldb_bind_int64(st, 6, c->not_after);
	ldb_bind_int64(st, 7, now);
	ldb_bind_int64(st, 8, c->grant.offline_total);
	rc = ldb_step(st);
	if (rc == LDB_ROW) {
		*serial = (uint64_t)ldb_col_int64(st, 0);
		rc = ldb_step(st); /* to the end: the insert is complete */
	}
	ldb_reset(st);
	if (rc == LDB_DONE)
		return OFP_LEDGER_OK;
	if (rc == LDB_CONSTRAINT)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "credential: %s", l->db->drv->errmsg(l->db));
	return ldg_sql_fail(l, "credential");
}

int ofp_ledger_credential_store(ofp_ledger_t *l, uint64_t serial, const uint8_t *cred, size_t len)
{
	static const char sql[] = "UPDATE credentials SET credential = ?2 WHERE serial = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, (int64_t)serial);
	ldb_bind_blob(st, 2, cred, len);
	return ldg_exec_later(l, st, "credential");
}

/* Steps a statement whose ?1 is a credential's serial onto its row: OK with
 * the row to read (the caller resets), NOT_FOUND or an error (reset). */
static int credential_row(ofp_ledger_t *l, ldb_stmt_t *st, uint64_t serial)
{
	int rc;

	if (serial > INT64_MAX)
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "serial %" PRIu64 ": never issued", serial);
	ldb_bind_int64(st, 1, (int64_t)serial);
	rc = ldb_step(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	ldb_reset(st);
	if (rc == LDB_DONE)
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "serial %" PRIu64 ": never issued", serial);
	return ldg_sql_fail(l, "credential");
}

int ofp_ledger_credential_exists(ofp_ledger_t *l, uint64_t serial)
{
	static const char sql[] = "SELECT 1 FROM credentials WHERE serial = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	rc = credential_row(l, st, serial);
	if (rc == OFP_LEDGER_OK)
		ldb_reset(st);
	return rc;
}

int ofp_ledger_credential_copy(ofp_ledger_t *l, uint64_t serial, const uint8_t deny_entry[OFP_DENY_ENTRY_LEN],
			       uint8_t *out, size_t cap, size_t *len, bool *denied)
{
	static const char sql[] = "SELECT credential, (SELECT CAST(count(*) AS BIGINT) FROM denied WHERE entry = ?2) "
				  "FROM credentials WHERE serial = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	*len = 0;
	*denied = false;
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 2, deny_entry, OFP_DENY_ENTRY_LEN);
	rc = credential_row(l, st, serial);
	if (rc != OFP_LEDGER_OK)
		return rc;
	if (!ldb_col_null(st, 0) && !ldg_col_blob_var(st, 0, out, cap, len))
		rc = ldg_fail(l, OFP_LEDGER_ERROR, "credential %" PRIu64 ": damaged row", serial);
	*denied = ldb_col_int64(st, 1) > 0;
	ldb_reset(st);
	if (rc == OFP_LEDGER_OK)
		ldg_memo_denied_set(l, deny_entry, *denied);
	return rc;
}

int ofp_ledger_key_revoke(ofp_ledger_t *l, uint64_t serial, uint32_t now)
{
	static const char sql[] = "INSERT INTO revoked_keys(holder_key, serial, added) "
				  "SELECT holder_key, serial, ?2 FROM credentials WHERE serial = ?1 "
				  "ON CONFLICT(holder_key) DO NOTHING";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, (int64_t)serial);
	ldb_bind_int64(st, 2, now);
	return ldg_exec(l, st, "revoked key");
}

int ofp_ledger_key_revoked(ofp_ledger_t *l, const uint8_t *holder_key, size_t len, uint64_t *serial)
{
	static const char sql[] = "SELECT serial FROM revoked_keys WHERE holder_key = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, holder_key, len);
	rc = ldb_step(st);
	if (rc == LDB_ROW)
		*serial = (uint64_t)ldb_col_int64(st, 0);
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	return rc == LDB_DONE ? OFP_LEDGER_NOT_FOUND : ldg_sql_fail(l, "revoked keys");
}

struct gate_add {
	const ofp_gate_t *g;
	bool replace;
};

/* ---- gates ------------------------------------------------------------------- */

int ofp_ledger_gate_lock(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN])
{
	static const char sql[] = "SELECT 1 FROM gates WHERE verifier_id = ?1";
	static const char sql_lock[] = "SELECT 1 FROM gates WHERE verifier_id = ?1 FOR UPDATE";
	ldb_stmt_t *st = ldg_stmt(l, l->db->drv->row_locks ? sql_lock : sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, verifier_id, OFP_ID_LEN);
	rc = ldb_step(st);
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	return rc == LDB_DONE ? ldg_fail(l, OFP_LEDGER_NOT_FOUND, "gates: no such gate") : ldg_sql_fail(l, "gates");
}

int ofp_ledger_gate_get(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN], ofp_gate_t *out)
{
	static const char sql[] = "SELECT alg, public_key, kid, added FROM gates WHERE verifier_id = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	char hex[17];
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	hex8(hex, verifier_id);
	ldb_bind_blob(st, 1, verifier_id, OFP_ID_LEN);
	rc = ldb_step(st);
	if (rc == LDB_ROW) {
		memset(out, 0, sizeof(*out));
		memcpy(out->verifier_id, verifier_id, OFP_ID_LEN);
		out->alg = (unsigned)ldb_col_int64(st, 0);
		out->added = (uint32_t)ldb_col_int64(st, 3);
		if (!ldg_col_blob_var(st, 1, out->key, sizeof(out->key), &out->key_len) ||
		    !ldg_col_blob(st, 2, out->kid, OFP_KEY_ID_LEN))
			rc = LDB_CORRUPT;
	}
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	if (rc == LDB_DONE)
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "gate %s: not registered (gate add --id %s --key FILE)", hex,
				hex);
	if (rc == LDB_CORRUPT)
		return ldg_fail(l, OFP_LEDGER_ERROR, "gate %s: damaged row", hex);
	return ldg_sql_fail(l, "gate");
}

/* Inside the transaction: OK after an insert or a replacement, or when
 * the gate has this key already (nothing written). */
static int gate_add_body(ofp_ledger_t *l, void *ctx)
{
	static const char sql[] = "INSERT INTO gates(verifier_id, alg, public_key, kid, added) "
				  "VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(verifier_id) DO UPDATE SET "
				  "alg = excluded.alg, public_key = excluded.public_key, kid = excluded.kid, "
				  "added = excluded.added";
	const struct gate_add *t = ctx;
	const ofp_gate_t *g = t->g;
	ofp_gate_t old;
	ldb_stmt_t *st;
	char hex[17];
	int rc;

	hex8(hex, g->verifier_id);
	rc = ofp_ledger_gate_get(l, g->verifier_id, &old);
	if (rc == OFP_LEDGER_OK && old.key_len == g->key_len && memcmp(old.key, g->key, g->key_len) == 0)
		return OFP_LEDGER_OK; /* registered already, with this key */
	if (rc == OFP_LEDGER_OK && !t->replace)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "gate %s: registered with another key (use --replace)", hex);
	if (rc != OFP_LEDGER_OK && rc != OFP_LEDGER_NOT_FOUND)
		return rc;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, g->verifier_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, (int)g->alg);
	ldb_bind_blob(st, 3, g->key, g->key_len);
	ldb_bind_blob(st, 4, g->kid, OFP_KEY_ID_LEN);
	ldb_bind_int64(st, 5, g->added);
	ldg_memo_clear(l);
	return ldg_exec(l, st, "gate");
}

int ofp_ledger_gate_add(ofp_ledger_t *l, const ofp_gate_t *g, bool replace)
{
	struct gate_add t = { g, replace };

	return ofp_ledger_transact(l, gate_add_body, &t);
}

/* ---- batches ------------------------------------------------------------------ */

#define BATCH_COLUMNS "sequence, digest, first_prev, last_hash, records, settled_at, period_end"

static int batch_fetch(ofp_ledger_t *l, ldb_stmt_t *st, const uint8_t verifier_id[OFP_ID_LEN],
		       ofp_settled_batch_t *out)
{
	int rc = ldb_step(st);

	if (rc == LDB_ROW) {
		memset(out, 0, sizeof(*out));
		memcpy(out->verifier_id, verifier_id, OFP_ID_LEN);
		out->sequence = (uint64_t)ldb_col_int64(st, 0);
		out->records = (uint32_t)ldb_col_int64(st, 4);
		out->settled_at = (uint32_t)ldb_col_int64(st, 5);
		out->period_end = (uint32_t)ldb_col_int64(st, 6);
		if (!ldg_col_blob(st, 1, out->digest, OFP_HASH_LEN) ||
		    !ldg_col_blob(st, 2, out->first_prev, OFP_HASH_LEN) ||
		    !ldg_col_blob(st, 3, out->last_hash, OFP_HASH_LEN))
			rc = LDB_CORRUPT;
	}
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	if (rc == LDB_DONE)
		return OFP_LEDGER_NOT_FOUND;
	if (rc == LDB_CORRUPT)
		return ldg_fail(l, OFP_LEDGER_ERROR, "settled batch: damaged row");
	return ldg_sql_fail(l, "batches");
}

int ofp_ledger_batch_get(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN], uint64_t sequence,
			 ofp_settled_batch_t *out)
{
	static const char sql[] = "SELECT " BATCH_COLUMNS " FROM batches WHERE verifier_id = ?1 AND sequence = ?2";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, verifier_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, (int64_t)sequence);
	return batch_fetch(l, st, verifier_id, out);
}

int ofp_ledger_batch_neighbour(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN], uint64_t sequence,
			       bool below, ofp_settled_batch_t *out)
{
	static const char sql_below[] = "SELECT " BATCH_COLUMNS " FROM batches WHERE verifier_id = ?1 "
					"AND sequence < ?2 ORDER BY sequence DESC LIMIT 1";
	static const char sql_above[] = "SELECT " BATCH_COLUMNS " FROM batches WHERE verifier_id = ?1 "
					"AND sequence > ?2 ORDER BY sequence ASC LIMIT 1";
	ldb_stmt_t *st = ldg_stmt(l, below ? sql_below : sql_above);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, verifier_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, (int64_t)sequence);
	return batch_fetch(l, st, verifier_id, out);
}

/* The gate's settled prefix (gates.settled_seq, settled_through) past
 * every batch now following it: usually the one just added, all those
 * behind a gap once it is filled. One statement: a recursive walk from
 * the prefix's end along the batches' primary key. */
static int gate_prefix_advance(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN])
{
	static const char sql[] =
		"WITH RECURSIVE run(seq, through) AS ("
		"SELECT settled_seq, settled_through FROM gates WHERE verifier_id = ?1 "
		"UNION ALL SELECT b.sequence, CASE WHEN b.period_end > run.through THEN b.period_end ELSE run.through END "
		"FROM run JOIN batches b ON b.verifier_id = ?1 AND b.sequence = run.seq + 1) "
		"UPDATE gates SET settled_seq = (SELECT MAX(seq) FROM run), settled_through = (SELECT MAX(through) FROM run) "
		"WHERE verifier_id = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, verifier_id, OFP_ID_LEN);
	return ldg_exec_later(l, st, "gate's settled batches");
}

int ofp_ledger_batch_add(ofp_ledger_t *l, const ofp_settled_batch_t *b)
{
	static const char sql[] = "INSERT INTO batches(verifier_id, " BATCH_COLUMNS
				  ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, b->verifier_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, (int64_t)b->sequence);
	ldb_bind_blob(st, 3, b->digest, OFP_HASH_LEN);
	ldb_bind_blob(st, 4, b->first_prev, OFP_HASH_LEN);
	ldb_bind_blob(st, 5, b->last_hash, OFP_HASH_LEN);
	ldb_bind_int64(st, 6, b->records);
	ldb_bind_int64(st, 7, b->settled_at);
	ldb_bind_int64(st, 8, b->period_end);
	ldg_memo_clear(l);
	rc = ldg_exec(l, st, "settled batch");
	return rc == OFP_LEDGER_OK ? gate_prefix_advance(l, b->verifier_id) : rc;
}

int ofp_ledger_batch_gaps(ofp_ledger_t *l, const uint8_t verifier_id[OFP_ID_LEN],
			  void (*cb)(void *ctx, uint64_t from, uint64_t to), void *ctx)
{
	/* Batches 1..settled_seq have no gap: only those past it are read,
	 * each with the prefix's end, where the first gap can start. */
	static const char sql[] = "WITH p(seq) AS (SELECT COALESCE((SELECT settled_seq FROM gates WHERE verifier_id = ?1), 0)) "
				  "SELECT b.sequence, p.seq FROM batches b, p WHERE b.verifier_id = ?1 AND b.sequence > p.seq "
				  "ORDER BY b.sequence";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	uint64_t expect = 0;
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, verifier_id, OFP_ID_LEN);
	while ((rc = ldb_step(st)) == LDB_ROW) {
		uint64_t s = (uint64_t)ldb_col_int64(st, 0);
		if (expect == 0)
			expect = (uint64_t)ldb_col_int64(st, 1) + 1;
		if (s > expect)
			cb(ctx, expect, s - 1);
		expect = s + 1;
	}
	ldb_reset(st);
	return rc == LDB_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, "batches");
}

/* ---- charges ------------------------------------------------------------------ */

#define CHARGE_COLUMNS "holder_id, counter, verifier_id, batch, amount, serial, time, auth_hash, holder_key"

static int charge_fetch(ofp_ledger_t *l, ldb_stmt_t *st, ofp_charge_t *out)
{
	int rc = ldb_step(st);

	if (rc == LDB_ROW) {
		memset(out, 0, sizeof(*out));
		out->counter = (uint32_t)ldb_col_int64(st, 1);
		out->sequence = (uint64_t)ldb_col_int64(st, 3);
		out->amount = (uint32_t)ldb_col_int64(st, 4);
		out->serial = (uint64_t)ldb_col_int64(st, 5);
		out->time = (uint32_t)ldb_col_int64(st, 6);
		if (!ldg_col_blob(st, 0, out->holder_id, OFP_ID_LEN) || !ldg_col_blob(st, 2, out->verifier_id, OFP_ID_LEN) ||
		    !ldg_col_blob(st, 7, out->auth_hash, OFP_HASH_LEN) ||
		    !ldg_col_blob_var(st, 8, out->holder_key, sizeof(out->holder_key), &out->holder_key_len))
			rc = LDB_CORRUPT;
	}
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	if (rc == LDB_DONE)
		return OFP_LEDGER_NOT_FOUND;
	if (rc == LDB_CORRUPT)
		return ldg_fail(l, OFP_LEDGER_ERROR, "charges: damaged row");
	return ldg_sql_fail(l, "charges");
}

int ofp_ledger_charge_find(ofp_ledger_t *l, const uint8_t auth_hash[OFP_HASH_LEN], ofp_charge_t *first)
{
	static const char sql[] = "SELECT " CHARGE_COLUMNS " FROM charges WHERE auth_hash = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, auth_hash, OFP_HASH_LEN);
	return charge_fetch(l, st, first);
}

int ofp_ledger_charge_find_counter(ofp_ledger_t *l, const uint8_t *holder_key, size_t key_len, uint32_t counter,
				   ofp_charge_t *first)
{
	static const char sql[] = "SELECT " CHARGE_COLUMNS " FROM charges WHERE holder_key = ?1 AND counter = ?2 "
				  "ORDER BY rowid LIMIT 1";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, holder_key, key_len);
	ldb_bind_int64(st, 2, counter);
	return charge_fetch(l, st, first);
}

int ofp_ledger_charged_at_gate(ofp_ledger_t *l, uint64_t serial, const uint8_t verifier_id[OFP_ID_LEN], int64_t *sum)
{
	static const char sql[] = "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM charges "
				  "WHERE serial = ?1 AND verifier_id = ?2";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	*sum = 0;
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, (int64_t)serial);
	ldb_bind_blob(st, 2, verifier_id, OFP_ID_LEN);
	rc = ldb_step(st);
	if (rc == LDB_ROW)
		*sum = ldb_col_int64(st, 0);
	ldb_reset(st);
	return rc == LDB_ROW ? OFP_LEDGER_OK : ldg_sql_fail(l, "charges");
}

/* The statements of a look-up share their columns from base on: the
 * gate's sum, then the charge found (NULL when none) and whether it has
 * the auth hash. */
int ldg_charge_seen_row(ofp_ledger_t *l, ldb_stmt_t *st, int base, ofp_charge_seen_t *out)
{
	ofp_charge_t *f = &out->first;

	memset(out, 0, sizeof(*out));
	out->sum = ldb_col_int64(st, base);
	if (ldb_col_null(st, base + 1))
		return OFP_LEDGER_OK;
	out->found = true;
	f->counter = (uint32_t)ldb_col_int64(st, base + 2);
	f->sequence = (uint64_t)ldb_col_int64(st, base + 4);
	f->amount = (uint32_t)ldb_col_int64(st, base + 5);
	f->serial = (uint64_t)ldb_col_int64(st, base + 6);
	f->time = (uint32_t)ldb_col_int64(st, base + 7);
	out->copy = ldb_col_int64(st, base + 10) != 0;
	return ldg_col_blob(st, base + 1, f->holder_id, OFP_ID_LEN) && ldg_col_blob(st, base + 3, f->verifier_id, OFP_ID_LEN) &&
			       ldg_col_blob(st, base + 8, f->auth_hash, OFP_HASH_LEN) &&
			       ldg_col_blob_var(st, base + 9, f->holder_key, sizeof(f->holder_key), &f->holder_key_len)
		       ? OFP_LEDGER_OK
		       : ldg_fail(l, OFP_LEDGER_ERROR, "charges: damaged row");
}

int ofp_ledger_charge_lookup(ofp_ledger_t *l, const ofp_charge_t *c, ofp_charge_t *first, bool *copy, int64_t *sum)
{
	ofp_charge_seen_t seen;
	int rc = ldg_charge_seen(l, c, &seen);

	*copy = seen.copy;
	*sum = seen.sum;
	if (rc == OFP_LEDGER_OK && seen.found)
		*first = seen.first;
	return rc != OFP_LEDGER_OK ? rc : seen.found ? OFP_LEDGER_OK : OFP_LEDGER_NOT_FOUND;
}

int ldg_charge_seen(ofp_ledger_t *l, const ofp_charge_t *c, ofp_charge_seen_t *out)
{
	/* The sum is one row whatever matches; the charge joined to it is
	 * the one with this auth_hash if any, else the first of this key
	 * and counter (the order charge_find_counter reads in). */
	static const char sql[] =
		"SELECT s.total, f.holder_id, f.counter, f.verifier_id, f.batch, f.amount, f.serial, f.time, "
		"f.auth_hash, f.holder_key, f.same FROM "
		"(SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM charges "
		"WHERE serial = ?4 AND verifier_id = ?5) s LEFT JOIN "
		"(SELECT " CHARGE_COLUMNS ", CAST(CASE WHEN auth_hash = ?1 THEN 1 ELSE 0 END AS BIGINT) AS same "
		"FROM charges WHERE auth_hash = ?1 OR (holder_key = ?2 AND counter = ?3) "
		"ORDER BY same DESC, rowid LIMIT 1) f ON 1 = 1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, c->auth_hash, OFP_HASH_LEN);
	ldb_bind_blob(st, 2, c->holder_key, c->holder_key_len);
	ldb_bind_int64(st, 3, c->counter);
	ldb_bind_int64(st, 4, (int64_t)c->serial);
	ldb_bind_blob(st, 5, c->verifier_id, OFP_ID_LEN);
	rc = ldb_step(st);
	rc = rc == LDB_ROW ? ldg_charge_seen_row(l, st, 0, out) : ldg_sql_fail(l, "charges");
	ldb_reset(st);
	return rc;
}

/* A charge and a double use share their first nine columns, in this order. */
static void bind_charge(ldb_stmt_t *st, const ofp_charge_t *c)
{
	ldb_bind_blob(st, 1, c->holder_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, c->counter);
	ldb_bind_blob(st, 3, c->verifier_id, OFP_ID_LEN);
	ldb_bind_int64(st, 4, (int64_t)c->sequence);
	ldb_bind_int64(st, 5, c->amount);
	ldb_bind_int64(st, 6, (int64_t)c->serial);
	ldb_bind_int64(st, 7, c->time);
	ldb_bind_blob(st, 8, c->auth_hash, OFP_HASH_LEN);
	ldb_bind_blob(st, 9, c->holder_key, c->holder_key_len);
}

int ofp_ledger_charge_add(ofp_ledger_t *l, const ofp_charge_t *c)
{
	static const char sql[] = "INSERT INTO charges(" CHARGE_COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	bind_charge(st, c);
	return ldg_exec_later(l, st, "charge");
}

int ofp_ledger_double_use_add(ofp_ledger_t *l, const ofp_charge_t *c, const char *kind, uint32_t now)
{
	static const char sql[] = "INSERT INTO double_uses(" CHARGE_COLUMNS ", kind, found_at) "
				  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	bind_charge(st, c);
	ldb_bind_text(st, 10, kind);
	ldb_bind_int64(st, 11, now);
	return ldg_exec_later(l, st, "double use");
}

int ofp_ledger_double_use_count(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], int64_t *n)
{
	static const char sql[] = "SELECT count(*) FROM double_uses WHERE holder_id = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, holder_id, OFP_ID_LEN);
	rc = ldb_step(st);
	*n = rc == LDB_ROW ? ldb_col_int64(st, 0) : 0;
	ldb_reset(st);
	return rc == LDB_ROW ? OFP_LEDGER_OK : ldg_sql_fail(l, "double uses");
}

/* ---- deny list ---------------------------------------------------------------- */

int ofp_ledger_deny_add(ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN], uint32_t now)
{
	static const char sql[] = "INSERT INTO denied(entry, added) VALUES(?1, ?2) ON CONFLICT(entry) DO NOTHING";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, entry, OFP_DENY_ENTRY_LEN);
	ldb_bind_int64(st, 2, now);
	ldg_memo_clear(l);
	rc = ldg_exec(l, st, "deny list");
	if (rc == OFP_LEDGER_OK && l->db->drv->changes(l->db) == 0)
		return ldg_fail(l, OFP_LEDGER_REFUSED, "already on the deny list");
	return rc;
}

int ofp_ledger_denied(ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN])
{
	static const char sql[] = "SELECT 1 FROM denied WHERE entry = ?1";
	ldb_stmt_t *st;
	int rc = ldg_memo_denied(l, entry);

	if (rc >= 0)
		return rc == 1 ? OFP_LEDGER_OK : OFP_LEDGER_NOT_FOUND;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, entry, OFP_DENY_ENTRY_LEN);
	rc = ldb_step(st);
	ldb_reset(st);
	if (rc != LDB_ROW && rc != LDB_DONE)
		return ldg_sql_fail(l, "deny list");
	ldg_memo_denied_set(l, entry, rc == LDB_ROW);
	return rc == LDB_ROW ? OFP_LEDGER_OK : OFP_LEDGER_NOT_FOUND;
}

int ofp_ledger_deny_entries(ofp_ledger_t *l, uint8_t **entries, size_t *count)
{
	static const char sql_count[] = "SELECT count(*) FROM denied";
	/* BLOB comparison is memcmp: the list's own order (FORMAT.md 12). */
	static const char sql[] = "SELECT entry FROM denied ORDER BY entry";
	ldb_stmt_t *st = ldg_stmt(l, sql_count);
	size_t n = 0, cap;
	int rc;

	*entries = NULL;
	*count = 0;
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	rc = ldb_step(st);
	cap = rc == LDB_ROW ? (size_t)ldb_col_int64(st, 0) : 0;
	ldb_reset(st);
	if (rc != LDB_ROW)
		return ldg_sql_fail(l, "deny list");
	*entries = malloc(cap * OFP_DENY_ENTRY_LEN + 1);
	st = ldg_stmt(l, sql);
	if (*entries == NULL || st == NULL) {
		free(*entries);
		*entries = NULL;
		return st == NULL ? OFP_LEDGER_ERROR : ldg_fail(l, OFP_LEDGER_ERROR, "deny list: out of memory");
	}
	while (n < cap && (rc = ldb_step(st)) == LDB_ROW) {
		if (!ldg_col_blob(st, 0, *entries + n * OFP_DENY_ENTRY_LEN, OFP_DENY_ENTRY_LEN)) {
			rc = LDB_CORRUPT;
			break;
		}
		n++;
	}
	ldb_reset(st);
	if (rc != LDB_ROW && rc != LDB_DONE) {
		free(*entries);
		*entries = NULL;
		return rc == LDB_CORRUPT ? ldg_fail(l, OFP_LEDGER_ERROR, "deny list: damaged entry")
					    : ldg_sql_fail(l, "deny list");
	}
	*count = n;
	return OFP_LEDGER_OK;
}
