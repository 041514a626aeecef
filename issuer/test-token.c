/* test-token.c - temp directory, token and issuer for the Check suites. */
#include "config.h"
#include "issuer/test-token.h"
#include "tests/kit/test-token.h"

#include <check.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool pg_run(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *r;
	bool ok;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s: %s", url, PQerrorMessage(c));
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	PQfinish(c);
	return ok;
}

/* The ledger of this run: a PostgreSQL database, emptied, or a file. */
static void tt_ledger_choose(tt_env_t *env)
{
	const char *url = getenv("OFFPASS_TEST_LEDGER");

	if (url != NULL && url[0] != '\0') {
		env->pg = true;
		snprintf(env->ledger, sizeof(env->ledger), "%s", url);
		ck_assert(pg_run(url, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; "
				      "CREATE SCHEMA public"));
		return;
	}
	snprintf(env->ledger, sizeof(env->ledger), "%s/%s", env->issuer_dir, OFP_ISSUER_LEDGER);
}

bool tt_ledger_sql(const tt_env_t *env, const char *sql)
{
	sqlite3 *db = NULL;
	bool ok;

	if (env->pg)
		return pg_run(env->ledger, sql);
	ck_assert_int_eq(sqlite3_open(env->ledger, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	return ok;
}

bool tt_setup(tt_env_t *env, bool token)
{
	const char *module = getenv("OFFPASS_P11_MODULE");
	const char *tmp = getenv("TMPDIR");
	char err[1024];

	memset(env, 0, sizeof(*env));
	snprintf(env->root, sizeof(env->root), "%s/offpass-issuer-test.XXXXXX", tmp != NULL ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(env->root));
	snprintf(env->issuer_dir, sizeof(env->issuer_dir), "%s/issuer", env->root);
	snprintf(env->tokens, sizeof(env->tokens), "%s/tokens", env->root);
	ck_assert_int_eq(mkdir(env->tokens, 0700), 0);
	tt_ledger_choose(env);
	if (!token || module == NULL || module[0] == '\0')
		return false;
	env->module = module;
	ck_assert_int_eq(ofp_test_token_offpass_env(env->tokens), 0);
	setenv("OFFPASS_PKCS11_MODULE", module, 1);
	/* What an operator does with pkcs11-tool before `offpass-issuer init`. */
	ck_assert_msg(ofp_test_token_init(module, TT_LABEL, TT_SO_PIN, TT_PIN, err, sizeof(err)) == 0, "%s", err);
	return true;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tt_teardown(tt_env_t *env)
{
	if (env->root[0] != '\0' && getenv("OFFPASS_TEST_KEEP") == NULL)
		(void)nftw(env->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tt_config(const tt_env_t *env, ofp_issuer_config_t *cfg)
{
	ofp_issuer_config_defaults(cfg);
	if (env->module != NULL)
		snprintf(cfg->module, sizeof(cfg->module), "%s", env->module);
	snprintf(cfg->token_label, sizeof(cfg->token_label), "%s", TT_LABEL);
	if (env->pg)
		snprintf(cfg->ledger, sizeof(cfg->ledger), "%s", env->ledger);
	cfg->threshold = 500;
	cfg->grant.resource_class = 1;
	cfg->grant.per_op_max = 500;
	cfg->grant.offline_total = 5000;
	cfg->credential_lifetime = 86400;
}

ofp_issuer_t *tt_issuer_init(const tt_env_t *env, const ofp_issuer_config_t *cfg, uint32_t now)
{
	ofp_issuer_args_t a = { .dir = env->issuer_dir, .now = now, .pin = TT_PIN };
	ofp_issuer_t *iss = NULL;
	char err[1024] = "";

	ck_assert_msg(ofp_issuer_init(&a, cfg, &iss, err, sizeof(err)) == OFP_ISSUER_OK, "init: %s", err);
	return iss;
}

ofp_issuer_t *tt_issuer_open(const tt_env_t *env, uint32_t now)
{
	ofp_issuer_args_t a = { .dir = env->issuer_dir, .now = now, .pin = TT_PIN };
	ofp_issuer_t *iss = NULL;
	char err[1024] = "";

	ck_assert_msg(ofp_issuer_open(&a, &iss, err, sizeof(err)) == OFP_ISSUER_OK, "open: %s", err);
	return iss;
}
