/* ledger_holders.c - what the ledger knows about holders beyond their
 * accounts: enrollment codes (as keys, never as codes), the holder keys
 * they enrolled, the credentials each holder id was issued with their
 * settled charges (exposure), and how far the gates have settled. */
#include "config.h"
#include "issuer/ledger_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- enrollment codes ----------------------------------------------------------- */

int ofp_ledger_enroll_code_set(ofp_ledger_t *l, int64_t account, const uint8_t code_key[OFP_HASH_LEN], uint32_t now,
			       uint32_t expires)
{
	static const char sql[] = "INSERT INTO enrollment_codes(account, code_key, created, expires, tries, used) "
				  "VALUES(?1, ?2, ?3, ?4, 0, NULL) ON CONFLICT(account) DO UPDATE SET "
				  "code_key = excluded.code_key, created = excluded.created, "
				  "expires = excluded.expires, tries = 0, used = NULL";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, account);
	ldb_bind_blob(st, 2, code_key, OFP_HASH_LEN);
	ldb_bind_int64(st, 3, now);
	ldb_bind_int64(st, 4, expires);
	return ldg_exec(l, st, "enrollment code");
}

int ofp_ledger_enroll_code_get(ofp_ledger_t *l, int64_t account, ofp_enroll_code_t *out)
{
	static const char sql[] = "SELECT code_key, created, expires, tries, used FROM enrollment_codes "
				  "WHERE account = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	memset(out, 0, sizeof(*out));
	ldb_bind_int64(st, 1, account);
	rc = ldb_step(st);
	if (rc == LDB_ROW) {
		out->created = (uint32_t)ldb_col_int64(st, 1);
		out->expires = (uint32_t)ldb_col_int64(st, 2);
		out->tries = (uint32_t)ldb_col_int64(st, 3);
		out->used = !ldb_col_null(st, 4);
		out->used_at = out->used ? (uint32_t)ldb_col_int64(st, 4) : 0;
		if (!ldg_col_blob(st, 0, out->code_key, OFP_HASH_LEN))
			rc = LDB_CORRUPT;
	}
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	if (rc == LDB_DONE)
		return ldg_fail(l, OFP_LEDGER_NOT_FOUND, "account %" PRId64 ": no enrollment code", account);
	if (rc == LDB_CORRUPT)
		return ldg_fail(l, OFP_LEDGER_ERROR, "enrollment code: damaged row");
	return ldg_sql_fail(l, "enrollment code");
}

int ofp_ledger_enroll_code_try(ofp_ledger_t *l, int64_t account, int delta)
{
	static const char sql[] = "UPDATE enrollment_codes SET tries = CASE WHEN tries + ?2 < 0 THEN 0 "
				  "ELSE tries + ?2 END WHERE account = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, account);
	ldb_bind_int64(st, 2, delta);
	return ldg_exec(l, st, "enrollment code");
}

int ofp_ledger_enroll_code_use(ofp_ledger_t *l, int64_t account, uint32_t now)
{
	static const char sql[] = "UPDATE enrollment_codes SET used = ?2 WHERE account = ?1 AND used IS NULL";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_int64(st, 1, account);
	ldb_bind_int64(st, 2, now);
	rc = ldg_exec(l, st, "enrollment code");
	if (rc == OFP_LEDGER_OK && l->db->drv->changes(l->db) != 1)
		rc = ldg_fail(l, OFP_LEDGER_REFUSED, "account %" PRId64 ": the enrollment code was used already",
			      account);
	return rc;
}

/* ---- enrolled holder keys ---------------------------------------------------------- */

int ofp_ledger_holder_key_account(ofp_ledger_t *l, const uint8_t *key, size_t len, int64_t *account)
{
	static const char sql[] = "SELECT account FROM holder_keys WHERE holder_key = ?1";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, key, len);
	rc = ldb_step(st);
	if (rc == LDB_ROW)
		*account = ldb_col_int64(st, 0);
	ldb_reset(st);
	if (rc == LDB_ROW)
		return OFP_LEDGER_OK;
	return rc == LDB_DONE ? OFP_LEDGER_NOT_FOUND : ldg_sql_fail(l, "holder keys");
}

