/* offpass-holder-opts.c - the options every offpass-holder command takes,
 * its help, and the output helpers the commands share. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "atomic_file.h"
#include "holder/offpass-holder_int.h"

holder_opts_t g;

const char global_help[] =
	"Token and state options (before or after the command):\n"
	"  --module PATH        PKCS#11 module (default: $OFFPASS_PKCS11_MODULE, else offpass-p11.so)\n"
	"  --token-label LABEL  use the token with this label\n"
	"  --uri URI            PKCS#11 URI (RFC 7512) of the token, and of the key with object= or id=\n"
	"  --key-label LABEL    the holder key's label (default 'offpass-holder'; OpenSC names PIV\n"
	"                       keys 'PIV AUTH key' (9A), 'SIGN key' (9C)...)\n"
	"  --key-id HEX         the holder key's CKA_ID (OpenSC: 01 for 9A, 02 for 9C)\n"
	"  --pin-file FILE      user PIN from the first line of FILE\n"
	"  --pin-env VAR        user PIN from the environment variable VAR\n"
	"                       (neither: the URI's pin-source, else a prompt without echo; a URI\n"
	"                       with pin-value= is refused: the command line is readable by all)\n"
	"  --dir DIR            state directory, where the counters are kept\n"
	"                       (default: $XDG_DATA_HOME/offpass/holder or ~/.local/share/offpass/holder)\n";

uint32_t now(void)
{
	return ofp_clock_now(&g.clock);
}

/* A global option, or '?' from getopt (which printed the reason). */
int global_option(const char *cmd, int c, const char *arg)
{
	switch (c) {
	case OPT_MODULE: g.module = arg; break;
	case OPT_TOKEN_LABEL: g.token_label = arg; break;
	case OPT_URI: {
		char err[512];
		if (ofp_p11_uri_argument_check(arg, "--uri", err, sizeof(err)) != 0) {
			ofp_fail("%s", err);
			return OFP_EXIT_USAGE;
		}
		g.uri = arg;
		break;
	}
	/* The last PIN option wins. */
	case OPT_PIN_FILE: g.pin_file = arg; g.pin_env = NULL; break;
	case OPT_PIN_ENV: g.pin_env = arg; g.pin_file = NULL; break;
	case OPT_DIR: g.dir = arg; break;
	case OPT_KEY_LABEL: g.key_label = arg; break;
	case OPT_KEY_ID: g.key_id = arg; break;
	case OPT_NOW: return ofp_clock_option(&g.clock, arg);
	default:
		fprintf(stderr, "Try '%s%s%s --help'.\n", PROG, cmd ? " " : "", cmd ? cmd : "");
		return OFP_EXIT_USAGE;
	}
	return OFP_EXIT_OK;
}

int help(const char *usage)
{
	printf("Usage: %s [OPTIONS] %s\n%s", PROG, usage, global_help);
	return OFP_EXIT_OK;
}

/* A library result as an exit status, reporting err. */
int holder_exit(int rv, const char *err)
{
	if (rv == OFP_HOLDER_OK)
		return OFP_EXIT_OK;
	ofp_fail("%s", err);
	return rv == OFP_HOLDER_REFUSED ? OFP_EXIT_REFUSED : OFP_EXIT_FAILURE;
}

/* "-" is standard output; anything else is replaced atomically. */
int write_output(const char *path, const void *data, size_t len, const char *what)
{
	int rv;

	if (strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
			return ofp_fail("%s: cannot write to standard output", what);
		return OFP_EXIT_OK;
	}
	rv = atomic_file_write(path, data, len, 0644);
	if (rv != 0)
		return ofp_fail("%s '%s': %s", what, path, atomic_file_strerror(rv));
	return OFP_EXIT_OK;
}
