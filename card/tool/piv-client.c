/* piv-client.c - APDU framing (chaining, GET RESPONSE, 6Cxx), status words
 * in messages, and the PIV commands that need no cryptography here: PIN
 * and PUK, data objects, key generation and signatures, and the YubiKey
 * version, serial, metadata and reset. The management key lives in
 * piv-mgmt.c, PC/SC in piv-pcsc.c. */
#include "config.h"
#include "card/tool/piv-client.h"
#include "card/tool/piv-client_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secmem.h"

/* Whole answers are assembled up to this size (the largest PIV object is
 * about 3 KB; a certificate with room to spare). */
#define RESP_MAX 16384
/* One short response APDU: 256 data bytes and SW1 SW2. */
#define RAPDU_MAX (256 + 2)
#define SW_OK 0x9000

static const uint8_t piv_aid[] = { 0xa0, 0x00, 0x00, 0x03, 0x08 };

const uint8_t ofp_piv_default_mgm_key[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					      5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };

/* ---- errors ---------------------------------------------------------------- */

void ofp_piv_set_error(ofp_piv_t *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

const char *ofp_piv_error(const ofp_piv_t *p)
{
	return p->err;
}

uint16_t ofp_piv_sw(const ofp_piv_t *p)
{
	return p->sw;
}

const char *ofp_piv_reader(const ofp_piv_t *p)
{
	return p->reader;
}

int ofp_piv_sw_tries(uint16_t sw)
{
	if ((sw & 0xfff0) == 0x63c0)
		return sw & 0x0f;
	return sw == 0x6983 ? 0 : -1;
}

static const struct {
	uint16_t sw;
	const char *text;
} sw_texts[] = {
	{ 0x9000, "success" },
	{ 0x6983, "blocked" },
	{ 0x6982, "security status not satisfied" },
	{ 0x6985, "conditions of use not satisfied" },
	{ 0x6a80, "incorrect data" },
	{ 0x6a81, "function not supported" },
	{ 0x6a82, "not found" },
	{ 0x6a84, "not enough memory on the card" },
	{ 0x6a86, "incorrect P1/P2" },
	{ 0x6a88, "referenced data not found" },
	{ 0x6700, "wrong length" },
	{ 0x6b00, "wrong parameters" },
	{ 0x6d00, "instruction not supported" },
	{ 0x6e00, "class not supported" },
	{ 0x6581, "memory failure" },
	{ 0x6f00, "no precise diagnosis" },
};

void ofp_piv_sw_text(uint16_t sw, char *buf, size_t len)
{
	int tries = ofp_piv_sw_tries(sw);

	if ((sw & 0xfff0) == 0x63c0) {
		snprintf(buf, len, "%04X (%d %s left)", sw, tries, tries == 1 ? "try" : "tries");
		return;
	}
	for (size_t i = 0; i < OFP_ARRAY_LEN(sw_texts); i++) {
		if (sw_texts[i].sw == sw) {
			snprintf(buf, len, "%04X (%s)", sw, sw_texts[i].text);
			return;
		}
	}
	if ((sw & 0xff00) == 0x6100)
		snprintf(buf, len, "%04X (more data waiting)", sw);
	else if ((sw & 0xff00) == 0x6c00)
		snprintf(buf, len, "%04X (wrong Le: %u expected)", sw, sw & 0xff);
	else
		snprintf(buf, len, "%04X (unknown status)", sw);
}

/* "NAME: 63C2 (2 tries left)". */
static int sw_error(ofp_piv_t *p, const char *name)
{
	char text[64];

	ofp_piv_sw_text(p->sw, text, sizeof(text));
	ofp_piv_set_error(p, "%s: %s", name, text);
	return OFP_PIV_ERR;
}

/* ---- APDUs ----------------------------------------------------------------- */

/* One short APDU out, one response APDU back; p->sw set. rdata gets the
 * data (at most 256 bytes). */
static int exchange(ofp_piv_t *p, const char *name, uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2,
		    const uint8_t *data, size_t lc, bool le, int le_value, uint8_t *rdata, size_t *rlen)
{
	uint8_t apdu[5 + 255 + 1], resp[RAPDU_MAX + 2];
	size_t n = 0, got = 0;
	char err[256];
	int rv = OFP_PIV_ERR;

	apdu[n++] = cla;
	apdu[n++] = ins;
	apdu[n++] = p1;
	apdu[n++] = p2;
	if (lc > 0) {
		apdu[n++] = (uint8_t)lc;
		memcpy(apdu + n, data, lc);
		n += lc;
	}
	if (le)
		apdu[n++] = (uint8_t)le_value; /* 0: 256 */
	p->sw = 0;
	err[0] = '\0';
	if (p->t.transmit(p->t.ctx, apdu, n, resp, sizeof(resp), &got, err, sizeof(err)) != 0) {
		ofp_piv_set_error(p, "%s: %s", name, err[0] ? err : "the card did not answer");
		goto out;
	}
	if (got < 2 || got > RAPDU_MAX) {
		ofp_piv_set_error(p, "%s: malformed answer from the card (%zu bytes)", name, got);
		goto out;
	}
	p->sw = (uint16_t)(resp[got - 2] << 8 | resp[got - 1]);
	*rlen = got - 2;
	memcpy(rdata, resp, *rlen);
	rv = OFP_PIV_OK;
out:
	secmem_wipe(apdu, sizeof(apdu));
	secmem_wipe(resp, sizeof(resp));
	return rv;
}

typedef struct answer {
	uint8_t *buf; /* secmem: answers carry keys' witnesses and signatures */
	size_t len;
} answer_t;

static int answer_add(ofp_piv_t *p, const char *name, answer_t *a, const uint8_t *d, size_t n)
{
	if (n > RESP_MAX - a->len) {
		ofp_piv_set_error(p, "%s: the answer is longer than %d bytes", name, RESP_MAX);
		return OFP_PIV_ERR;
	}
	memcpy(a->buf + a->len, d, n);
	a->len += n;
	return OFP_PIV_OK;
}

/* The last piece of a command, then GET RESPONSE while 61xx says more is
 * waiting; a 6Cxx (wrong Le) is asked again with the Le it names. */
static int final_piece(ofp_piv_t *p, const char *name, uint8_t ins, uint8_t p1, uint8_t p2,
		       const uint8_t *data, size_t lc, bool want, answer_t *a)
{
	uint8_t rdata[RAPDU_MAX];
	size_t rlen = 0;
	int rv = exchange(p, name, 0x00, ins, p1, p2, data, lc, want, 0, rdata, &rlen);

	if (rv == OFP_PIV_OK && (p->sw & 0xff00) == 0x6c00)
		rv = exchange(p, name, 0x00, ins, p1, p2, data, lc, true, p->sw & 0xff, rdata, &rlen);
	while (rv == OFP_PIV_OK) {
		if (rlen > 0 && answer_add(p, name, a, rdata, rlen) != OFP_PIV_OK) {
			rv = OFP_PIV_ERR;
			break;
		}
		if ((p->sw & 0xff00) != 0x6100)
			break;
		rv = exchange(p, name, 0x00, 0xc0, 0x00, 0x00, NULL, 0, true, p->sw & 0xff, rdata, &rlen);
	}
	secmem_wipe(rdata, sizeof(rdata));
	if (rv == OFP_PIV_OK && p->sw != SW_OK)
		rv = sw_error(p, name);
	return rv;
}

int ofp_piv_command(ofp_piv_t *p, const char *name, uint8_t ins, uint8_t p1, uint8_t p2,
		    const uint8_t *data, size_t len, bool want_data, uint8_t **resp, size_t *resp_len)
{
	answer_t a = { NULL, 0 };
	uint8_t rdata[RAPDU_MAX];
	size_t rlen = 0;
	int rv = OFP_PIV_ERR;

	if (resp != NULL)
		*resp = NULL;
	if (resp_len != NULL)
		*resp_len = 0;
	a.buf = secmem_alloc(RESP_MAX);
	if (a.buf == NULL) {
		ofp_piv_set_error(p, "%s: out of memory", name);
		return OFP_PIV_ERR;
	}
	/* Chaining (ISO 7816-4 5.1.1): every piece but the last has CLA 10. */
	while (len > 255) {
		if (exchange(p, name, 0x10, ins, p1, p2, data, 255, false, 0, rdata, &rlen) != OFP_PIV_OK)
			goto out;
		if (p->sw != SW_OK) {
			sw_error(p, name);
			goto out;
		}
		data += 255;
		len -= 255;
	}
	rv = final_piece(p, name, ins, p1, p2, data, len, want_data, &a);
	if (rv == OFP_PIV_OK && resp != NULL) {
		/* One spare byte: an empty answer is still a buffer. */
		*resp = malloc(a.len + 1);
		if (*resp == NULL) {
			ofp_piv_set_error(p, "%s: out of memory", name);
			rv = OFP_PIV_ERR;
		} else {
			memcpy(*resp, a.buf, a.len);
			*resp_len = a.len;
		}
	}
out:
	secmem_wipe(rdata, sizeof(rdata));
	secmem_free(a.buf, RESP_MAX);
	return rv;
}

/* ---- the session -------------------------------------------------------------- */

int ofp_piv_open(const ofp_piv_transport_t *t, const char *reader, ofp_piv_t **out, char *err,
		 size_t err_len)
{
	ofp_piv_t *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL) {
		snprintf(err, err_len, "out of memory");
		if (t->close != NULL)
			t->close(t->ctx);
		return OFP_PIV_ERR;
	}
	p->t = *t;
	snprintf(p->reader, sizeof(p->reader), "%s", reader != NULL ? reader : "card");
	/* SELECT by the PIV AID's right-truncated form (SP 800-73-4 part 2, 3.1.1). */
	if (ofp_piv_command(p, "SELECT PIV", 0xa4, 0x04, 0x00, piv_aid, sizeof(piv_aid), true, NULL,
			    NULL) != OFP_PIV_OK) {
		snprintf(err, err_len, "reader '%s': %s%s", p->reader, p->err,
			 p->sw == 0x6a82 ? ": the card has no PIV application" : "");
		ofp_piv_close(p);
		return OFP_PIV_ERR;
	}
	*out = p;
	return OFP_PIV_OK;
}

