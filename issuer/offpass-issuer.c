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
#include "issuer/issuer.h"

#define PROG "offpass-issuer"

/* Options every command takes, before or after the command name. */
static struct {
	const char *dir, *pin_file, *pin_env;
	ofp_clock_t clock; /* --now */
} g;

enum { OPT_DIR = 0x100, OPT_NOW, OPT_PIN_FILE, OPT_PIN_ENV, OPT_MODULE, OPT_TOKEN_LABEL, OPT_URI, OPT_CONFIG,
       OPT_ID, OPT_KEY, OPT_REPLACE };

#define GLOBAL_OPTIONS                                         \
	{ "dir", required_argument, NULL, OPT_DIR },           \
	{ "now", required_argument, NULL, OPT_NOW },           \
	{ "pin-file", required_argument, NULL, OPT_PIN_FILE }, \
	{ "pin-env", required_argument, NULL, OPT_PIN_ENV },   \
	{ "help", no_argument, NULL, 'h' }

static const char global_help[] =
	"Options (before or after the command):\n"
	"  --dir DIR        the issuer directory (default: $OFFPASS_ISSUER_DIR)\n"
	"  --pin-file FILE  the issuer token's user PIN from the first line of FILE\n"
	"  --pin-env VAR    the PIN from the environment variable VAR\n"
	"                   (neither: the URI's pin-value or pin-source, else a prompt without echo;\n"
	"                   only commands that use a key ask for it)\n";

static uint32_t now(void)
{
	return ofp_clock_now(&g.clock);
}

/* A global option: 0 when handled, else an exit status. */
static int global_option(int c, const char *arg)
{
	switch (c) {
	case OPT_DIR:
		g.dir = arg;
		return 0;
	case OPT_NOW:
		return ofp_clock_option(&g.clock, arg);
	case OPT_PIN_FILE:
		g.pin_file = arg;
		return 0;
	case OPT_PIN_ENV:
		g.pin_env = arg;
		return 0;
	default:
		return OFP_EXIT_USAGE; /* getopt printed why */
	}
}

static int usage_text(const char *text)
{
	printf("%s\n%s", text, global_help);
	return OFP_EXIT_OK;
}

/* Parse the options of a command that has none of its own besides the
 * global ones; *rc is set when the command must return now. */
static bool plain_options(int argc, char **argv, const char *help, int *rc)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			*rc = usage_text(help);
			return false;
		}
		*rc = global_option(c, optarg);
		if (*rc != 0)
			return false;
	}
	return true;
}

static int report(ofp_issuer_rc_t rc, const char *msg)
{
	if (rc != OFP_ISSUER_OK)
		fprintf(stderr, "%s: %s\n", PROG, msg);
	return (int)rc;
}

static int open_issuer(ofp_issuer_t **iss)
{
	ofp_issuer_args_t a = { .dir = g.dir, .now = now(), .pin_file = g.pin_file, .pin_env = g.pin_env };
	char err[1024];

	*iss = NULL;
	if (g.dir == NULL)
		return ofp_usage("no issuer directory: give --dir DIR or set OFFPASS_ISSUER_DIR");
	return report(ofp_issuer_open(&a, iss, err, sizeof(err)), err);
}

static void print_time(const char *label, uint32_t t)
{
	char buf[32] = "?";
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) != NULL)
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-14s %s (%" PRIu32 ")\n", label, buf, t);
}

/* "-" is standard output; a file is replaced atomically (never a symbolic
 * link; a device or FIFO is written through). */
static int write_out(const char *path, const uint8_t *data, size_t len)
{
	int rc = output_file_write(path, data, len, 0644);

	if (rc != 0)
		return ofp_fail("%s: %s", path, atomic_file_strerror(rc));
	return OFP_EXIT_OK;
}

