/* ledger_many.c - look-ups of many rows in one statement: a settlement's
 * accounts and its charges' look-ups. On PostgreSQL each row read one by
 * one is a round trip, which a batch of 500 records paid twice per record
 * (docs/ISSUER.md 9); here the keys go as arrays in PostgreSQL's text form
 * (one parameter each), up to LDG_MANY keys per statement. SQLite runs in
 * the process: one statement per key costs it nothing, and it has no
 * arrays. */
#include "config.h"
#include "issuer/ledger_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LDG_MANY 1024u

/* An array literal being written ("{...}"); oom once a write failed. */
typedef struct array_text {
	char *p;
	size_t len, cap;
	bool oom;
} array_text_t;

static void text_put(array_text_t *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap == 0 ? 4096 : t->cap;
		char *p;
		while (cap < t->len + n + 1)
			cap *= 2;
		p = realloc(t->p, cap);
		if (p == NULL) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

/* The separator before element i (the opening brace before the first). */
static void text_next(array_text_t *t, size_t i)
{
	text_put(t, i == 0 ? "{" : ",", 1);
}

/* A bytea element: "\\x<hex>" (the backslash escaped inside quotes). */
static void text_bytea(array_text_t *t, size_t i, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char pair[2];

	text_next(t, i);
	text_put(t, "\"\\\\x", 4);
	for (size_t k = 0; k < n; k++) {
		pair[0] = hex[b[k] >> 4];
		pair[1] = hex[b[k] & 15];
		text_put(t, pair, 2);
	}
	text_put(t, "\"", 1);
}

static void text_int64(array_text_t *t, size_t i, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);

	text_next(t, i);
	text_put(t, num, (size_t)n);
}

static void text_end(array_text_t *t, size_t n)
{
	text_put(t, n == 0 ? "{}" : "}", n == 0 ? 2 : 1);
}

static void text_free(array_text_t *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

/* ---- accounts ------------------------------------------------------------------------- */

/* ids[0 .. n-1] (ascending, n <= LDG_MANY) in one statement: the rows
 * come back in the same order, locked in it (ORDER BY before FOR UPDATE). */
static int accounts_chunk(ofp_ledger_t *l, const uint8_t (*ids)[OFP_ID_LEN], size_t n, ofp_account_t *out,
			  bool *found)
{
	static const char sql[] = "SELECT " LDG_ACCOUNT_COLUMNS " FROM accounts "
				  "WHERE holder_id = ANY(CAST(?1 AS BYTEA[])) ORDER BY holder_id FOR UPDATE";
	array_text_t t = { 0 };
	ldb_stmt_t *st;
	ofp_account_t a;
	size_t next = 0;
	int rc;

	for (size_t i = 0; i < n; i++)
		text_bytea(&t, i, ids[i], OFP_ID_LEN);
	text_end(&t, n);
	if (t.oom) {
		text_free(&t);
		return ldg_fail(l, OFP_LEDGER_ERROR, "accounts: out of memory");
	}
	st = ldg_stmt(l, sql);
	if (st == NULL) {
		text_free(&t);
		return OFP_LEDGER_ERROR;
	}
	ldb_bind_text(st, 1, t.p);
	while ((rc = ldb_step(st)) == LDB_ROW) {
		ldg_account_row(st, 0, &a);
		while (next < n && memcmp(ids[next], a.holder_id, OFP_ID_LEN) < 0)
			next++;
		if (next < n && memcmp(ids[next], a.holder_id, OFP_ID_LEN) == 0) {
			out[next] = a;
			found[next++] = true;
		}
	}
	ldb_reset(st);
	text_free(&t);
	return rc == LDB_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, "accounts");
}

int ofp_ledger_accounts_by_holders_locked(ofp_ledger_t *l, const uint8_t (*ids)[OFP_ID_LEN], size_t n,
					  ofp_account_t *out, bool *found)
{
	int rc = OFP_LEDGER_OK;

	for (size_t i = 0; i < n; i++)
		found[i] = false;
	for (size_t i = 1; i < n; i++)
		if (memcmp(ids[i - 1], ids[i], OFP_ID_LEN) >= 0)
			return ldg_fail(l, OFP_LEDGER_ERROR, "accounts: holder ids not in ascending order");
	for (size_t i = 0; rc == OFP_LEDGER_OK && i < n; i++) {
		if (l->db->drv->arrays) {
			size_t k = n - i < LDG_MANY ? n - i : LDG_MANY;
			rc = accounts_chunk(l, ids + i, k, out + i, found + i);
			i += k - 1;
			continue;
		}
		rc = ofp_ledger_account_by_holder_locked(l, ids[i], &out[i]);
		found[i] = rc == OFP_LEDGER_OK;
		if (rc == OFP_LEDGER_NOT_FOUND)
			rc = OFP_LEDGER_OK;
	}
	return rc;
}

