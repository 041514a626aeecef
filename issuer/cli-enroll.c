/* cli-enroll.c - offpass-issuer account open and account code: an account
 * and its one-time enrollment code, shown once to the operator (grouped
 * base32 to type, and a QR code to scan) or written to a file for a
 * script. The code is wiped from memory once shown; the ledger keeps only
 * its key. */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "holder/qr.h"
#include "issuer/cli-issuer.h"

enum { OPT_CODE_FILE = 0x200, OPT_PNG, OPT_NO_QR };

typedef struct code_opts {
	const char *code_file; /* write the code here (0600), not to stdout */
	const char *png;       /* the code's QR code as PNG */
	bool no_qr;
} code_opts_t;

/* account open|code NAME [--code-file F] [--png F] [--no-qr]: 0 to go on,
 * -1 after --help, else an exit status. */
static int code_options(int argc, char **argv, const char *help, code_opts_t *o)
{
	static const struct option opts[] = { GLOBAL_OPTIONS,
					      { "code-file", required_argument, NULL, OPT_CODE_FILE },
					      { "png", required_argument, NULL, OPT_PNG },
					      { "no-qr", no_argument, NULL, OPT_NO_QR },
					      { 0 } };
	int c, rc;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': usage_text(help); return -1;
		case OPT_CODE_FILE: o->code_file = optarg; break;
		case OPT_PNG: o->png = optarg; break;
		case OPT_NO_QR: o->no_qr = true; break;
		default:
			rc = global_option(c, optarg);
			if (rc != 0)
				return rc;
		}
	}
	if (argc - optind != 1)
		return ofp_usage("account %s: expected NAME", argv[0]);
	return OFP_EXIT_OK;
}

static int write_png(const char *path, const char *text)
{
	ofp_qr_t qr = { 0 };
	uint8_t *png = NULL;
	size_t len = 0;
	char err[256];
	int rc = OFP_EXIT_OK;

	if (ofp_qr_encode((const uint8_t *)text, strlen(text), &qr, err, sizeof(err)) != 0 ||
	    ofp_qr_png(&qr, &png, &len, err, sizeof(err)) != 0)
		rc = ofp_fail("enrollment code QR: %s", err);
	if (rc == OFP_EXIT_OK)
		rc = write_out(path, png, len);
	if (png != NULL)
		OPENSSL_cleanse(png, len);
	free(png);
	ofp_qr_free(&qr);
	return rc;
}

static void print_qr(const char *text)
{
	ofp_qr_t qr = { 0 };
	char err[256];

	if (ofp_qr_encode((const uint8_t *)text, strlen(text), &qr, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: enrollment code QR: %s\n", PROG, err);
		return;
	}
	if (ofp_qr_terminal(&qr, stdout, true) != 0)
		fprintf(stderr, "%s: enrollment code QR: cannot draw it\n", PROG);
	ofp_qr_free(&qr);
}

/* Hand the code out as the options say, then wipe it. */
static int show_code(const code_opts_t *o, uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t expires)
{
	char text[OFP_ENROLL_CODE_TEXT_LEN + 2];
	int rc = OFP_EXIT_OK;

	ofp_enroll_code_text(code, text);
	OPENSSL_cleanse(code, OFP_ENROLL_CODE_LEN);
	if (o->png != NULL)
		rc = write_png(o->png, text);
	if (rc == OFP_EXIT_OK && o->code_file != NULL) {
		size_t n = strlen(text);
		text[n] = '\n';
		rc = atomic_file_write(o->code_file, text, n + 1, 0600) == 0
			     ? OFP_EXIT_OK
			     : ofp_fail("%s: cannot write the enrollment code", o->code_file);
		text[n] = '\0';
	} else if (rc == OFP_EXIT_OK) {
		printf("enrollment code %s\n", text);
		if (!o->no_qr && isatty(STDOUT_FILENO))
			print_qr(text);
	}
	if (o->code_file != NULL)
		/* Standard output is the holder id alone: scripts read it. */
		fprintf(stderr, "%s: enrollment code written to %s; it works once, until %" PRIu32 "\n", PROG,
			o->code_file, expires);
	else
		print_time("works once until", expires);
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

static int run(int argc, char **argv, const char *help, bool open_account)
{
	code_opts_t o;
	ofp_issuer_t *iss = NULL;
	ofp_account_t a;
	uint8_t code[OFP_ENROLL_CODE_LEN];
	uint32_t expires = 0;
	char hex[2 * OFP_ID_LEN + 1];
	int rc = code_options(argc, argv, help, &o);

	if (rc == -1)
		return OFP_EXIT_OK;
	if (rc != OFP_EXIT_OK)
		return rc;
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(open_account ? ofp_issuer_account_open(iss, argv[optind], &a, code, &expires)
					 : ofp_issuer_enroll_code(iss, argv[optind], &a, code, &expires),
			    ofp_issuer_error(iss));
	if (rc == OFP_EXIT_OK) {
		hex_encode(a.holder_id, OFP_ID_LEN, hex);
		if (open_account)
			printf("%s\n", hex);
		else
			printf("account '%s' (holder %s): a new enrollment code; the previous one no longer works\n",
			       a.name, hex);
		/* Written to stdout before the code: a script reads line 1. */
		fflush(stdout);
		rc = show_code(&o, code, expires);
	}
	ofp_issuer_close(iss);
	return rc;
}

#define CODE_OPTIONS_HELP                                                                          \
	"  --code-file FILE  write the code to FILE (mode 0600) instead of standard output\n"      \
	"  --png FILE        the code as a QR code in a PNG image\n"                              \
	"  --no-qr           no QR code on the terminal\n"                                        \
	"The code (160 bits, 8 groups of 4 characters) works once, until enrollment_code_lifetime\n" \
	"(issuer.conf) has passed, and locks after enrollment_code_tries wrong tries. The ledger\n"  \
	"keeps only a key derived from it: it cannot be shown again (account code makes a new one).\n"

int cmd_account_open(int argc, char **argv)
{
	return run(argc, argv,
		   "Usage: " PROG " --dir DIR account open NAME [--code-file FILE] [--png FILE] [--no-qr]\n"
		   "Open an account (balance 0, credit line 0); prints its new holder id (hex) on the first line,\n"
		   "then the enrollment code the holder gives to 'offpass-holder enroll' with the holder id.\n"
		   CODE_OPTIONS_HELP,
		   true);
}

int cmd_account_code(int argc, char **argv)
{
	return run(argc, argv,
		   "Usage: " PROG " --dir DIR account code NAME [--code-file FILE] [--png FILE] [--no-qr]\n"
		   "A new enrollment code for an account: a holder who lost a key (deny its serial first),\n"
		   "a second device, or a code that expired or locked. The previous code stops working.\n"
		   CODE_OPTIONS_HELP,
		   false);
}
