/* test-ledger.c - issuer.conf parsing and the ledger: accounts, bounds,
 * history, transactions, charges. No token needed. The same suite runs on
 * SQLite (ledger.db in a temp directory) and, under
 * tests/integration/ledger-pg.sh, on PostgreSQL ($OFFPASS_TEST_LEDGER). */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sqlite3.h>

#include "issuer/conf.h"
#include "issuer/ledger.h"
#include "issuer/test-token.h"

static tt_env_t env;
static ofp_ledger_t *L;

static void setup(void)
{
	char err[512];

	(void)tt_setup(&env, false); /* a temp directory, no token */
	if (!env.pg)
		ck_assert_int_eq(mkdir(env.issuer_dir, 0700), 0);
	ck_assert_msg(ofp_ledger_open(env.ledger, true, &L, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ck_assert_str_eq(ofp_ledger_backend(L), env.pg ? "postgresql" : "sqlite");
}

static void teardown(void)
{
	ofp_ledger_close(L);
	L = NULL;
	tt_teardown(&env);
}

/* ---- issuer.conf ------------------------------------------------------------------ */

static int parse(const char *text, ofp_issuer_config_t *c, char *err, size_t len)
{
	return ofp_issuer_config_parse("issuer.conf", text, strlen(text), c, err, len);
}

START_TEST(test_config_good)
{
	ofp_issuer_config_t c;
	char err[512] = "";
	const char *text = "# comment\n\n  threshold = 750  \nper_op_max=300\noffline_total = 3000\r\n"
			   "token_label = my token\nsigning_alg = ed25519\ncredential_lifetime = 3600";

	ck_assert_msg(parse(text, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c.threshold, 750);
	ck_assert_uint_eq(c.grant.per_op_max, 300);
	ck_assert_uint_eq(c.grant.offline_total, 3000);
	ck_assert_str_eq(c.token_label, "my token");
	ck_assert_uint_eq(c.signing_alg, OFP_ALG_ED25519);
	ck_assert_uint_eq(c.credential_lifetime, 3600);
	ck_assert_uint_eq(c.grant.resource_class, 1); /* default kept */
}
END_TEST

START_TEST(test_config_errors)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "threshold = 5\nfoo = 1\n", "issuer.conf:2: unknown key 'foo'" },
		{ "threshold = 5\n\nthreshold = 6\n", "issuer.conf:3: threshold: set twice" },
		{ "threshold = five\n", "issuer.conf:1: threshold: 'five' is not a number" },
		{ "threshold = -1\n", "issuer.conf:1: threshold" },
		{ "threshold = 01\n", "issuer.conf:1: threshold" },
		{ "threshold = 1000000000000001\n", "issuer.conf:1: threshold" },
		{ "per_op_max = 4294967296\n", "issuer.conf:1: per_op_max" },
		{ "resource_class = 65536\n", "issuer.conf:1: resource_class" },
		{ "credential_lifetime = 0\n", "issuer.conf:1: credential_lifetime" },
		{ "threshold\n", "issuer.conf:1: expected 'key = value'" },
		{ "signing_alg = rsa\n", "issuer.conf:1: signing_alg: 'rsa'" },
		{ "per_op_max = 600\noffline_total = 500\n", "per_op_max (600) is above offline_total (500)" },
		{ "uri = file:/x\n", "does not start with 'pkcs11:'" },
		{ "token_label = 0123456789012345678901234567890123\n", "token_label: longer than 32" },
	};
	ofp_issuer_config_t c;
	char err[512];

	for (size_t i = 0; i < OFP_ARRAY_LEN(cases); i++) {
		err[0] = '\0';
		ck_assert_msg(parse(cases[i].text, &c, err, sizeof(err)) != 0, "accepted: %s", cases[i].text);
		ck_assert_msg(strstr(err, cases[i].want) != NULL, "'%s': error '%s' lacks '%s'", cases[i].text, err,
			      cases[i].want);
	}
}
END_TEST

START_TEST(test_config_bounds)
{
	ofp_issuer_config_t c;
	char err[512];
	char *big = malloc(OFP_CONF_FILE_MAX + 2);
	char line[OFP_CONF_LINE_MAX + 20];

	ck_assert_ptr_nonnull(big);
	memset(big, '#', OFP_CONF_FILE_MAX + 1);
	ck_assert_int_ne(ofp_issuer_config_parse("f", big, OFP_CONF_FILE_MAX + 1, &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "larger than"));
	free(big);
	memset(line, '#', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	ck_assert_int_ne(parse(line, &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "issuer.conf:1: line longer"));
	ck_assert_int_ne(ofp_issuer_config_parse("f", "threshold = 5\0x", 16, &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "NUL"));
}
END_TEST

START_TEST(test_config_roundtrip)
{
	ofp_issuer_config_t a, b;
	char err[512] = "", path[400];
	char *text;
	FILE *f;

	ofp_issuer_config_defaults(&a);
	a.threshold = 1234;
	a.grant.per_op_max = 77;
	a.signing_alg = OFP_ALG_ED25519;
	snprintf(a.uri, sizeof(a.uri), "pkcs11:token=issuer;pin-value=1234");
	text = ofp_issuer_config_format(&a);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(parse(text, &b, err, sizeof(err)) == 0, "%s\n%s", err, text);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
	snprintf(path, sizeof(path), "%s/issuer.conf", env.root);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	free(text);
	ck_assert_msg(ofp_issuer_config_load(path, &b, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(b.threshold, 1234);
	snprintf(path, sizeof(path), "%s/missing.conf", env.root);
	ck_assert_int_ne(ofp_issuer_config_load(path, &b, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "missing.conf"));
}
END_TEST

/* ---- accounts ---------------------------------------------------------------------- */

START_TEST(test_open_show)
{
	ofp_account_t a, b, c;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 100, &a), OFP_LEDGER_OK);
	ck_assert_str_eq(a.name, "alice");
	ck_assert_int_eq(a.balance, 0);
	ck_assert_int_eq(a.credit_line, 0);
	ck_assert(!a.flagged);
	ck_assert_int_eq(ofp_ledger_account_open(L, "bob", 100, &b), OFP_LEDGER_OK);
	ck_assert_int_ne(memcmp(a.holder_id, b.holder_id, OFP_ID_LEN), 0);
	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &c), OFP_LEDGER_OK);
	ck_assert_int_eq(memcmp(c.holder_id, a.holder_id, OFP_ID_LEN), 0);
	ck_assert_int_eq(ofp_ledger_account_by_holder(L, b.holder_id, &c), OFP_LEDGER_OK);
	ck_assert_str_eq(c.name, "bob");
	/* Refusals. */
	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 100, &c), OFP_LEDGER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_ledger_error(L), "exists already"));
	ck_assert_int_eq(ofp_ledger_account_get(L, "carol", &c), OFP_LEDGER_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(ofp_ledger_error(L), "account 'carol'"));
	ck_assert_int_eq(ofp_ledger_account_open(L, "", 100, &c), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_account_open(L, "a b", 100, &c), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_account_open(L, "x'; DROP TABLE accounts; --", 100, &c), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_account_open(L, "0123456789abcdef", 100, &c), OFP_LEDGER_REFUSED);
	ck_assert(ofp_account_name_valid("0123456789abcdefg"));
	ck_assert(!ofp_account_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
}
END_TEST

