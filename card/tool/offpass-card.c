/* offpass-card.c - a holder's PIV card over PC/SC: a commands[] table over
 * card/tool/card.h and piv-client.h. Everything that decides lives in the
 * library; the CLI reads options, secrets and files, and prints. This file
 * holds the table and main; the commands live in offpass-card-{init,pin,cred}.c,
 * the options in offpass-card-opts.c, secrets and the card in -access.c. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "p11client.h"
#include "secmem.h"
#include "card/tool/card.h"
#include "format/format.h"
#include "card/tool/offpass-card_int.h"

/* ---- main ------------------------------------------------------------------------------------------ */

static const ofp_cmd_t commands[] = {
	{ "init", "prepare a card: new PIN, PUK and management key, the holder key and its certificate", cmd_init },
	{ "status", "reader, version, serial, tries left, key slots, the stored credential", cmd_status },
	{ "verify-pin", "check the PIN", cmd_verify_pin },
	{ "change-pin", "change the PIN", cmd_change_pin },
	{ "change-puk", "change the PUK", cmd_change_puk },
	{ "unblock", "set a new PIN with the PUK", cmd_unblock },
	{ "reset", "factory state, once PIN and PUK are both blocked", cmd_reset },
	{ "put-credential", "store the issued credential on the card", cmd_put_credential },
	{ "get-credential", "read the credential stored on the card", cmd_get_credential },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "reader", required_argument, NULL, O_READER },
					       { "help", no_argument, NULL, 'h' },
					       { "version", no_argument, NULL, 'V' },
					       { NULL, 0, NULL, 0 } };
	static char help_arg[] = "--help", version_arg[] = "--version";
	static const char about[] = "A holder's PIV card (YubiKey, PIV card, or offpass's virtual card) over PC/SC:\n"
				    "the key generated on the card, its certificate, PIN and PUK, the credential.";
	int c;

	/* "+": options before the command name are global (--reader). */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V') {
			char *args[] = { argv[0], c == 'h' ? help_arg : version_arg, NULL };
			int rv = ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), 2, args);
			if (c == 'h')
				printf("\nBefore or after the command:\n%s", common_help);
			return rv;
		}
		if (c != O_READER) {
			fprintf(stderr, "Try '%s --help'.\n", PROG);
			return OFP_EXIT_USAGE;
		}
		global_reader = optarg;
	}
	argv[optind - 1] = argv[0];
	return ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), argc - optind + 1, argv + optind - 1);
}
