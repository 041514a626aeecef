/* offpass-card-opts.c - offpass-card's options: every option any command
 * takes, parsed against the ones a command allows. */
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

/* ---- options ------------------------------------------------------------- */

static const struct option all_options[] = {
	{ "reader", required_argument, NULL, O_READER },
	{ "pin-file", required_argument, NULL, O_PIN_FILE },
	{ "pin-env", required_argument, NULL, O_PIN_ENV },
	{ "puk-file", required_argument, NULL, O_PUK_FILE },
	{ "new-pin-file", required_argument, NULL, O_NEW_PIN_FILE },
	{ "new-puk-file", required_argument, NULL, O_NEW_PUK_FILE },
	{ "mgm-key-file", required_argument, NULL, O_MGM_KEY_FILE },
	{ "mgm-alg", required_argument, NULL, O_MGM_ALG },
	{ "current-pin-file", required_argument, NULL, O_CUR_PIN_FILE },
	{ "current-puk-file", required_argument, NULL, O_CUR_PUK_FILE },
	{ "current-mgm-key-file", required_argument, NULL, O_CUR_MGM_KEY_FILE },
	{ "slot", required_argument, NULL, O_SLOT },
	{ "subject", required_argument, NULL, O_SUBJECT },
	{ "days", required_argument, NULL, O_DAYS },
	{ "pin-policy", required_argument, NULL, O_PIN_POLICY },
	{ "force", no_argument, NULL, O_FORCE },
	{ "output", required_argument, NULL, O_OUTPUT },
	{ "cert-out", required_argument, NULL, O_CERT_OUT },
	{ "now", required_argument, NULL, O_NOW },
	{ "keep-management-key", no_argument, NULL, O_KEEP_MGM },
	{ "dry-run", no_argument, NULL, O_DRY_RUN },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* --reader given before the command. */
const char *global_reader;

const char common_help[] =
	"  --reader NAME   the PC/SC reader (its name, or a unique part of it);\n"
	"                  default: $OFFPASS_CARD_READER, else the first reader with a card\n";

static const char *option_name(int c)
{
	for (size_t i = 0; all_options[i].name != NULL; i++)
		if (all_options[i].val == c)
			return all_options[i].name;
	return "?";
}

static int parse_alg(const char *s, uint8_t *alg)
{
	static const struct {
		const char *name;
		uint8_t alg;
	} algs[] = { { "3des", OFP_PIV_ALG_3DES }, { "aes128", OFP_PIV_ALG_AES128 },
		     { "aes192", OFP_PIV_ALG_AES192 }, { "aes256", OFP_PIV_ALG_AES256 } };

	for (size_t i = 0; i < OFP_ARRAY_LEN(algs); i++) {
		if (strcasecmp(s, algs[i].name) == 0) {
			*alg = algs[i].alg;
			return 0;
		}
	}
	return -1;
}

static int parse_policy(const char *s, uint8_t *policy)
{
	static const char *const names[] = { "default", "never", "once", "always" };

	for (size_t i = 0; i < OFP_ARRAY_LEN(names); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*policy = (uint8_t)i;
			return 0;
		}
	}
	return -1;
}

static int option_value(const char *cmd, int c, const char *arg, opts_t *o)
{
	uint32_t v;

	switch (c) {
	case O_READER: o->reader = arg; break;
	case O_PIN_FILE: o->pin_file = arg; o->pin_env = NULL; break;
	case O_PIN_ENV: o->pin_env = arg; o->pin_file = NULL; break;
	case O_PUK_FILE: o->puk_file = arg; break;
	case O_NEW_PIN_FILE: o->new_pin_file = arg; break;
	case O_NEW_PUK_FILE: o->new_puk_file = arg; break;
	case O_MGM_KEY_FILE: o->mgm_key_file = arg; break;
	case O_CUR_PIN_FILE: o->cur_pin_file = arg; break;
	case O_CUR_PUK_FILE: o->cur_puk_file = arg; break;
	case O_CUR_MGM_KEY_FILE: o->cur_mgm_key_file = arg; break;
	case O_SUBJECT: o->subject = arg; break;
	case O_OUTPUT: o->output = arg; break;
	case O_CERT_OUT: o->cert_out = arg; break;
	case O_FORCE: o->force = true; break;
	case O_KEEP_MGM: o->keep_mgm = true; break;
	case O_DRY_RUN: o->dry_run = true; break;
	case O_MGM_ALG:
		if (parse_alg(arg, &o->mgm_alg) != 0)
			return ofp_usage("%s: --mgm-alg: '%s' is not 3des, aes128, aes192 or aes256", cmd, arg);
		break;
	case O_SLOT:
		if (strcasecmp(arg, "9a") == 0)
			o->slot = OFP_PIV_SLOT_AUTH;
		else if (strcasecmp(arg, "9c") == 0)
			o->slot = OFP_PIV_SLOT_SIGN;
		else
			return ofp_usage("%s: --slot: '%s' is not 9a or 9c", cmd, arg);
		break;
	case O_DAYS:
		if (ofp_parse_u32(arg, 36500, &v) != 0 || v == 0)
			return ofp_usage("%s: --days: '%s' is not 1 to 36500", cmd, arg);
		o->days = v;
		break;
	case O_PIN_POLICY:
		if (parse_policy(arg, &o->pin_policy) != 0)
			return ofp_usage("%s: --pin-policy: '%s' is not default, never, once or always", cmd, arg);
		break;
	case O_NOW:
		return ofp_clock_option(&o->clock, arg);
	default:
		return ofp_usage("%s: unknown option", cmd);
	}
	return OFP_EXIT_OK;
}

/* Parse argv against the options this command allows (a bit mask); the
 * positional arguments are argv[optind..]. usage is the command's help. */
int parse_opts(int argc, char **argv, unsigned long long allowed, const char *usage, opts_t *o)
{
	int c, rv;

	memset(o, 0, sizeof(*o));
	o->slot = OFP_PIV_SLOT_AUTH;
	o->reader = global_reader != NULL ? global_reader : getenv("OFFPASS_CARD_READER");
	if (o->reader != NULL && o->reader[0] == '\0')
		o->reader = NULL;
	allowed |= BIT(O_READER) | BIT(O_NOW);
	while ((c = getopt_long(argc, argv, "ho:", all_options, NULL)) != -1) {
		if (c == 'h') {
			printf("Usage: %s %s%s", PROG, usage, common_help);
			o->help = true;
			return OFP_EXIT_OK;
		}
		if (c == 'o')
			c = O_OUTPUT;
		if (c == '?')
			return ofp_usage("%s: bad option", argv[0]);
		if (!(allowed & BIT(c)))
			return ofp_usage("%s: --%s is not an option of this command", argv[0], option_name(c));
		if ((rv = option_value(argv[0], c, optarg, o)) != OFP_EXIT_OK)
			return rv;
	}
	return OFP_EXIT_OK;
}

uint32_t now_of(const opts_t *o)
{
	return ofp_clock_now(&o->clock);
}

int no_args(int argc, char **argv)
{
	if (optind != argc)
		return ofp_usage("%s: unexpected argument '%s'", argv[0], argv[optind]);
	return OFP_EXIT_OK;
}