typedef struct hist {
	ofp_history_entry_t e[16];
	size_t n;
} hist_t;

static int collect(void *ctx, const ofp_history_entry_t *e)
{
	hist_t *h = ctx;

	if (h->n < OFP_ARRAY_LEN(h->e))
		h->e[h->n++] = *e;
	return 0;
}

START_TEST(test_credit_history)
{
	ofp_account_t a;
	hist_t h = { .n = 0 };

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 100, NULL), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", 300, 101, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, 300);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", 50, 102, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, 350);
	ck_assert_int_eq(ofp_ledger_set_credit_line(L, "alice", 200, 103, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.credit_line, 200);
	ck_assert_int_eq(ofp_ledger_set_credit_line(L, "alice", 0, 104, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.credit_line, 0);
	ck_assert_int_eq(ofp_ledger_history(L, "alice", collect, &h), OFP_LEDGER_OK);
	ck_assert_uint_eq(h.n, 5);
	ck_assert_str_eq(h.e[0].kind, "open");
	ck_assert_str_eq(h.e[1].kind, "credit");
	ck_assert_int_eq(h.e[1].amount, 300);
	ck_assert_int_eq(h.e[1].balance, 300);
	ck_assert_uint_eq(h.e[1].time, 101);
	ck_assert_int_eq(h.e[2].balance, 350);
	ck_assert_str_eq(h.e[3].kind, "credit-line");
	ck_assert_int_eq(h.e[3].amount, 200);
	ck_assert_int_eq(h.e[4].amount, 0);
	ck_assert_int_eq(ofp_ledger_history(L, "nobody", collect, &h), OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_credit(L, "nobody", 5, 105, NULL), OFP_LEDGER_NOT_FOUND);
}
END_TEST

/* Every refused change leaves balance, credit line and history as they were. */
static void assert_unchanged(int64_t balance, int64_t line, size_t entries)
{
	ofp_account_t a;
	hist_t h = { .n = 0 };

	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, balance);
	ck_assert_int_eq(a.credit_line, line);
	ck_assert_int_eq(ofp_ledger_history(L, "alice", collect, &h), OFP_LEDGER_OK);
	ck_assert_uint_eq(h.n, entries);
}

START_TEST(test_bounds)
{
	ofp_account_t a;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 1, NULL), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", 0, 2, NULL), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", -5, 2, NULL), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", OFP_AMOUNT_MAX + 1, 2, NULL), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", INT64_MAX, 2, NULL), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_set_credit_line(L, "alice", -1, 2, NULL), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_set_credit_line(L, "alice", OFP_AMOUNT_MAX + 1, 2, NULL), OFP_LEDGER_REFUSED);
	assert_unchanged(0, 0, 1);
	/* Up to the maximum exactly, then not one more. */
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", OFP_AMOUNT_MAX - 10, 3, NULL), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", 10, 3, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, OFP_AMOUNT_MAX);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", 1, 4, NULL), OFP_LEDGER_REFUSED);
	ck_assert_ptr_nonnull(strstr(ofp_ledger_error(L), "range"));
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", OFP_AMOUNT_MAX, 4, NULL), OFP_LEDGER_REFUSED);
	assert_unchanged(OFP_AMOUNT_MAX, 0, 3);
	ck_assert_int_eq(ofp_ledger_set_credit_line(L, "alice", OFP_AMOUNT_MAX, 5, NULL), OFP_LEDGER_OK);
	assert_unchanged(OFP_AMOUNT_MAX, OFP_AMOUNT_MAX, 4);
}
END_TEST

START_TEST(test_apply_bounds_and_rollback)
{
	ofp_account_t a;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 1, &a), OFP_LEDGER_OK);
	/* A debit may take the balance below zero, but not out of range. */
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_apply(L, &a, -OFP_AMOUNT_MAX, "charge", "t", 2), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, -OFP_AMOUNT_MAX);
	ck_assert_int_eq(ofp_ledger_account_apply(L, &a, -1, "charge", "t", 2), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_account_apply(L, &a, INT64_MIN, "charge", "t", 2), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(a.balance, -OFP_AMOUNT_MAX);
	/* Nothing of an aborted transaction stays. */
	ofp_ledger_rollback(L);
	assert_unchanged(0, 0, 1);
	/* Nested BEGIN is an error, not a silent join. */
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_ERROR);
	ofp_ledger_rollback(L);
}
END_TEST

/* A unit of a grouped commit that fails is undone alone; the units
 * before and after it commit. */