void ofp_piv_close(ofp_piv_t *p)
{
	if (p == NULL)
		return;
	if (p->t.close != NULL)
		p->t.close(p->t.ctx);
	secmem_wipe(p, sizeof(*p));
	free(p);
}

/* ---- PIN and PUK ------------------------------------------------------------------ */

bool ofp_piv_pin_ok(const char *pin)
{
	size_t n = pin != NULL ? strlen(pin) : 0;

	return n >= OFP_PIV_PIN_MIN && n <= OFP_PIV_PIN_MAX;
}

/* 8 bytes padded with FF (SP 800-73-4 part 2, 2.4.3). */
static void pad_pin(const char *pin, uint8_t out[8])
{
	size_t n = strlen(pin);

	memset(out, 0xff, 8);
	memcpy(out, pin, n);
}

static int check_pin(ofp_piv_t *p, const char *name, const char *what, const char *value)
{
	if (ofp_piv_pin_ok(value))
		return OFP_PIV_OK;
	p->sw = 0;
	ofp_piv_set_error(p, "%s: the %s must be %d to %d characters", name, what, OFP_PIV_PIN_MIN,
			  OFP_PIV_PIN_MAX);
	return OFP_PIV_ERR;
}

int ofp_piv_pin_status(ofp_piv_t *p, bool *verified, int *tries_left)
{
	int rv = ofp_piv_command(p, "VERIFY (PIN status)", 0x20, 0x00, OFP_PIV_REF_PIN, NULL, 0, false,
				 NULL, NULL);

	*verified = rv == OFP_PIV_OK;
	*tries_left = ofp_piv_sw_tries(p->sw);
	/* 63Cx and 6983 are answers here, not failures. */
	return rv == OFP_PIV_OK || *tries_left >= 0 ? OFP_PIV_OK : OFP_PIV_ERR;
}

