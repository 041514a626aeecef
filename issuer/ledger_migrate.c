/* ledger_migrate.c - copy a whole ledger into an empty one (SQLite to
 * PostgreSQL): table by table in dependency order, in one transaction on
 * each side, verified before the target commits. */
#include "config.h"
#include "issuer/ledger_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SQL_MAX 1024

/* A statement outside the cache (its text is built here), finalized by
 * the caller. */
static ldb_stmt_t *raw_stmt(ofp_ledger_t *l, const char *sql)
{
	ldb_stmt_t *st = NULL;

	if (l->db->drv->prepare(l->db, sql, &st) != LDB_OK) {
		ldg_sql_fail(l, "prepare");
		return NULL;
	}
	return st;
}

static void raw_free(ofp_ledger_t *l, ldb_stmt_t *st)
{
	if (st != NULL)
		l->db->drv->finalize(st);
}

/* The schema version is the target's own row, not a row to copy. */
static const char *own_rows(const ldb_table_t *t)
{
	return strcmp(t->name, "meta") == 0 ? " WHERE name <> 'schema_version'" : "";
}

/* One row of integers from sql: n values into v. */
static int query_ints(ofp_ledger_t *l, const char *sql, int64_t *v, int n)
{
	ldb_stmt_t *st = raw_stmt(l, sql);
	int rc;

	if (st == NULL)
		return OFP_LEDGER_ERROR;
	rc = ldb_step(st);
	for (int i = 0; i < n; i++)
		v[i] = rc == LDB_ROW ? ldb_col_int64(st, i) : 0;
	raw_free(l, st);
	return rc == LDB_ROW ? OFP_LEDGER_OK : ldg_sql_fail(l, sql);
}

static int table_count(ofp_ledger_t *l, const ldb_table_t *t, int64_t *n)
{
	char sql[SQL_MAX];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s%s", t->name, own_rows(t));
	return query_ints(l, sql, n, 1);
}

/* The source row's columns as the insert's parameters. */
static void bind_row(ldb_stmt_t *src, ldb_stmt_t *dst, const char *types)
{
	size_t len;

	for (int c = 0; types[c] != '\0'; c++) {
		if (ldb_col_null(src, c)) {
			ldb_bind_null(dst, c + 1);
			continue;
		}
		switch (types[c]) {
		case 'i': ldb_bind_int64(dst, c + 1, ldb_col_int64(src, c)); break;
		case 't': ldb_bind_text(dst, c + 1, ldb_col_text(src, c)); break;
		default: {
			const void *p = ldb_col_blob(src, c, &len);
			ldb_bind_blob(dst, c + 1, p, len);
		}
		}
	}
}

static int copy_table(ofp_ledger_t *from, ofp_ledger_t *to, const ldb_table_t *t, int64_t *copied)
{
	char sel[SQL_MAX], ins[SQL_MAX];
	ldb_stmt_t *src = NULL, *dst = NULL;
	size_t n = strlen(t->types), pos;
	int rc = OFP_LEDGER_ERROR, step;

	*copied = 0;
	snprintf(sel, sizeof(sel), "SELECT %s FROM %s%s ORDER BY %s", t->columns, t->name, own_rows(t), t->order);
	pos = (size_t)snprintf(ins, sizeof(ins), "INSERT INTO %s(%s) VALUES(", t->name, t->columns);
	for (size_t i = 1; i <= n && pos < sizeof(ins); i++)
		pos += (size_t)snprintf(ins + pos, sizeof(ins) - pos, "%s?%zu", i > 1 ? ", " : "", i);
	if (pos < sizeof(ins))
		snprintf(ins + pos, sizeof(ins) - pos, ")");
	src = raw_stmt(from, sel);
	dst = src != NULL ? raw_stmt(to, ins) : NULL;
	if (dst == NULL)
		goto out;
	while ((step = ldb_step(src)) == LDB_ROW) {
		bind_row(src, dst, t->types);
		step = ldb_step(dst);
		ldb_reset(dst);
		if (step != LDB_DONE) {
			rc = ldg_fail(to, step == LDB_CONSTRAINT ? OFP_LEDGER_REFUSED : OFP_LEDGER_ERROR,
				      "%s: row %" PRId64 ": %s", t->name, *copied + 1, to->db->drv->errmsg(to->db));
			goto out;
		}
		(*copied)++;
	}
	rc = step == LDB_DONE ? OFP_LEDGER_OK : ldg_sql_fail(from, t->name);
out:
	raw_free(from, src);
	raw_free(to, dst);
	return rc;
}