int ofp_ledger_holder_key_add(ofp_ledger_t *l, int64_t account, unsigned alg, const uint8_t *key, size_t len,
			      uint32_t now)
{
	static const char sql[] = "INSERT INTO holder_keys(holder_key, account, alg, enrolled) VALUES(?1, ?2, ?3, ?4)";
	ldb_stmt_t *st;
	int64_t owner = 0;
	int rc = ofp_ledger_holder_key_account(l, key, len, &owner);

	if (rc == OFP_LEDGER_OK)
		return owner == account ? OFP_LEDGER_OK
					: ldg_fail(l, OFP_LEDGER_REFUSED, "this holder key is enrolled to another account");
	if (rc != OFP_LEDGER_NOT_FOUND)
		return rc;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, key, len);
	ldb_bind_int64(st, 2, account);
	ldb_bind_int64(st, 3, (int)alg);
	ldb_bind_int64(st, 4, now);
	return ldg_exec(l, st, "holder key");
}

/* ---- credentials and exposure --------------------------------------------------------- */

int ofp_ledger_credentials_of(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], uint32_t since,
			      int (*cb)(void *ctx, const ofp_ledger_cred_t *c), void *ctx)
{
	static const char sql[] = "SELECT c.serial, c.not_before, c.not_after, c.offline_total, c.replaced, "
				  "(SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM charges WHERE serial = c.serial) "
				  "FROM credentials c WHERE c.holder_id = ?1 AND c.not_after >= ?2 "
				  "AND c.credential IS NOT NULL ORDER BY c.serial";
	ldb_stmt_t *st = ldg_stmt(l, sql);
	ofp_ledger_cred_t c;
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, holder_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, since);
	while ((rc = ldb_step(st)) == LDB_ROW) {
		memset(&c, 0, sizeof(c));
		c.serial = (uint64_t)ldb_col_int64(st, 0);
		c.not_before = (uint32_t)ldb_col_int64(st, 1);
		c.not_after = (uint32_t)ldb_col_int64(st, 2);
		c.offline_total = ldb_col_int64(st, 3);
		c.replaced = ldb_col_int64(st, 4) != 0;
		c.charged = ldb_col_int64(st, 5);
		if (cb(ctx, &c) != 0) {
			rc = LDB_DONE;
			break;
		}
	}
	ldb_reset(st);
	return rc == LDB_DONE ? OFP_LEDGER_OK : ldg_sql_fail(l, "credentials");
}

int ofp_ledger_credentials_replace(ofp_ledger_t *l, const uint8_t holder_id[OFP_ID_LEN], uint32_t now)
{
	static const char sql[] = "UPDATE credentials SET replaced = 1 WHERE holder_id = ?1 AND not_after > ?2";
	ldb_stmt_t *st = ldg_stmt(l, sql);

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	ldb_bind_blob(st, 1, holder_id, OFP_ID_LEN);
	ldb_bind_int64(st, 2, now);
	return ldg_exec(l, st, "credentials");
}

int ofp_ledger_gates_settled_through(ofp_ledger_t *l, uint32_t *through, size_t *gates)
{
	/* Each gate's latest period_end of its batches 1..n with none
	 * missing (0: batch 1 is not settled), kept by ofp_ledger_batch_add;
	 * the earliest of those. No gate yet: 0, nothing has reported, and a
	 * gate registered later may bring records of any credential. */
	static const char sql[] = "SELECT COUNT(*), COALESCE(MIN(settled_through), 0) FROM gates";
	ldb_stmt_t *st;
	int rc;

	*through = 0;
	if (ldg_memo_through(l, through, gates))
		return OFP_LEDGER_OK;
	st = ldg_stmt(l, sql);
	if (st == NULL)
		return OFP_LEDGER_ERROR;
	rc = ldb_step(st);
	if (rc == LDB_ROW) {
		int64_t n = ldb_col_int64(st, 0), t = ldb_col_int64(st, 1);
		*through = n > 0 && t > 0 && t <= UINT32_MAX ? (uint32_t)t : 0;
		if (gates != NULL)
			*gates = (size_t)n;
		ldg_memo_through_set(l, *through, (size_t)n);
	}
	ldb_reset(st);
	return rc == LDB_ROW ? OFP_LEDGER_OK : ldg_fail(l, OFP_LEDGER_ERROR, "gates: cannot read their settled batches");
}
