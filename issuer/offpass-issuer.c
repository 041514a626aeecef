/* offpass-issuer.c - the issuer's command-line tool: a commands[] table
 * over libofpissuer (issuer/issuer.h). Everything that decides lives in the
 * library; this file reads options and files and prints. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "issuer/cli-issuer.h"
#include "p11client.h"

/* ---- init, rollover, lists, status --------------------------------------------------- */

static const char init_help[] =
	"Usage: " PROG " --dir DIR init [--module PATH] [--token-label LABEL | --uri URI] [--config FILE]\n"
	"Create the issuer directory: generate the sealing key and the first signing key on the token,\n"
	"create the ledger, and write issuer.conf, trust.bin and deny.bin.\n"
	"  --module PATH        PKCS#11 module (default: $OFFPASS_PKCS11_MODULE, else offpass-p11.so)\n"
	"  --token-label LABEL  the token with this label\n"
	"  --uri URI            the token by PKCS#11 URI (RFC 7512)\n"
	"  --config FILE        initial settings (issuer.conf syntax); the options above override it\n";

static bool copy_setting(char *dst, size_t cap, const char *value, const char *name)
{
	if (strlen(value) >= cap) {
		ofp_usage("--%s: longer than %zu characters", name, cap - 1);
		return false;
	}
	memcpy(dst, value, strlen(value) + 1);
	return true;
}

static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS,
					      { "module", required_argument, NULL, OPT_MODULE },
					      { "token-label", required_argument, NULL, OPT_TOKEN_LABEL },
					      { "uri", required_argument, NULL, OPT_URI },
					      { "config", required_argument, NULL, OPT_CONFIG },
					      { 0 } };
	const char *module = NULL, *label = NULL, *uri = NULL, *config = NULL;
	ofp_issuer_args_t a = { 0 };
	ofp_issuer_config_t cfg;
	ofp_issuer_t *iss = NULL;
	char err[1024];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': return usage_text(init_help);
		case OPT_MODULE: module = optarg; break;
		case OPT_TOKEN_LABEL: label = optarg; break;
		case OPT_URI:
			if (ofp_p11_uri_argument_check(optarg, "init --uri", err, sizeof(err)) != 0)
				return ofp_usage("%s", err);
			uri = optarg;
			break;
		case OPT_CONFIG: config = optarg; break;
		default:
			rc = global_option(c, optarg);
			if (rc != 0)
				return rc;
		}
	}
	if (optind != argc)
		return ofp_usage("init: unexpected argument '%s'", argv[optind]);
	if (g.dir == NULL)
		return ofp_usage("init: no issuer directory: give --dir DIR or set OFFPASS_ISSUER_DIR");
	if (label != NULL && uri != NULL)
		return ofp_usage("init: give --token-label or --uri, not both");
	ofp_issuer_config_defaults(&cfg);
	if (config != NULL && ofp_issuer_config_load(config, &cfg, err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	if ((module != NULL && !copy_setting(cfg.module, sizeof(cfg.module), module, "module")) ||
	    (label != NULL && !copy_setting(cfg.token_label, sizeof(cfg.token_label), label, "token-label")) ||
	    (uri != NULL && !copy_setting(cfg.uri, sizeof(cfg.uri), uri, "uri")))
		return OFP_EXIT_USAGE;
	if (label != NULL)
		cfg.uri[0] = '\0';
	if (uri != NULL)
		cfg.token_label[0] = '\0';
	a.dir = g.dir;
	a.now = now();
	a.pin_file = g.pin_file;
	a.pin_env = g.pin_env;
	a.ledger = g.ledger;
	rc = report(ofp_issuer_init(&a, &cfg, &iss, err, sizeof(err)), err);
	if (rc != OFP_EXIT_OK)
		return rc;
	printf("issuer initialised in %s: sealing key and signing key 1 on the token;\n"
	       "give verifiers %s/%s (trust list) and %s/%s (deny list)\n",
	       g.dir, g.dir, OFP_ISSUER_TRUST, g.dir, OFP_ISSUER_DENY);
	ofp_issuer_close(iss);
	return OFP_EXIT_OK;
}

static int cmd_rollover(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	ofp_ledger_key_t k;
	char kid[2 * OFP_KEY_ID_LEN + 1];
	int rc = OFP_EXIT_OK;

	if (!plain_options(argc, argv,
			   "Usage: " PROG " --dir DIR rollover\n"
			   "Generate the next signing key; new credentials are signed with it. The old keys stay in\n"
			   "the trust list until their not_after. Rewrites trust.bin (a new version, signed by the\n"
			   "oldest valid key, so that verifiers holding the old list accept it).\n",
			   &rc))
		return rc;
	if (optind != argc)
		return ofp_usage("rollover: unexpected argument '%s'", argv[optind]);
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_rollover(iss, &k), ofp_issuer_error(iss));
	if (rc == OFP_EXIT_OK) {
		hex_encode(k.kid, OFP_KEY_ID_LEN, kid);
		printf("new signing key '%s' (key id %s), trusted until %" PRIu32 "; trust list rewritten\n", k.label,
		       kid, k.not_after);
	}
	ofp_issuer_close(iss);
	return rc;
}