int ofp_piv_verify_pin(ofp_piv_t *p, const char *pin)
{
	uint8_t buf[8];
	int rv;

	if (check_pin(p, "VERIFY", "PIN", pin) != OFP_PIV_OK)
		return OFP_PIV_ERR;
	pad_pin(pin, buf);
	rv = ofp_piv_command(p, "VERIFY", 0x20, 0x00, OFP_PIV_REF_PIN, buf, sizeof(buf), false, NULL, NULL);
	secmem_wipe(buf, sizeof(buf));
	return rv;
}

int ofp_piv_pin_logout(ofp_piv_t *p)
{
	return ofp_piv_command(p, "VERIFY (reset the PIN status)", 0x20, 0xff, OFP_PIV_REF_PIN, NULL, 0, false,
			       NULL, NULL);
}

/* old || new, 16 bytes: CHANGE REFERENCE DATA and RESET RETRY COUNTER. */
static int two_values(ofp_piv_t *p, const char *name, uint8_t ins, uint8_t ref, const char *what1,
		      const char *v1, const char *what2, const char *v2)
{
	uint8_t buf[16];
	int rv;

	if (check_pin(p, name, what1, v1) != OFP_PIV_OK || check_pin(p, name, what2, v2) != OFP_PIV_OK)
		return OFP_PIV_ERR;
	pad_pin(v1, buf);
	pad_pin(v2, buf + 8);
	rv = ofp_piv_command(p, name, ins, 0x00, ref, buf, sizeof(buf), false, NULL, NULL);
	secmem_wipe(buf, sizeof(buf));
	return rv;
}

