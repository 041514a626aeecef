/* init.c - offpass-gate init: a new gate in DIR. The gate is built in a
 * temporary sibling directory and renamed into place when complete, so
 * that DIR is never half a gate: a refused trust list or a crash leaves
 * DIR as it was (missing or empty), and init can simply run again. */
#include "config.h"
#include "gatecli.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "hex.h"
#include "format/format.h"

static const char init_help[] =
	"Usage: offpass-gate --dir DIR init --trust FILE [--deny FILE] (--fare N | --till)\n"
	"                    [--allow-zero] [--id HEX] [--resource N] [--skew SECONDS]\n"
	"                    [--freshness SECONDS] [--deny-max-age SECONDS|off] [--stale-max N]\n"
	"Create a gate in DIR (a new or empty directory): install FILE, the issuer's\n"
	"signed trust list, as the anchor (and its deny list); create the batch-signing\n"
	"key; write DIR/gate.conf and DIR/" GATE_BATCH_KEY_NAME ".\n"
	"  --trust FILE       the issuer's trust list (offpass-issuer trust-list)\n"
	"  --deny FILE        the issuer's current deny list (offpass-issuer deny-list)\n"
	"  --id HEX           verifier id, 8 bytes in hex (default: random)\n"
	"  --resource N       resource class this gate operates (default 1)\n"
	"  --fare N           fixed mode: every passage charges N (minor units)\n"
	"  --till             till mode: each check brings its amount ('check --fare N')\n"
	"  --allow-zero       a charge of 0 may operate (free passage); off by default\n"
	"  --skew SECONDS     clock tolerance (default 120)\n"
	"  --freshness SECONDS  how long a QR authorization is fresh (default 60)\n"
	"  --deny-max-age SECONDS|off  refuse once the deny list (without one, the trust\n"
	"                     list) was issued longer ago than this (default 172800, 48 h)\n"
	"  --stale-max N      while the deny list is too old, charges up to N still\n"
	"                     operate (default 0: none)\n";

typedef struct init_args {
	const char *trust;
	const char *deny;
} init_args_t;

int gate_init_option(int c, const char *arg, void *ctx)
{
	switch (c) {
	case GATE_OPT_TRUST:
		((init_args_t *)ctx)->trust = arg;
		return -1;
	case GATE_OPT_DENY:
		((init_args_t *)ctx)->deny = arg;
		return -1;
	case GATE_OPT_DENY_MAX_AGE:
		gate_opt.deny_max_age = arg;
		return -1;
	case GATE_OPT_STALE_MAX:
		gate_opt.stale_max = arg;
		return -1;
	case GATE_OPT_ID:
		gate_opt.id = arg;
		return -1;
	case GATE_OPT_RESOURCE:
		gate_opt.resource = arg;
		return -1;
	case GATE_OPT_FARE:
		gate_opt.fare = arg;
		return -1;
	case GATE_OPT_TILL:
		gate_opt.till = true;
		return -1;
	case GATE_OPT_ALLOW_ZERO:
		gate_opt.allow_zero = true;
		return -1;
	case GATE_OPT_SKEW:
		gate_opt.skew = arg;
		return -1;
	case GATE_OPT_FRESHNESS:
		gate_opt.freshness = arg;
		return -1;
	default:
		return ofp_usage("init: unexpected option");
	}
}

static int parse_number(const char *opt, const char *text, uint32_t max, uint32_t *out)
{
	if (text != NULL && ofp_parse_u32(text, max, out) != 0)
		return ofp_usage("%s: '%s' is not a number in 0..%u", opt, text, max);
	return OFP_EXIT_OK;
}

/* --deny-max-age: seconds (at least 1), or "off". */
static int parse_max_age(const char *text, uint32_t *out)
{
	if (text == NULL)
		return OFP_EXIT_OK;
	if (strcmp(text, "off") == 0) {
		*out = 0;
		return OFP_EXIT_OK;
	}
	if (ofp_parse_u32(text, UINT32_MAX, out) != 0 || *out == 0)
		return ofp_usage("--deny-max-age: '%s' is neither seconds (1..%u) nor 'off'", text, UINT32_MAX);
	return OFP_EXIT_OK;
}