START_TEST(test_savepoint_units)
{
	ofp_account_t a, b;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 1, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_savepoint(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_apply(L, &a, 5, "credit", "one", 2), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_release(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_savepoint(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_apply(L, &a, 7, "credit", "two", 2), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_rollback_to(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_savepoint(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_create(L, "bob", 2, &b), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_release(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, 5);
	ck_assert_int_eq(ofp_ledger_account_get(L, "bob", &b), OFP_LEDGER_OK);
	ck_assert(!ofp_ledger_retryable(L));
	/* Outside a transaction a savepoint operation is an error. */
	ck_assert_int_eq(ofp_ledger_release(L), OFP_LEDGER_ERROR);
}
END_TEST

START_TEST(test_persistence_and_wal)
{
	char err[512];
	ofp_account_t a;
	sqlite3 *db;
	sqlite3_stmt *st;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 1, NULL), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_credit(L, "alice", 42, 2, NULL), OFP_LEDGER_OK);
	ofp_ledger_close(L);
	L = NULL;
	ck_assert_int_eq(ofp_ledger_open(env.ledger, false, &L, err, sizeof(err)), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, 42);
	/* The CHECK and UNIQUE constraints hold even against direct SQL. */
	ck_assert(!tt_ledger_sql(&env, "UPDATE accounts SET balance = 1000000000000001"));
	ck_assert(!tt_ledger_sql(&env, "UPDATE accounts SET credit_line = -1"));
	ck_assert(!tt_ledger_sql(&env, "INSERT INTO accounts(name, holder_id, balance, credit_line, opened) "
				       "SELECT 'bob', holder_id, 0, 0, 1 FROM accounts WHERE name = 'alice'"));
	ck_assert(tt_ledger_sql(&env, "UPDATE accounts SET balance = 43"));
	if (env.pg)
		return;
	/* The settings of the file, as another process sees them. */
	ck_assert_int_eq(sqlite3_open(env.ledger, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}
END_TEST

/* Another schema version is refused on both backends; PostgreSQL: a
 * database without the ledger's tables is NOT_FOUND unless creating. */
START_TEST(test_schema_version)
{
	char err[512] = "";
	ofp_ledger_t *l = NULL;

	ofp_ledger_close(L);
	L = NULL;
	ck_assert(tt_ledger_sql(&env, env.pg ? "UPDATE meta SET value = 4 WHERE name = 'schema_version'"
					    : "PRAGMA user_version = 4"));
	ck_assert_int_eq(ofp_ledger_open(env.ledger, false, &l, err, sizeof(err)), OFP_LEDGER_ERROR);
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(err, "schema version 4, this program knows 3") != NULL, "%s", err);
	ck_assert_int_eq(ofp_ledger_open(env.ledger, true, &l, err, sizeof(err)), OFP_LEDGER_ERROR);
	if (!env.pg)
		return;
	ck_assert(tt_ledger_sql(&env, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public"));
	ck_assert_int_eq(ofp_ledger_open(env.ledger, false, &l, err, sizeof(err)), OFP_LEDGER_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, "no ledger in this database"));
	ck_assert_int_eq(ofp_ledger_open(env.ledger, true, &l, err, sizeof(err)), OFP_LEDGER_OK);
	ofp_ledger_close(l);
}
END_TEST

/* A batch of gate vid, numbered seq, its period ending at end. */
static void add_batch(const uint8_t vid[OFP_ID_LEN], uint64_t seq, uint32_t end)
{
	ofp_settled_batch_t b;

	memset(&b, 0, sizeof(b));
	memcpy(b.verifier_id, vid, OFP_ID_LEN);
	b.sequence = seq;
	b.period_end = end;
	b.digest[0] = (uint8_t)seq;
	ck_assert_int_eq(ofp_ledger_batch_add(L, &b), OFP_LEDGER_OK);
}

static uint32_t settled_through(void)
{
	uint32_t through = 1;

	ck_assert_int_eq(ofp_ledger_gates_settled_through(L, &through, NULL), OFP_LEDGER_OK);
	return through;
}

/* Each gate's settled prefix (batches 1..n, none missing: the latest
 * period end among them) is kept as batches are added, a gap holding it
 * back until filled; the earliest over the gates is what issuance reads.
 * A version 2 ledger (no kept prefix) is upgraded on open and computes
 * the same from its batches. */
START_TEST(test_gates_settled_prefix)
{
	uint8_t a[OFP_ID_LEN] = { 0xa }, b[OFP_ID_LEN] = { 0xb };
	ofp_gate_t g;
	char err[512] = "";

	memset(&g, 0, sizeof(g));
	g.alg = OFP_ALG_P256;
	g.key_len = 33;
	g.key[0] = 2;
	memcpy(g.verifier_id, a, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_gate_add(L, &g, false), OFP_LEDGER_OK);
	memcpy(g.verifier_id, b, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_gate_add(L, &g, false), OFP_LEDGER_OK);
	ck_assert_uint_eq(settled_through(), 0);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	add_batch(a, 1, 100);
	add_batch(a, 2, 250);
	add_batch(a, 4, 900); /* 3 missing */
	add_batch(b, 1, 400);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_uint_eq(settled_through(), 250); /* a: 1..2 */
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	add_batch(a, 5, 950);
	add_batch(a, 3, 300); /* the gap filled: a runs to 5 */
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_uint_eq(settled_through(), 400); /* b's */
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	add_batch(b, 3, 1000);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_uint_eq(settled_through(), 400);

	/* The same ledger as version 2 left it: upgraded on open, the same. */
	ofp_ledger_close(L);
	L = NULL;
	ck_assert(tt_ledger_sql(&env, env.pg ? "ALTER TABLE gates DROP COLUMN settled_seq; "
					       "ALTER TABLE gates DROP COLUMN settled_through; "
					       "UPDATE meta SET value = 2 WHERE name = 'schema_version'"
					     : "ALTER TABLE gates DROP COLUMN settled_seq; "
					       "ALTER TABLE gates DROP COLUMN settled_through; PRAGMA user_version = 2"));
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &L, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ck_assert_uint_eq(settled_through(), 400);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	add_batch(b, 2, 500); /* b runs to 3 */
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_uint_eq(settled_through(), 950);
	ofp_ledger_close(L);
	L = NULL;
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &L, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ck_assert_uint_eq(settled_through(), 950);
}
END_TEST

struct opener {
	char path[600];
	ofp_ledger_t *l;
	int rc;
	char err[512];
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;

	o->rc = ofp_ledger_open(o->path, false, &o->l, o->err, sizeof(o->err));
	return NULL;
}

/* SQLite: a version 2 ledger opened while another connection writes waits
 * for the write lock (the busy timeout) and then upgrades, instead of
 * failing at once: the upgrade's BEGIN IMMEDIATE has no read transaction
 * of the open under it. */
START_TEST(test_upgrade_waits_for_a_writer)
{
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	struct opener o = { .rc = -99 };
	sqlite3 *db = NULL;
	pthread_t t;

	if (env.pg)
		return; /* PostgreSQL: LOCK TABLE meta waits (test_gates_settled_prefix upgrades) */
	ofp_ledger_close(L);
	L = NULL;
	ck_assert(tt_ledger_sql(&env, "ALTER TABLE gates DROP COLUMN settled_seq; "
				      "ALTER TABLE gates DROP COLUMN settled_through; PRAGMA user_version = 2"));
	snprintf(o.path, sizeof(o.path), "%s", env.ledger);
	ck_assert_int_eq(sqlite3_open(env.ledger, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE meta SET value = value WHERE 0", NULL, NULL, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, opener_main, &o), 0);
	nanosleep(&pause, NULL);
	ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	sqlite3_close(db);
	ck_assert_msg(o.rc == OFP_LEDGER_OK, "%s", o.err);
	L = o.l;
	ck_assert_uint_eq(settled_through(), 0);
}
END_TEST

/* A URL's password never reaches a message. */
START_TEST(test_url_password_hidden)
{
	char err[512] = "";
	ofp_ledger_t *l = NULL;

	ck_assert_int_eq(ofp_ledger_open("postgresql://offpass:s3cret-pw@/nodb?host=/nonexistent/dir", false, &l, err,
					 sizeof(err)),
			 OFP_LEDGER_ERROR);
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(err, "s3cret-pw") == NULL, "%s", err);
	ck_assert_msg(strstr(err, "postgresql://offpass@/nodb") != NULL, "%s", err);
}
END_TEST

struct race {
	ofp_ledger_t *other;
	int tries;
};

/* Read alice, let another connection change her in between, then write:
 * the first try is a lost update that the database must refuse. */
static int racing_credit(ofp_ledger_t *l, void *ctx)
{
	struct race *r = ctx;
	ofp_account_t a;
	int rc = ofp_ledger_account_get(l, "alice", &a);

	r->tries++;
	if (rc == OFP_LEDGER_OK && r->tries == 1)
		ck_assert_int_eq(ofp_ledger_credit(r->other, "alice", 100, 3, NULL), OFP_LEDGER_OK);
	return rc == OFP_LEDGER_OK ? ofp_ledger_account_apply(l, &a, 5, "credit", "race", 3) : rc;
}

static int failing_body(ofp_ledger_t *l, void *ctx)
{
	(*(int *)ctx)++;
	return ofp_ledger_account_apply(l, &(ofp_account_t){ .balance = OFP_AMOUNT_MAX }, 1, "credit", "", 3);
}

/* ofp_ledger_transact runs a body again only when the database refused
 * it for a concurrent transaction, and then nothing is lost. */
START_TEST(test_transact_retry)
{
	struct race r = { 0 };
	char err[512];
	ofp_account_t a;
	int runs = 0, rc;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 1, NULL), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_transact(L, failing_body, &runs), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(runs, 1);
	ck_assert(!ofp_ledger_retryable(L));
	if (!env.pg)
		return; /* SQLite's BEGIN IMMEDIATE makes the other writer wait instead */
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &r.other, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ck_assert_msg(ofp_ledger_transact(L, racing_credit, &r) == OFP_LEDGER_OK, "%s", ofp_ledger_error(L));
	ck_assert_int_eq(r.tries, 2);
	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, 105);
	/* The same race without the helper: the database says "again" (the
	 * writes are sent for later: with the COMMIT at the latest). */
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_credit(r.other, "alice", 1, 4, NULL), OFP_LEDGER_OK);
	rc = ofp_ledger_account_apply(L, &a, 5, "credit", "lost", 4);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_commit(L);
	ck_assert_int_eq(rc, OFP_LEDGER_ERROR);
	ck_assert(ofp_ledger_retryable(L));
	ofp_ledger_rollback(L);
	ck_assert(ofp_ledger_retryable(L));
	ofp_ledger_close(r.other);
	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, 106);
	/* The server drops the connection: the next transaction fails to
	 * start, reconnects, prepares again and runs. */
	ck_assert(tt_ledger_sql(&env, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				      "WHERE datname = current_database() AND pid <> pg_backend_pid()"));
	ck_assert_msg(ofp_ledger_credit(L, "alice", 10, 5, &a) == OFP_LEDGER_OK, "%s", ofp_ledger_error(L));
	ck_assert_int_eq(a.balance, 116);
	ck_assert_int_eq(ofp_ledger_account_get(L, "alice", &a), OFP_LEDGER_OK);
	ck_assert_int_eq(a.balance, 116);
}
END_TEST

START_TEST(test_open_errors)
{
	char err[512] = "", path[400];
	ofp_ledger_t *l = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/none.db", env.root);
	ck_assert_int_eq(ofp_ledger_open(path, false, &l, err, sizeof(err)), OFP_LEDGER_NOT_FOUND);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(err, "none.db"));
	snprintf(path, sizeof(path), "%s/junk.db", env.root);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not a database, but long enough to look like a header of one...........", f);
	fclose(f);
	ck_assert_int_ne(ofp_ledger_open(path, false, &l, err, sizeof(err)), OFP_LEDGER_OK);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(err, "junk.db"));
}
END_TEST

