/* ledger_pg.c - the PostgreSQL driver under the ledger, through libpq.
 *
 * Statements are prepared once per connection (PQprepare, named s1, s2
 * ...) when first stepped, with the parameter types their binds have
 * (int8, bytea, text), and run with PQexecPrepared: binary parameters,
 * binary results (int8 and bytea as they are, no text round trip).
 * Writes whose failure ends the transaction anyway (step_later: history,
 * charges, balances, the savepoint of a grouped unit) are sent in
 * pipeline mode and their results read with the next statement that
 * waits, in the same round trip.
 * Transactions are SERIALIZABLE, issuances READ COMMITTED under row
 * locks (pg_begin): PostgreSQL then refuses one of two
 * transactions that would not have given the same result one after the
 * other (SQLSTATE 40001, or 40P01 for a deadlock), and the ledger runs it
 * again (ofp_ledger_transact). A lost connection is re-established at the
 * next BEGIN; the statements are prepared again on the new one. */
#include "config.h"
#include "issuer/ledger_db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs (catalog/pg_type.h is a server header). */
#define PG_BOOLOID 16
#define PG_BYTEAOID 17
#define PG_INT8OID 20
#define PG_INT2OID 21
#define PG_INT4OID 23
#define PG_TEXTOID 25

#define PG_MAX_PARAMS 16

typedef struct pg_db {
	ldb_t base;
	PGconn *conn;
	/* Statements sent with step_later / exec_later whose results are
	 * not read yet (pipeline mode): the next statement that waits reads
	 * them first, in the same round trip. */
	unsigned pending;
	unsigned generation; /* bumped by a reconnect: prepare again */
	unsigned next_name;
	int64_t changes;
	bool retryable;
	char err[512];
} pg_db_t;

typedef struct pg_stmt {
	ldb_stmt_t base;
	pg_db_t *db;
	char *sql; /* with $N placeholders */
	char name[16];
	bool prepared;
	unsigned generation;
	int nparams;
	Oid types[PG_MAX_PARAMS];
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	unsigned char ints[PG_MAX_PARAMS][8];
	PGresult *res;
	int row, nrows;
} pg_stmt_t;

static pg_db_t *DB(ldb_t *db) { return (pg_db_t *)db; }
static pg_stmt_t *ST(ldb_stmt_t *st) { return (pg_stmt_t *)st; }

static void set_err(pg_db_t *d, const char *what, const char *msg)
{
	size_t n;

	snprintf(d->err, sizeof(d->err), "%s%s%s", what, what[0] != '\0' ? ": " : "", msg != NULL ? msg : "?");
	n = strlen(d->err);
	while (n > 0 && (d->err[n - 1] == '\n' || d->err[n - 1] == ' '))
		d->err[--n] = '\0';
}

/* A failed result (or none): the message, whether running the transaction
 * again may help, and whether a constraint refused it. committing: the
 * statement was COMMIT, whose fate is unknown when the connection died. */
static int failure(pg_db_t *d, const PGresult *res, bool committing)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(d->conn) == CONNECTION_BAD) {
		set_err(d, "connection lost", PQerrorMessage(d->conn));
		/* Nothing was committed unless the COMMIT itself was cut off. */
		d->retryable = !committing;
		return LDB_ERROR;
	}
	set_err(d, state != NULL ? state : "", res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(d->conn));
	d->retryable = state != NULL && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
	return state != NULL && strncmp(state, "23", 2) == 0 ? LDB_CONSTRAINT : LDB_ERROR;
}

static bool result_ok(const PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);

	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static int pipeline_wait(pg_db_t *d, PGresult **last, bool committing);
static int pipeline_send_sql(pg_db_t *d, const char *sql);

