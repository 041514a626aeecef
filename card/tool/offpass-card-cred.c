/* offpass-card-cred.c - offpass-card put-credential and get-credential. */
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

/* ---- put-credential, get-credential ------------------------------------------------------------ */

static int read_credential_file(const char *path, uint8_t **data, size_t *len)
{
	int rv = file_read_all(path, OFP_CREDENTIAL_MAX, data, len);

	if (rv == -EFBIG) {
		ofp_fail("credential file '%s': larger than any credential (%d bytes)", path, OFP_CREDENTIAL_MAX);
		return OFP_EXIT_REFUSED;
	}
	if (rv != 0)
		return ofp_fail("credential file '%s': %s", path, strerror(-rv));
	return OFP_EXIT_OK;
}

int cmd_put_credential(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN], msg[OFP_CARD_ERR_LEN + 64];
	uint8_t *data = NULL, slot = 0;
	size_t len = 0;
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV) | BIT(O_MGM_KEY_FILE),
			    "put-credential FILE [--pin-file F | --pin-env VAR] [--mgm-key-file F]\n"
			    "Store the issued credential on the card, in the Printed Information object (5FC109),\n"
			    "after checking that it is for a key on the card. The PIN reads the object (the rest\n"
			    "of it is kept); the management key writes it.\n",
			    &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if (argc - optind != 1)
		return ofp_usage("put-credential: give one credential file");
	rv = read_credential_file(argv[optind], &data, &len);
	if (rv == OFP_EXIT_OK)
		rv = card_pin(&s, &o, "PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = mgm_key(&s.mgm, o.mgm_key_file, "Management key (hex): ", false, 0);
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK)
		rv = card_exit(ofp_card_authenticate(p, s.mgm, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK) {
		int cr = ofp_card_put_credential(p, s.pin, data, len, now_of(&o), &slot, err, sizeof(err));
		snprintf(msg, sizeof(msg), "credential file '%s': %s", argv[optind], err);
		rv = card_exit(cr, msg);
	}
	if (rv == OFP_EXIT_OK)
		printf("reader '%s': credential stored on the card (Printed Information object 5FC109), for the key "
		       "in slot %02X\n",
		       ofp_piv_reader(p), slot);
	ofp_piv_close(p);
	secrets_free(&s);
	free(data);
	return rv;
}

int cmd_get_credential(int argc, char **argv)
{
	char err[OFP_CARD_ERR_LEN];
	uint8_t *cred = NULL;
	size_t len = 0;
	ofp_piv_t *p = NULL;
	secrets_t s = { 0 };
	opts_t o;
	int rv = parse_opts(argc, argv, BIT(O_PIN_FILE) | BIT(O_PIN_ENV) | BIT(O_OUTPUT),
			    "get-credential -o FILE [--pin-file F | --pin-env VAR]\n"
			    "Read the credential stored on the card into FILE ('-': standard output).\n", &o);

	if (rv != OFP_EXIT_OK || o.help)
		return rv;
	if ((rv = no_args(argc, argv)) != OFP_EXIT_OK)
		return rv;
	if (o.output == NULL)
		return ofp_usage("get-credential: -o FILE is required");
	rv = card_pin(&s, &o, "PIN: ");
	if (rv == OFP_EXIT_OK)
		rv = card_open(&o, &p);
	if (rv == OFP_EXIT_OK) {
		int cr = ofp_card_get_credential(p, s.pin, &cred, &len, err, sizeof(err));
		rv = cr == 1 ? (ofp_fail("%s", err), OFP_EXIT_REFUSED) : card_exit(cr, err);
	}
	if (rv == OFP_EXIT_OK) {
		int w = output_file_write(o.output, cred, len, 0600);
		if (w != 0)
			rv = ofp_fail("credential file '%s': %s", o.output, atomic_file_strerror(w));
		else if (strcmp(o.output, "-") != 0)
			printf("reader '%s': credential (%zu bytes) written to %s\n", ofp_piv_reader(p), len, o.output);
	}
	ofp_piv_close(p);
	secrets_free(&s);
	free(cred);
	return rv;
}
