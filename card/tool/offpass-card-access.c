/* offpass-card-access.c - what a command needs to get at the card: its
 * secrets (PIN, PUK, management key) read into secmem, and the connection. */
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

/* ---- secrets --------------------------------------------------------------- */

/* A PIN or PUK: from file, else env, else a prompt on the terminal. With
 * confirm, a prompt asks twice. buf holds OFP_PIN_MAX bytes of secmem. */
static int read_secret(const char *file, const char *env, const char *prompt, bool confirm, char *buf)
{
	char err[256], *again = NULL;
	int rv = OFP_EXIT_OK;

	if (env != NULL && file == NULL && getenv(env) == NULL)
		return ofp_fail("--pin-env %s: the variable is not set", env);
	if (ofp_pin_read(file, env, prompt, buf, OFP_PIN_MAX, err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	if (!confirm || file != NULL || env != NULL)
		return OFP_EXIT_OK;
	again = secmem_alloc(OFP_PIN_MAX);
	if (again == NULL)
		return ofp_fail("out of memory");
	if (ofp_pin_read(NULL, NULL, "Again: ", again, OFP_PIN_MAX, err, sizeof(err)) != 0)
		rv = ofp_fail("%s", err);
	else if (strcmp(buf, again) != 0)
		rv = ofp_fail("the two entries differ");
	secmem_free(again, OFP_PIN_MAX);
	return rv;
}


void secrets_free(secrets_t *s)
{
	secmem_free(s->pin, OFP_PIN_MAX);
	secmem_free(s->puk, OFP_PIN_MAX);
	secmem_free(s->new_pin, OFP_PIN_MAX);
	secmem_free(s->new_puk, OFP_PIN_MAX);
	secmem_free(s->mgm, sizeof(*s->mgm));
	secmem_free(s->new_mgm, sizeof(*s->new_mgm));
	memset(s, 0, sizeof(*s));
}

int secret(char **slot, const char *file, const char *env, const char *prompt, bool confirm,
		  const char *what)
{
	*slot = secmem_alloc(OFP_PIN_MAX);
	if (*slot == NULL)
		return ofp_fail("out of memory");
	if (read_secret(file, env, prompt, confirm, *slot) != OFP_EXIT_OK)
		return OFP_EXIT_FAILURE;
	if (!ofp_piv_pin_ok(*slot))
		return ofp_usage("the %s must be %d to %d characters", what, OFP_PIV_PIN_MIN, OFP_PIV_PIN_MAX);
	return OFP_EXIT_OK;
}

/* A management key: hex (48 digits for 3DES or AES-192, 32 for AES-128,
 * 64 for AES-256) from the file's first line or a prompt. */
int mgm_key(ofp_card_mgm_t **out, const char *file, const char *prompt, bool confirm, uint8_t alg)
{
	char *text = NULL;
	ofp_card_mgm_t *m;
	size_t len = 0;
	int rv;

	m = *out = secmem_alloc(sizeof(**out));
	text = secmem_alloc(OFP_PIN_MAX);
	if (m == NULL || text == NULL) {
		secmem_free(text, OFP_PIN_MAX);
		return ofp_fail("out of memory");
	}
	rv = read_secret(file, NULL, prompt, confirm, text);
	if (rv == OFP_EXIT_OK && (hex_decode_var(text, m->key, sizeof(m->key), &len) != 0 ||
				  (len != 16 && len != 24 && len != 32)))
		rv = ofp_usage("the management key%s%s%s is not 32, 48 or 64 hex digits", file ? " in '" : "",
			       file ? file : "", file ? "'" : "");
	secmem_free(text, OFP_PIN_MAX);
	if (rv != OFP_EXIT_OK)
		return rv;
	m->len = len;
	m->alg = alg;
	if (alg != 0 && ofp_piv_mgm_key_len(alg) != len)
		return ofp_usage("the management key has %zu bytes: not a %s key", len, ofp_piv_alg_name(alg));
	return OFP_EXIT_OK;
}

/* The card's PIN from --pin-file, --pin-env or a prompt. */
int card_pin(secrets_t *s, const opts_t *o, const char *prompt)
{
	return secret(&s->pin, o->pin_file, o->pin_env, prompt, false, "PIN");
}

/* ---- the card ---------------------------------------------------------------- */

int card_open(const opts_t *o, ofp_piv_t **p)
{
	char err[512];

	if (ofp_piv_connect(o->reader, p, err, sizeof(err)) != OFP_PIV_OK)
		return ofp_fail("%s", err);
	return OFP_EXIT_OK;
}

int card_exit(int rv, const char *err)
{
	if (rv == OFP_CARD_OK)
		return OFP_EXIT_OK;
	ofp_fail("%s", err);
	return rv == OFP_CARD_REFUSED ? OFP_EXIT_REFUSED : OFP_EXIT_FAILURE;
}

int piv_exit(ofp_piv_t *p, int rv)
{
	if (rv == OFP_PIV_OK)
		return OFP_EXIT_OK;
	return ofp_fail("reader '%s': %s", ofp_piv_reader(p), ofp_piv_error(p));
}