/* A file an operator hands in: its errors are refusals of that input. */
static int read_input(const char *path, size_t max, const char *what, uint8_t **data, size_t *len)
{
	int rc = file_read_all(path, max, data, len);

	if (rc == -EFBIG) {
		fprintf(stderr, "%s: %s: larger than %zu bytes: not %s\n", PROG, path, max, what);
		return OFP_EXIT_REFUSED;
	}
	if (rc != 0)
		return ofp_fail("%s: %s", path, strerror(-rc));
	return OFP_EXIT_OK;
}

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
		case OPT_URI: uri = optarg; break;
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
						  "Write the signed deny list as last published.\n");
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
	} else if (ofp_issuer_deny_list(iss, &list, &len) == OFP_ISSUER_OK &&
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
	printf("%-14s %" PRId64 " (balance + credit line needed to issue)\n", "threshold",
	       ofp_issuer_config(iss)->threshold);
out:
	free(keys);
	ofp_issuer_close(iss);
	return rc;
}

/* ---- accounts --------------------------------------------------------------------------- */

static int account_args(int argc, char **argv, int want, const char *help)
{
	int rc = OFP_EXIT_OK;

	if (!plain_options(argc, argv, help, &rc))
		return rc < 0 ? OFP_EXIT_USAGE : rc == OFP_EXIT_OK ? -1 : rc;
	if (argc - optind != want)
		return ofp_usage("account %s: expected %d argument%s", argv[0], want, want == 1 ? "" : "s");
	return OFP_EXIT_OK;
}

static bool parse_amount(const char *s, int64_t *out)
{
	uint64_t v;

	if (ofp_parse_u64(s, (uint64_t)OFP_AMOUNT_MAX, &v) != 0)
		return false;
	*out = (int64_t)v;
	return true;
}

static void print_account(ofp_issuer_t *iss, const ofp_account_t *a)
{
	char hex[2 * OFP_ID_LEN + 1];
	int64_t uses = 0;

	hex_encode(a->holder_id, OFP_ID_LEN, hex);
	printf("%-14s %s\n%-14s %s\n", "account", a->name, "holder id", hex);
	printf("%-14s %" PRId64 "\n%-14s %" PRId64 "\n", "balance", a->balance, "credit line", a->credit_line);
	printf("%-14s %" PRId64 " (threshold %" PRId64 ": %s)\n", "available", a->balance + a->credit_line,
	       ofp_issuer_config(iss)->threshold,
	       a->balance + a->credit_line >= ofp_issuer_config(iss)->threshold ? "may be issued a credential"
										: "below, no credential");
	if (ofp_ledger_double_use_count(ofp_issuer_ledger(iss), a->holder_id, &uses) != OFP_LEDGER_OK)
		uses = -1;
	printf("%-14s %s", "flagged", a->flagged ? "yes" : "no");
	if (uses > 0)
		printf(" (%" PRId64 " double use%s)", uses, uses == 1 ? "" : "s");
	printf("\n");
	print_time("opened", a->opened);
}

static int account_cmd(int argc, char **argv, const char *help, int want,
		       int (*fn)(ofp_issuer_t *iss, char **args))
{
	ofp_issuer_t *iss = NULL;
	int rc = account_args(argc, argv, want, help);

	if (rc == -1)
		return OFP_EXIT_OK; /* --help */
	if (rc != OFP_EXIT_OK)
		return rc;
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = fn(iss, argv + optind);
	ofp_issuer_close(iss);
	return rc;
}

static int ledger_report(ofp_issuer_t *iss, int lrc)
{
	if (lrc == OFP_LEDGER_OK)
		return OFP_EXIT_OK;
	fprintf(stderr, "%s: %s\n", PROG, ofp_ledger_error(ofp_issuer_ledger(iss)));
	return lrc == OFP_LEDGER_ERROR ? OFP_EXIT_FAILURE : OFP_EXIT_REFUSED;
}