/* gate.conf from the defaults and the options. */
static int init_conf(gate_conf_t *conf)
{
	uint32_t resource;
	char err[160];
	int rv;

	gate_conf_defaults(conf);
	resource = conf->resource_class;
	if (gate_opt.id != NULL && hex_decode(gate_opt.id, conf->verifier_id, sizeof(conf->verifier_id)) != 0)
		return ofp_usage("--id: '%s' is not 8 bytes of hex (16 digits)", gate_opt.id);
	if (gate_opt.id == NULL && getrandom(conf->verifier_id, sizeof(conf->verifier_id), 0) !=
					   (ssize_t)sizeof(conf->verifier_id))
		return ofp_fail("cannot draw a random verifier id: %s", strerror(errno));
	if ((rv = parse_number("--resource", gate_opt.resource, UINT16_MAX, &resource)) != OFP_EXIT_OK ||
	    (rv = parse_number("--fare", gate_opt.fare, UINT32_MAX, &conf->fare)) != OFP_EXIT_OK ||
	    (rv = parse_number("--skew", gate_opt.skew, UINT32_MAX, &conf->clock_skew)) != OFP_EXIT_OK ||
	    (rv = parse_number("--freshness", gate_opt.freshness, UINT32_MAX, &conf->freshness)) != OFP_EXIT_OK ||
	    (rv = parse_max_age(gate_opt.deny_max_age, &conf->deny_max_age)) != OFP_EXIT_OK ||
	    (rv = parse_number("--stale-max", gate_opt.stale_max, UINT32_MAX, &conf->stale_operation_max)) !=
		    OFP_EXIT_OK)
		return rv;
	conf->resource_class = (uint16_t)resource;
	if (gate_opt.till == (gate_opt.fare != NULL))
		return ofp_usage("init: say who sets the price: --fare N (a fixed fare) or --till (each check "
				 "brings its amount), one of them");
	conf->mode = gate_opt.till ? GATE_MODE_TILL : GATE_MODE_FIXED;
	conf->allow_zero = gate_opt.allow_zero;
	if (conf->mode == GATE_MODE_FIXED && conf->fare == 0 && !conf->allow_zero)
		return ofp_usage("--fare 0: a free gate needs --allow-zero as well");
	if (gate_conf_check(conf, err, sizeof(err)) != 0)
		return ofp_usage("%s", err);
	return OFP_EXIT_OK;
}

/* A list file given to init. */
typedef struct gate_list {
	const char *path;
	unsigned char *data;
	size_t len;
} gate_list_t;

/* A list file, read within its bound and of the right type. */
static int read_list_file(const char *path, bool trust, gate_list_t *out)
{
	const char *name = trust ? "trust list" : "deny list";
	char what[96];
	unsigned type = 0;
	int rv = file_read_all(path, trust ? OFP_TRUST_LIST_MAX : GATE_LIST_FILE_MAX, &out->data, &out->len);

	out->path = path;
	if (rv == -EFBIG)
		return ofp_fail("%s: too large for a %s", path, name);
	if (rv != 0)
		return ofp_fail("%s: %s", path, strerror(-rv));
	if (ofp_peek_type(out->data, out->len, &type, NULL) != OFP_FMT_OK ||
	    type != (trust ? OFP_TYPE_TRUST_LIST : OFP_TYPE_DENY_LIST))
		return ofp_fail("%s: not a %s (%s)", path, name, gate_describe(out->data, out->len, what, sizeof(what)));
	return OFP_EXIT_OK;
}

/* DIR must be missing or an empty directory. */
static int check_target(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = true;

	if (d == NULL)
		return errno == ENOENT ? OFP_EXIT_OK : ofp_fail("%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	if (empty)
		return OFP_EXIT_OK;
	if (gate_conf_exists(dir))
		return ofp_fail("%s: already a gate (%s exists); 'update' installs a newer trust list", dir,
				GATE_CONF_NAME);
	return ofp_fail("%s: not empty, and not a gate: init wants a new or empty directory", dir);
}

/* "DIR.init-XXXXXX" beside DIR (same file system, so rename works). */
static int make_staging(const char *dir, char *tmp, size_t cap)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 0 || (n == 1 && dir[0] == '/'))
		return ofp_usage("--dir: '%s' cannot be a gate's directory", dir);
	if (snprintf(tmp, cap, "%.*s.init-XXXXXX", (int)n, dir) >= (int)cap)
		return ofp_fail("%s: path too long", dir);
	if (mkdtemp(tmp) == NULL)
		return ofp_fail("%s: %s", tmp, strerror(errno));
	return OFP_EXIT_OK;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0; /* remove what can be removed */
}

