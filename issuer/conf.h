/* conf.h - issuer.conf: the issuer's settings as `key = value` lines.
 *
 * (Named conf.h, not config.h: "config.h" is autoconf's header, and a
 * quoted include looks in the including file's directory first.)
 *
 * The file is small and bounded: at most OFP_CONF_FILE_MAX bytes, lines of
 * at most OFP_CONF_LINE_MAX characters, `#` comments, blank lines. Every
 * key is known, appears at most once and has a checked range; an error
 * names the file, the line and the key ("issuer.conf:7: threshold: not a
 * number"). Keys that are absent keep their defaults. */
#ifndef OFFPASS_ISSUER_CONF_H
#define OFFPASS_ISSUER_CONF_H

#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "format/format.h"

#define OFP_CONF_FILE_MAX 65536
#define OFP_CONF_LINE_MAX 1024
#define OFP_CONF_STR_MAX 512
/* Largest amount, balance and credit line the ledger holds (10^15 minor
 * units): sums of two never overflow an int64, and doubles hold it exactly. */
#define OFP_AMOUNT_MAX 1000000000000000LL

typedef struct ofp_issuer_config {
	/* The token: module path ("" = $OFFPASS_PKCS11_MODULE, else the
	 * installed offpass-p11.so), a PKCS#11 URI, or a token label. */
	char module[OFP_CONF_STR_MAX];
	char uri[OFP_CONF_STR_MAX];
	char token_label[33];
	/* The ledger: "" for ledger.db in the issuer directory, or a
	 * PostgreSQL URL (postgresql://...). */
	char ledger[OFP_CONF_STR_MAX];
	unsigned signing_alg; /* OFP_ALG_P256 or OFP_ALG_ED25519 */
	/* Claim 22: a credential only when balance + credit line >= threshold. */
	int64_t threshold;
	uint32_t credential_lifetime; /* seconds */
	ofp_grant_t grant;
	uint32_t signing_key_lifetime; /* seconds a new signing key is trusted */
	uint32_t sealing_key_lifetime;
	/* An enrollment request older than this is refused (0: no limit);
	 * one more than enrollment_future_skew ahead of the clock likewise. */
	uint32_t enrollment_max_age;
	uint32_t enrollment_future_skew;
	/* An enrollment code works once, for this long, for this many tries. */
	uint32_t enrollment_code_lifetime;
	uint32_t enrollment_code_tries;
	/* Settlement re-checks a record with the gates' settings, no tighter
	 * than the gates': their clock skew and one-way freshness. */
	uint32_t gate_clock_skew;
	uint32_t gate_freshness;
	/* A credential counts against its account until every gate has
	 * settled past its end, or until this long after its end. */
	uint32_t settlement_window;
} ofp_issuer_config_t;

void ofp_issuer_config_defaults(ofp_issuer_config_t *c);

/* Parse text (len bytes, need not be NUL-terminated) over the defaults.
 * name is the file name used in messages. Returns 0 or -1 with err. */
int ofp_issuer_config_parse(const char *name, const char *text, size_t len, ofp_issuer_config_t *c,
			    char *err, size_t err_len) OFP_WUR;
/* Read and parse a file. */
int ofp_issuer_config_load(const char *path, ofp_issuer_config_t *c, char *err, size_t err_len) OFP_WUR;
/* The configuration as issuer.conf text (every key, commented) into a
 * malloc'ed NUL-terminated string; NULL when out of memory. */
char *ofp_issuer_config_format(const ofp_issuer_config_t *c) OFP_WUR;
/* The cross-key rules (per_op_max <= offline_total, ...): 0 or -1 with err. */
int ofp_issuer_config_check(const ofp_issuer_config_t *c, char *err, size_t err_len) OFP_WUR;

#endif
