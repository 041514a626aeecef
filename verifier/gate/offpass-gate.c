/* offpass-gate.c - a gate over liboffpass-verifier, for tests, demos and
 * as an example for integrators: init, check, export, update, pubkey,
 * status. The decisions are the library's; this file reads options,
 * files and images and prints results. */
#include "config.h"
#include "gatecli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "hex.h"
#include "format/format.h"

gate_globals_t gate_opt;

int gate_need_dir(void)
{
	if (gate_opt.dir == NULL || *gate_opt.dir == '\0')
		return ofp_usage("no state directory: give --dir DIR (or set OFFPASS_GATE_DIR)");
	return OFP_EXIT_OK;
}

uint32_t gate_now(void)
{
	return ofp_clock_now(&gate_opt.clock);
}

int gate_status_exit(offpass_status_t st)
{
	return st == OFFPASS_STATUS_REJECTED ? OFP_EXIT_REFUSED : OFP_EXIT_FAILURE;
}

int gate_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
	int rv = output_file_write(path, data, len, (mode_t)mode);

	return rv == 0 ? OFP_EXIT_OK : ofp_fail("%s: %s", path, atomic_file_strerror(rv));
}

int gate_open_dir(const char *dir, const gate_conf_t *conf, offpass_verifier_t **v)
{
	offpass_verifier_config_t cfg;
	char err[256];

	offpass_verifier_config_init(&cfg);
	cfg.state_dir = dir;
	memcpy(cfg.verifier_id, conf->verifier_id, sizeof(cfg.verifier_id));
	cfg.resource_class = conf->resource_class;
	cfg.clock_skew = conf->clock_skew;
	cfg.freshness = conf->freshness;
	cfg.fare_mode = conf->mode == GATE_MODE_TILL ? OFFPASS_FARE_TILL : OFFPASS_FARE_FIXED;
	cfg.fare = conf->fare;
	cfg.flags = conf->allow_zero ? OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT : 0;
	if (conf->deny_max_age == 0)
		cfg.flags |= OFFPASS_CONFIG_NO_DENY_MAX_AGE;
	else
		cfg.deny_max_age = conf->deny_max_age;
	cfg.stale_deny_operation_max = conf->stale_operation_max;
	if (offpass_verifier_open(&cfg, v, err, sizeof(err)) != OFFPASS_STATUS_OK)
		return ofp_fail("%s: %s", dir, err);
	return OFP_EXIT_OK;
}

