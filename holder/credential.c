/* credential.c - the issued credential, kept on the token as a data object
 * so that the token carries the key and its credential together; its
 * validity and the holder's status. */
#include "config.h"
#include "holder/holder.h"

#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "holder/counter.h"

/* The credential names this key (same algorithm, same public key). */
static int check_for_key(const ofp_credential_t *c, const ofp_p11_key_t *key, const char *what, char *err,
			 size_t err_len)
{
	uint8_t form[OFP_HOLDER_KEY_MAX];
	size_t form_len = 0;
	char want[2 * OFP_HOLDER_KEY_MAX + 1], got[2 * OFP_HOLDER_KEY_MAX + 1];

	if (ofp_holder_key_form(key, form, &form_len, err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	if (c->holder_alg == key->alg && ofp_holder_key_len(c->holder_alg) == form_len &&
	    memcmp(c->holder_key, form, form_len) == 0)
		return OFP_HOLDER_OK;
	hex_encode(form, form_len, want);
	hex_encode(c->holder_key, ofp_holder_key_len(c->holder_alg), got);
	snprintf(err, err_len,
		 "%s (serial %llu) is for the %s key %s, not for this token's %s key %s: it was issued for "
		 "another key",
		 what, (unsigned long long)c->serial, ofp_holder_alg_name(c->holder_alg), got,
		 ofp_holder_alg_name(key->alg), want);
	return OFP_HOLDER_REFUSED;
}

ofp_validity_t ofp_holder_validity(const ofp_credential_t *c, uint32_t now)
{
	if (now < c->not_before)
		return OFP_VALIDITY_NOT_YET;
	return now < c->not_after ? OFP_VALIDITY_VALID : OFP_VALIDITY_EXPIRED;
}

/* "2 d 3 h", "5 h 12 min", "7 min", "30 s": two units at most. */
static void duration_text(uint32_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%u d %u h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%u h %u min", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%u min", s / 60);
	else
		snprintf(buf, len, "%u s", s);
}

void ofp_holder_validity_text(const ofp_credential_t *c, uint32_t now, char *buf, size_t len)
{
	char d[32];

	switch (ofp_holder_validity(c, now)) {
	case OFP_VALIDITY_NOT_YET:
		duration_text(c->not_before - now, d, sizeof(d));
		snprintf(buf, len, "not yet valid (in %s)", d);
		break;
	case OFP_VALIDITY_VALID:
		duration_text(c->not_after - now, d, sizeof(d));
		snprintf(buf, len, "valid for %s", d);
		break;
	default:
		duration_text(now - c->not_after, d, sizeof(d));
		snprintf(buf, len, "expired %s ago", d);
		break;
	}
}

int ofp_holder_install(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t *cred, size_t len, uint32_t now,
		       ofp_credential_t *out, char *err, size_t err_len)
{
	ofp_credential_t c;
	ofp_fmt_error_t fe;
	char when[64];
	int rv;

	if (ofp_credential_decode(cred, len, &c, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "not a valid credential (%s: %s)", ofp_fmt_rc_name(fe.code), fe.reason);
		return OFP_HOLDER_REFUSED;
	}
	rv = check_for_key(&c, key, "credential", err, err_len);
	if (rv != OFP_HOLDER_OK)
		return rv;
	if (ofp_holder_validity(&c, now) == OFP_VALIDITY_EXPIRED) {
		ofp_holder_time_text(c.not_after, when, sizeof(when));
		snprintf(err, err_len, "credential (serial %llu) expired at %s: ask the issuer for a new one",
			 (unsigned long long)c.serial, when);
		return OFP_HOLDER_REFUSED;
	}
	if (ofp_p11_data_write(p, OFP_HOLDER_CREDENTIAL_LABEL, cred, len) != 0) {
		snprintf(err, err_len, "storing the credential: %s", ofp_p11_error(p));
		return OFP_HOLDER_FAILED;
	}
	if (out != NULL)
		*out = c;
	return OFP_HOLDER_OK;
}

int ofp_holder_credential(ofp_p11_t *p, const ofp_p11_key_t *key, ofp_credential_t *out, char *err,
			  size_t err_len)
{
	uint8_t *val = NULL;
	size_t len = 0;
	ofp_fmt_error_t fe;
	int rv = ofp_p11_data_read(p, OFP_HOLDER_CREDENTIAL_LABEL, OFP_CREDENTIAL_MAX, &val, &len);

	if (rv == 1) {
		snprintf(err, err_len, "token '%s' has no credential: install one (offpass-holder install FILE)",
			 ofp_p11_token_label(p));
		return 1;
	}
	if (rv != 0) {
		snprintf(err, err_len, "reading the credential: %s", ofp_p11_error(p));
		return OFP_HOLDER_FAILED;
	}
	if (ofp_credential_decode(val, len, out, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "the credential on token '%s' is corrupt (%s): install it again",
			 ofp_p11_token_label(p), fe.reason);
		rv = OFP_HOLDER_FAILED;
	} else if (key != NULL) {
		rv = check_for_key(out, key, "the credential on the token", err, err_len);
	}
	free(val);
	return rv;
}

int ofp_holder_status(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, ofp_holder_status_t *st,
		      char *err, size_t err_len)
{
	char ignored[OFP_HOLDER_ERR_LEN];
	int rv;

	memset(st, 0, sizeof(*st));
	st->token_label = ofp_p11_token_label(p);
	st->alg = key->alg;
	if (ofp_holder_key_form(key, st->key, &st->key_len, err, err_len) != OFP_HOLDER_OK)
		return OFP_HOLDER_FAILED;
	st->key_id_len = key->id_len < sizeof(st->key_id) ? key->id_len : sizeof(st->key_id);
	memcpy(st->key_id, key->id, st->key_id_len);

	rv = ofp_holder_credential(p, NULL, &st->credential, err, err_len);
	if (rv < 0)
		return rv;
	st->has_credential = rv == 0;
	st->credential_for_key = st->has_credential &&
				 check_for_key(&st->credential, key, "", ignored, sizeof(ignored)) == OFP_HOLDER_OK;

	if (ofp_counter_path(dir, st->key, st->key_len, st->counter_path, sizeof(st->counter_path), err,
			     err_len) != 0)
		return OFP_HOLDER_FAILED;
	rv = ofp_counter_last(dir, st->key, st->key_len, &st->counter, err, err_len);
	if (rv < 0)
		return OFP_HOLDER_FAILED;
	st->has_counter = rv == 0;
	return OFP_HOLDER_OK;
}

static void print_credential(FILE *f, const ofp_credential_t *c, uint32_t now)
{
	char hid[2 * OFP_ID_LEN + 1], kid[2 * OFP_KEY_ID_LEN + 1], v[64], nb[64], na[64];

	hex_encode(c->holder_id, OFP_ID_LEN, hid);
	hex_encode(c->issuer_kid, OFP_KEY_ID_LEN, kid);
	ofp_holder_validity_text(c, now, v, sizeof(v));
	ofp_holder_time_text(c->not_before, nb, sizeof(nb));
	ofp_holder_time_text(c->not_after, na, sizeof(na));
	fprintf(f, "credential: serial %llu, holder %s, issuer key %s\n", (unsigned long long)c->serial, hid,
		kid);
	fprintf(f, "validity:   %s (%s to %s)\n", v, nb, na);
	fprintf(f, "grant:      resource class %u, up to %u per operation, %u in total offline\n",
		(unsigned)c->grant.resource_class, (unsigned)c->grant.per_op_max,
		(unsigned)c->grant.offline_total);
}

void ofp_holder_status_print(FILE *f, const ofp_holder_status_t *st, uint32_t now)
{
	char key[2 * OFP_HOLDER_KEY_MAX + 1], id[2 * 64 + 1];

	hex_encode(st->key, st->key_len, key);
	hex_encode(st->key_id, st->key_id_len, id);
	fprintf(f, "token:      %s\n", st->token_label != NULL ? st->token_label : "");
	fprintf(f, "key:        %s %s (id %s)\n", ofp_holder_alg_name(st->alg), key, id);
	if (!st->has_credential)
		fprintf(f, "credential: none installed (offpass-holder install FILE)\n");
	else if (!st->credential_for_key)
		fprintf(f, "credential: serial %llu is for another key: install a new one\n",
			(unsigned long long)st->credential.serial);
	else
		print_credential(f, &st->credential, now);
	if (st->has_counter)
		fprintf(f, "counter:    %u last used (%s)\n", (unsigned)st->counter, st->counter_path);
	else
		fprintf(f, "counter:    none used yet (%s)\n", st->counter_path);
}
