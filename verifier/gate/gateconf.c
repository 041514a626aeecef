/* gateconf.c - STATE/gate.conf: the verifier id, the resource and fare,
 * and the clock tolerances that init fixes once. Plain "key = value"
 * text, so an operator can read it; parsed strictly, so that a typo is an
 * error and not a silent default. */
#include "config.h"
#include "gate.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "verifier/offpass-verifier.h"

static int fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return -1;
}

void gate_conf_defaults(gate_conf_t *c)
{
	offpass_verifier_config_t cfg;

	offpass_verifier_config_init(&cfg);
	memset(c, 0, sizeof(*c));
	c->resource_class = cfg.resource_class;
	c->clock_skew = cfg.clock_skew;
	c->freshness = cfg.freshness;
	c->deny_max_age = cfg.deny_max_age;
	c->stale_operation_max = cfg.stale_deny_operation_max;
}

int gate_conf_check(const gate_conf_t *c, char *err, size_t err_len)
{
	if (c->clock_skew > GATE_SKEW_MAX)
		return fail(err, err_len, "clock_skew: %u s is more than %u s", c->clock_skew, GATE_SKEW_MAX);
	if (c->freshness == 0 || c->freshness > GATE_FRESHNESS_MAX)
		return fail(err, err_len, "freshness: %u s is not in 1..%u s", c->freshness, GATE_FRESHNESS_MAX);
	if (c->mode != GATE_MODE_FIXED && c->mode != GATE_MODE_TILL)
		return fail(err, err_len, "mode: neither fixed (a fare) nor till (an amount with each check)");
	if (c->mode == GATE_MODE_TILL && c->fare != 0)
		return fail(err, err_len, "fare: %u in till mode (each check brings its amount)", c->fare);
	if (c->mode == GATE_MODE_FIXED && c->fare == 0 && !c->allow_zero)
		return fail(err, err_len, "fare: 0 (free passage needs allow_zero = yes)");
	return 0;
}

enum {
	KEY_ID,
	KEY_RESOURCE,
	KEY_MODE,
	KEY_FARE,
	KEY_ALLOW_ZERO,
	KEY_SKEW,
	KEY_FRESHNESS,
	KEY_DENY_MAX_AGE, /* optional from here on */
	KEY_STALE_MAX,
	KEY_COUNT
};
#define KEY_REQUIRED KEY_DENY_MAX_AGE
static const char *const key_names[KEY_COUNT] = { "verifier_id", "resource_class",	"mode",
						  "fare",	 "allow_zero",		"clock_skew",
						  "freshness",	 "deny_max_age",	"stale_operation_max" };

static int set_word(gate_conf_t *c, int key, const char *val)
{
	if (key == KEY_MODE && strcmp(val, "fixed") == 0)
		c->mode = GATE_MODE_FIXED;
	else if (key == KEY_MODE && strcmp(val, "till") == 0)
		c->mode = GATE_MODE_TILL;
	else if (key == KEY_ALLOW_ZERO && (strcmp(val, "yes") == 0 || strcmp(val, "no") == 0))
		c->allow_zero = strcmp(val, "yes") == 0;
	else
		return -1;
	return 0;
}

static int set_value(gate_conf_t *c, int key, const char *val)
{
	uint32_t v = 0;

	if (key == KEY_ID)
		return hex_decode(val, c->verifier_id, sizeof(c->verifier_id));
	if (key == KEY_MODE || key == KEY_ALLOW_ZERO)
		return set_word(c, key, val);
	if (key == KEY_DENY_MAX_AGE && strcmp(val, "off") == 0) {
		c->deny_max_age = 0;
		return 0;
	}
	if (ofp_parse_u32(val, key == KEY_RESOURCE ? UINT16_MAX : UINT32_MAX, &v) != 0)
		return -1;
	if (key == KEY_RESOURCE)
		c->resource_class = (uint16_t)v;
	else if (key == KEY_FARE)
		c->fare = v;
	else if (key == KEY_SKEW)
		c->clock_skew = v;
	else if (key == KEY_FRESHNESS)
		c->freshness = v;
	else if (key == KEY_DENY_MAX_AGE && v == 0)
		return -1; /* "off" says it; 0 is not a maximum age */
	else if (key == KEY_DENY_MAX_AGE)
		c->deny_max_age = v;
	else
		c->stale_operation_max = v;
	return 0;
}

