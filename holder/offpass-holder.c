/* offpass-holder.c - the holder's command-line tool: a commands[] table
 * over libofpholder (holder/holder.h). Everything that decides lives in
 * the library; the CLI's files (offpass-holder-*.c, offpass-holder_int.h)
 * read options and files and print. This one is the table and main. */
#include "config.h"

#include <stdio.h>

#include "holder/offpass-holder_int.h"

static const ofp_cmd_t commands[] = {
	{ "keygen", "generate the holder key inside the token", cmd_keygen },
	{ "enroll", "write an enrollment request for the issuer", cmd_enroll },
	{ "install", "store an issued credential on the token", cmd_install },
	{ "refresh", "get the next credential from offpass-issuerd (online)", cmd_refresh },
	{ "present", "sign a fresh authorization and show it as a QR code", cmd_present },
	{ "status", "show the key, the credential's validity and the counter", cmd_status },
};

int main(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { "version", no_argument, NULL, 'V' },
					       { NULL, 0, NULL, 0 } };
	static char help_arg[] = "--help", version_arg[] = "--version";
	static const char about[] = "The holder of offpass: a key in a PKCS#11 token, its credential, and "
				    "presentations as QR codes.";
	int c, rv;

	/* "+": stop at the command name; its own options are its business. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h' || c == 'V') {
			char *args[] = { argv[0], c == 'h' ? help_arg : version_arg, NULL };
			rv = ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), 2, args);
			if (c == 'h')
				printf("\n%s", global_help);
			return rv;
		}
		if ((rv = global_option(NULL, c, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	argv[optind - 1] = argv[0];
	return ofp_cli_main(PROG, about, commands, OFP_ARRAY_LEN(commands), argc - optind + 1, argv + optind - 1);
}
