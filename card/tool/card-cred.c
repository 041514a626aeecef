/* card-cred.c - the issued credential on the card, in the Printed
 * Information object (5FC109) under the tag OFP_CARD_CRED_TAG. The object
 * is read only after the PIN, on real cards as on the virtual one, so the
 * credential (holder id, key, grant) is not shown to whoever holds the
 * card. Everything else in the object is kept: a YubiKey managed with
 * ykman keeps its PIN-protected management key there (tag 88). */
#include "config.h"
#include "card/tool/card.h"

#include <stdlib.h>
#include <string.h>

#include "secmem.h"
#include "format/format.h"

int ofp_card_cred_extract(const uint8_t *obj, size_t len, const uint8_t **cred, size_t *cred_len)
{
	ofp_tlv_t t;
	int rv = ofp_tlv_find(obj, len, OFP_CARD_CRED_TAG, &t);

	if (rv != 0)
		return rv;
	*cred = t.val;
	*cred_len = t.len;
	return 0;
}

int ofp_card_cred_merge(const uint8_t *old, size_t old_len, const uint8_t *cred, size_t cred_len, uint8_t **out,
			size_t *out_len)
{
	const uint8_t *pos = old, *end = old + old_len, *start;
	size_t cap = old_len + cred_len + 16, n = 0;
	uint8_t *buf;
	ofp_tlv_t t;

	*out = NULL;
	*out_len = 0;
	buf = malloc(cap);
	if (buf == NULL)
		return -1;
	while (pos < end) {
		start = pos;
		if (ofp_tlv_next(&pos, end, &t) != 0)
			goto fail;
		if (t.tag == OFP_CARD_CRED_TAG || t.tag == 0xfe)
			continue;
		memcpy(buf + n, start, (size_t)(pos - start));
		n += (size_t)(pos - start);
	}
	if ((cred != NULL && ofp_tlv_put(buf, cap, &n, OFP_CARD_CRED_TAG, cred, cred_len) != 0) ||
	    ofp_tlv_put(buf, cap, &n, 0xfe, NULL, 0) != 0 || n > OFP_PIV_OBJECT_MAX)
		goto fail;
	*out = buf;
	*out_len = n;
	return 0;
fail:
	free(buf);
	return -1;
}

/* The Printed Information value, after the PIN; *obj NULL when absent. */
static int read_object(ofp_piv_t *p, const char *pin, uint8_t **obj, size_t *len, char *err, size_t err_len)
{
	int rv;

	*obj = NULL;
	*len = 0;
	if (ofp_piv_verify_pin(p, pin) != OFP_PIV_OK) {
		snprintf(err, err_len, "reader '%s': %s", ofp_piv_reader(p), ofp_piv_error(p));
		return OFP_CARD_FAILED;
	}
	rv = ofp_piv_get_data(p, OFP_CARD_CRED_OBJECT, obj, len);
	if (rv == OFP_PIV_ERR) {
		snprintf(err, err_len, "reader '%s': reading the credential object: %s", ofp_piv_reader(p),
			 ofp_piv_error(p));
		return OFP_CARD_FAILED;
	}
	return OFP_CARD_OK;
}

/* The card slot whose P-256 key the credential names. */
static int slot_for(ofp_piv_t *p, const ofp_credential_t *c, uint8_t *slot, char *err, size_t err_len)
{
	static const uint8_t slots[] = { OFP_PIV_SLOT_AUTH, OFP_PIV_SLOT_SIGN, OFP_PIV_SLOT_KEYMGMT,
					 OFP_PIV_SLOT_CARDAUTH };
	uint8_t form[OFP_P256_COMPRESSED_LEN];
	ofp_fmt_error_t fe;
	ofp_card_slot_t s;

	for (size_t i = 0; i < OFP_ARRAY_LEN(slots); i++) {
		if (ofp_card_slot_info(p, slots[i], &s, err, err_len) != OFP_CARD_OK)
			return OFP_CARD_FAILED;
		if (s.pub_len != OFP_P256_UNCOMPRESSED_LEN || ofp_p256_compress(s.pub, form, &fe) != OFP_FMT_OK)
			continue;
		if (c->holder_alg == OFP_ALG_P256 && memcmp(c->holder_key, form, sizeof(form)) == 0) {
			*slot = slots[i];
			return OFP_CARD_OK;
		}
	}
	snprintf(err, err_len, "the credential (serial %llu) is for a key this card does not hold: it was issued "
			       "for another key", (unsigned long long)c->serial);
	return OFP_CARD_REFUSED;
}