/* A statement a constraint refused, in the savepoint just set: undone
 * alone (PostgreSQL ends the whole transaction at a refused statement,
 * SQLite only the statement; under a savepoint both keep the rest). */
static void refused_alone(int rc)
{
	ck_assert_int_eq(rc, OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_rollback_to(L), OFP_LEDGER_OK);
}

/* The second of two queued writers, on a handle of its own: it waits for
 * the first, then reads what the first committed. */
struct queued {
	ofp_ledger_t *l;
	int64_t seen;
	int rc;
	ofp_ledger_stats_t st;
};

static const uint8_t queue_gate[OFP_ID_LEN] = { 0x42 };

static void *queued_writer(void *arg)
{
	struct queued *q = arg;

	q->rc = ofp_ledger_begin_queued(q->l, OFP_LEDGER_QUEUE_SETTLEMENT);
	if (q->rc == OFP_LEDGER_OK)
		q->rc = ofp_ledger_gate_lock(q->l, queue_gate);
	if (q->rc == OFP_LEDGER_OK)
		q->rc = ofp_ledger_meta_get(q->l, "probe", &q->seen);
	if (q->rc == OFP_LEDGER_OK)
		q->rc = ofp_ledger_meta_set(q->l, "probe", q->seen + 1);
	if (q->rc == OFP_LEDGER_OK)
		q->rc = ofp_ledger_commit(q->l);
	else
		ofp_ledger_rollback(q->l);
	ofp_ledger_stats(q->l, &q->st);
	return NULL;
}

/* A settlement of another gate, on its own connection: begin, lock the
 * gate, commit. */
struct other_gate {
	ofp_ledger_t *l;
	uint8_t gate[OFP_ID_LEN];
	int rc;
	atomic_bool done;
};

static void *other_gate_main(void *arg)
{
	struct other_gate *o = arg;

	o->rc = ofp_ledger_begin_queued(o->l, OFP_LEDGER_QUEUE_SETTLEMENT);
	if (o->rc == OFP_LEDGER_OK)
		o->rc = ofp_ledger_gate_lock(o->l, o->gate);
	if (o->rc == OFP_LEDGER_OK)
		o->rc = ofp_ledger_commit(o->l);
	else
		ofp_ledger_rollback(o->l);
	atomic_store(&o->done, true);
	return NULL;
}

/* Settlements of two gates do not wait for each other (PostgreSQL: each
 * locks its gate's row, not a table); on SQLite every writer queues at
 * BEGIN IMMEDIATE. An unknown gate cannot be locked. */
START_TEST(test_settlements_of_two_gates)
{
	static const uint8_t nobody[OFP_ID_LEN] = { 0x77 };
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	ofp_gate_t g = { .alg = OFP_ALG_P256, .key_len = 33 };
	struct other_gate o = { 0 };
	char err[512];
	pthread_t t;
	int waited = 0;

	memset(g.verifier_id, 0xa1, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_gate_add(L, &g, false), OFP_LEDGER_OK);
	memset(g.verifier_id, 0xb2, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_gate_add(L, &g, false), OFP_LEDGER_OK);
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &o.l, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	memset(o.gate, 0xb2, OFP_ID_LEN);
	atomic_init(&o.done, false);
	ck_assert_int_eq(ofp_ledger_begin_queued(L, OFP_LEDGER_QUEUE_SETTLEMENT), OFP_LEDGER_OK);
	memset(g.verifier_id, 0xa1, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_gate_lock(L, g.verifier_id), OFP_LEDGER_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, other_gate_main, &o), 0);
	while (!atomic_load(&o.done) && waited++ < (env.pg ? 1000 : 30))
		nanosleep(&tick, NULL);
	ck_assert_int_eq(atomic_load(&o.done), env.pg);
	ck_assert_int_eq(ofp_ledger_gate_lock(L, nobody), OFP_LEDGER_NOT_FOUND);
	ofp_ledger_rollback(L);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(o.rc == OFP_LEDGER_OK, "%s", ofp_ledger_error(o.l));
	ofp_ledger_close(o.l);
}
END_TEST

/* Two settlements of one gate queue across connections (the gate's row
 * lock): the second reads past the lock only when the first has
 * committed, and then sees what the first wrote. Under plain
 * SERIALIZABLE both would read "probe" absent and one would be refused
 * (run again); queued, none is. */
START_TEST(test_queued_writers)
{
	struct queued q = { 0 };
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	ofp_ledger_stats_t st;
	ofp_gate_t g = { .alg = OFP_ALG_P256, .key_len = 33 };
	char err[512];
	pthread_t t;
	int64_t v = 0;

	memcpy(g.verifier_id, queue_gate, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_gate_add(L, &g, false), OFP_LEDGER_OK);
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &q.l, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ck_assert_int_eq(ofp_ledger_begin_queued(L, OFP_LEDGER_QUEUE_SETTLEMENT), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_gate_lock(L, queue_gate), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_meta_get(L, "probe", &v), OFP_LEDGER_OK);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(ofp_ledger_meta_set(L, "probe", 1), OFP_LEDGER_OK);
	ck_assert_int_eq(pthread_create(&t, NULL, queued_writer, &q), 0);
	nanosleep(&pause, NULL); /* the other waits for this one meanwhile */
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(q.rc == OFP_LEDGER_OK, "%s", ofp_ledger_error(q.l));
	ck_assert_int_eq(q.seen, 1);
	ck_assert_uint_eq(q.st.conflicts, 0);
	ck_assert_uint_eq(q.st.commits, 1);
	ck_assert_int_eq(ofp_ledger_meta_get(L, "probe", &v), OFP_LEDGER_OK);
	ck_assert_int_eq(v, 2);
	ofp_ledger_stats(L, &st);
	ck_assert_uint_eq(st.conflicts, 0);
	ck_assert_uint_ge(st.statements, 4);
	/* The server's round trips are counted; SQLite has none. */
	if (env.pg)
		ck_assert_uint_ge(st.round_trips, 3);
	else
		ck_assert_uint_eq(st.round_trips, 0);
	ofp_ledger_close(q.l);
}
END_TEST