static int do_open(ofp_issuer_t *iss, char **args)
{
	ofp_account_t a;
	char hex[2 * OFP_ID_LEN + 1];
	int rc = ledger_report(iss, ofp_ledger_account_open(ofp_issuer_ledger(iss), args[0], now(), &a));

	if (rc != OFP_EXIT_OK)
		return rc;
	hex_encode(a.holder_id, OFP_ID_LEN, hex);
	printf("%s\n", hex);
	return OFP_EXIT_OK;
}

static int do_credit(ofp_issuer_t *iss, char **args)
{
	ofp_account_t a;
	int64_t amount;
	int rc;

	if (!parse_amount(args[1], &amount) || amount == 0)
		return ofp_usage("account credit: amount '%s': an integer 1..%lld (minor units)", args[1],
				 (long long)OFP_AMOUNT_MAX);
	rc = ledger_report(iss, ofp_ledger_credit(ofp_issuer_ledger(iss), args[0], amount, now(), &a));
	if (rc == OFP_EXIT_OK)
		printf("account '%s': credited %" PRId64 ", balance %" PRId64 "\n", a.name, amount, a.balance);
	return rc;
}

static int do_credit_line(ofp_issuer_t *iss, char **args)
{
	ofp_account_t a;
	int64_t amount;
	int rc;

	if (!parse_amount(args[1], &amount))
		return ofp_usage("account credit-line: amount '%s': an integer 0..%lld (minor units)", args[1],
				 (long long)OFP_AMOUNT_MAX);
	rc = ledger_report(iss, ofp_ledger_set_credit_line(ofp_issuer_ledger(iss), args[0], amount, now(), &a));
	if (rc == OFP_EXIT_OK)
		printf("account '%s': credit line %" PRId64 "\n", a.name, a.credit_line);
	return rc;
}

static int do_show(ofp_issuer_t *iss, char **args)
{
	ofp_account_t a;
	int rc = ledger_report(iss, ofp_ledger_account_get(ofp_issuer_ledger(iss), args[0], &a));

	if (rc == OFP_EXIT_OK)
		print_account(iss, &a);
	return rc;
}

static int print_history(void *ctx, const ofp_history_entry_t *e)
{
	char buf[32] = "?";
	time_t t = (time_t)e->time;
	struct tm tm;

	(void)ctx;
	if (gmtime_r(&t, &tm) != NULL)
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s  %-11s %+16" PRId64 " %16" PRId64 "  %s\n", buf, e->kind, e->amount, e->balance, e->ref);
	return 0;
}

static int do_history(ofp_issuer_t *iss, char **args)
{
	printf("%-20s  %-11s %16s %16s  %s\n", "time (UTC)", "kind", "amount", "balance", "reference");
	return ledger_report(iss, ofp_ledger_history(ofp_issuer_ledger(iss), args[0], print_history, NULL));
}

static int cmd_account_open(int argc, char **argv)
{
	return account_cmd(argc, argv,
			   "Usage: " PROG " --dir DIR account open NAME\n"
			   "Open an account (balance 0, credit line 0); prints its new holder id (hex), which the\n"
			   "holder gives to 'offpass-holder enroll --holder-id'.\n",
			   1, do_open);
}

static int cmd_account_credit(int argc, char **argv)
{
	return account_cmd(argc, argv,
			   "Usage: " PROG " --dir DIR account credit NAME AMOUNT\nTop up: add AMOUNT (minor units).\n", 2,
			   do_credit);
}

static int cmd_account_credit_line(int argc, char **argv)
{
	return account_cmd(argc, argv,
			   "Usage: " PROG " --dir DIR account credit-line NAME AMOUNT\n"
			   "Set the credit line: how far below zero the balance may be and still count for issuance.\n",
			   2, do_credit_line);
}

static int cmd_account_show(int argc, char **argv)
{
	return account_cmd(argc, argv, "Usage: " PROG " --dir DIR account show NAME\n", 1, do_show);
}

static int cmd_account_history(int argc, char **argv)
{
	return account_cmd(argc, argv, "Usage: " PROG " --dir DIR account history NAME\n", 1, do_history);
}

