/* config.c - issuer.conf parser: a table of known keys, each with its
 * type and range, so that adding a setting is one line. */
#include "config.h"
#include "issuer/conf.h"
#include "atomic_file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KEY_STRING, KEY_INT, KEY_ALG } key_type_t;

typedef struct conf_key {
	const char *name;
	key_type_t type;
	size_t offset;
	size_t size;	   /* strings: buffer size; ints: 2, 4 or 8 bytes */
	int64_t min, max;  /* ints */
	const char *help;  /* the comment written above the key */
} conf_key_t;

#define STR(f, h) { #f, KEY_STRING, offsetof(ofp_issuer_config_t, f), sizeof(((ofp_issuer_config_t *)0)->f), 0, 0, h }
#define INT(n, f, lo, hi, h) { n, KEY_INT, offsetof(ofp_issuer_config_t, f), sizeof(((ofp_issuer_config_t *)0)->f), lo, hi, h }

static const conf_key_t keys[] = {
	STR(module, "PKCS#11 module holding the issuer keys (empty: $OFFPASS_PKCS11_MODULE, else offpass-p11.so)"),
	STR(uri, "PKCS#11 URI of the issuer token (RFC 7512), or empty"),
	STR(token_label, "label of the issuer token when no URI is given, or empty"),
	STR(ledger, "the ledger: empty for ledger.db in this directory, or a PostgreSQL URL "
		    "(postgresql://...; no password here: use ~/.pgpass, peer or certificate authentication)"),
	{ "signing_alg", KEY_ALG, offsetof(ofp_issuer_config_t, signing_alg), sizeof(unsigned), 0, 0,
	  "algorithm of new credential-signing keys: p256 or ed25519" },
	INT("threshold", threshold, 0, OFP_AMOUNT_MAX,
	    "issue a credential only when balance + credit line >= threshold (minor units)"),
	INT("credential_lifetime", credential_lifetime, 1, UINT32_MAX, "seconds a credential is valid"),
	INT("resource_class", grant.resource_class, 0, UINT16_MAX, "grant: what may be operated (1 = transit gate)"),
	INT("per_op_max", grant.per_op_max, 0, UINT32_MAX, "grant: largest amount of one operation"),
	INT("offline_total", grant.offline_total, 0, UINT32_MAX,
	    "grant: largest sum of amounts operated offline under one credential"),
	INT("signing_key_lifetime", signing_key_lifetime, 1, UINT32_MAX,
	    "seconds a new credential-signing key stays in the trust list"),
	INT("sealing_key_lifetime", sealing_key_lifetime, 1, UINT32_MAX, "seconds the sealing key stays in the trust list"),
	INT("enrollment_max_age", enrollment_max_age, 0, UINT32_MAX,
	    "refuse enrollment requests older than this many seconds (0: no limit)"),
	INT("enrollment_future_skew", enrollment_future_skew, 0, UINT32_MAX,
	    "refuse enrollment requests dated more than this many seconds ahead"),
	INT("enrollment_code_lifetime", enrollment_code_lifetime, 60, UINT32_MAX,
	    "seconds an enrollment code (account open, account code) can be used"),
	INT("enrollment_code_tries", enrollment_code_tries, 1, 1000,
	    "requests that may try an enrollment code before it is locked"),
	INT("gate_clock_skew", gate_clock_skew, 0, 86400,
	    "settlement: the largest clock skew of a gate (at least the gates' clock_skew)"),
	INT("gate_freshness", gate_freshness, 0, 86400,
	    "settlement: how long a one-way authorization is fresh (at least the gates' freshness)"),
	INT("settlement_window", settlement_window, 0, UINT32_MAX,
	    "seconds after its end that an unreported credential still counts against the account"),
};