/* ---- charges -------------------------------------------------------------------------- */

/* c[0 .. n-1] (n <= LDG_MANY) in one statement: ldg_charge_seen's
 * statement for each, joined laterally to the keys' arrays, in order. */
static int charges_chunk(ofp_ledger_t *l, const ofp_charge_t *c, size_t n, ofp_charge_seen_t *out)
{
	static const char sql[] =
		"SELECT r.i, s.total, f.holder_id, f.counter, f.verifier_id, f.batch, f.amount, f.serial, f.time, "
		"f.auth_hash, f.holder_key, f.same FROM "
		"unnest(CAST(?1 AS BYTEA[]), CAST(?2 AS BYTEA[]), CAST(?3 AS BIGINT[]), CAST(?4 AS BIGINT[]), "
		"CAST(?5 AS BYTEA[])) WITH ORDINALITY AS r(auth, hkey, ctr, ser, gate, i) "
		"CROSS JOIN LATERAL (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM charges "
		"WHERE serial = r.ser AND verifier_id = r.gate) s LEFT JOIN LATERAL "
		"(SELECT holder_id, counter, verifier_id, batch, amount, serial, time, auth_hash, holder_key, "
		"CAST(CASE WHEN auth_hash = r.auth THEN 1 ELSE 0 END AS BIGINT) AS same "
		"FROM charges WHERE auth_hash = r.auth OR (holder_key = r.hkey AND counter = r.ctr) "
		"ORDER BY same DESC, rowid LIMIT 1) f ON TRUE ORDER BY r.i";
	array_text_t t[5] = { { 0 } };
	ldb_stmt_t *st = NULL;
	size_t rows = 0;
	int rc = OFP_LEDGER_OK, step = LDB_DONE;

	for (size_t i = 0; i < n; i++) {
		text_bytea(&t[0], i, c[i].auth_hash, OFP_HASH_LEN);
		text_bytea(&t[1], i, c[i].holder_key, c[i].holder_key_len);
		text_int64(&t[2], i, c[i].counter);
		text_int64(&t[3], i, (int64_t)c[i].serial);
		text_bytea(&t[4], i, c[i].verifier_id, OFP_ID_LEN);
	}
	for (int k = 0; k < 5; k++) {
		text_end(&t[k], n);
		if (t[k].oom)
			rc = ldg_fail(l, OFP_LEDGER_ERROR, "charges: out of memory");
	}
	if (rc == OFP_LEDGER_OK)
		st = ldg_stmt(l, sql);
	if (rc != OFP_LEDGER_OK || st == NULL) {
		rc = OFP_LEDGER_ERROR;
		goto out;
	}
	for (int k = 0; k < 5; k++)
		ldb_bind_text(st, k + 1, t[k].p);
	while (rc == OFP_LEDGER_OK && (step = ldb_step(st)) == LDB_ROW) {
		/* One row per key, in the keys' order (WITH ORDINALITY). */
		if (ldb_col_int64(st, 0) != (int64_t)rows + 1)
			rc = ldg_fail(l, OFP_LEDGER_ERROR, "charges: look-up rows out of order");
		else
			rc = ldg_charge_seen_row(l, st, 1, &out[rows++]);
	}
	if (rc == OFP_LEDGER_OK && step != LDB_DONE)
		rc = ldg_sql_fail(l, "charges");
	else if (rc == OFP_LEDGER_OK && rows != n)
		rc = ldg_fail(l, OFP_LEDGER_ERROR, "charges: %zu look-up rows for %zu charges", rows, n);
	ldb_reset(st);
out:
	for (int k = 0; k < 5; k++)
		text_free(&t[k]);
	return rc;
}

int ofp_ledger_charge_lookup_many(ofp_ledger_t *l, const ofp_charge_t *c, size_t n, ofp_charge_seen_t *out)
{
	int rc = OFP_LEDGER_OK;

	for (size_t i = 0; rc == OFP_LEDGER_OK && i < n; i++) {
		if (l->db->drv->arrays) {
			size_t k = n - i < LDG_MANY ? n - i : LDG_MANY;
			rc = charges_chunk(l, c + i, k, out + i);
			i += k - 1;
			continue;
		}
		rc = ldg_charge_seen(l, &c[i], &out[i]);
	}
	return rc;
}