static const ofp_cmd_t account_commands[] = {
	{ "open", "open an account; prints the holder id", cmd_account_open },
	{ "credit", "add to the balance", cmd_account_credit },
	{ "credit-line", "set the credit line", cmd_account_credit_line },
	{ "show", "balance, credit line, flags", cmd_account_show },
	{ "history", "every change, oldest first", cmd_account_history },
};

/* A second level of commands (account, gate, deny). */
static int dispatch(const char *group, const ofp_cmd_t *cmds, size_t n, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("Usage: %s %s COMMAND ...\n\n", PROG, group);
		for (size_t i = 0; i < n; i++)
			printf("  %-12s %s\n", cmds[i].name, cmds[i].summary);
		return argc < 2 ? OFP_EXIT_USAGE : OFP_EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			optind = 0;
			return cmds[i].run(argc - 1, argv + 1);
		}
	}
	return ofp_usage("%s: unknown command '%s'", group, argv[1]);
}

static int cmd_account(int argc, char **argv)
{
	return dispatch("account", account_commands, OFP_ARRAY_LEN(account_commands), argc, argv);
}

/* ---- issue ------------------------------------------------------------------------------ */

static const char issue_help[] =
	"Usage: " PROG " --dir DIR issue REQUEST -o CREDENTIAL\n"
	"Check an enrollment request (offpass-holder enroll) and write a credential for it, signed with\n"
	"the current signing key. Refused (exit 3), saying why, when the request is malformed or its\n"
	"proof of possession fails, when no account has its holder id, when the holder or its key is\n"
	"denied, or when balance + credit line is below the threshold of issuer.conf.\n";

static void print_credential(const ofp_credential_t *c)
{
	char hex[2 * OFP_ID_LEN + 1];

	hex_encode(c->holder_id, OFP_ID_LEN, hex);
	printf("credential serial %" PRIu64 " for holder %s\n", c->serial, hex);
	print_time("valid from", c->not_before);
	print_time("valid until", c->not_after);
	printf("%-14s resource class %" PRIu16 ", per operation %" PRIu32 ", offline total %" PRIu32 "\n", "grant",
	       c->grant.resource_class, c->grant.per_op_max, c->grant.offline_total);
}

static int cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { "output", required_argument, NULL, 'o' }, { 0 } };
	const char *out = NULL;
	ofp_issuer_t *iss = NULL;
	uint8_t *req = NULL, cred[OFP_CREDENTIAL_MAX];
	size_t req_len = 0, cred_len = 0;
	ofp_credential_t c;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (ch == 'h')
			return usage_text(issue_help);
		if (ch == 'o') {
			out = optarg;
			continue;
		}
		rc = global_option(ch, optarg);
		if (rc != 0)
			return rc;
	}
	if (argc - optind != 1 || out == NULL)
		return ofp_usage("issue: give REQUEST and -o CREDENTIAL");
	rc = read_input(argv[optind], OFP_ENROLLMENT_MAX, "an enrollment request", &req, &req_len);
	if (rc == OFP_EXIT_OK)
		rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_issue(iss, req, req_len, cred, &cred_len, &c), ofp_issuer_error(iss));
	if (rc == OFP_EXIT_OK)
		rc = write_out(out, cred, cred_len);
	/* With -o - standard output carries the credential alone. */
	if (rc == OFP_EXIT_OK && strcmp(out, "-") != 0)
		print_credential(&c);
	free(req);
	ofp_issuer_close(iss);
	return rc;
}

/* ---- gates ------------------------------------------------------------------------------ */

static const char gate_add_help[] =
	"Usage: " PROG " --dir DIR gate add --id HEX --key FILE [--replace]\n"
	"Register a gate (verifier id, 16 hex digits) and the public key that signs its batches\n"
	"(offpass-gate pubkey -o FILE: 65 raw bytes; PEM, DER, 33/32 raw bytes or hex also do).\n"
	"  --replace   give a registered gate a new key\n";