static int pg_exec(ldb_t *db, const char *sql)
{
	pg_db_t *d = DB(db);
	PGresult *res;
	int rc = LDB_OK;

	if (d->pending > 0 && strncmp(sql, "ROLLBACK", 8) != 0) {
		/* One statement after the pending ones, one round trip. */
		rc = pipeline_send_sql(d, sql);
		return rc == LDB_OK ? pipeline_wait(d, NULL, strcmp(sql, "COMMIT") == 0) : rc;
	}
	if (d->pending > 0) {
		/* A failure of theirs would skip the ROLLBACK: read them
		 * first, keeping the failure that led here. */
		bool again = d->retryable;
		char err[sizeof(d->err)];
		memcpy(err, d->err, sizeof(err));
		(void)pipeline_wait(d, NULL, false);
		d->retryable = again;
		memcpy(d->err, err, sizeof(err));
	}
	res = PQexec(d->conn, sql);
	d->base.round_trips++;
	if (res == NULL || !result_ok(res))
		rc = failure(d, res, strcmp(sql, "COMMIT") == 0);
	PQclear(res);
	return rc;
}

/* ---- pipeline mode: statements sent now, their results read later ---- */

static int pipeline_enter(pg_db_t *d)
{
	if (PQpipelineStatus(d->conn) != PQ_PIPELINE_OFF)
		return LDB_OK;
	if (PQenterPipelineMode(d->conn) == 1)
		return LDB_OK;
	set_err(d, "pipeline", PQerrorMessage(d->conn));
	d->retryable = false;
	return LDB_ERROR;
}

/* Sent: one more result to read. */
static int pipeline_sent(pg_db_t *d, int ok)
{
	if (ok == 1) {
		d->pending++;
		return LDB_OK;
	}
	return failure(d, NULL, false);
}

static int pipeline_send_sql(pg_db_t *d, const char *sql)
{
	int rc = pipeline_enter(d);

	return rc == LDB_OK ? pipeline_sent(d, PQsendQueryParams(d->conn, sql, 0, NULL, NULL, NULL, NULL, 0)) : rc;
}

/* The results of every statement sent, in one round trip (a sync point);
 * *last (when not NULL) gets the last one's result when it succeeded.
 * The first failure is the answer: a statement after it in the pipeline
 * was not run (PGRES_PIPELINE_ABORTED). Leaves pipeline mode. */
static int pipeline_wait(pg_db_t *d, PGresult **last, bool committing)
{
	PGresult *first_err = NULL, *res;
	bool lost = PQpipelineSync(d->conn) != 1;
	unsigned n = d->pending;
	int rc = LDB_OK;

	d->base.round_trips++;
	d->pending = 0;
	for (unsigned i = 0; i < n && !lost; i++) {
		res = PQgetResult(d->conn);
		if (res == NULL) {
			lost = true;
			break;
		}
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && first_err == NULL)
			first_err = res;
		else if (last != NULL && i + 1 == n && result_ok(res))
			*last = res;
		else
			PQclear(res);
		/* Each statement's results end with a NULL. */
		while ((res = PQgetResult(d->conn)) != NULL)
			PQclear(res);
	}
	/* The sync point's own result, then out of pipeline mode. */
	while (!lost && (res = PQgetResult(d->conn)) != NULL) {
		bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
		PQclear(res);
		if (sync)
			break;
	}
	if (lost || PQexitPipelineMode(d->conn) != 1)
		rc = failure(d, first_err, committing);
	else if (first_err != NULL)
		rc = failure(d, first_err, committing);
	PQclear(first_err);
	if (rc != LDB_OK && last != NULL) {
		PQclear(*last);
		*last = NULL;
	}
	return rc;
}

/* One text value of a one-row query run outside the cache (at open). */
static int query_value(pg_db_t *d, const char *sql, char *out, size_t len, bool *found)
{
	PGresult *res = PQexec(d->conn, sql);
	int rc = LDB_OK;

	*found = false;
	if (res == NULL || !result_ok(res)) {
		rc = failure(d, res, false);
	} else if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
		snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
		*found = true;
	}
	PQclear(res);
	return rc;
}

static int create_schema(pg_db_t *d)
{
	int rc = pg_exec(&d->base, "BEGIN ISOLATION LEVEL SERIALIZABLE");

	if (rc == LDB_OK)
		rc = pg_exec(&d->base, ldb_pg_schema);
	if (rc == LDB_OK)
		rc = pg_exec(&d->base, "COMMIT");
	if (rc != LDB_OK && PQtransactionStatus(d->conn) != PQTRANS_IDLE)
		(void)pg_exec(&d->base, "ROLLBACK");
	return rc;
}

/* A version 2 ledger to version 3 (ldb_upgrade_2_3), in one transaction
 * that first locks meta: of two processes opening at once, the second
 * finds version 3 and does nothing. */