/* trust-list and deny-list: -o FILE. */
static int export_list(int argc, char **argv, bool trust)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { "output", required_argument, NULL, 'o' }, { 0 } };
	const char *out = NULL;
	ofp_issuer_t *iss = NULL;
	uint8_t *list = NULL;
	size_t len = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (c == 'h')
			return usage_text(trust ? "Usage: " PROG " --dir DIR trust-list -o FILE\n"
						  "Write the signed trust list (a new version first when a key has expired).\n"
						: "Usage: " PROG " --dir DIR deny-list -o FILE\n"
						  "Write the signed deny list (the same entries signed again first when it\n"
						  "was issued an hour ago or more: gates refuse an old one).\n");
		if (c == 'o') {
			out = optarg;
			continue;
		}
		rc = global_option(c, optarg);
		if (rc != 0)
			return rc;
	}
	if (out == NULL || optind != argc)
		return ofp_usage("%s: give -o FILE and nothing else", argv[0]);
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(trust ? ofp_issuer_trust_list(iss, &list, &len) : ofp_issuer_deny_list(iss, &list, &len),
			    ofp_issuer_error(iss));
	if (rc == OFP_EXIT_OK)
		rc = write_out(out, list, len);
	free(list);
	ofp_issuer_close(iss);
	return rc;
}

static int cmd_trust_list(int argc, char **argv)
{
	return export_list(argc, argv, true);
}

static int cmd_deny_list(int argc, char **argv)
{
	return export_list(argc, argv, false);
}

static void print_list_version(ofp_issuer_t *iss, const char *name, bool trust)
{
	uint8_t *list = NULL;
	size_t len = 0;
	uint64_t version = 0;
	ofp_trust_list_t t;
	ofp_deny_list_t d;

	if (trust) {
		if (ofp_ledger_blob_get(ofp_issuer_ledger(iss), OFP_ISSUER_BLOB_TRUST, &list, &len) == OFP_LEDGER_OK &&
		    ofp_trust_list_decode(list, len, &t, NULL) == OFP_FMT_OK)
			version = t.version;
	} else if (ofp_ledger_blob_get(ofp_issuer_ledger(iss), OFP_ISSUER_BLOB_DENY, &list, &len) == OFP_LEDGER_OK &&
		   ofp_deny_list_decode(list, len, &d, NULL) == OFP_FMT_OK) {
		version = d.version;
		printf("%-14s version %" PRIu64 ", %" PRIu32 " entries\n", name, version, d.count);
		free(list);
		return;
	}
	printf("%-14s version %" PRIu64 "\n", name, version);
	free(list);
}

static int cmd_status(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	ofp_ledger_key_t *keys = NULL;
	size_t n = 0;
	int rc = OFP_EXIT_OK;

	if (!plain_options(argc, argv, "Usage: " PROG " --dir DIR status\nShow the keys, lists and settings.\n", &rc))
		return rc;
	if (optind != argc)
		return ofp_usage("status: unexpected argument '%s'", argv[optind]);
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_keys(iss, &keys, &n), ofp_issuer_error(iss));
	if (rc != OFP_EXIT_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char kid[2 * OFP_KEY_ID_LEN + 1];
		hex_encode(keys[i].kid, OFP_KEY_ID_LEN, kid);
		printf("key %-22s id %s  %s  %s  valid %" PRIu32 "..%" PRIu32 "%s\n", keys[i].label, kid,
		       keys[i].usage == OFP_USAGE_SEALING ? "sealing" : "signing",
		       keys[i].alg == OFP_ALG_ED25519 ? "ed25519" : "p256", keys[i].not_before, keys[i].not_after,
		       keys[i].not_after < now() ? "  (expired)" : "");
	}
	print_list_version(iss, "trust list", true);
	print_list_version(iss, "deny list", false);
	printf("%-14s %s\n", "ledger", ofp_ledger_backend(ofp_issuer_ledger(iss)));
	printf("%-14s %" PRId64 " (balance + credit line needed to issue)\n", "threshold",
	       ofp_issuer_config(iss)->threshold);