/* A second connection's transaction, on its own thread: an issuance
 * reading one holder's standing (its account row locked first), or a
 * barrier adding a deny entry. done is set once it committed. */
struct probe {
	ofp_ledger_t *l;
	ofp_ledger_queue_t queue;
	uint8_t holder[OFP_ID_LEN];
	uint8_t entry[OFP_DENY_ENTRY_LEN];
	ofp_holder_standing_t hs;
	int rc;
	atomic_bool done;
};

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	static const uint8_t key[32] = { 9 };

	p->rc = ofp_ledger_begin_queued(p->l, p->queue);
	if (p->rc == OFP_LEDGER_OK && p->queue == OFP_LEDGER_QUEUE_ISSUANCE_BARRIER)
		p->rc = ofp_ledger_deny_add(p->l, p->entry, 1);
	else if (p->rc == OFP_LEDGER_OK)
		p->rc = ofp_ledger_holder_standing(p->l, p->holder, p->entry, key, sizeof(key), &p->hs);
	if (p->rc == OFP_LEDGER_OK)
		p->rc = ofp_ledger_commit(p->l);
	else
		ofp_ledger_rollback(p->l);
	atomic_store(&p->done, true);
	return NULL;
}

/* Up to ms for the probe to commit. */
static bool probe_done_within(struct probe *p, int ms)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < ms / 10 && !atomic_load(&p->done); i++)
		nanosleep(&tick, NULL);
	return atomic_load(&p->done);
}

static void probe_start(struct probe *p, pthread_t *t, ofp_ledger_queue_t queue, const ofp_account_t *a)
{
	char err[512];

	memset(p, 0, sizeof(*p));
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &p->l, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	p->queue = queue;
	memcpy(p->holder, a->holder_id, OFP_ID_LEN);
	ofp_deny_entry_holder(p->entry, a->holder_id);
	atomic_init(&p->done, false);
	ck_assert_int_eq(pthread_create(t, NULL, probe_main, p), 0);
}

static void probe_end(struct probe *p, pthread_t t)
{
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(p->rc == OFP_LEDGER_OK, "%s", ofp_ledger_error(p->l));
	ofp_ledger_close(p->l);
}

/* Issuances lock the row of their account, not a queue (PostgreSQL):
 * one of account B commits while one of account A holds its transaction
 * open; one of A waits for A's, and then reads what A's committed. On
 * SQLite every writer queues at BEGIN IMMEDIATE: B's waits too. */
START_TEST(test_issuance_account_locks)
{
	static const uint8_t key[32] = { 9 };
	uint8_t entry[OFP_DENY_ENTRY_LEN];
	ofp_account_t a, b;
	ofp_holder_standing_t hs;
	struct probe p;
	pthread_t t;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 1, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_open(L, "bob", 1, &b), OFP_LEDGER_OK);
	ofp_deny_entry_holder(entry, a.holder_id);

	/* Different accounts: B's does not wait for A's commit (PostgreSQL). */
	ck_assert_msg(ofp_ledger_begin_queued(L, OFP_LEDGER_QUEUE_ISSUANCE) == OFP_LEDGER_OK, "%s", ofp_ledger_error(L));
	ck_assert_int_eq(ofp_ledger_holder_standing(L, a.holder_id, entry, key, sizeof(key), &hs), OFP_LEDGER_OK);
	probe_start(&p, &t, OFP_LEDGER_QUEUE_ISSUANCE, &b);
	ck_assert_int_eq(probe_done_within(&p, env.pg ? 10000 : 300), env.pg);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	probe_end(&p, t);
	ck_assert_int_eq(p.hs.account.id, b.id);

	/* The same account: the second waits, then reads the first's balance. */
	ck_assert_int_eq(ofp_ledger_begin_queued(L, OFP_LEDGER_QUEUE_ISSUANCE), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_holder_standing(L, a.holder_id, entry, key, sizeof(key), &hs), OFP_LEDGER_OK);
	probe_start(&p, &t, OFP_LEDGER_QUEUE_ISSUANCE, &a);
	ck_assert(!probe_done_within(&p, 300));
	a = hs.account;
	ck_assert_int_eq(ofp_ledger_account_apply(L, &a, 7, "credit", "lock test", 2), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	probe_end(&p, t);
	ck_assert_int_eq(p.hs.account.balance, 7);

	/* A deny (the barrier) waits for the issuance in flight; the next
	 * issuance reads it. */
	ck_assert_int_eq(ofp_ledger_begin_queued(L, OFP_LEDGER_QUEUE_ISSUANCE), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_holder_standing(L, b.holder_id, entry, key, sizeof(key), &hs), OFP_LEDGER_OK);
	ck_assert(!hs.denied);
	probe_start(&p, &t, OFP_LEDGER_QUEUE_ISSUANCE_BARRIER, &a);
	ck_assert(!probe_done_within(&p, 300));
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	probe_end(&p, t);
	ck_assert_int_eq(ofp_ledger_begin_queued(L, OFP_LEDGER_QUEUE_ISSUANCE), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_holder_standing(L, a.holder_id, entry, key, sizeof(key), &hs), OFP_LEDGER_OK);
	ck_assert(hs.denied);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
}
END_TEST

/* A write sent for later fails (a history entry of no account: the
 * foreign key); the next statement, used for the first time on this
 * connection, reports it, and is prepared for good all the same: the
 * next transaction runs it. (A PREPARE sent in the failed pipeline was
 * skipped by the server and then taken for done: "prepared statement
 * does not exist" for ever on that connection, every retry a 503.) */