static int upgrade_schema(pg_db_t *d)
{
	char value[32] = "";
	bool found = false;
	int rc = pg_exec(&d->base, "BEGIN; LOCK TABLE meta IN ACCESS EXCLUSIVE MODE");

	if (rc == LDB_OK)
		rc = query_value(d, "SELECT value FROM meta WHERE name = 'schema_version'", value, sizeof(value), &found);
	if (rc == LDB_OK && found && strcmp(value, "2") == 0) {
		rc = pg_exec(&d->base, ldb_upgrade_2_3);
		if (rc == LDB_OK)
			rc = pg_exec(&d->base, "UPDATE meta SET value = 3 WHERE name = 'schema_version'");
	}
	if (rc == LDB_OK)
		rc = pg_exec(&d->base, "COMMIT");
	if (rc != LDB_OK && PQtransactionStatus(d->conn) != PQTRANS_IDLE)
		(void)pg_exec(&d->base, "ROLLBACK");
	return rc;
}

/* The ledger's tables at version LDB_SCHEMA_VERSION, created when asked;
 * an older version upgraded. */
static int check_schema(pg_db_t *d, bool create, char *err, size_t err_len)
{
	char value[32];
	bool found;
	long version;

	if (query_value(d, "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
			   "AND tablename = 'meta'", value, sizeof(value), &found) != LDB_OK)
		goto fail;
	if (!found && create) {
		if (create_schema(d) != LDB_OK)
			goto fail;
		return LDB_OPEN_OK;
	}
	if (!found) {
		snprintf(err, err_len, "no ledger in this database (offpass-issuer init --ledger, or migrate --to)");
		return LDB_OPEN_MISSING;
	}
	if (query_value(d, "SELECT value FROM meta WHERE name = 'schema_version'", value, sizeof(value), &found) !=
	    LDB_OK)
		goto fail;
	version = found ? strtol(value, NULL, 10) : 0;
	if (version == 2) {
		if (upgrade_schema(d) != LDB_OK)
			goto fail;
		version = LDB_SCHEMA_VERSION;
	}
	if (version != LDB_SCHEMA_VERSION) {
		snprintf(err, err_len, "schema version %ld, this program knows %d%s", version, LDB_SCHEMA_VERSION,
			 version == 0 ? " (not an issuer ledger)" : "");
		return LDB_OPEN_ERROR;
	}
	return LDB_OPEN_OK;
fail:
	snprintf(err, err_len, "%s", d->err);
	return LDB_OPEN_ERROR;
}

/* The server's notices (a NOTICE on CREATE ...) are not the ledger's
 * output: the default processor would print them on stderr. */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void pg_close(ldb_t *db)
{
	if (db == NULL)
		return;
	PQfinish(DB(db)->conn);
	free(db);
}

static int pg_open(const char *target, bool create, ldb_t **out, char *err, size_t err_len)
{
	pg_db_t *d = calloc(1, sizeof(*d));
	int rc = LDB_OPEN_ERROR;

	*out = NULL;
	if (d == NULL) {
		snprintf(err, err_len, "out of memory");
		return LDB_OPEN_ERROR;
	}
	d->base.drv = &ldb_pg_driver;
	d->conn = PQconnectdb(target);
	if (d->conn == NULL || PQstatus(d->conn) != CONNECTION_OK) {
		set_err(d, "connect", d->conn != NULL ? PQerrorMessage(d->conn) : "out of memory");
		snprintf(err, err_len, "%s", d->err);
		goto out;
	}
	PQsetNoticeProcessor(d->conn, quiet, NULL);
	rc = check_schema(d, create, err, err_len);
	if (rc != LDB_OPEN_OK)
		goto out;
	*out = &d->base;
	d = NULL;
out:
	if (d != NULL)
		pg_close(&d->base);
	return rc;
}

/* ?N -> $N outside string literals; the highest N in *nparams. */
static char *rewrite(const char *sql, int *nparams)
{
	char *out = strdup(sql);
	bool quoted = false;

	*nparams = 0;
	if (out == NULL)
		return NULL;
	for (char *p = out; *p != '\0'; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (quoted || *p != '?' || p[1] < '1' || p[1] > '9')
			continue;
		*p = '$';
		int n = (int)strtol(p + 1, NULL, 10);
		if (n > *nparams)
			*nparams = n;
	}
	return out;
}