out:
	free(keys);
	ofp_issuer_close(iss);
	return rc;
}

static const char migrate_help[] =
	"Usage: " PROG " --dir DIR migrate --to URL\n"
	"Copy the SQLite ledger into the empty PostgreSQL database URL (postgresql://...) in one\n"
	"transaction, check every table's rows and the money on both sides, then make it the\n"
	"issuer's ledger (issuer.conf: ledger = URL; ledger.db stays as it was). Stop every\n"
	"offpass-issuerd of this issuer first. A database that holds anything is refused.\n";

static int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { "to", required_argument, NULL, 'T' }, { 0 } };
	const char *to = NULL;
	ofp_issuer_t *iss = NULL;
	ofp_ledger_migration_t m;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return usage_text(migrate_help);
		if (c == 'T') {
			to = optarg;
			continue;
		}
		rc = global_option(c, optarg);
		if (rc != 0)
			return rc;
	}
	if (to == NULL || optind != argc)
		return ofp_usage("migrate: give --to URL and nothing else");
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_migrate(iss, to, &m), ofp_issuer_error(iss));
	if (rc == OFP_EXIT_OK)
		printf("migrated %zu tables, %" PRId64 " rows: %" PRId64 " accounts (balances %" PRId64 "), %" PRId64
		       " charges (%" PRId64 "); issuer.conf now names the PostgreSQL ledger\n",
		       m.tables, m.rows, m.accounts, m.balance_sum, m.charges, m.charge_sum);
	ofp_issuer_close(iss);
	return rc;
}

/* ---- main ------------------------------------------------------------------------------- */

static const ofp_cmd_t commands[] = {
	{ "init", "create the issuer directory, keys, ledger and lists", cmd_init },
	{ "rollover", "add a new signing key (the old stays trusted until its end)", cmd_rollover },
	{ "trust-list", "write the signed trust list: -o FILE", cmd_trust_list },
	{ "deny-list", "write the signed deny list: -o FILE", cmd_deny_list },
	{ "status", "keys, list versions, threshold", cmd_status },
	{ "account", "open|credit|credit-line|show|history", cmd_account },
	{ "issue", "REQUEST -o CREDENTIAL: sign a credential", cmd_issue },
	{ "gate", "add --id HEX --key FILE: register a gate", cmd_gate },
	{ "settle", "BATCH...: settle sealed batches", cmd_settle },
	{ "deny", "holder NAME|HEX | serial N: a new deny list", cmd_deny },
	{ "migrate", "--to URL: move the ledger into PostgreSQL", cmd_migrate },
};

/* Global options before the command; the rest goes to the table. */
int main(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { "version", no_argument, NULL, 'V' }, { 0 } };
	int c, rc;

	g.dir = getenv("OFFPASS_ISSUER_DIR");
	if (g.dir != NULL && g.dir[0] == '\0')
		g.dir = NULL;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V')
			break;
		rc = global_option(c, optarg);
		if (rc != 0)
			return rc;
	}
	if (c == 'h' || c == 'V') {
		char *args[] = { argv[0], c == 'h' ? "--help" : "--version", NULL };
		rc = ofp_cli_main(PROG, "The offpass issuer: keys on a PKCS#11 token, accounts, credentials, settlement.",
				  commands, OFP_ARRAY_LEN(commands), 2, args);
		if (c == 'h')
			printf("\n%s", global_help);
		return rc;
	}
	optind--; /* the command becomes argv[1] for the dispatcher */
	argv[optind] = argv[0];
	return ofp_cli_main(PROG, "The offpass issuer: keys on a PKCS#11 token, accounts, credentials, settlement.",
			    commands, OFP_ARRAY_LEN(commands), argc - optind, argv + optind);
}