int ofp_piv_change_reference(ofp_piv_t *p, uint8_t ref, const char *old_value, const char *new_value)
{
	bool pin = ref == OFP_PIV_REF_PIN;

	if (!pin && ref != OFP_PIV_REF_PUK) {
		ofp_piv_set_error(p, "CHANGE REFERENCE DATA: reference %02X is not the PIN or the PUK", ref);
		return OFP_PIV_ERR;
	}
	return two_values(p, pin ? "CHANGE REFERENCE DATA (PIN)" : "CHANGE REFERENCE DATA (PUK)", 0x24, ref,
			  pin ? "current PIN" : "current PUK", old_value, pin ? "new PIN" : "new PUK", new_value);
}

int ofp_piv_unblock_pin(ofp_piv_t *p, const char *puk, const char *new_pin)
{
	return two_values(p, "RESET RETRY COUNTER", 0x2c, OFP_PIV_REF_PIN, "PUK", puk, "new PIN", new_pin);
}

/* ---- keys ----------------------------------------------------------------------------- */

static bool slot_ok(uint8_t slot)
{
	return slot == OFP_PIV_SLOT_AUTH || slot == OFP_PIV_SLOT_SIGN || slot == OFP_PIV_SLOT_KEYMGMT ||
	       slot == OFP_PIV_SLOT_CARDAUTH;
}

/* The TLV tag inside the TLV outer that fills resp exactly. */
static int inner(ofp_piv_t *p, const char *name, const uint8_t *resp, size_t len, uint32_t outer,
		 uint32_t tag, ofp_tlv_t *out)
{
	const uint8_t *pos = resp;
	ofp_tlv_t o;

	if (ofp_tlv_next(&pos, resp + len, &o) != 0 || o.tag != outer || pos != resp + len ||
	    ofp_tlv_find(o.val, o.len, tag, out) != 0) {
		ofp_piv_set_error(p, "%s: malformed answer (no %X in %X)", name, (unsigned)tag, (unsigned)outer);
		return OFP_PIV_ERR;
	}
	return OFP_PIV_OK;
}

int ofp_piv_generate(ofp_piv_t *p, uint8_t slot, uint8_t pin_policy, uint8_t pub[OFP_PIV_P256_POINT_LEN])
{
	uint8_t tmpl[] = { 0xac, 0x06, 0x80, 0x01, OFP_PIV_ALG_ECCP256, 0xaa, 0x01, pin_policy };
	uint8_t *resp = NULL;
	size_t len = 0;
	ofp_tlv_t point;
	char name[64];
	int rv;

	snprintf(name, sizeof(name), "GENERATE ASYMMETRIC KEY PAIR %02X", slot);
	if (!slot_ok(slot) || pin_policy > OFP_PIV_PIN_POLICY_ALWAYS) {
		ofp_piv_set_error(p, "%s: slot %02X or PIN policy %u is not one of PIV's", name, slot, pin_policy);
		return OFP_PIV_ERR;
	}
	/* No AA at all for the default: cards without PIN policies refuse it. */
	if (pin_policy == OFP_PIV_PIN_POLICY_DEFAULT)
		tmpl[1] = 0x03;
	rv = ofp_piv_command(p, name, 0x47, 0x00, slot, tmpl, pin_policy ? sizeof(tmpl) : 5, true, &resp, &len);
	if (rv == OFP_PIV_OK)
		rv = inner(p, name, resp, len, 0x7f49, 0x86, &point);
	if (rv == OFP_PIV_OK && (point.len != OFP_PIV_P256_POINT_LEN || point.val[0] != 0x04)) {
		ofp_piv_set_error(p, "%s: the public key is not an uncompressed P-256 point (%zu bytes)", name,
				  point.len);
		rv = OFP_PIV_ERR;
	}
	if (rv == OFP_PIV_OK)
		memcpy(pub, point.val, OFP_PIV_P256_POINT_LEN);
	free(resp);
	return rv;
}