int gate_load_conf(gate_conf_t *conf)
{
	char err[256];
	int rv = gate_need_dir();

	if (rv != OFP_EXIT_OK)
		return rv;
	if (gate_conf_load(gate_opt.dir, conf, err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	return OFP_EXIT_OK;
}

int gate_open(gate_conf_t *conf, offpass_verifier_t **v)
{
	int rv = gate_load_conf(conf);

	return rv != OFP_EXIT_OK ? rv : gate_open_dir(gate_opt.dir, conf, v);
}

int gate_note_time(offpass_verifier_t *v)
{
	offpass_status_t st = offpass_verifier_note_time(v, gate_now());

	if (st == OFFPASS_STATUS_OK)
		return OFP_EXIT_OK;
	ofp_fail("%s: %s", gate_opt.dir, offpass_verifier_error(v));
	return gate_status_exit(st);
}

const char *gate_describe(const uint8_t *data, size_t len, char *buf, size_t cap)
{
	unsigned type = 0;

	if (len == 0)
		snprintf(buf, cap, "an empty file");
	else if (ofp_peek_type(data, len, &type, NULL) == OFP_FMT_ETYPE)
		snprintf(buf, cap, "header byte 0x%02x: not an offpass artifact", data[0]);
	else
		snprintf(buf, cap, "header byte 0x%02x: %s, format version %u", data[0], ofp_type_name(data[0] >> 4u),
			 data[0] & 15u);
	return buf;
}

/* --dir and --now, valid before the command and inside it. */
int gate_common_option(int c, const char *arg)
{
	if (c == GATE_OPT_DIR) {
		gate_opt.dir = arg;
		return -1;
	}
	if (c == GATE_OPT_NOW) {
		int rv = ofp_clock_option(&gate_opt.clock, arg);

		return rv == OFP_EXIT_OK ? -1 : rv;
	}
	return -2;
}

int gate_getopt(int argc, char **argv, const struct option *longopts, const char *help, gate_option_fn handle,
		void *ctx)
{
	int c, rv;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		if (c == 'h') {
			printf("%s", help);
			return OFP_EXIT_OK;
		}
		if (c == '?')
			return ofp_usage("%s: unknown option '%s'", argv[0], argv[optind - 1]);
		if (c == ':')
			return ofp_usage("%s: option '%s' needs a value", argv[0], argv[optind - 1]);
		rv = gate_common_option(c, optarg);
		if (rv == -2)
			rv = handle != NULL ? handle(c, optarg, ctx) : ofp_usage("%s: unexpected option", argv[0]);
		if (rv != -1)
			return rv;
	}
	return -1;
}

/* --- pubkey, status --------------------------------------------------- */

static const char pubkey_help[] =
	"Usage: offpass-gate --dir DIR pubkey [-o FILE]\n"
	"Write the gate's batch-signing public key (65 bytes, uncompressed P-256) to\n"
	"FILE, for 'offpass-issuer gate add --id HEX --key FILE'; without -o, print it\n"
	"in hex.\n";

int gate_output_option(int c, const char *arg, void *ctx)
{
	if (c != GATE_OPT_OUTPUT)
		return ofp_usage("unexpected option");
	*(const char **)ctx = arg;
	return -1;
}

static int cmd_pubkey(int argc, char **argv)
{
	static const struct option longopts[] = {
		GATE_COMMON_OPTIONS,
		{ "output", required_argument, NULL, GATE_OPT_OUTPUT },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	offpass_verifier_t *v = NULL;
	gate_conf_t conf;
	uint8_t pub[65];
	char hex[2 * sizeof(pub) + 1];
	int rv = gate_getopt(argc, argv, longopts, pubkey_help, gate_output_option, &out);

	if (rv != -1)
		return rv;
	if (optind != argc)
		return ofp_usage("pubkey: unexpected argument '%s'", argv[optind]);
	if ((rv = gate_open(&conf, &v)) != OFP_EXIT_OK)
		return rv;
	if (offpass_verifier_public_key(v, pub) != OFFPASS_STATUS_OK) {
		rv = ofp_fail("%s: batch key: %s", gate_opt.dir, offpass_verifier_error(v));
	} else if (out != NULL) {
		rv = gate_write_file(out, pub, sizeof(pub), 0644);
	} else {
		hex_encode(pub, sizeof(pub), hex);
		printf("%s\n", hex);
	}
	offpass_verifier_close(v);
	return rv;
}

static const char status_help[] =
	"Usage: offpass-gate --dir DIR status\n"
	"Show the gate's configuration, the versions of its trust and deny lists, and\n"
	"the deny list's age (at --now) and whether it is too old (VERIFIER.md 3.5).\n"
	"The clock read is kept: a later clock set back behind it is refused (exit 3)\n"
	"by every command that reads it (VERIFIER.md 3.4).\n";

static void print_version(const char *what, uint64_t version)
{
	if (version == 0)
		printf("%-16s none\n", what);
	else
		printf("%-16s version %llu\n", what, (unsigned long long)version);
}

/* "deny list age: 3600 s (issued at T), max 172800 s: fresh" or "STALE". */
static int print_deny_age(offpass_verifier_t *v, const gate_conf_t *conf)
{
	uint32_t now = gate_now(), since = 0;
	int stale = 0;

	if (offpass_verifier_deny_age(v, now, &since, &stale) != OFFPASS_STATUS_OK)
		return ofp_fail("%s: %s", gate_opt.dir, offpass_verifier_error(v));
	if (since == 0) {
		printf("%-16s unknown (no trust list)\n", "deny list age:");
		return OFP_EXIT_OK;
	}
	printf("%-16s %u s (%s issued at %u)", "deny list age:", now > since ? now - since : 0,
	       offpass_verifier_deny_version(v) != 0 ? "deny list" : "no deny list: trust list", since);
	if (conf->deny_max_age == 0)
		printf(", no maximum\n");
	else if (!stale)
		printf(", maximum %u s: fresh\n", conf->deny_max_age);
	else if (conf->stale_operation_max == 0)
		printf(", maximum %u s: STALE, every check is refused until a newer deny list is installed\n",
		       conf->deny_max_age);
	else
		printf(", maximum %u s: STALE, only charges up to %u operate until a newer deny list is installed\n",
		       conf->deny_max_age, conf->stale_operation_max);
	return OFP_EXIT_OK;
}

static int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = { GATE_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	offpass_verifier_t *v = NULL;
	gate_conf_t conf;
	char id[17];
	int rv = gate_getopt(argc, argv, longopts, status_help, NULL, NULL);

	if (rv != -1)
		return rv;
	if (optind != argc)
		return ofp_usage("status: unexpected argument '%s'", argv[optind]);
	if ((rv = gate_open(&conf, &v)) != OFP_EXIT_OK)
		return rv;
	hex_encode(conf.verifier_id, sizeof(conf.verifier_id), id);
	printf("%-16s %s\n", "state:", gate_opt.dir);
	printf("%-16s %s\n", "verifier id:", id);
	printf("%-16s %u\n", "resource class:", conf.resource_class);
	if (conf.mode == GATE_MODE_TILL)
		printf("%-16s till (each check brings its amount)\n", "fare:");
	else
		printf("%-16s %u\n", "fare:", conf.fare);
	printf("%-16s %s\n", "free passage:", conf.allow_zero ? "allowed (a charge of 0 operates)" : "no");
	printf("%-16s %u s\n", "clock skew:", conf.clock_skew);
	printf("%-16s %u s\n", "freshness:", conf.freshness);
	print_version("trust list:", offpass_verifier_trust_version(v));
	print_version("deny list:", offpass_verifier_deny_version(v));
	rv = print_deny_age(v, &conf);
	/* Last: a clock set back still shows the rest of the status. */
	if (rv == OFP_EXIT_OK)
		rv = gate_note_time(v);
	offpass_verifier_close(v);
	return rv;
}

/* --- main ------------------------------------------------------------- */

static const ofp_cmd_t commands[] = {
	{ "init", "create the gate's state with the issuer's trust list", gate_cmd_init },
	{ "check", "check presentations (QR images, raw files, stdin) and journal them", gate_cmd_check },
	{ "export", "seal the journal records not yet exported into a batch for the issuer", gate_cmd_export },
	{ "confirm", "drop the records of a batch the issuer has settled", gate_cmd_confirm },
	{ "update", "install a newer trust list or deny list", gate_cmd_update },
	{ "sync", "upload unconfirmed batches to offpass-issuerd, confirm them, fetch newer lists", gate_cmd_sync },
	{ "pubkey", "write the gate's batch-signing public key", cmd_pubkey },
	{ "status", "show the configuration and list versions", cmd_status },
};

static const char about[] =
	"A gate over liboffpass-verifier: checks offpass presentations offline and\n"
	"journals every decision.\n\n"
	"Global options (before the command):\n"
	"  --dir DIR      the gate's state directory (default: $OFFPASS_GATE_DIR)\n"
	"  --now EPOCH    the clock, in seconds since the epoch (tests)\n"
	"  --id HEX, --resource N, --fare N | --till, --allow-zero, --skew S,\n"
	"  --freshness S, --deny-max-age S|off, --stale-max N  for init\n"
	"  --fare N       also for check: the amount this check charges (till mode),\n"
	"                 or instead of the configured fare (fixed mode)";

/* The options before the command; stops at the command name. */
static int global_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, GATE_OPT_DIR },
		{ "now", required_argument, NULL, GATE_OPT_NOW },
		{ "id", required_argument, NULL, GATE_OPT_ID },
		{ "resource", required_argument, NULL, GATE_OPT_RESOURCE },
		{ "fare", required_argument, NULL, GATE_OPT_FARE },
		{ "till", no_argument, NULL, GATE_OPT_TILL },
		{ "allow-zero", no_argument, NULL, GATE_OPT_ALLOW_ZERO },
		{ "skew", required_argument, NULL, GATE_OPT_SKEW },
		{ "freshness", required_argument, NULL, GATE_OPT_FRESHNESS },
		{ "deny-max-age", required_argument, NULL, GATE_OPT_DENY_MAX_AGE },
		{ "stale-max", required_argument, NULL, GATE_OPT_STALE_MAX },
		{ NULL, 0, NULL, 0 },
	};
	int c, rv;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", longopts, NULL)) != -1) {
		if (c == ':')
			return ofp_usage("option '%s' needs a value", argv[optind - 1]);
		if (c == '?') {
			/* --help, --version and unknown options: the dispatcher's. */
			optind--;
			break;
		}
		rv = gate_common_option(c, optarg);
		if (rv == -2)
			rv = gate_init_option(c, optarg, NULL);
		if (rv != -1)
			return rv;
	}
	return -1;
}