/* The identity columns go on after the highest id copied. */
static int advance_identities(ofp_ledger_t *to)
{
	static const char *const ids[][2] = {
		{ "accounts", "id" }, { "history", "id" }, { "credentials", "serial" }, { "double_uses", "id" }
	};
	char sql[SQL_MAX];
	int64_t v;

	if (strcmp(to->db->drv->name, "postgresql") != 0)
		return OFP_LEDGER_OK;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE((SELECT MAX(%s) FROM %s), 0) + 1, "
			 "false)",
			 ids[i][0], ids[i][1], ids[i][1], ids[i][0]);
		if (query_ints(to, sql, &v, 1) != OFP_LEDGER_OK)
			return OFP_LEDGER_ERROR;
	}
	return OFP_LEDGER_OK;
}

/* The money on both sides: accounts and the sum of balances, charges and
 * the sum charged, history entries and the sum of their changes. */
static int money(ofp_ledger_t *l, int64_t v[6])
{
	int rc = query_ints(l, "SELECT count(*), CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM accounts", v, 2);

	if (rc == OFP_LEDGER_OK)
		rc = query_ints(l, "SELECT count(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM charges", v + 2, 2);
	if (rc == OFP_LEDGER_OK)
		rc = query_ints(l, "SELECT count(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM history", v + 4, 2);
	return rc;
}

static int copy_all(ofp_ledger_t *from, ofp_ledger_t *to, ofp_ledger_migration_t *m)
{
	int64_t n_from, n_to, copied, a[6], b[6];
	int rc;

	for (size_t i = 0; i < ldb_n_tables; i++) {
		rc = table_count(to, &ldb_tables[i], &n_to);
		if (rc != OFP_LEDGER_OK)
			return rc;
		if (n_to != 0)
			return ldg_fail(to, OFP_LEDGER_REFUSED, "not empty: %s holds %" PRId64 " rows (migrate only "
							      "into a new database)", ldb_tables[i].name, n_to);
	}
	for (size_t i = 0; i < ldb_n_tables; i++) {
		const ldb_table_t *t = &ldb_tables[i];
		rc = copy_table(from, to, t, &copied);
		if (rc == OFP_LEDGER_OK)
			rc = table_count(from, t, &n_from);
		if (rc == OFP_LEDGER_OK)
			rc = table_count(to, t, &n_to);
		if (rc != OFP_LEDGER_OK)
			return rc;
		if (n_from != copied || n_to != copied)
			return ldg_fail(to, OFP_LEDGER_ERROR, "%s: %" PRId64 " rows in the source, %" PRId64
							      " copied, %" PRId64 " in the target", t->name, n_from, copied, n_to);
		m->tables++;
		m->rows += copied;
	}
	rc = advance_identities(to);
	if (rc == OFP_LEDGER_OK)
		rc = money(from, a);
	if (rc == OFP_LEDGER_OK)
		rc = money(to, b);
	if (rc != OFP_LEDGER_OK)
		return rc;
	if (memcmp(a, b, sizeof(a)) != 0)
		return ldg_fail(to, OFP_LEDGER_ERROR, "the money differs after the copy: balances %" PRId64 " / %" PRId64
						      ", charges %" PRId64 " / %" PRId64, a[1], b[1], a[3], b[3]);
	m->accounts = a[0];
	m->balance_sum = a[1];
	m->charges = a[2];
	m->charge_sum = a[3];
	return OFP_LEDGER_OK;
}

int ofp_ledger_migrate(ofp_ledger_t *from, ofp_ledger_t *to, ofp_ledger_migration_t *out)
{
	ofp_ledger_migration_t m = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	from->err[0] = '\0';
	to->err[0] = '\0';
	/* The source's transaction is its snapshot (SQLite: and its write
	 * lock, so nothing changes it while it is copied). */
	rc = ofp_ledger_begin(from);
	if (rc != OFP_LEDGER_OK) {
		snprintf(to->err, sizeof(to->err), "%s", from->err);
		return rc;
	}
	rc = ofp_ledger_begin(to);
	if (rc == OFP_LEDGER_OK)
		rc = copy_all(from, to, &m);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_commit(to);
	if (rc != OFP_LEDGER_OK && from->err[0] != '\0' && to->err[0] == '\0')
		snprintf(to->err, sizeof(to->err), "%s", from->err);
	ofp_ledger_rollback(to);
	ofp_ledger_rollback(from);
	if (rc == OFP_LEDGER_OK)
		*out = m;
	return rc;
}
