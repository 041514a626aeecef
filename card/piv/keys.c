/* keys.c - GENERATE ASYMMETRIC KEY PAIR, GENERAL AUTHENTICATE with the
 * asymmetric keys (ECDSA, ECDH), and the YubiKey GET METADATA. */
#include "piv_int.h"

#include <string.h>

/* SP 800-73-4 part 1 table 4b: 9A and 9D PIN once, 9C PIN always, 9E none. */
static uint8_t default_policy(uint8_t ref)
{
	switch (ref) {
	case PIV_KEY_SIGN:
		return PIV_PINPOLICY_ALWAYS;
	case PIV_KEY_CARDAUTH:
		return PIV_PINPOLICY_NEVER;
	default:
		return PIV_PINPOLICY_ONCE;
	}
}

struct gen_template {
	uint8_t alg, pin_policy, touch_policy;
};

/* AC { 80 alg [AA pin-policy] [AB touch-policy] }, each at most once. */
static int parse_gen_template(const struct piv_cmd *cmd, struct gen_template *g)
{
	struct piv_tlv ac, t;
	unsigned seen = 0;
	memset(g, 0, sizeof(*g));
	if (tlv_whole(cmd->data, cmd->lc, 0xac, &ac) != 0)
		return -1;
	const uint8_t *p = ac.val, *end = ac.val + ac.len;
	while (p < end) {
		if (tlv_next(&p, end, &t) != 0 || t.len != 1)
			return -1;
		unsigned bit = t.tag == 0x80 ? 1u : t.tag == 0xaa ? 2u : t.tag == 0xab ? 4u : 0u;
		if (bit == 0 || (seen & bit))
			return -1;
		seen |= bit;
		if (bit == 1)
			g->alg = t.val[0];
		else if (bit == 2)
			g->pin_policy = t.val[0];
		else
			g->touch_policy = t.val[0];
	}
	/* No touch sensor here: only "default" or "never" can be honoured. */
	if (!(seen & 1) || piv_ec_len(g->alg) == 0 || g->pin_policy > PIV_PINPOLICY_ALWAYS ||
	    g->touch_policy > 1)
		return -1;
	return 0;
}

static uint16_t public_key_response(struct piv_card *c, const struct piv_key *k)
{
	struct piv_buf b = resp_buf(c);
	size_t m = buf_open(&b, 0x7f49);
	buf_tlv(&b, 0x86, k->pub, 2 * piv_ec_len(k->alg) + 1);
	buf_close(&b, m);
	return resp_done(c, &b);
}

uint16_t cmd_generate(struct piv_card *c, const struct piv_cmd *cmd)
{
	struct gen_template g;
	struct piv_key fresh;
	if (cmd->p1 != 0x00)
		return SW_WRONG_P1P2;
	struct piv_key *k = state_key(c, cmd->p2);
	if (k == NULL)
		return SW_WRONG_P1P2;
	if (!c->mgm_authed)
		return SW_SECURITY;
	if (cmd->lc == 0)
		return SW_WRONG_LENGTH;
	if (parse_gen_template(cmd, &g) != 0)
		return SW_WRONG_DATA;
	memset(&fresh, 0, sizeof(fresh));
	fresh.alg = g.alg;
	fresh.pin_policy = g.pin_policy ? g.pin_policy : default_policy(cmd->p2);
	fresh.touch_policy = 1;
	fresh.origin = 1;
	if (c->host->ec_generate(c->host->ctx, g.alg, fresh.priv, fresh.pub) != 0 ||
	    fresh.pub[0] != 0x04) {
		piv_wipe(&fresh, sizeof(fresh));
		return SW_INTERNAL;
	}
	state_begin(c);
	memcpy(k, &fresh, sizeof(fresh));
	piv_wipe(&fresh, sizeof(fresh));
	uint16_t sw = state_commit(c);
	if (sw != SW_OK)
		return sw;
	return public_key_response(c, k);
}

static bool pin_allows(const struct piv_card *c, const struct piv_key *k)
{
	switch (k->pin_policy) {
	case PIV_PINPOLICY_NEVER:
		return true;
	case PIV_PINPOLICY_ALWAYS:
		return c->pin_verified && c->cmd_always;
	default:
		return c->pin_verified;
	}
}

struct ga_request {
	const uint8_t *input;
	size_t input_len;
	bool derive; /* 85 (ECDH) rather than 81 (sign) */
};

/* 7C { 82 00 (response wanted), 81 digest | 85 point }, in any order. */
static int parse_ga(const uint8_t *tmpl, size_t len, struct ga_request *r)
{
	struct piv_tlv t;
	bool want = false, have = false;
	const uint8_t *p = tmpl, *end = tmpl + len;
	while (p < end) {
		if (tlv_next(&p, end, &t) != 0)
			return -1;
		if (t.tag == 0x82 && t.len == 0 && !want) {
			want = true;
		} else if ((t.tag == 0x81 || t.tag == 0x85) && t.len > 0 && !have) {
			have = true;
			r->input = t.val;
			r->input_len = t.len;
			r->derive = t.tag == 0x85;
		} else {
			return -1;
		}
	}
	return want && have ? 0 : -1;
}