/* The init-only options given before another command. */
static int misplaced_options(const char *cmd)
{
	if (strcmp(cmd, "init") == 0)
		return OFP_EXIT_OK;
	if (gate_opt.id != NULL || gate_opt.resource != NULL || gate_opt.skew != NULL || gate_opt.freshness != NULL ||
	    gate_opt.till || gate_opt.allow_zero || gate_opt.deny_max_age != NULL || gate_opt.stale_max != NULL)
		return ofp_usage("--id, --resource, --till, --allow-zero, --skew, --freshness, --deny-max-age and "
				 "--stale-max are fixed at init (see gate.conf)");
	if (gate_opt.fare != NULL && strcmp(cmd, "check") != 0)
		return ofp_usage("--fare applies to init and check only");
	return OFP_EXIT_OK;
}

int main(int argc, char **argv)
{
	char **rest;
	int rv, n;

	gate_opt.dir = getenv("OFFPASS_GATE_DIR");
	rv = global_options(argc, argv);
	if (rv != -1)
		return rv;
	/* The dispatcher wants argv[0] then the command. */
	n = argc - optind + 1;
	rest = argv + optind - 1;
	rest[0] = argv[0];
	if (n >= 2 && (rv = misplaced_options(rest[1])) != OFP_EXIT_OK)
		return rv;
	return ofp_cli_main("offpass-gate", about, commands, OFP_ARRAY_LEN(commands), n, rest);
}