START_TEST(test_later_failure_then_new_statement)
{
	ofp_account_t ghost = { .id = 999999 };
	uint8_t holder[OFP_ID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	ofp_ledger_t *l2 = NULL;
	char err[512];
	int64_t n = -1;
	int rc;

	ck_assert_msg(ofp_ledger_open(env.ledger, false, &l2, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ck_assert_int_eq(ofp_ledger_begin(l2), OFP_LEDGER_OK);
	rc = ofp_ledger_note(l2, &ghost, "open", 0, "", 1);
	if (rc == OFP_LEDGER_OK)
		rc = ofp_ledger_double_use_count(l2, holder, &n);
	ck_assert_int_ne(rc, OFP_LEDGER_OK);
	ofp_ledger_rollback(l2);
	ck_assert_int_eq(ofp_ledger_begin(l2), OFP_LEDGER_OK);
	ck_assert_msg(ofp_ledger_double_use_count(l2, holder, &n) == OFP_LEDGER_OK, "%s", ofp_ledger_error(l2));
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(ofp_ledger_commit(l2), OFP_LEDGER_OK);
	ofp_ledger_close(l2);
}
END_TEST

/* A write the PostgreSQL driver sends for later (ldg_exec_later): its
 * refusal comes with the next statement that waits for an answer. */
static void refused_later(int rc)
{
	int64_t v;

	if (env.pg && rc == OFP_LEDGER_OK)
		rc = ofp_ledger_meta_get(L, "schema_version", &v);
	if (env.pg)
		ck_assert_int_ne(rc, OFP_LEDGER_OK);
	else
		ck_assert_int_eq(rc, OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_rollback_to(L), OFP_LEDGER_OK);
}

START_TEST(test_charges_unique)
{
	ofp_charge_t c, first;
	int64_t sum = -1;

	memset(&c, 0, sizeof(c));
	memset(c.holder_id, 7, OFP_ID_LEN);
	memset(c.verifier_id, 1, OFP_ID_LEN);
	memset(c.auth_hash, 0xa1, OFP_HASH_LEN);
	memset(c.holder_key, 0x02, OFP_P256_COMPRESSED_LEN);
	c.holder_key_len = OFP_P256_COMPRESSED_LEN;
	c.counter = 5;
	c.sequence = 1;
	c.amount = 100;
	c.serial = 3;
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_charge_find(L, c.auth_hash, &first), OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_charge_find_counter(L, c.holder_key, c.holder_key_len, 5, &first),
			 OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_charge_add(L, &c), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_charge_find(L, c.auth_hash, &first), OFP_LEDGER_OK);
	ck_assert_int_eq(memcmp(first.verifier_id, c.verifier_id, OFP_ID_LEN), 0);
	ck_assert_uint_eq(first.holder_key_len, OFP_P256_COMPRESSED_LEN);
	ck_assert_uint_eq(first.counter, 5);
	/* The same authorization from another gate: the UNIQUE constraint
	 * refuses it. */
	memset(c.verifier_id, 2, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_savepoint(L), OFP_LEDGER_OK);
	refused_later(ofp_ledger_charge_add(L, &c));
	/* The same key and counter over other contents is another charge. */
	memset(c.auth_hash, 0xa2, OFP_HASH_LEN);
	ck_assert_int_eq(ofp_ledger_charge_find_counter(L, c.holder_key, c.holder_key_len, 5, &first), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_charge_add(L, &c), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_charged_at_gate(L, 3, c.verifier_id, &sum), OFP_LEDGER_OK);
	ck_assert_int_eq(sum, 100);
	ck_assert_int_eq(ofp_ledger_double_use_add(L, &c, "counter-reuse", 1), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_savepoint(L), OFP_LEDGER_OK);
	refused_later(ofp_ledger_double_use_add(L, &c, "other", 1));
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
}
END_TEST

/* The enrollment code as the ledger keeps it: set, tries, use once. */
/* A charge for the many-look-up test: i picks the auth hash, key and
 * counter, serial and gate. */
static void many_charge(ofp_charge_t *c, uint32_t i, uint8_t gate)
{
	memset(c, 0, sizeof(*c));
	memset(c->holder_id, 7, OFP_ID_LEN);
	memset(c->verifier_id, gate, OFP_ID_LEN);
	memset(c->auth_hash, 0xa0, OFP_HASH_LEN);
	memcpy(c->auth_hash, &i, sizeof(i));
	memset(c->holder_key, 0x02, OFP_P256_COMPRESSED_LEN);
	c->holder_key[1] = (uint8_t)(i % 3);
	c->holder_key_len = OFP_P256_COMPRESSED_LEN;
	c->counter = i % 5;
	c->sequence = 1;
	c->amount = 10 + i;
	c->serial = i % 4;
}

/* ofp_ledger_charge_lookup_many finds what one look-up per charge finds,
 * in order, across more than one statement's worth (1,024 on
 * PostgreSQL): copies, key-and-counter matches, sums per gate, nothing. */
START_TEST(test_charge_lookup_many)
{
	enum { N = 1100 };
	ofp_charge_t *c = calloc(N, sizeof(*c)), first;
	ofp_charge_seen_t *many = calloc(N, sizeof(*many));
	bool copy;
	int64_t sum;

	ck_assert(c != NULL && many != NULL);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	for (uint32_t i = 0; i < 40; i++) {
		many_charge(&c[0], i, i % 2 == 0 ? 1 : 2);
		ck_assert_int_eq(ofp_ledger_charge_add(L, &c[0]), OFP_LEDGER_OK);
	}
	/* Charges 0..39 again (copies) and 40..N-1 (new: some repeat a key
	 * and counter of the first 40), all from gate 1. */
	for (uint32_t i = 0; i < N; i++)
		many_charge(&c[i], i, 1);
	ck_assert_int_eq(ofp_ledger_charge_lookup_many(L, c, N, many), OFP_LEDGER_OK);
	for (uint32_t i = 0; i < N; i++) {
		int rc = ofp_ledger_charge_lookup(L, &c[i], &first, &copy, &sum);
		ck_assert_int_eq(many[i].found, rc == OFP_LEDGER_OK);
		ck_assert_int_eq(many[i].sum, sum);
		if (!many[i].found)
			continue;
		ck_assert_int_eq(many[i].copy, copy);
		ck_assert_int_eq(memcmp(&many[i].first.auth_hash, first.auth_hash, OFP_HASH_LEN), 0);
		ck_assert_uint_eq(many[i].first.counter, first.counter);
		ck_assert_uint_eq(many[i].first.amount, first.amount);
		ck_assert_uint_eq(many[i].first.holder_key_len, first.holder_key_len);
		ck_assert_int_eq(memcmp(many[i].first.verifier_id, first.verifier_id, OFP_ID_LEN), 0);
	}
	ck_assert(many[3].found && many[3].copy);
	ck_assert(many[45].found && !many[45].copy); /* key 45 % 3, counter 45 % 5: charge 0's */
	ck_assert_uint_eq(many[45].first.amount, 10);
	ck_assert_int_eq(many[2].sum, 10 + 2 + 10 + 6 + 10 + 10 + 10 + 14 + 10 + 18 + 10 + 22 + 10 + 26 + 10 + 30 + 10 + 34 +
					      10 + 38); /* serial 2 from gate 1: charges 2, 6 ... 38 */
	ck_assert_int_eq(ofp_ledger_charge_lookup_many(L, c, 0, many), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	free(c);
	free(many);
}
END_TEST

/* ofp_ledger_accounts_by_holders_locked: every id's account or none, in
 * the ids' order; ids out of order are refused. */
START_TEST(test_accounts_by_holders)
{
	uint8_t ids[4][OFP_ID_LEN];
	ofp_account_t a, b, out[4];
	bool found[4];

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 1, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_open(L, "bob", 1, &b), OFP_LEDGER_OK);
	if (memcmp(a.holder_id, b.holder_id, OFP_ID_LEN) > 0) {
		ofp_account_t t = a;
		a = b;
		b = t;
	}
	memset(ids[0], 0, OFP_ID_LEN); /* nobody's (a holder id of zeros is not drawn) */
	memcpy(ids[1], a.holder_id, OFP_ID_LEN);
	memcpy(ids[2], b.holder_id, OFP_ID_LEN);
	memset(ids[3], 0xff, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_accounts_by_holders_locked(L, (const uint8_t(*)[OFP_ID_LEN])ids, 4, out, found),
			 OFP_LEDGER_OK);
	ck_assert(!found[0] && found[1] && found[2] && !found[3]);
	ck_assert_int_eq(out[1].id, a.id);
	ck_assert_str_eq(out[2].name, b.name);
	ck_assert_int_eq(ofp_ledger_accounts_by_holders_locked(L, (const uint8_t(*)[OFP_ID_LEN])ids + 1, 1, out, found),
			 OFP_LEDGER_OK);
	ck_assert(found[0]);
	ck_assert_int_eq(out[0].id, a.id);
	memcpy(ids[0], b.holder_id, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_accounts_by_holders_locked(L, (const uint8_t(*)[OFP_ID_LEN])ids, 2, out, found),
			 OFP_LEDGER_ERROR);
	ofp_ledger_rollback(L);
}
END_TEST

/* A code try on its own connection (enroll.c's count_try): lock the
 * account, read the tries, add one. */
struct code_try {
	ofp_ledger_t *l;
	int64_t account;
	uint32_t seen;
	int rc;
};

static void *code_try_main(void *arg)
{
	struct code_try *t = arg;
	ofp_enroll_code_t c;

	t->rc = ofp_ledger_begin_queued(t->l, OFP_LEDGER_QUEUE_ACCOUNT);
	if (t->rc == OFP_LEDGER_OK)
		t->rc = ofp_ledger_account_lock(t->l, t->account);
	if (t->rc == OFP_LEDGER_OK)
		t->rc = ofp_ledger_enroll_code_get(t->l, t->account, &c);
	if (t->rc == OFP_LEDGER_OK) {
		t->seen = c.tries;
		t->rc = ofp_ledger_enroll_code_try(t->l, t->account, 1);
	}
	if (t->rc == OFP_LEDGER_OK)
		t->rc = ofp_ledger_commit(t->l);
	else
		ofp_ledger_rollback(t->l);
	return NULL;
}

/* Two tries of one code at once (OFP_LEDGER_QUEUE_ACCOUNT: READ COMMITTED
 * on PostgreSQL): the second reads the count only once the first has
 * committed, under the account's lock, so concurrent guesses are all
 * counted and none reads a count that another is about to raise. */
START_TEST(test_code_tries_one_at_a_time)
{
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	struct code_try t = { 0 };
	uint8_t key[OFP_HASH_LEN] = { 1 };
	ofp_enroll_code_t c;
	ofp_account_t a;
	char err[512];
	pthread_t th;

	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 100, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_set(L, a.id, key, 100, 200), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &t.l, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	t.account = a.id;
	ck_assert_int_eq(ofp_ledger_begin_queued(L, OFP_LEDGER_QUEUE_ACCOUNT), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_lock(L, a.id), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(L, a.id, &c), OFP_LEDGER_OK);
	ck_assert_uint_eq(c.tries, 0);
	ck_assert_int_eq(ofp_ledger_enroll_code_try(L, a.id, 1), OFP_LEDGER_OK);
	ck_assert_int_eq(pthread_create(&th, NULL, code_try_main, &t), 0);
	nanosleep(&pause, NULL); /* the other waits for the lock meanwhile */
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(t.rc == OFP_LEDGER_OK, "%s", ofp_ledger_error(t.l));
	ck_assert_uint_eq(t.seen, 1);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(L, a.id, &c), OFP_LEDGER_OK);
	ck_assert_uint_eq(c.tries, 2);
	ofp_ledger_close(t.l);
}
END_TEST

START_TEST(test_enroll_codes)
{
	ofp_account_t a, b;
	ofp_enroll_code_t c;
	uint8_t key[OFP_HASH_LEN], hk[OFP_P256_COMPRESSED_LEN];
	int64_t owner = 0;

	memset(key, 0x5a, sizeof(key));
	memset(hk, 0x03, sizeof(hk));
	ck_assert_int_eq(ofp_ledger_account_open(L, "alice", 100, &a), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_account_open(L, "bob", 100, &b), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(L, a.id, &c), OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_set(L, a.id, key, 100, 200), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_try(L, a.id, 1), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_try(L, a.id, 1), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_try(L, a.id, -1), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(L, a.id, &c), OFP_LEDGER_OK);
	ck_assert_uint_eq(c.tries, 1);
	ck_assert_uint_eq(c.expires, 200);
	ck_assert(!c.used);
	ck_assert_int_eq(memcmp(c.code_key, key, sizeof(key)), 0);
	ck_assert_int_eq(ofp_ledger_enroll_code_use(L, a.id, 150), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_use(L, a.id, 151), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(L, a.id, &c), OFP_LEDGER_OK);
	ck_assert(c.used);
	ck_assert_uint_eq(c.used_at, 150);
	/* A new code: fresh tries, unused. */
	ck_assert_int_eq(ofp_ledger_enroll_code_set(L, a.id, key, 160, 300), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_enroll_code_get(L, a.id, &c), OFP_LEDGER_OK);
	ck_assert(!c.used);
	ck_assert_uint_eq(c.tries, 0);
	/* A key belongs to one account. */
	ck_assert_int_eq(ofp_ledger_holder_key_add(L, a.id, OFP_ALG_P256, hk, sizeof(hk), 150), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_holder_key_add(L, a.id, OFP_ALG_P256, hk, sizeof(hk), 151), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_holder_key_add(L, b.id, OFP_ALG_P256, hk, sizeof(hk), 152), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_holder_key_account(L, hk, sizeof(hk), &owner), OFP_LEDGER_OK);
	ck_assert_int_eq(owner, a.id);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
}
END_TEST

START_TEST(test_batches_gaps)
{
	ofp_settled_batch_t b, got;
	uint8_t vid[OFP_ID_LEN] = { 9, 9, 9, 9, 9, 9, 9, 9 };

	memset(&b, 0, sizeof(b));
	memcpy(b.verifier_id, vid, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	for (uint64_t s = 1; s <= 7; s++) {
		if (s == 2 || s == 4 || s == 5)
			continue;
		b.sequence = s;
		b.digest[0] = (uint8_t)s;
		ck_assert_int_eq(ofp_ledger_batch_add(L, &b), OFP_LEDGER_OK);
	}
	ck_assert_int_eq(ofp_ledger_savepoint(L), OFP_LEDGER_OK);
	refused_alone(ofp_ledger_batch_add(L, &b)); /* 7 again */
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_batch_get(L, vid, 3, &got), OFP_LEDGER_OK);
	ck_assert_uint_eq(got.digest[0], 3);
	ck_assert_int_eq(ofp_ledger_batch_get(L, vid, 4, &got), OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_batch_neighbour(L, vid, 6, true, &got), OFP_LEDGER_OK);
	ck_assert_uint_eq(got.sequence, 3);
	ck_assert_int_eq(ofp_ledger_batch_neighbour(L, vid, 3, false, &got), OFP_LEDGER_OK);
	ck_assert_uint_eq(got.sequence, 6);
	ck_assert_int_eq(ofp_ledger_batch_neighbour(L, vid, 7, false, &got), OFP_LEDGER_NOT_FOUND);
}
END_TEST

typedef struct gaps {
	uint64_t from[8], to[8];
	size_t n;
} gaps_t;

static void on_gap_cb(void *ctx, uint64_t from, uint64_t to)
{
	gaps_t *g = ctx;

	if (g->n < 8) {
		g->from[g->n] = from;
		g->to[g->n] = to;
		g->n++;
	}
}

START_TEST(test_gap_runs)
{
	ofp_settled_batch_t b;
	gaps_t g = { .n = 0 };
	uint8_t vid[OFP_ID_LEN] = { 1 };

	memset(&b, 0, sizeof(b));
	memcpy(b.verifier_id, vid, OFP_ID_LEN);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	for (uint64_t s = 3; s <= 9; s++) {
		if (s == 5 || s == 6)
			continue;
		b.sequence = s;
		ck_assert_int_eq(ofp_ledger_batch_add(L, &b), OFP_LEDGER_OK);
	}
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_batch_gaps(L, vid, on_gap_cb, &g), OFP_LEDGER_OK);
	ck_assert_uint_eq(g.n, 2);
	ck_assert_uint_eq(g.from[0], 1);
	ck_assert_uint_eq(g.to[0], 2);
	ck_assert_uint_eq(g.from[1], 5);
	ck_assert_uint_eq(g.to[1], 6);
}
END_TEST