static int pg_prepare(ldb_t *db, const char *sql, ldb_stmt_t **out)
{
	pg_db_t *d = DB(db);
	pg_stmt_t *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL || (s->sql = rewrite(sql, &s->nparams)) == NULL) {
		free(s);
		set_err(d, "prepare", "out of memory");
		return LDB_ERROR;
	}
	if (s->nparams > PG_MAX_PARAMS) {
		free(s->sql);
		free(s);
		set_err(d, "prepare", "too many parameters");
		return LDB_ERROR;
	}
	s->base.drv = &ldb_pg_driver;
	s->db = d;
	snprintf(s->name, sizeof(s->name), "s%u", ++d->next_name);
	*out = &s->base;
	return LDB_OK;
}

static void pg_reset(ldb_stmt_t *st)
{
	pg_stmt_t *s = ST(st);

	PQclear(s->res);
	s->res = NULL;
	s->row = s->nrows = 0;
	memset(s->values, 0, sizeof(s->values));
}

static void pg_finalize(ldb_stmt_t *st)
{
	pg_stmt_t *s = ST(st);

	if (s == NULL)
		return;
	pg_reset(st);
	/* The server forgets prepared statements with the session; one
	 * closed earlier would only be a DEALLOCATE round trip. */
	free(s->sql);
	free(s);
}

static bool param_ok(pg_stmt_t *s, int i)
{
	return i >= 1 && i <= s->nparams;
}

static void pg_bind_int64(ldb_stmt_t *st, int i, int64_t v)
{
	pg_stmt_t *s = ST(st);
	uint64_t u = (uint64_t)v;

	if (!param_ok(s, i))
		return;
	for (int b = 0; b < 8; b++)
		s->ints[i - 1][b] = (unsigned char)(u >> (56 - 8 * b));
	s->types[i - 1] = PG_INT8OID;
	s->values[i - 1] = (const char *)s->ints[i - 1];
	s->lengths[i - 1] = 8;
	s->formats[i - 1] = 1;
}

static void pg_bind_blob(ldb_stmt_t *st, int i, const void *p, size_t len)
{
	pg_stmt_t *s = ST(st);

	if (!param_ok(s, i))
		return;
	s->types[i - 1] = PG_BYTEAOID;
	s->values[i - 1] = p != NULL ? p : ""; /* NULL would be SQL NULL */
	s->lengths[i - 1] = (int)len;
	s->formats[i - 1] = 1;
}

static void pg_bind_text(ldb_stmt_t *st, int i, const char *str)
{
	pg_stmt_t *s = ST(st);

	if (!param_ok(s, i))
		return;
	s->types[i - 1] = PG_TEXTOID;
	s->values[i - 1] = str;
	s->lengths[i - 1] = 0;
	s->formats[i - 1] = 0;
}

/* NULL: the type stays what an earlier bind (or the server) said. */
static void pg_bind_null(ldb_stmt_t *st, int i)
{
	pg_stmt_t *s = ST(st);

	if (!param_ok(s, i))
		return;
	s->values[i - 1] = NULL;
	s->lengths[i - 1] = 0;
	s->formats[i - 1] = 1;
}

/* Prepare on this connection, once, with the types of the first binds. */
static int ensure_prepared(pg_stmt_t *s)
{
	pg_db_t *d = s->db;
	PGresult *res;
	int rc = LDB_OK;

	if (s->prepared && s->generation == d->generation)
		return LDB_OK;
	/* Never inside a pipeline: a PREPARE there is skipped when a
	 * statement before it failed, and would be taken for done. The
	 * statements sent before are read first (once per statement and
	 * connection); their failure is this one's. */
	if (d->pending > 0) {
		rc = pipeline_wait(d, NULL, false);
		if (rc != LDB_OK)
			return rc;
	}
	res = PQprepare(d->conn, s->name, s->sql, s->nparams, s->types);
	d->base.round_trips++;
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = failure(d, res, false);
	PQclear(res);
	if (rc == LDB_OK) {
		s->prepared = true;
		s->generation = d->generation;
	}
	return rc;
}

