/* offpass-card-pin.c - offpass-card status, and the PIN and PUK life cycle:
 * verify-pin, change-pin, change-puk, unblock, reset. */
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

/* ---- status and verify-pin --------------------------------------------------------------- */

int cmd_status(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN];
	ofp_card_status_t *st = NULL;
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV),
			    "status [--pin-file F | --pin-env VAR]\n"
			    "Show the reader, the card's version and serial, PIN and PUK tries left, the key\n"
			    "slots and their certificates; with the PIN also the credential stored on the card.\n",
			    &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	if (o.pin_file != NULL || o.pin_env != NULL)
		rv = card_pin(&s, &o, NULL);
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		rv = ofp_fail("out of memory");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = card_exit(ofp_card_status(p, s.pin, st, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK)
		ofp_card_status_print(stdout, st, now_of(&o));
	free(st);
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

int cmd_verify_pin(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV),
			    "verify-pin [--pin-file F | --pin-env VAR]\n"
			    "Check the PIN (a wrong one costs a try).\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = card_pin(&s, &o, "PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_verify_pin(p, s.pin));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PIN verified\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

/* ---- change-pin, change-puk, unblock ---------------------------------------------------- */

int cmd_change_pin(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV) | BIT(O_NEW_PIN_FILE),
			    "change-pin [--pin-file F | --pin-env VAR] [--new-pin-file F]\n"
			    "Change the PIN (6-8 characters); a wrong current PIN costs a try.\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = card_pin(&s, &o, "Current PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = secret(&s.new_pin, o.new_pin_file, NULL, "New PIN: ", true, "new PIN");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_change_reference(p, OFP_PIV_REF_PIN, s.pin, s.new_pin));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PIN changed\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

int cmd_change_puk(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PUK_FILE) | BIT(O_NEW_PUK_FILE),
			    "change-puk [--puk-file F] [--new-puk-file F]\n"
			    "Change the PUK; a wrong current PUK costs a try, and a blocked PUK is final.\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = secret(&s.puk, o.puk_file, NULL, "Current PUK: ", false, "PUK");
	if (rv == OFP_EXIT_OK)
		rv = secret(&s.new_puk, o.new_puk_file, NULL, "New PUK: ", true, "new PUK");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_change_reference(p, OFP_PIV_REF_PUK, s.puk, s.new_puk));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PUK changed\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

int cmd_unblock(int argc, char **argv)
{
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PUK_FILE) | BIT(O_NEW_PIN_FILE),
			    "unblock [--puk-file F] [--new-pin-file F]\n"
			    "Set a new PIN with the PUK (the PIN gets all its tries back).\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = secret(&s.puk, o.puk_file, NULL, "PUK: ", false, "PUK");
	if (rv == OFP_EXIT_OK)
		rv = secret(&s.new_pin, o.new_pin_file, NULL, "New PIN: ", true, "new PIN");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = piv_exit(p, ofp_piv_unblock_pin(p, s.puk, s.new_pin));
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': PIN unblocked and set\n", ofp_piv_reader(p));
	ofp_piv_close(p);
	secrets_free(&s);
	return rv;
}

/* ---- reset ---------------------------------------------------------------------------------- */

int cmd_reset(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN];
	ofp_piv_t *p = NULL;
	opts_t o;
	int rv = parse_opts(argc, argv, 0,
			    "reset\n"
			    "Put the PIV application back to its factory state (PIN 123456, PUK 12345678, the\n"
			    "factory management key, no keys, no objects). Cards allow it only once both the\n"
			    "PIN and the PUK are blocked.\n",
			    &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = card_exit(ofp_card_reset(p, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': the card is reset: PIN 123456, PUK 12345678, the factory management key, "
		       "no keys\n",
		       ofp_piv_reader(p));
	ofp_piv_close(p);
	return rv;
}