int ofp_piv_sign(ofp_piv_t *p, uint8_t slot, const uint8_t *digest, size_t digest_len, uint8_t *sig,
		 size_t *sig_len)
{
	uint8_t tmpl[2 + 2 + 2 + 32];
	uint8_t *resp = NULL;
	size_t len = 0, n = digest_len > 32 ? 32 : digest_len;
	ofp_tlv_t s;
	char name[64];
	int rv;

	snprintf(name, sizeof(name), "GENERAL AUTHENTICATE %02X (sign)", slot);
	if (!slot_ok(slot) || n == 0) {
		ofp_piv_set_error(p, "%s: no such slot, or nothing to sign", name);
		return OFP_PIV_ERR;
	}
	/* 7C { 82 00 (the signature, please), 81 digest }. */
	tmpl[0] = 0x7c;
	tmpl[1] = (uint8_t)(4 + n);
	tmpl[2] = 0x82;
	tmpl[3] = 0x00;
	tmpl[4] = 0x81;
	tmpl[5] = (uint8_t)n;
	memcpy(tmpl + 6, digest, n);
	rv = ofp_piv_command(p, name, 0x87, OFP_PIV_ALG_ECCP256, slot, tmpl, 6 + n, true, &resp, &len);
	if (rv == OFP_PIV_OK)
		rv = inner(p, name, resp, len, 0x7c, 0x82, &s);
	if (rv == OFP_PIV_OK && (s.len < 8 || s.len > OFP_PIV_SIG_MAX || s.val[0] != 0x30)) {
		ofp_piv_set_error(p, "%s: the signature is not a DER ECDSA signature (%zu bytes)", name, s.len);
		rv = OFP_PIV_ERR;
	}
	if (rv == OFP_PIV_OK) {
		memcpy(sig, s.val, s.len);
		*sig_len = s.len;
	}
	free(resp);
	return rv;
}

/* ---- data objects -------------------------------------------------------------------- */

/* 5C with the tag in as many bytes as it has. */
static size_t tag_list(uint32_t tag, uint8_t out[5])
{
	size_t n = tag > 0xffff ? 3 : tag > 0xff ? 2 : 1;

	out[0] = 0x5c;
	out[1] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		out[2 + i] = (uint8_t)(tag >> (8 * (n - 1 - i)));
	return 2 + n;
}

int ofp_piv_get_data(ofp_piv_t *p, uint32_t tag, uint8_t **val, size_t *len)
{
	uint8_t list[5], *resp = NULL;
	size_t rlen = 0;
	ofp_tlv_t v;
	const uint8_t *pos;
	char name[64];
	int rv;

	*val = NULL;
	*len = 0;
	snprintf(name, sizeof(name), "GET DATA %X", (unsigned)tag);
	rv = ofp_piv_command(p, name, 0xcb, 0x3f, 0xff, list, tag_list(tag, list), true, &resp, &rlen);
	if (rv != OFP_PIV_OK) {
		if (p->sw == 0x6a82)
			return OFP_PIV_ABSENT;
		if (p->sw == 0x6982)
			ofp_piv_set_error(p, "%s: %s", name, "6982 (security status not satisfied): the object is "
						     "read only after the PIN");
		return OFP_PIV_ERR;
	}
	pos = resp;
	/* The Discovery object answers 7E {...}; everything else 53 {...}. */
	if (ofp_tlv_next(&pos, resp + rlen, &v) != 0 || pos != resp + rlen || (v.tag != 0x53 && v.tag != 0x7e)) {
		ofp_piv_set_error(p, "%s: malformed answer (not one 53 object)", name);
		rv = OFP_PIV_ERR;
	} else {
		*val = malloc(v.len + 1);
		if (*val == NULL) {
			ofp_piv_set_error(p, "%s: out of memory", name);
			rv = OFP_PIV_ERR;
		} else {
			memcpy(*val, v.val, v.len);
			*len = v.len;
		}
	}
	free(resp);
	return rv;
}

