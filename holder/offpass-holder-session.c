/* offpass-holder-session.c - the token an offpass-holder command opens:
 * the module and token the options name, the PIN, the holder key. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/uri.h>

#include "hex.h"
#include "secmem.h"
#include "holder/counter.h"
#include "holder/offpass-holder_int.h"

/* What the URI says about the key and the PIN (ofp_p11_open reports a
 * URI that does not parse). */
static void read_uri(session_t *s)
{
	P11KitUri *u = g.uri != NULL ? p11_kit_uri_new() : NULL;
	CK_ATTRIBUTE *label, *id;

	snprintf(s->key_label, sizeof(s->key_label), "%s", OFP_HOLDER_KEY_LABEL);
	if (u == NULL || p11_kit_uri_parse(g.uri, P11_KIT_URI_FOR_ANY, u) != P11_KIT_URI_OK)
		goto out;
	label = p11_kit_uri_get_attribute(u, CKA_LABEL);
	id = p11_kit_uri_get_attribute(u, CKA_ID);
	if (label != NULL && label->ulValueLen < sizeof(s->key_label)) {
		memcpy(s->key_label, label->pValue, label->ulValueLen);
		s->key_label[label->ulValueLen] = '\0';
	}
	s->uri_names_key = label != NULL || id != NULL;
	s->uri_has_pin = p11_kit_uri_get_pin_value(u) != NULL || p11_kit_uri_get_pin_source(u) != NULL;
out:
	if (u != NULL)
		p11_kit_uri_free(u);
	/* --key-label names the key over the URI's object=. */
	if (g.key_label != NULL)
		snprintf(s->key_label, sizeof(s->key_label), "%s", g.key_label);
}

/* The holder key: by --key-label / --key-id, else by the URI's object= /
 * id=, else by the label offpass-holder. */
static int find_holder_key(session_t *s)
{
	uint8_t id[64];
	size_t id_len = 0;
	const char *label = s->uri_names_key ? NULL : s->key_label;

	if (g.key_id != NULL && (hex_decode_var(g.key_id, id, sizeof(id), &id_len) != 0 || id_len == 0))
		return ofp_usage("--key-id: '%s' is not 1 to %zu bytes of hex", g.key_id, sizeof(id));
	if (g.key_label != NULL || g.key_id != NULL)
		label = g.key_label;
	if (ofp_p11_find_key(s->p, label, g.key_id != NULL ? id : NULL, id_len, &s->key) != 0)
		return ofp_fail("%s (no holder key: run '%s keygen' first?)", ofp_p11_error(s->p), PROG);
	return OFP_EXIT_OK;
}

static int login(session_t *s)
{
	char err[OFP_HOLDER_ERR_LEN], prompt[128];
	char *pin = NULL;
	int rv = OFP_EXIT_FAILURE;

	if (g.pin_file == NULL && g.pin_env == NULL && s->uri_has_pin) {
		if (ofp_p11_login(s->p, NULL) != 0)
			return ofp_fail("%s", ofp_p11_error(s->p));
		return OFP_EXIT_OK;
	}
	if (g.pin_file == NULL && g.pin_env != NULL && getenv(g.pin_env) == NULL)
		return ofp_fail("--pin-env %s: the variable is not set", g.pin_env);
	pin = secmem_alloc(OFP_PIN_MAX);
	if (pin == NULL)
		return ofp_fail("out of memory");
	snprintf(prompt, sizeof(prompt), "User PIN for token '%s': ", ofp_p11_token_label(s->p));
	if (ofp_pin_read(g.pin_file, g.pin_env, prompt, pin, OFP_PIN_MAX, err, sizeof(err)) != 0)
		ofp_fail("%s", err);
	else if (ofp_p11_login(s->p, pin) != 0)
		ofp_fail("%s", ofp_p11_error(s->p));
	else
		rv = OFP_EXIT_OK;
	secmem_free(pin, OFP_PIN_MAX);
	return rv;
}

/* Open the token, log in, and (find_key) find the holder key. */
/* rw_if_writable: read/write unless the token is write-protected, for
 * present, which keeps the counter on the token where it can. */
int session_open_mode(session_t *s, bool rw, bool rw_if_writable, bool find_key)
{
	ofp_p11_open_args_t a = { g.module, g.uri, g.token_label, rw, rw_if_writable };
	char err[OFP_HOLDER_ERR_LEN];
	int rv;

	memset(s, 0, sizeof(*s));
	read_uri(s);
	if (ofp_p11_open(&a, &s->p, err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	rv = login(s);
	if (rv != OFP_EXIT_OK || !find_key)
		return rv;
	return find_holder_key(s);
}

int session_open(session_t *s, bool rw, bool find_key)
{
	return session_open_mode(s, rw, false, find_key);
}

/* The state directory, for the commands that use counters. */
int session_state_dir(session_t *s)
{
	char err[OFP_HOLDER_ERR_LEN];

	if (ofp_holder_state_dir(g.dir, s->dir, sizeof(s->dir), err, sizeof(err)) != 0)
		return ofp_fail("%s", err);
	return OFP_EXIT_OK;
}

void session_close(session_t *s)
{
	ofp_p11_close(s->p);
	s->p = NULL;
}