START_TEST(test_deny_entries_sorted)
{
	uint8_t e[OFP_DENY_ENTRY_LEN], *all = NULL;
	uint8_t holder[OFP_ID_LEN] = { 0xff, 0, 0, 0, 0, 0, 0, 1 };
	size_t n = 0;

	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ofp_deny_entry_serial(e, 300);
	ck_assert_int_eq(ofp_ledger_deny_add(L, e, 1), OFP_LEDGER_OK);
	ofp_deny_entry_serial(e, 2);
	ck_assert_int_eq(ofp_ledger_deny_add(L, e, 1), OFP_LEDGER_OK);
	ofp_deny_entry_holder(e, holder);
	ck_assert_int_eq(ofp_ledger_deny_add(L, e, 1), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_deny_add(L, e, 1), OFP_LEDGER_REFUSED);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_denied(L, e), OFP_LEDGER_OK);
	ofp_deny_entry_serial(e, 3);
	ck_assert_int_eq(ofp_ledger_denied(L, e), OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_deny_entries(L, &all, &n), OFP_LEDGER_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(all[0], OFP_DENY_HOLDER);
	ck_assert_uint_eq(all[9], OFP_DENY_SERIAL);
	ck_assert_uint_eq(all[9 + 8], 2);
	ck_assert_uint_eq(all[18 + 7], 1); /* 300 = 0x012c */
	ck_assert_uint_eq(all[18 + 8], 0x2c);
	free(all);
}
END_TEST