int ofp_piv_put_data(ofp_piv_t *p, uint32_t tag, const uint8_t *val, size_t len)
{
	uint8_t *cmd = NULL;
	size_t n, cap = len + 16;
	char name[64];
	int rv = OFP_PIV_ERR;

	snprintf(name, sizeof(name), "PUT DATA %X", (unsigned)tag);
	if (len > OFP_PIV_OBJECT_MAX) {
		ofp_piv_set_error(p, "%s: %zu bytes, more than the %d a PIV object holds here", name, len,
				  OFP_PIV_OBJECT_MAX);
		return OFP_PIV_ERR;
	}
	cmd = malloc(cap);
	if (cmd == NULL) {
		ofp_piv_set_error(p, "%s: out of memory", name);
		return OFP_PIV_ERR;
	}
	n = tag_list(tag, cmd);
	if (ofp_tlv_put(cmd, cap, &n, 0x53, val, len) != 0)
		ofp_piv_set_error(p, "%s: cannot encode the object", name);
	else
		rv = ofp_piv_command(p, name, 0xdb, 0x3f, 0xff, cmd, n, false, NULL, NULL);
	if (rv != OFP_PIV_OK && p->sw == 0x6982)
		ofp_piv_set_error(p, "%s: 6982 (security status not satisfied): the management key is needed",
				  name);
	free(cmd);
	return rv;
}

/* ---- YubiKey extensions ------------------------------------------------------------------ */

/* A card without the instruction says so in one of these ways. */
static bool unsupported(uint16_t sw)
{
	return sw == 0x6d00 || sw == 0x6e00 || sw == 0x6a81;
}

/* A command of the YubiKey set that answers exactly n bytes. */
static int fixed_answer(ofp_piv_t *p, const char *name, uint8_t ins, uint8_t *out, size_t n)
{
	uint8_t *resp = NULL;
	size_t len = 0;
	int rv = ofp_piv_command(p, name, ins, 0x00, 0x00, NULL, 0, true, &resp, &len);

	if (rv != OFP_PIV_OK)
		return unsupported(p->sw) ? OFP_PIV_UNSUPPORTED : OFP_PIV_ERR;
	if (len != n) {
		ofp_piv_set_error(p, "%s: %zu bytes, not %zu", name, len, n);
		rv = OFP_PIV_ERR;
	} else {
		memcpy(out, resp, n);
	}
	free(resp);
	return rv;
}

int ofp_piv_probe(ofp_piv_t *p, const char *name, uint8_t ins, uint8_t p1, uint8_t p2)
{
	if (ofp_piv_command(p, name, ins, p1, p2, NULL, 0, false, NULL, NULL) == OFP_PIV_OK)
		return OFP_PIV_OK;
	if (p->sw == 0)
		return OFP_PIV_ERR;
	return unsupported(p->sw) ? OFP_PIV_UNSUPPORTED : OFP_PIV_OK;
}

int ofp_piv_get_version(ofp_piv_t *p, uint8_t version[3])
{
	return fixed_answer(p, "GET VERSION", 0xfd, version, 3);
}

int ofp_piv_get_serial(ofp_piv_t *p, uint32_t *serial)
{
	uint8_t b[4];
	int rv = fixed_answer(p, "GET SERIAL", 0xf8, b, sizeof(b));

	if (rv == OFP_PIV_OK)
		*serial = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return rv;
}

static int metadata_item(ofp_piv_metadata_t *md, const ofp_tlv_t *t)
{
	ofp_tlv_t point;

	switch (t->tag) {
	case 0x01:
		if (t->len != 1)
			return -1;
		md->alg = t->val[0];
		return 0;
	case 0x02:
		if (t->len != 2)
			return -1;
		md->pin_policy = t->val[0];
		md->touch_policy = t->val[1];
		return 0;
	case 0x03:
		if (t->len != 1)
			return -1;
		md->origin = t->val[0];
		return 0;
	case 0x04:
		if (ofp_tlv_find(t->val, t->len, 0x86, &point) != 0 || point.len > sizeof(md->pub))
			return -1;
		memcpy(md->pub, point.val, point.len);
		md->pub_len = point.len;
		return 0;
	case 0x05:
		if (t->len != 1)
			return -1;
		md->is_default = t->val[0] != 0;
		return 0;
	case 0x06:
		if (t->len != 2)
			return -1;
		md->tries_total = t->val[0];
		md->tries_left = t->val[1];
		return 0;
	default:
		return 0; /* later firmware adds items: skip them */
	}
}

