/* mgmt.c - the card management key (9B): GENERAL AUTHENTICATE challenge-
 * response (SP 800-73-4 part 2, appendix A) and the YubiKey SET MANAGEMENT
 * KEY.
 *
 * Two exchanges, both two commands long, the second of which must come
 * right after the first (any other command cancels it):
 *   external: 7C{81 00}            -> 7C{81 challenge}
 *             7C{82 E(challenge)}  -> 9000
 *   mutual:   7C{80 00}            -> 7C{80 E(witness)}       (ykpiv)
 *             7C{80 witness, 81 C} -> 7C{82 E(C)}
 * The card only ever encrypts: the host proves the key by decrypting the
 * witness or encrypting the challenge. A 7C{81 00} with algorithm 00 is
 * OpenSC's GET CHALLENGE (random bytes) and arms nothing. A failed
 * exchange drops any management-key authentication. */
#include "piv_int.h"

#include <string.h>

struct mgmt_items {
	struct piv_tlv witness, challenge, response; /* 80, 81, 82 */
	unsigned seen;
};

enum { HAS_80 = 1, HAS_81 = 2, HAS_82 = 4 };

static int parse_items(const uint8_t *tmpl, size_t len, struct mgmt_items *m)
{
	const uint8_t *p = tmpl, *end = tmpl + len;
	struct piv_tlv t;
	memset(m, 0, sizeof(*m));
	while (p < end) {
		if (tlv_next(&p, end, &t) != 0)
			return -1;
		unsigned bit = t.tag == 0x80 ? HAS_80 : t.tag == 0x81 ? HAS_81 : t.tag == 0x82 ? HAS_82 : 0;
		if (bit == 0 || (m->seen & bit))
			return -1;
		m->seen |= bit;
		if (bit == HAS_80)
			m->witness = t;
		else if (bit == HAS_81)
			m->challenge = t;
		else
			m->response = t;
	}
	return 0;
}

static int encrypt_block(struct piv_card *c, const uint8_t *in, uint8_t *out)
{
	return c->host->block_encrypt(c->host->ctx, c->p.mgm_alg, c->p.mgm_key,
				      piv_sym_key_len(c->p.mgm_alg), in, out);
}

static uint16_t answer(struct piv_card *c, uint32_t tag, const uint8_t *v, size_t len)
{
	struct piv_buf b = resp_buf(c);
	size_t m = buf_open(&b, 0x7c);
	buf_tlv(&b, tag, v, len);
	buf_close(&b, m);
	return resp_done(c, &b);
}

/* A fresh nonce; with encrypt, answer E(nonce) rather than the nonce. */
static uint16_t start(struct piv_card *c, uint8_t state, uint32_t tag, bool encrypt)
{
	size_t bl = piv_block_len(c->p.mgm_alg);
	uint8_t out[16];
	if (c->host->rand(c->host->ctx, c->auth_nonce, bl) != 0)
		return SW_INTERNAL;
	if (encrypt && encrypt_block(c, c->auth_nonce, out) != 0)
		return SW_INTERNAL;
	uint16_t sw = answer(c, tag, encrypt ? out : c->auth_nonce, bl);
	if (sw == SW_OK)
		c->auth_state = state;
	return sw;
}

/* External, step 2: the host's E(challenge). */
static uint16_t finish_external(struct piv_card *c, const struct piv_tlv *resp)
{
	size_t bl = piv_block_len(c->p.mgm_alg);
	uint8_t expect[16];
	if (c->cmd_auth != AUTH_EXTERNAL)
		return SW_SECURITY;
	if (resp->len != bl)
		return SW_WRONG_DATA;
	if (encrypt_block(c, c->auth_nonce, expect) != 0)
		return SW_INTERNAL;
	bool ok = piv_equal(expect, resp->val, bl);
	piv_wipe(expect, sizeof(expect));
	if (!ok)
		return SW_SECURITY;
	c->mgm_authed = true;
	return SW_OK;
}

/* Mutual, step 2: the decrypted witness and the host's own challenge. */
static uint16_t finish_mutual(struct piv_card *c, const struct mgmt_items *m)
{
	size_t bl = piv_block_len(c->p.mgm_alg);
	uint8_t out[16];
	if (c->cmd_auth != AUTH_MUTUAL)
		return SW_SECURITY;
	if (m->witness.len != bl || m->challenge.len != bl)
		return SW_WRONG_DATA;
	if (!piv_equal(c->auth_nonce, m->witness.val, bl))
		return SW_SECURITY;
	if (encrypt_block(c, m->challenge.val, out) != 0)
		return SW_INTERNAL;
	uint16_t sw = answer(c, 0x82, out, bl);
	c->mgm_authed = sw == SW_OK;
	return sw;
}

static uint16_t dispatch(struct piv_card *c, const struct piv_cmd *cmd, const struct mgmt_items *m)
{
	bool get_challenge = cmd->p1 == 0x00;
	if (m->seen == HAS_81 && m->challenge.len == 0)
		return start(c, get_challenge ? AUTH_NONE : AUTH_EXTERNAL, 0x81, false);
	if (get_challenge)
		return SW_WRONG_P1P2;
	if (m->seen == HAS_82 && m->response.len > 0)
		return finish_external(c, &m->response);
	if (m->seen == HAS_80 && m->witness.len == 0)
		return start(c, AUTH_MUTUAL, 0x80, true);
	if (m->seen == (HAS_80 | HAS_81))
		return finish_mutual(c, m);
	return SW_WRONG_DATA;
}

uint16_t cmd_mgmt_authenticate(struct piv_card *c, const struct piv_cmd *cmd,
			       const uint8_t *tmpl, size_t tmpl_len)
{
	struct mgmt_items m;
	if (cmd->p1 != c->p.mgm_alg && cmd->p1 != 0x00)
		return SW_WRONG_P1P2;
	if (parse_items(tmpl, tmpl_len, &m) != 0)
		return SW_WRONG_DATA;
	uint16_t sw = dispatch(c, cmd, &m);
	if (sw != SW_OK) {
		c->mgm_authed = false;
		c->auth_state = AUTH_NONE;
	}
	if (c->auth_state == AUTH_NONE)
		piv_wipe(c->auth_nonce, sizeof(c->auth_nonce));
	return sw;
}

/* FF FF: alg 9B len key (YubiKey; P2 FE would ask for touch, which this
 * card has not got). */
uint16_t cmd_set_mgmkey(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->p1 != 0xff || cmd->p2 != 0xff)
		return SW_WRONG_P1P2;
	if (!c->mgm_authed)
		return SW_SECURITY;
	if (cmd->lc < 3 || cmd->lc != 3 + (size_t)cmd->data[2])
		return SW_WRONG_LENGTH;
	uint8_t alg = cmd->data[0];
	size_t kl = piv_sym_key_len(alg);
	if (cmd->data[1] != PIV_KEY_MGMT || kl == 0 || cmd->data[2] != kl)
		return SW_WRONG_DATA;
	state_begin(c);
	c->p.mgm_alg = alg;
	piv_wipe(c->p.mgm_key, sizeof(c->p.mgm_key));
	memcpy(c->p.mgm_key, cmd->data + 3, kl);
	return state_commit(c);
}