static int cmd_gate_add(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS,
					      { "id", required_argument, NULL, OPT_ID },
					      { "key", required_argument, NULL, OPT_KEY },
					      { "replace", no_argument, NULL, OPT_REPLACE },
					      { 0 } };
	const char *id_hex = NULL, *key_path = NULL;
	uint8_t id[OFP_ID_LEN], *key = NULL;
	size_t key_len = 0;
	bool replace = false;
	ofp_issuer_t *iss = NULL;
	ofp_gate_t gate;
	char kid[2 * OFP_KEY_ID_LEN + 1];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': return usage_text(gate_add_help);
		case OPT_ID: id_hex = optarg; break;
		case OPT_KEY: key_path = optarg; break;
		case OPT_REPLACE: replace = true; break;
		default:
			rc = global_option(c, optarg);
			if (rc != 0)
				return rc;
		}
	}
	if (id_hex == NULL || key_path == NULL || optind != argc)
		return ofp_usage("gate add: give --id HEX and --key FILE");
	if (hex_decode(id_hex, id, sizeof(id)) != 0)
		return ofp_usage("gate add: --id '%s': expected 16 hex digits", id_hex);
	rc = read_input(key_path, 4096, "a public key", &key, &key_len);
	if (rc == OFP_EXIT_OK)
		rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK) {
		rc = report(ofp_issuer_gate_add(iss, id, key, key_len, replace, &gate), ofp_issuer_error(iss));
		if (rc != OFP_EXIT_OK && strstr(ofp_issuer_error(iss), "gate key:") != NULL)
			fprintf(stderr, "%s: (in %s)\n", PROG, key_path);
	}
	if (rc == OFP_EXIT_OK) {
		hex_encode(gate.kid, OFP_KEY_ID_LEN, kid);
		printf("gate %s registered with %s key id %s\n", id_hex, gate.alg == OFP_ALG_ED25519 ? "Ed25519" : "P-256",
		       kid);
	}
	free(key);
	ofp_issuer_close(iss);
	return rc;
}

static const ofp_cmd_t gate_commands[] = {
	{ "add", "register a gate's batch-signing key", cmd_gate_add },
};

static int cmd_gate(int argc, char **argv)
{
	return dispatch("gate", gate_commands, OFP_ARRAY_LEN(gate_commands), argc, argv);
}

/* ---- settle ----------------------------------------------------------------------------- */

static void print_note(void *ctx, const ofp_settle_note_t *n)
{
	(void)ctx;
	printf("  %s: %s\n", n->kind == OFP_SETTLE_GAP || n->kind == OFP_SETTLE_CHAIN ? "warning" : "note", n->text);
}

static void print_report(const char *path, const ofp_settle_report_t *r)
{
	char vid[2 * OFP_ID_LEN + 1];

	hex_encode(r->verifier_id, OFP_ID_LEN, vid);
	if (r->already_settled) {
		printf("%s: gate %s batch %" PRIu64 ": already settled; nothing debited\n", path, vid, r->sequence);
		return;
	}
	printf("%s: gate %s batch %" PRIu64 ": %" PRIu32 " records, %" PRIu32 " charged (total %" PRIu64
	       "), %" PRIu32 " refusals, %" PRIu32 " rejected, %" PRIu32 " double uses, %" PRIu32 " unknown holders\n",
	       path, vid, r->sequence, r->records, r->charged, r->amount_charged, r->refused, r->rejected,
	       r->double_uses, r->unknown_holders);
}

static int settle_one(ofp_issuer_t *iss, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	ofp_settle_report_t r;
	int rc = read_input(path, (size_t)OFP_BATCH_MAX + OFP_SEALED_BATCH_OVERHEAD, "a sealed batch", &data, &len);

	if (rc != OFP_EXIT_OK)
		return rc;
	rc = (int)ofp_issuer_settle(iss, data, len, print_note, NULL, &r);
	if (rc == OFP_EXIT_OK)
		print_report(path, &r);
	else
		fprintf(stderr, "%s: %s: %s; nothing settled\n", PROG, path, ofp_issuer_error(iss));
	free(data);
	return rc;
}