int ofp_piv_get_metadata(ofp_piv_t *p, uint8_t ref, ofp_piv_metadata_t *md)
{
	uint8_t *resp = NULL;
	size_t len = 0;
	const uint8_t *pos, *end;
	ofp_tlv_t t;
	char name[64];
	int rv;

	memset(md, 0, sizeof(*md));
	md->tries_total = md->tries_left = -1;
	snprintf(name, sizeof(name), "GET METADATA %02X", ref);
	rv = ofp_piv_command(p, name, 0xf7, 0x00, ref, NULL, 0, true, &resp, &len);
	if (rv != OFP_PIV_OK) {
		if (p->sw == 0x6a88)
			return OFP_PIV_ABSENT;
		return unsupported(p->sw) ? OFP_PIV_UNSUPPORTED : OFP_PIV_ERR;
	}
	pos = resp;
	end = resp + len;
	while (rv == OFP_PIV_OK && pos < end) {
		if (ofp_tlv_next(&pos, end, &t) != 0 || metadata_item(md, &t) != 0) {
			ofp_piv_set_error(p, "%s: malformed answer", name);
			rv = OFP_PIV_ERR;
		}
	}
	free(resp);
	return rv;
}

int ofp_piv_reset(ofp_piv_t *p)
{
	int rv = ofp_piv_command(p, "RESET", 0xfb, 0x00, 0x00, NULL, 0, false, NULL, NULL);

	if (rv != OFP_PIV_OK && p->sw == 0x6985)
		ofp_piv_set_error(p, "RESET: 6985 (conditions of use not satisfied): the card resets only "
				     "when both the PIN and the PUK are blocked");
	return rv;
}

/* ---- BER-TLV ---------------------------------------------------------------------------------- */

int ofp_tlv_next(const uint8_t **pos, const uint8_t *end, ofp_tlv_t *out)
{
	const uint8_t *q = *pos;
	size_t len = 0, nlen;

	if (q >= end)
		return -1;
	out->tag = *q++;
	/* Tags of 2 or 3 bytes: low five bits all set, then bytes with b8 set
	 * while more follow (ISO 7816-4 5.2.2.1). */
	if ((out->tag & 0x1f) == 0x1f) {
		for (int i = 0;; i++) {
			if (q >= end || i == 2)
				return -1;
			out->tag = out->tag << 8 | *q;
			if ((*q++ & 0x80) == 0)
				break;
		}
	}
	if (q >= end)
		return -1;
	if (*q < 0x80) {
		len = *q++;
	} else {
		nlen = *q++ & 0x7f;
		if (nlen == 0 || nlen > 3 || (size_t)(end - q) < nlen)
			return -1;
		while (nlen-- > 0)
			len = len << 8 | *q++;
	}
	if ((size_t)(end - q) < len)
		return -1;
	out->val = q;
	out->len = len;
	*pos = q + len;
	return 0;
}

int ofp_tlv_find(const uint8_t *buf, size_t len, uint32_t tag, ofp_tlv_t *out)
{
	const uint8_t *pos = buf, *end = buf + len;

	while (pos < end) {
		if (ofp_tlv_next(&pos, end, out) != 0)
			return -1;
		if (out->tag == tag)
			return 0;
	}
	return 1;
}

int ofp_tlv_put(uint8_t *out, size_t cap, size_t *at, uint32_t tag, const uint8_t *val, size_t len)
{
	uint8_t hdr[8];
	size_t n = 0;

	if (tag > 0xffff)
		hdr[n++] = (uint8_t)(tag >> 16);
	if (tag > 0xff)
		hdr[n++] = (uint8_t)(tag >> 8);
	hdr[n++] = (uint8_t)tag;
	if (len < 0x80) {
		hdr[n++] = (uint8_t)len;
	} else if (len <= 0xff) {
		hdr[n++] = 0x81;
		hdr[n++] = (uint8_t)len;
	} else if (len <= 0xffff) {
		hdr[n++] = 0x82;
		hdr[n++] = (uint8_t)(len >> 8);
		hdr[n++] = (uint8_t)len;
	} else {
		return -1;
	}
	if (*at > cap || cap - *at < n || cap - *at - n < (val != NULL ? len : 0))
		return -1;
	memcpy(out + *at, hdr, n);
	*at += n;
	if (val != NULL && len > 0) {
		memcpy(out + *at, val, len);
		*at += len;
	}
	return 0;
}
