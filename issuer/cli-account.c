/* cli-account.c - offpass-issuer account: open, credit, credit-line, show,
 * history. */
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
	{ "open", "open an account; prints the holder id and an enrollment code", cmd_account_open },
	{ "code", "a new enrollment code (lost key, second device, expired code)", cmd_account_code },
	{ "credit", "add to the balance", cmd_account_credit },
	{ "credit-line", "set the credit line", cmd_account_credit_line },
	{ "show", "balance, credit line, flags", cmd_account_show },
	{ "history", "every change, oldest first", cmd_account_history },
};

int cmd_account(int argc, char **argv)
{
	return dispatch("account", account_commands, OFP_ARRAY_LEN(account_commands), argc, argv);
}