/* Everything in the staging directory was made by this init. */
static void remove_staging(const char *tmp)
{
	struct stat st;

	if (lstat(tmp, &st) != 0)
		return; /* renamed into place after all */
	if (nftw(tmp, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		ofp_fail("%s: could not remove all of it", tmp);
}

/* The trust list as the anchor, then the deny list (when given). */
static int install_lists(offpass_verifier_t *v, const gate_list_t *trust, const gate_list_t *deny)
{
	offpass_status_t st = offpass_verifier_install_trust_list(v, trust->data, trust->len, gate_now());
	const char *path = trust->path;

	if (st == OFFPASS_STATUS_OK && deny->data != NULL) {
		st = offpass_verifier_install_deny_list(v, deny->data, deny->len, gate_now());
		path = deny->path;
	}
	if (st == OFFPASS_STATUS_OK)
		return OFP_EXIT_OK;
	ofp_fail("%s: refused: %s", path, offpass_verifier_error(v));
	return gate_status_exit(st);
}

static int write_batch_key(offpass_verifier_t *v, const char *dir)
{
	char path[PATH_MAX];
	uint8_t pub[65];

	if (snprintf(path, sizeof(path), "%s/%s", dir, GATE_BATCH_KEY_NAME) >= (int)sizeof(path))
		return ofp_fail("%s: path too long", dir);
	if (offpass_verifier_public_key(v, pub) != OFFPASS_STATUS_OK)
		return ofp_fail("%s: batch key: %s", dir, offpass_verifier_error(v));
	return gate_write_file(path, pub, sizeof(pub), 0644);
}

/* The whole gate in dir: verifier state, anchor, key, gate.conf. */
static int build_gate(const char *dir, const gate_conf_t *conf, const gate_list_t *trust, const gate_list_t *deny,
		      uint64_t versions[2])
{
	offpass_verifier_t *v = NULL;
	char err[160];
	int rv = gate_open_dir(dir, conf, &v);

	if (rv != OFP_EXIT_OK)
		return rv;
	if ((rv = install_lists(v, trust, deny)) == OFP_EXIT_OK &&
	    (rv = write_batch_key(v, dir)) == OFP_EXIT_OK && gate_conf_save(dir, conf, err, sizeof(err)) != 0)
		rv = ofp_fail("%s", err);
	versions[0] = offpass_verifier_trust_version(v);
	versions[1] = offpass_verifier_deny_version(v);
	offpass_verifier_close(v);
	return rv;
}

static int move_into_place(const char *tmp, const char *dir)
{
	int rv;

	if (rename(tmp, dir) != 0)
		return ofp_fail("%s: %s", dir,
				errno == ENOTEMPTY || errno == EEXIST ? "no longer empty" : strerror(errno));
	rv = fsync_parent_dir(dir);
	return rv == 0 ? OFP_EXIT_OK : ofp_fail("%s: %s", dir, strerror(-rv));
}

static void print_init(const gate_conf_t *conf, const uint64_t versions[2])
{
	const char *dir = gate_opt.dir;
	char id[17];

	hex_encode(conf->verifier_id, sizeof(conf->verifier_id), id);
	printf("gate initialised in %s\n", dir);
	printf("verifier id: %s\n", id);
	printf("trust list: version %llu\n", (unsigned long long)versions[0]);
	if (versions[1] != 0)
		printf("deny list: version %llu\n", (unsigned long long)versions[1]);
	printf("batch-signing key: private in %s, public in %s/%s\n", dir, dir, GATE_BATCH_KEY_NAME);
	printf("register the gate at the issuer: offpass-issuer gate add --id %s --key %s/%s\n", id, dir,
	       GATE_BATCH_KEY_NAME);
}

int gate_cmd_init(int argc, char **argv)
{
	static const struct option longopts[] = {
		GATE_COMMON_OPTIONS,
		{ "trust", required_argument, NULL, GATE_OPT_TRUST },
		{ "deny", required_argument, NULL, GATE_OPT_DENY },
		{ "deny-max-age", required_argument, NULL, GATE_OPT_DENY_MAX_AGE },
		{ "stale-max", required_argument, NULL, GATE_OPT_STALE_MAX },
		{ "id", required_argument, NULL, GATE_OPT_ID },
		{ "resource", required_argument, NULL, GATE_OPT_RESOURCE },
		{ "fare", required_argument, NULL, GATE_OPT_FARE },
		{ "till", no_argument, NULL, GATE_OPT_TILL },
		{ "allow-zero", no_argument, NULL, GATE_OPT_ALLOW_ZERO },
		{ "skew", required_argument, NULL, GATE_OPT_SKEW },
		{ "freshness", required_argument, NULL, GATE_OPT_FRESHNESS },
		{ NULL, 0, NULL, 0 },
	};
	init_args_t args = { NULL, NULL };
	gate_list_t trust = { NULL, NULL, 0 }, deny = { NULL, NULL, 0 };
	char tmp[PATH_MAX];
	uint64_t versions[2] = { 0, 0 };
	gate_conf_t conf;
	int rv = gate_getopt(argc, argv, longopts, init_help, gate_init_option, &args);

	if (rv != -1)
		return rv;
	if (optind != argc)
		return ofp_usage("init: unexpected argument '%s'", argv[optind]);
	if (args.trust == NULL)
		return ofp_usage("init: --trust FILE is required (the issuer's trust list)");
	if ((rv = gate_need_dir()) != OFP_EXIT_OK || (rv = init_conf(&conf)) != OFP_EXIT_OK ||
	    (rv = check_target(gate_opt.dir)) != OFP_EXIT_OK)
		return rv;
	if ((rv = read_list_file(args.trust, true, &trust)) != OFP_EXIT_OK ||
	    (args.deny != NULL && (rv = read_list_file(args.deny, false, &deny)) != OFP_EXIT_OK) ||
	    (rv = make_staging(gate_opt.dir, tmp, sizeof(tmp))) != OFP_EXIT_OK)
		goto out;
	rv = build_gate(tmp, &conf, &trust, &deny, versions);
	if (rv == OFP_EXIT_OK)
		rv = move_into_place(tmp, gate_opt.dir);
	if (rv != OFP_EXIT_OK)
		remove_staging(tmp);
	else
		print_init(&conf, versions);
out:
	free(trust.data);
	free(deny.data);
	return rv;
}