static int pg_step(ldb_stmt_t *st)
{
	pg_stmt_t *s = ST(st);
	pg_db_t *d = s->db;
	const char *changed;
	int rc;

	if (s->res == NULL) {
		rc = ensure_prepared(s);
		if (rc != LDB_OK)
			return rc;
		if (d->pending > 0) {
			/* After the statements sent before, one round trip. */
			rc = pipeline_sent(d, PQsendQueryPrepared(d->conn, s->name, s->nparams, s->values, s->lengths,
								 s->formats, 1));
			if (rc == LDB_OK)
				rc = pipeline_wait(d, &s->res, false);
			if (rc != LDB_OK)
				return rc;
		} else {
			s->res = PQexecPrepared(d->conn, s->name, s->nparams, s->values, s->lengths, s->formats, 1);
			d->base.round_trips++;
		}
		if (s->res == NULL || !result_ok(s->res)) {
			rc = failure(d, s->res, false);
			PQclear(s->res);
			s->res = NULL;
			return rc;
		}
		changed = PQcmdTuples(s->res);
		d->changes = changed[0] != '\0' ? strtoll(changed, NULL, 10) : 0;
		s->nrows = PQntuples(s->res);
		s->row = 0;
	}
	if (s->row >= s->nrows)
		return LDB_DONE;
	s->row++;
	return LDB_ROW;
}

/* Send a statement that returns no rows and read its result with the
 * next statement that waits for one: the same round trip. Its failure
 * (a constraint, a serialization failure) is that statement's failure. */
static int pg_step_later(ldb_stmt_t *st)
{
	pg_stmt_t *s = ST(st);
	pg_db_t *d = s->db;
	int rc = ensure_prepared(s);

	if (rc == LDB_OK)
		rc = pipeline_enter(d);
	if (rc == LDB_OK)
		rc = pipeline_sent(d, PQsendQueryPrepared(d->conn, s->name, s->nparams, s->values, s->lengths,
							 s->formats, 1));
	d->changes = 0;
	return rc == LDB_OK ? LDB_DONE : rc;
}

static int pg_exec_later(ldb_t *db, const char *sql)
{
	return pipeline_send_sql(DB(db), sql);
}

/* The current row (step returned LDB_ROW: row is one past it). */
static bool has_value(pg_stmt_t *s, int col)
{
	return s->res != NULL && s->row >= 1 && s->row <= s->nrows && col >= 0 && col < PQnfields(s->res) &&
	       !PQgetisnull(s->res, s->row - 1, col);
}

static int64_t pg_col_int64(ldb_stmt_t *st, int col)
{
	pg_stmt_t *s = ST(st);
	const unsigned char *p;
	uint64_t v = 0;
	int len;

	if (!has_value(s, col))
		return 0;
	p = (const unsigned char *)PQgetvalue(s->res, s->row - 1, col);
	len = PQgetlength(s->res, s->row - 1, col);
	switch (PQftype(s->res, col)) {
	case PG_INT8OID:
	case PG_INT4OID:
	case PG_INT2OID:
	case PG_BOOLOID:
		if (len != 8 && len != 4 && len != 2 && len != 1)
			return 0;
		/* Big-endian two's complement: sign-extend from the first byte. */
		v = (p[0] & 0x80) != 0 && PQftype(s->res, col) != PG_BOOLOID ? UINT64_MAX : 0;
		for (int i = 0; i < len; i++)
			v = (v << 8) | p[i];
		return (int64_t)v;
	default:
		return 0; /* the ledger's SQL casts what it reads as an integer */
	}
}

static const void *pg_col_blob(ldb_stmt_t *st, int col, size_t *len)
{
	pg_stmt_t *s = ST(st);

	*len = 0;
	if (!has_value(s, col))
		return NULL;
	*len = (size_t)PQgetlength(s->res, s->row - 1, col);
	return PQgetvalue(s->res, s->row - 1, col);
}

static const char *pg_col_text(ldb_stmt_t *st, int col)
{
	pg_stmt_t *s = ST(st);

	/* libpq ends every value with a NUL, binary ones too. */
	return has_value(s, col) ? PQgetvalue(s->res, s->row - 1, col) : "";
}

