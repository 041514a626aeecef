/* cli-common.c - offpass-issuer: the global options and the helpers every
 * command uses (see cli-issuer.h). */
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

struct cli_globals g;

const char global_help[] =
	"Options (before or after the command):\n"
	"  --dir DIR        the issuer directory (default: $OFFPASS_ISSUER_DIR)\n"
	"  --ledger URL     the ledger: a PostgreSQL URL (postgresql://...) or an SQLite file\n"
	"                   (default: issuer.conf's ledger, else ledger.db in DIR; at init:\n"
	"                   kept in issuer.conf)\n"
	"  --pin-file FILE  the issuer token's user PIN from the first line of FILE\n"
	"  --pin-env VAR    the PIN from the environment variable VAR\n"
	"                   (neither: the URI's pin-source (or pin-value in a --config file; never\n"
	"                   on the command line), else a prompt without echo;\n"
	"                   only commands that use a key ask for it)\n";

uint32_t now(void)
{
	return ofp_clock_now(&g.clock);
}

/* A global option: 0 when handled, else an exit status. */
int global_option(int c, const char *arg)
{
	switch (c) {
	case OPT_DIR:
		g.dir = arg;
		return 0;
	case OPT_LEDGER:
		g.ledger = arg;
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

int usage_text(const char *text)
{
	printf("%s\n%s", text, global_help);
	return OFP_EXIT_OK;
}

/* Parse the options of a command that has none of its own besides the
 * global ones; *rc is set when the command must return now. */
bool plain_options(int argc, char **argv, const char *help, int *rc)
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

int report(ofp_issuer_rc_t rc, const char *msg)
{
	if (rc != OFP_ISSUER_OK)
		fprintf(stderr, "%s: %s\n", PROG, msg);
	return (int)rc;
}

int open_issuer(ofp_issuer_t **iss)
{
	ofp_issuer_args_t a = { .dir = g.dir, .now = now(), .pin_file = g.pin_file, .pin_env = g.pin_env, .ledger = g.ledger };
	char err[1024];

	*iss = NULL;
	if (g.dir == NULL)
		return ofp_usage("no issuer directory: give --dir DIR or set OFFPASS_ISSUER_DIR");
	return report(ofp_issuer_open(&a, iss, err, sizeof(err)), err);
}

void print_time(const char *label, uint32_t t)
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
int write_out(const char *path, const uint8_t *data, size_t len)
{
	int rc = output_file_write(path, data, len, 0644);

	if (rc != 0)
		return ofp_fail("%s: %s", path, atomic_file_strerror(rc));
	return OFP_EXIT_OK;
}

/* A file an operator hands in: its errors are refusals of that input. */
int read_input(const char *path, size_t max, const char *what, uint8_t **data, size_t *len)
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

int account_args(int argc, char **argv, int want, const char *help)
{
	int rc = OFP_EXIT_OK;

	if (!plain_options(argc, argv, help, &rc))
		return rc < 0 ? OFP_EXIT_USAGE : rc == OFP_EXIT_OK ? -1 : rc;
	if (argc - optind != want)
		return ofp_usage("account %s: expected %d argument%s", argv[0], want, want == 1 ? "" : "s");
	return OFP_EXIT_OK;
}

int ledger_report(ofp_issuer_t *iss, int lrc)
{
	if (lrc == OFP_LEDGER_OK)
		return OFP_EXIT_OK;
	fprintf(stderr, "%s: %s\n", PROG, ofp_ledger_error(ofp_issuer_ledger(iss)));
	return lrc == OFP_LEDGER_ERROR ? OFP_EXIT_FAILURE : OFP_EXIT_REFUSED;
}

/* A second level of commands (account, gate, deny). */
int dispatch(const char *group, const ofp_cmd_t *cmds, size_t n, int argc, char **argv)
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