void ofp_issuer_config_defaults(ofp_issuer_config_t *c)
{
	memset(c, 0, sizeof(*c));
	c->signing_alg = OFP_ALG_P256;
	c->threshold = 500;
	c->credential_lifetime = 86400;
	c->grant.resource_class = 1;
	c->grant.per_op_max = 500;
	c->grant.offline_total = 5000;
	c->signing_key_lifetime = 2u * 365 * 86400;
	c->sealing_key_lifetime = 10u * 365 * 86400;
	c->enrollment_max_age = 30u * 86400;
	c->enrollment_future_skew = 3600;
	c->enrollment_code_lifetime = 7u * 86400;
	c->enrollment_code_tries = 5;
	c->gate_clock_skew = 120;
	c->gate_freshness = 60;
	c->settlement_window = 7u * 86400;
}

static int conf_err(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int conf_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const conf_key_t *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(keys); i++)
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

/* Strict decimal: digits only, no sign, no leading zeros beyond "0". */
static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	uint64_t v = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > (uint64_t)max || (int64_t)v < min)
		return false;
	*out = (int64_t)v;
	return true;
}

static void store_int(ofp_issuer_config_t *c, const conf_key_t *k, int64_t v)
{
	char *p = (char *)c + k->offset;

	if (k->size == sizeof(uint16_t)) {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, sizeof(x));
	} else if (k->size == sizeof(uint32_t)) {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, sizeof(x));
	} else {
		memcpy(p, &v, sizeof(v));
	}
}

static int set_value(ofp_issuer_config_t *c, const conf_key_t *k, const char *value, const char *where,
		     char *err, size_t err_len)
{
	char *p = (char *)c + k->offset;
	int64_t v;

	switch (k->type) {
	case KEY_STRING:
		if (strlen(value) >= k->size)
			return conf_err(err, err_len, "%s: %s: longer than %zu characters", where, k->name,
					k->size - 1);
		memcpy(p, value, strlen(value) + 1);
		return 0;
	case KEY_ALG:
		if (strcmp(value, "p256") == 0)
			c->signing_alg = OFP_ALG_P256;
		else if (strcmp(value, "ed25519") == 0)
			c->signing_alg = OFP_ALG_ED25519;
		else
			return conf_err(err, err_len, "%s: %s: '%s' is not p256 or ed25519", where, k->name, value);
		return 0;
	case KEY_INT:
		if (!parse_int(value, k->min, k->max, &v))
			return conf_err(err, err_len, "%s: %s: '%s' is not a number in %" PRId64 "..%" PRId64, where,
					k->name, value, k->min, k->max);
		store_int(c, k, v);
		return 0;
	}
	return conf_err(err, err_len, "%s: %s: internal error", where, k->name);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* One line (NUL-terminated, no newline). seen marks keys already set. */
static int parse_line(const char *name, unsigned lineno, char *line, bool *seen, ofp_issuer_config_t *c,
		      char *err, size_t err_len)
{
	char where[OFP_CONF_STR_MAX];
	char *s = trim(line), *eq, *key;
	const conf_key_t *k;

	snprintf(where, sizeof(where), "%s:%u", name, lineno);
	if (*s == '\0' || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (eq == NULL)
		return conf_err(err, err_len, "%s: expected 'key = value'", where);
	*eq = '\0';
	key = trim(s);
	k = find_key(key, strlen(key));
	if (k == NULL)
		return conf_err(err, err_len, "%s: unknown key '%.64s'", where, key);
	if (seen[k - keys])
		return conf_err(err, err_len, "%s: %s: set twice", where, k->name);
	seen[k - keys] = true;
	return set_value(c, k, trim(eq + 1), where, err, err_len);
}

int ofp_issuer_config_check(const ofp_issuer_config_t *c, char *err, size_t err_len)
{
	if (c->grant.per_op_max > c->grant.offline_total)
		return conf_err(err, err_len, "per_op_max (%" PRIu32 ") is above offline_total (%" PRIu32 ")",
				c->grant.per_op_max, c->grant.offline_total);
	if (c->ledger[0] != '\0' && strncmp(c->ledger, "postgresql://", 13) != 0 &&
	    strncmp(c->ledger, "postgres://", 11) != 0)
		return conf_err(err, err_len, "ledger: '%.64s' is not a postgresql:// URL (empty: ledger.db)", c->ledger);
	if (c->uri[0] != '\0' && strncmp(c->uri, "pkcs11:", 7) != 0)
		return conf_err(err, err_len, "uri: '%.64s' does not start with 'pkcs11:'", c->uri);
	return 0;
}

int ofp_issuer_config_parse(const char *name, const char *text, size_t len, ofp_issuer_config_t *c,
			    char *err, size_t err_len)
{
	bool seen[OFP_ARRAY_LEN(keys)] = { false };
	char line[OFP_CONF_LINE_MAX + 1];
	unsigned lineno = 0;
	size_t pos = 0;

	if (len > OFP_CONF_FILE_MAX)
		return conf_err(err, err_len, "%s: larger than %d bytes", name, OFP_CONF_FILE_MAX);
	if (memchr(text, '\0', len) != NULL)
		return conf_err(err, err_len, "%s: contains a NUL byte", name);
	ofp_issuer_config_defaults(c);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (n > OFP_CONF_LINE_MAX)
			return conf_err(err, err_len, "%s:%u: line longer than %d characters", name, lineno,
					OFP_CONF_LINE_MAX);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (parse_line(name, lineno, line, seen, c, err, err_len) != 0)
			return -1;
		pos += n + (nl != NULL);
	}
	if (ofp_issuer_config_check(c, err, err_len) != 0) {
		char why[256];
		snprintf(why, sizeof(why), "%s", err != NULL ? err : "");
		return conf_err(err, err_len, "%s: %s", name, why);
	}
	return 0;
}

int ofp_issuer_config_load(const char *path, ofp_issuer_config_t *c, char *err, size_t err_len)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = file_read_all(path, OFP_CONF_FILE_MAX, &buf, &len);

	if (rc == -EFBIG)
		return conf_err(err, err_len, "%s: larger than %d bytes", path, OFP_CONF_FILE_MAX);
	if (rc != 0)
		return conf_err(err, err_len, "%s: %s", path, strerror(-rc));
	rc = ofp_issuer_config_parse(path, (const char *)buf, len, c, err, err_len);
	free(buf);
	return rc;
}

