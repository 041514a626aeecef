/* test-token.h - the fixture of the issuer's Check suites: a temporary
 * directory, a fresh offpass-p11 token in it (initialised through the raw
 * function list), and an issuer on that token.
 *
 * The module is $OFFPASS_P11_MODULE (make check exports it); without it the
 * token tests are skipped with a message. Every helper asserts with
 * libcheck.
 *
 * The ledger is ledger.db in the issuer directory, or, when
 * $OFFPASS_TEST_LEDGER holds a PostgreSQL URL, that database, emptied at
 * every tt_setup (tests/integration/ledger-pg.sh runs the suites so, one
 * at a time, on a private cluster). */
#ifndef OFFPASS_ISSUER_TEST_TOKEN_H
#define OFFPASS_ISSUER_TEST_TOKEN_H

#include <stdbool.h>
#include <stdint.h>
#include "issuer/issuer.h"

#define TT_LABEL "issuer test"
#define TT_SO_PIN "so-pin-0000"
#define TT_PIN "user-pin-1234"
#define TT_NOW 1700000000u

typedef struct tt_env {
	char root[256];	       /* the temp directory, removed at the end */
	char issuer_dir[300];  /* root/issuer (not created) */
	char tokens[300];      /* root/tokens: OFFPASS_P11_DIR */
	const char *module;    /* NULL: no module, token tests skip */
	char ledger[512];      /* the ledger: issuer_dir/ledger.db or the URL */
	bool pg;	       /* ledger is PostgreSQL */
} tt_env_t;

/* A temp directory (always), and with token, a token when the module is
 * known: false when it is not. */
bool tt_setup(tt_env_t *env, bool token);
void tt_teardown(tt_env_t *env);

/* Defaults for tests: the module and token label of env, threshold 500,
 * grant 1 / 500 / 5000, credential lifetime one day. */
void tt_config(const tt_env_t *env, ofp_issuer_config_t *cfg);
/* ofp_issuer_init with cfg at `now` and the test PIN (asserted). */
ofp_issuer_t *tt_issuer_init(const tt_env_t *env, const ofp_issuer_config_t *cfg, uint32_t now);
/* ofp_issuer_open of env's issuer directory (asserted). */
ofp_issuer_t *tt_issuer_open(const tt_env_t *env, uint32_t now);

/* Run sql on env's ledger database outside the ledger code (what a
 * hand edit could do): true when the database accepted it. */
bool tt_ledger_sql(const tt_env_t *env, const char *sql);

/* Skip the calling test unless the token exists. */
#define TT_NEED_TOKEN(env)                                                                  \
	do {                                                                                  \
		if ((env)->module == NULL) {                                                  \
			fprintf(stderr, "SKIP %s: OFFPASS_P11_MODULE is not set\n", __func__); \
			return;                                                               \
		}                                                                             \
	} while (0)

#endif