static char *trim(char *s)
{
	char *end = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* One "key = value" line (already NUL-terminated) into c; seen[] catches
 * a key given twice. */
static int parse_line(char *line, unsigned lineno, gate_conf_t *c, bool seen[KEY_COUNT], char *err,
		      size_t err_len)
{
	char *eq = strchr(line, '='), *key, *val;
	int k;

	if (eq == NULL)
		return fail(err, err_len, "line %u: expected 'key = value'", lineno);
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	for (k = 0; k < KEY_COUNT; k++)
		if (strcmp(key, key_names[k]) == 0)
			break;
	if (k == KEY_COUNT)
		return fail(err, err_len, "line %u: unknown key '%.40s'", lineno, key);
	if (seen[k])
		return fail(err, err_len, "line %u: %s given twice", lineno, key_names[k]);
	seen[k] = true;
	if (set_value(c, k, val) != 0)
		return fail(err, err_len, "line %u: %s: bad value '%.40s'", lineno, key_names[k], val);
	return 0;
}

int gate_conf_parse(const char *text, size_t len, gate_conf_t *c, char *err, size_t err_len)
{
	bool seen[KEY_COUNT] = { false };
	char line[256];
	unsigned lineno = 0;
	size_t pos = 0;

	if (memchr(text, '\0', len) != NULL)
		return fail(err, err_len, "not a text file (NUL byte)");
	gate_conf_defaults(c);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = (nl != NULL ? (size_t)(nl - text) : len) - pos;
		char *l;

		lineno++;
		if (n >= sizeof(line))
			return fail(err, err_len, "line %u: too long", lineno);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		l = trim(line);
		if (*l == '\0' || *l == '#')
			continue;
		if (parse_line(l, lineno, c, seen, err, err_len) != 0)
			return -1;
	}
	for (int k = 0; k < KEY_REQUIRED; k++)
		if (!seen[k])
			return fail(err, err_len, "%s missing", key_names[k]);
	return gate_conf_check(c, err, err_len);
}

size_t gate_conf_format(const gate_conf_t *c, char *out, size_t cap)
{
	char id[2 * sizeof(c->verifier_id) + 1], age[16];
	int n;

	hex_encode(c->verifier_id, sizeof(c->verifier_id), id);
	if (c->deny_max_age == 0)
		snprintf(age, sizeof(age), "off");
	else
		snprintf(age, sizeof(age), "%u", c->deny_max_age);
	n = snprintf(out, cap,
		     "# offpass-gate state, written by 'offpass-gate init' (see offpass-gate(1)).\n"
		     "# The verifier id is in every journal record: do not change it.\n"
		     "verifier_id = %s\n"
		     "resource_class = %u\n"
		     "# fixed: every passage charges the fare; till: each check brings its amount\n"
		     "mode = %s\n"
		     "fare = %u\n"
		     "allow_zero = %s\n"
		     "clock_skew = %u\n"
		     "freshness = %u\n"
		     "# refuse once the deny list is older than this (seconds, or off), except\n"
		     "# charges up to stale_operation_max (0: none) (VERIFIER.md 3.5)\n"
		     "deny_max_age = %s\n"
		     "stale_operation_max = %u\n",
		     id, c->resource_class, c->mode == GATE_MODE_TILL ? "till" : "fixed", c->fare,
		     c->allow_zero ? "yes" : "no", c->clock_skew, c->freshness, age, c->stale_operation_max);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static int conf_path(const char *dir, char *path, size_t cap)
{
	return snprintf(path, cap, "%s/%s", dir, GATE_CONF_NAME) < (int)cap ? 0 : -1;
}

bool gate_conf_exists(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	return conf_path(dir, path, sizeof(path)) == 0 && lstat(path, &st) == 0;
}

int gate_conf_load(const char *dir, gate_conf_t *c, char *err, size_t err_len)
{
	char path[PATH_MAX], why[160];
	unsigned char *text = NULL;
	size_t len = 0;
	int rv;

	if (conf_path(dir, path, sizeof(path)) != 0)
		return fail(err, err_len, "%s: path too long", dir);
	rv = file_read_all(path, GATE_CONF_MAX, &text, &len);
	if (rv == -ENOENT)
		return fail(err, err_len, "%s: not found (is %s a gate? run 'init' first)", path, dir);
	if (rv != 0)
		return fail(err, err_len, "%s: %s", path, rv == -EFBIG ? "too large" : strerror(-rv));
	rv = gate_conf_parse((const char *)text, len, c, why, sizeof(why));
	free(text);
	if (rv != 0)
		return fail(err, err_len, "%s: %s", path, why);
	return 0;
}

int gate_conf_save(const char *dir, const gate_conf_t *c, char *err, size_t err_len)
{
	char path[PATH_MAX], text[GATE_CONF_MAX];
	size_t len = gate_conf_format(c, text, sizeof(text));
	int rv;

	if (conf_path(dir, path, sizeof(path)) != 0)
		return fail(err, err_len, "%s: path too long", dir);
	if (len == 0 || gate_conf_check(c, err, err_len) != 0)
		return -1;
	rv = atomic_file_write(path, text, len, 0600);
	if (rv != 0)
		return fail(err, err_len, "%s: %s", path, strerror(-rv));
	return 0;
}