static bool pg_col_null(ldb_stmt_t *st, int col)
{
	return !has_value(ST(st), col);
}

static int64_t pg_changes(ldb_t *db)
{
	return DB(db)->changes;
}

/* BEGIN, and the queue's table lock in the same round trip. LOCK TABLE
 * takes no snapshot: a SERIALIZABLE transaction's snapshot (taken by its
 * first read) comes after the lock, and sees what the previous holder
 * committed.
 * - Issuance: READ COMMITTED, each statement sees what was committed
 *   when it began; what makes it safe is the row lock of each account it
 *   issues for (ofp_ledger_holder_standing), taken before the account is
 *   read. ROW EXCLUSIVE on credentials conflicts with no other issuance,
 *   only with the barrier's SHARE.
 * - Settlement: READ COMMITTED; what makes it safe is the row lock of
 *   its gate (ofp_ledger_gate_lock), taken before anything of the gate
 *   is read, and of each account it charges, taken in ascending
 *   holder-id order before any charge is looked up (settle.c).
 * - Barrier (deny list, revoked keys, trust list): SHARE on credentials
 *   waits for every issuance in flight and holds back new ones (their
 *   ROW EXCLUSIVE) until it commits: an issuance that began after it
 *   committed reads it; none in flight when it commits.
 * docs/ISSUER.md 9, "Several processes on one database". */
static int pg_begin(ldb_t *db, ldb_queue_t queue)
{
	static const char *const begin[] = {
		[LDB_QUEUE_NONE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
		[LDB_QUEUE_ISSUANCE] = "BEGIN ISOLATION LEVEL READ COMMITTED; "
				       "LOCK TABLE credentials IN ROW EXCLUSIVE MODE",
		[LDB_QUEUE_SETTLEMENT] = "BEGIN ISOLATION LEVEL READ COMMITTED",
		[LDB_QUEUE_ACCOUNT] = "BEGIN ISOLATION LEVEL READ COMMITTED",
		[LDB_QUEUE_ISSUANCE_BARRIER] = "BEGIN ISOLATION LEVEL SERIALIZABLE; "
					       "LOCK TABLE credentials IN SHARE MODE",
	};
	pg_db_t *d = DB(db);

	if (PQstatus(d->conn) == CONNECTION_BAD) {
		PQreset(d->conn);
		if (PQstatus(d->conn) != CONNECTION_OK) {
			set_err(d, "reconnect", PQerrorMessage(d->conn));
			d->retryable = false;
			return LDB_ERROR;
		}
		d->generation++;
	}
	if (d->pending > 0)
		(void)pipeline_wait(d, NULL, false); /* a transaction never left any */
	if (PQpipelineStatus(d->conn) != PQ_PIPELINE_OFF)
		(void)PQexitPipelineMode(d->conn); /* left on by a connection lost in it */
	if ((unsigned)queue >= sizeof(begin) / sizeof(begin[0]))
		queue = LDB_QUEUE_NONE;
	return pg_exec(db, begin[queue]);
}

static bool pg_in_transaction(ldb_t *db)
{
	PGTransactionStatusType t = PQtransactionStatus(DB(db)->conn);

	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

static const char *pg_errmsg(ldb_t *db)
{
	return DB(db)->err;
}

static bool pg_retryable(ldb_t *db)
{
	return DB(db)->retryable;
}

static void pg_clear_error(ldb_t *db)
{
	DB(db)->retryable = false;
	DB(db)->err[0] = '\0';
}

const ldb_driver_t ldb_pg_driver = {
	.name = "postgresql",
	.row_locks = true,
	.arrays = true,
	.open = pg_open,
	.close = pg_close,
	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.reset = pg_reset,
	.bind_int64 = pg_bind_int64,
	.bind_blob = pg_bind_blob,
	.bind_text = pg_bind_text,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.step_later = pg_step_later,
	.col_int64 = pg_col_int64,
	.col_blob = pg_col_blob,
	.col_text = pg_col_text,
	.col_null = pg_col_null,
	.changes = pg_changes,
	.exec = pg_exec,
	.exec_later = pg_exec_later,
	.begin = pg_begin,
	.in_transaction = pg_in_transaction,
	.errmsg = pg_errmsg,
	.retryable = pg_retryable,
	.clear_error = pg_clear_error,
};