static uint16_t ga_output(struct piv_card *c, const uint8_t *v, size_t len)
{
	struct piv_buf b = resp_buf(c);
	size_t m = buf_open(&b, 0x7c);
	buf_tlv(&b, 0x82, v, len);
	buf_close(&b, m);
	return resp_done(c, &b);
}

static uint16_t ga_sign(struct piv_card *c, const struct piv_key *k, const struct ga_request *r)
{
	uint8_t sig[PIV_SIG_MAX];
	size_t sig_len = sizeof(sig);
	/* A digest longer than the order counts by its leftmost bits (FIPS
	 * 186-4 6.4; PKCS#11 leaves the truncation to the token): for P-256
	 * and P-384 that is the leftmost n bytes. */
	size_t len = r->input_len;
	if (len > piv_ec_len(k->alg))
		len = piv_ec_len(k->alg);
	if (c->host->ec_sign(c->host->ctx, k->alg, k->priv, k->pub, r->input, len, sig,
			     &sig_len) != 0 ||
	    sig_len > sizeof(sig))
		return SW_INTERNAL;
	return ga_output(c, sig, sig_len);
}

static uint16_t ga_derive(struct piv_card *c, uint8_t ref, const struct piv_key *k,
			  const struct ga_request *r)
{
	uint8_t secret[PIV_EC_MAX];
	size_t n = piv_ec_len(k->alg);
	/* Key agreement is the job of the key management key (and 9A may do
	 * it); the signature keys never act as a decryption oracle. */
	if (ref != PIV_KEY_KEYMGMT && ref != PIV_KEY_AUTH)
		return SW_WRONG_DATA;
	if (r->input_len != 2 * n + 1 || r->input[0] != 0x04)
		return SW_WRONG_DATA;
	if (c->host->ecdh(c->host->ctx, k->alg, k->priv, k->pub, r->input, r->input_len,
			  secret) != 0)
		return SW_WRONG_DATA;
	uint16_t sw = ga_output(c, secret, n);
	piv_wipe(secret, sizeof(secret));
	return sw;
}

uint16_t cmd_general_authenticate(struct piv_card *c, const struct piv_cmd *cmd)
{
	struct piv_tlv t;
	struct ga_request r = { NULL, 0, false };
	if (cmd->lc == 0)
		return SW_WRONG_LENGTH;
	if (tlv_whole(cmd->data, cmd->lc, 0x7c, &t) != 0)
		return SW_WRONG_DATA;
	if (cmd->p2 == PIV_KEY_MGMT)
		return cmd_mgmt_authenticate(c, cmd, t.val, t.len);
	const struct piv_key *k = state_key(c, cmd->p2);
	if (k == NULL)
		return SW_WRONG_P1P2;
	if (k->alg == 0)
		return SW_REF_NOT_FOUND;
	if (cmd->p1 != k->alg)
		return SW_WRONG_P1P2;
	if (parse_ga(t.val, t.len, &r) != 0)
		return SW_WRONG_DATA;
	if (!pin_allows(c, k))
		return SW_SECURITY;
	return r.derive ? ga_derive(c, cmd->p2, k, &r) : ga_sign(c, k, &r);
}

/* ---- GET METADATA (YubiKey 5.3): what a slot holds, without using it. ---- */

static void meta_byte(struct piv_buf *b, uint8_t tag, uint8_t v)
{
	buf_tlv(b, tag, &v, 1);
}

static void meta_pair(struct piv_buf *b, uint8_t tag, uint8_t v1, uint8_t v2)
{
	const uint8_t v[2] = { v1, v2 };
	buf_tlv(b, tag, v, 2);
}

uint16_t cmd_get_metadata(struct piv_card *c, const struct piv_cmd *cmd)
{
	struct piv_buf b = resp_buf(c);
	if (cmd->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (cmd->lc != 0)
		return SW_WRONG_LENGTH;
	if (cmd->p2 == PIV_REF_PIN || cmd->p2 == PIV_REF_PUK) {
		bool pin = cmd->p2 == PIV_REF_PIN;
		meta_byte(&b, 0x01, 0xff);
		meta_byte(&b, 0x05, state_is_default_pin(c, cmd->p2));
		meta_pair(&b, 0x06, pin ? c->p.pin_max : c->p.puk_max,
			  pin ? c->p.pin_left : c->p.puk_left);
		return resp_done(c, &b);
	}
	if (cmd->p2 == PIV_KEY_MGMT) {
		meta_byte(&b, 0x01, c->p.mgm_alg);
		meta_pair(&b, 0x02, 0x00, 0x01);
		meta_byte(&b, 0x05, state_is_default_mgm(c));
		return resp_done(c, &b);
	}
	const struct piv_key *k = state_key(c, cmd->p2);
	if (k == NULL)
		return SW_WRONG_P1P2;
	if (k->alg == 0)
		return SW_REF_NOT_FOUND;
	meta_byte(&b, 0x01, k->alg);
	meta_pair(&b, 0x02, k->pin_policy, k->touch_policy);
	meta_byte(&b, 0x03, k->origin);
	size_t m = buf_open(&b, 0x04);
	buf_tlv(&b, 0x86, k->pub, 2 * piv_ec_len(k->alg) + 1);
	buf_close(&b, m);
	return resp_done(c, &b);
}