static bool appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return false;
		if ((size_t)n < *cap - *len) {
			*len += (size_t)n;
			return true;
		}
		char *grown = realloc(*buf, *cap * 2 + (size_t)n);
		if (grown == NULL)
			return false;
		*buf = grown;
		*cap = *cap * 2 + (size_t)n;
	}
}

static bool format_value(char **buf, size_t *len, size_t *cap, const ofp_issuer_config_t *c, const conf_key_t *k)
{
	const char *p = (const char *)c + k->offset;
	uint16_t u16;
	uint32_t u32;
	int64_t i64;

	switch (k->type) {
	case KEY_STRING:
		return appendf(buf, len, cap, "%s =%s%s\n", k->name, p[0] != '\0' ? " " : "", p);
	case KEY_ALG:
		return appendf(buf, len, cap, "%s = %s\n", k->name, c->signing_alg == OFP_ALG_ED25519 ? "ed25519" : "p256");
	case KEY_INT:
		if (k->size == sizeof(u16)) {
			memcpy(&u16, p, sizeof(u16));
			i64 = u16;
		} else if (k->size == sizeof(u32)) {
			memcpy(&u32, p, sizeof(u32));
			i64 = u32;
		} else {
			memcpy(&i64, p, sizeof(i64));
		}
		return appendf(buf, len, cap, "%s = %" PRId64 "\n", k->name, i64);
	}
	return false;
}

char *ofp_issuer_config_format(const ofp_issuer_config_t *c)
{
	size_t len = 0, cap = 2048;
	char *buf = malloc(cap);

	if (buf == NULL)
		return NULL;
	buf[0] = '\0';
	if (!appendf(&buf, &len, &cap, "# offpass-issuer configuration (see offpass-issuer(1))\n"))
		goto fail;
	for (size_t i = 0; i < OFP_ARRAY_LEN(keys); i++)
		if (!appendf(&buf, &len, &cap, "\n# %s\n", keys[i].help) || !format_value(&buf, &len, &cap, c, &keys[i]))
			goto fail;
	return buf;
fail:
	free(buf);
	return NULL;
}