static int cmd_settle(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	int rc = OFP_EXIT_OK, worst = OFP_EXIT_OK;

	if (!plain_options(argc, argv,
			   "Usage: " PROG " --dir DIR settle BATCH...\n"
			   "Settle sealed batches from gates (offpass-gate export), each in one transaction: the\n"
			   "same batch twice debits once; each operate record is re-verified and charged once per\n"
			   "holder and counter (a second use is reported and the account flagged); gaps in a gate's\n"
			   "sequence and breaks in its journal chain are reported. Exit 3 if a batch was refused.\n",
			   &rc))
		return rc;
	if (optind == argc)
		return ofp_usage("settle: give at least one BATCH file");
	rc = open_issuer(&iss);
	if (rc != OFP_EXIT_OK)
		return rc;
	for (int i = optind; i < argc; i++) {
		rc = settle_one(iss, argv[i]);
		/* Failure (1) outranks a refusal (3): the operator must look. */
		if (rc == OFP_EXIT_FAILURE || (rc != OFP_EXIT_OK && worst == OFP_EXIT_OK))
			worst = rc;
	}
	ofp_issuer_close(iss);
	return worst;
}

/* ---- deny ------------------------------------------------------------------------------- */

static void print_deny(const char *what, bool added, uint64_t version)
{
	if (added)
		printf("%s denied: deny list version %" PRIu64 " written to %s/%s\n", what, version, g.dir,
		       OFP_ISSUER_DENY);
	else
		printf("%s is on the deny list already (version %" PRIu64 "); nothing changed\n", what, version);
}

static int cmd_deny_holder(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	uint64_t version = 0;
	bool added = false;
	char what[128];
	int rc = account_args(argc, argv, 1,
			      "Usage: " PROG " --dir DIR deny holder NAME|HOLDER-ID\n"
			      "Put a holder on the deny list: verifiers refuse all its credentials, and no new one is\n"
			      "issued. (A lost key: deny its credential's serial and enroll a new key instead.)\n");

	if (rc == -1)
		return OFP_EXIT_OK;
	if (rc != OFP_EXIT_OK)
		return rc;
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_deny_holder(iss, argv[optind], &added, &version), ofp_issuer_error(iss));
	snprintf(what, sizeof(what), "holder '%.64s'", argv[optind]);
	if (rc == OFP_EXIT_OK)
		print_deny(what, added, version);
	ofp_issuer_close(iss);
	return rc;
}

static int cmd_deny_serial(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	uint64_t serial, version = 0;
	bool added = false;
	char what[64];
	int rc = account_args(argc, argv, 1,
			      "Usage: " PROG " --dir DIR deny serial N\n"
			      "Put credential N on the deny list (a lost or stolen key): verifiers refuse it, and its\n"
			      "holder key gets no new credential. The account and its balance stay; the holder\n"
			      "enrolls a new key.\n");

	if (rc == -1)
		return OFP_EXIT_OK;
	if (rc != OFP_EXIT_OK)
		return rc;
	if (ofp_parse_u64(argv[optind], UINT64_MAX, &serial) != 0)
		return ofp_usage("deny serial: '%s' is not a serial number", argv[optind]);
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_deny_serial(iss, serial, &added, &version), ofp_issuer_error(iss));
	snprintf(what, sizeof(what), "credential %" PRIu64, serial);
	if (rc == OFP_EXIT_OK)
		print_deny(what, added, version);
	ofp_issuer_close(iss);
	return rc;
}

static const ofp_cmd_t deny_commands[] = {
	{ "holder", "deny a holder (account name or holder id)", cmd_deny_holder },
	{ "serial", "deny one credential (lost key)", cmd_deny_serial },
};

static int cmd_deny(int argc, char **argv)
{
	return dispatch("deny", deny_commands, OFP_ARRAY_LEN(deny_commands), argc, argv);
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