static int check_credential(ofp_piv_t *p, const uint8_t *cred, size_t len, uint32_t now, uint8_t *slot, char *err,
			    size_t err_len)
{
	ofp_credential_t c;
	ofp_fmt_error_t fe;

	if (ofp_credential_decode(cred, len, &c, &fe) != OFP_FMT_OK) {
		snprintf(err, err_len, "not a valid credential (%s: %s)", ofp_fmt_rc_name(fe.code), fe.reason);
		return OFP_CARD_REFUSED;
	}
	if (now >= c.not_after) {
		snprintf(err, err_len, "the credential (serial %llu) has expired: ask the issuer for a new one",
			 (unsigned long long)c.serial);
		return OFP_CARD_REFUSED;
	}
	return slot_for(p, &c, slot, err, err_len);
}

int ofp_card_put_credential(ofp_piv_t *p, const char *pin, const uint8_t *cred, size_t len, uint32_t now,
			    uint8_t *slot, char *err, size_t err_len)
{
	uint8_t *old = NULL, *obj = NULL;
	size_t old_len = 0, obj_len = 0;
	int rv = check_credential(p, cred, len, now, slot, err, err_len);

	if (rv == OFP_CARD_OK)
		rv = read_object(p, pin, &old, &old_len, err, err_len);
	if (rv == OFP_CARD_OK && ofp_card_cred_merge(old, old_len, cred, len, &obj, &obj_len) != 0) {
		snprintf(err, err_len, "reader '%s': the Printed Information object on the card is malformed, or "
				       "too full to take the credential", ofp_piv_reader(p));
		rv = OFP_CARD_FAILED;
	}
	if (rv == OFP_CARD_OK && ofp_piv_put_data(p, OFP_CARD_CRED_OBJECT, obj, obj_len) != OFP_PIV_OK) {
		snprintf(err, err_len, "reader '%s': storing the credential: %s", ofp_piv_reader(p), ofp_piv_error(p));
		rv = OFP_CARD_FAILED;
	}
	free(old);
	free(obj);
	return rv;
}

int ofp_card_get_credential(ofp_piv_t *p, const char *pin, uint8_t **cred, size_t *len, char *err, size_t err_len)
{
	uint8_t *obj = NULL;
	const uint8_t *c = NULL;
	size_t obj_len = 0, c_len = 0;
	int rv = read_object(p, pin, &obj, &obj_len, err, err_len), found;

	*cred = NULL;
	*len = 0;
	if (rv != OFP_CARD_OK)
		return rv;
	found = obj != NULL ? ofp_card_cred_extract(obj, obj_len, &c, &c_len) : 1;
	if (found < 0) {
		snprintf(err, err_len, "reader '%s': the Printed Information object is malformed", ofp_piv_reader(p));
		rv = OFP_CARD_FAILED;
	} else if (found == 1) {
		snprintf(err, err_len, "reader '%s': the card holds no credential (offpass-card put-credential FILE)",
			 ofp_piv_reader(p));
		rv = 1;
	} else if ((*cred = malloc(c_len + 1)) == NULL) {
		snprintf(err, err_len, "out of memory");
		rv = OFP_CARD_FAILED;
	} else {
		memcpy(*cred, c, c_len);
		*len = c_len;
	}
	free(obj);
	return rv;
}