/* Statements run on L since *before (and *before updated). */
static uint64_t statements_since(ofp_ledger_stats_t *before)
{
	ofp_ledger_stats_t now;
	uint64_t n;

	ofp_ledger_stats(L, &now);
	n = now.statements - before->statements;
	*before = now;
	return n;
}

/* The keys, the settled-through time and a deny entry, read on L. */
static void read_memo_tables(size_t *nkeys, int *denied, const uint8_t entry[OFP_DENY_ENTRY_LEN])
{
	ofp_ledger_key_t *keys = NULL;
	uint32_t through = 1;

	ck_assert_int_eq(ofp_ledger_keys(L, &keys, nkeys), OFP_LEDGER_OK);
	free(keys);
	ck_assert_int_eq(ofp_ledger_gates_settled_through(L, &through, NULL), OFP_LEDGER_OK);
	ck_assert_uint_eq(through, 0); /* no gate */
	*denied = ofp_ledger_denied(L, entry);
}

/* Within one transaction a repeated read of the issuer keys, the gates'
 * settled-through time or a deny entry is answered from the first
 * (ledger_memo.c): no statement. The transaction's own writes, a rollback
 * to a savepoint and the end of the transaction forget it; outside a
 * transaction every read asks, and sees another connection's change. */
START_TEST(test_transaction_memo)
{
	ofp_ledger_key_t k;
	uint8_t e[OFP_DENY_ENTRY_LEN];
	ofp_ledger_stats_t st;
	ofp_ledger_t *other;
	char err[512];
	size_t n;
	int denied;

	memset(&k, 0, sizeof(k));
	k.n = 1;
	k.usage = 1;
	snprintf(k.label, sizeof(k.label), "memo-1");
	k.cka_id_len = 1;
	memset(k.kid, 1, OFP_KEY_ID_LEN);
	k.pub_len = 33;
	memset(k.pub, 2, k.pub_len);
	k.not_after = 100;
	ofp_deny_entry_serial(e, 77);
	ofp_ledger_stats(L, &st);

	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	read_memo_tables(&n, &denied, e);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(denied, OFP_LEDGER_NOT_FOUND);
	ck_assert_uint_eq(statements_since(&st), 4); /* BEGIN and three reads */
	read_memo_tables(&n, &denied, e);
	ck_assert_uint_eq(statements_since(&st), 0);

	/* Its own writes: read again. */
	ck_assert_int_eq(ofp_ledger_key_add(L, &k), OFP_LEDGER_OK);
	read_memo_tables(&n, &denied, e);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ofp_ledger_savepoint(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_deny_add(L, e, 1), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_denied(L, e), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_rollback_to(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_denied(L, e), OFP_LEDGER_NOT_FOUND);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);

	/* Another connection denies e: L's next transaction sees it, and so
	 * does every read outside one. */
	ck_assert_msg(ofp_ledger_open(env.ledger, false, &other, err, sizeof(err)) == OFP_LEDGER_OK, "%s", err);
	ck_assert_int_eq(ofp_ledger_begin(other), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_deny_add(other, e, 1), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_commit(other), OFP_LEDGER_OK);
	ofp_ledger_close(other);
	ck_assert_int_eq(ofp_ledger_begin(L), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_denied(L, e), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_commit(L), OFP_LEDGER_OK);
	statements_since(&st);
	ck_assert_int_eq(ofp_ledger_denied(L, e), OFP_LEDGER_OK);
	ck_assert_int_eq(ofp_ledger_denied(L, e), OFP_LEDGER_OK);
	ck_assert_uint_eq(statements_since(&st), 2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("issuer-ledger");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_config_good);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_config_bounds);
	tcase_add_test(tc, test_config_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("ledger");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_show);
	tcase_add_test(tc, test_credit_history);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_apply_bounds_and_rollback);
	tcase_add_test(tc, test_savepoint_units);
	tcase_add_test(tc, test_persistence_and_wal);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_schema_version);
	tcase_add_test(tc, test_url_password_hidden);
	tcase_add_test(tc, test_transact_retry);
	tcase_add_test(tc, test_charges_unique);
	tcase_add_test(tc, test_charge_lookup_many);
	tcase_add_test(tc, test_accounts_by_holders);
	tcase_add_test(tc, test_queued_writers);
	tcase_add_test(tc, test_settlements_of_two_gates);
	tcase_add_test(tc, test_issuance_account_locks);
	tcase_add_test(tc, test_later_failure_then_new_statement);
	tcase_add_test(tc, test_enroll_codes);
	tcase_add_test(tc, test_code_tries_one_at_a_time);
	tcase_add_test(tc, test_batches_gaps);
	tcase_add_test(tc, test_gap_runs);
	tcase_add_test(tc, test_gates_settled_prefix);
	tcase_add_test(tc, test_upgrade_waits_for_a_writer);
	tcase_add_test(tc, test_deny_entries_sorted);
	tcase_add_test(tc, test_transaction_memo);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
