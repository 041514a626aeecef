/* state.c - factory defaults, the persistent state's byte format, and the
 * commit-or-roll-back rule every changing command follows.
 *
 * Format (version 1, all integers big-endian), strictly checked on load:
 *   "OPIV" 01 | serial(4) | PIN(8) max left | PUK(8) max left
 *   | mgm_alg key(16/24/32)
 *   | 4 x slot (9A 9C 9D 9E): alg [pin_policy touch origin priv(n) pub(2n+1)]
 *   | count, count x (tag(3) len(2) value) | CRC-32 of all before (4)
 * The CRC catches a torn or damaged file; the host's atomic replace is what
 * keeps a whole state when the card is pulled. */
#include "piv_int.h"

#include <string.h>

static const uint8_t magic[5] = { 'O', 'P', 'I', 'V', 1 };
static const uint8_t default_pin[8] = { '1', '2', '3', '4', '5', '6', 0xff, 0xff };
static const uint8_t default_puk[8] = { '1', '2', '3', '4', '5', '6', '7', '8' };
static const uint8_t default_mgm[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t key_refs[PIV_NKEYS] = { PIV_KEY_AUTH, PIV_KEY_SIGN, PIV_KEY_KEYMGMT,
					     PIV_KEY_CARDAUTH };
/* FASC-N of a non-federal issuer (agency, system and credential all 9s),
 * as SP 800-73-4 part 1 allows when there is no agency. */
static const uint8_t fascn[25] = { 0xd4, 0xe7, 0x39, 0xda, 0x73, 0x9c, 0xed, 0x39, 0xce,
				   0x73, 0x9d, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42, 0x10,
				   0x84, 0x21, 0xc8, 0x42, 0x10, 0xc3, 0xeb };

static uint32_t crc32(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;
	while (len-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

struct piv_key *state_key(struct piv_card *c, uint8_t ref)
{
	for (size_t i = 0; i < PIV_NKEYS; i++)
		if (key_refs[i] == ref)
			return &c->p.keys[i];
	return NULL;
}

struct piv_object *state_object(struct piv_card *c, const uint8_t tag[3])
{
	for (size_t i = 0; i < PIV_OBJ_COUNT; i++)
		if (c->p.objects[i].tag[0] != 0 && memcmp(c->p.objects[i].tag, tag, 3) == 0)
			return &c->p.objects[i];
	return NULL;
}

static void put_object(struct piv_card *c, uint8_t t2, const struct piv_buf *b)
{
	struct piv_object *o = &c->p.objects[0];
	for (size_t i = 0; i < PIV_OBJ_COUNT; i++) {
		if (c->p.objects[i].tag[0] == 0) {
			o = &c->p.objects[i];
			break;
		}
	}
	o->tag[0] = 0x5f;
	o->tag[1] = 0xc1;
	o->tag[2] = t2;
	o->len = (uint16_t)b->len;
	memcpy(o->data, b->p, b->len);
}

/* CHUID: FASC-N, a random GUID, an expiry, an empty issuer signature. */
static int make_chuid(struct piv_card *c)
{
	uint8_t guid[16], tmp[64];
	struct piv_buf b = { tmp, 0, sizeof(tmp), false };
	if (c->host->rand(c->host->ctx, guid, sizeof(guid)) != 0)
		return -1;
	buf_tlv(&b, 0x30, fascn, sizeof(fascn));
	buf_tlv(&b, 0x34, guid, sizeof(guid));
	buf_tlv(&b, 0x35, (const uint8_t *)"20991231", 8);
	buf_tlv(&b, 0x3e, NULL, 0);
	buf_tlv(&b, 0xfe, NULL, 0);
	put_object(c, 0x02, &b);
	return 0;
}

/* CCC: a card identifier (GSC-IS RID, manufacturer FF, type 02, 14 random
 * bytes), versions 2.1, data model 10, and the empty optional fields. */
static int make_ccc(struct piv_card *c)
{
	static const uint8_t empty_tags[] = { 0xf6, 0xf7, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe };
	uint8_t id[21] = { 0xa0, 0x00, 0x00, 0x01, 0x16, 0xff, 0x02 }, tmp[64];
	struct piv_buf b = { tmp, 0, sizeof(tmp), false };
	if (c->host->rand(c->host->ctx, id + 7, 14) != 0)
		return -1;
	buf_tlv(&b, 0xf0, id, sizeof(id));
	buf_tlv(&b, 0xf1, (const uint8_t *)"\x21", 1);
	buf_tlv(&b, 0xf2, (const uint8_t *)"\x21", 1);
	buf_tlv(&b, 0xf3, NULL, 0);
	buf_tlv(&b, 0xf4, (const uint8_t *)"\x00", 1);
	buf_tlv(&b, 0xf5, (const uint8_t *)"\x10", 1);
	for (size_t i = 0; i < sizeof(empty_tags); i++)
		buf_tlv(&b, empty_tags[i], NULL, 0);
	put_object(c, 0x07, &b);
	return 0;
}

void state_default_pin_puk(struct piv_card *c)
{
	memcpy(c->p.pin, default_pin, 8);
	memcpy(c->p.puk, default_puk, 8);
}

bool state_is_default_pin(const struct piv_card *c, uint8_t ref)
{
	if (ref == PIV_REF_PIN)
		return piv_equal(c->p.pin, default_pin, 8);
	return piv_equal(c->p.puk, default_puk, 8);
}

bool state_is_default_mgm(const struct piv_card *c)
{
	return c->p.mgm_alg == PIV_ALG_3DES && piv_equal(c->p.mgm_key, default_mgm, 24);
}

int state_defaults(struct piv_card *c, uint32_t serial)
{
	struct piv_persist *p = &c->p;
	piv_wipe(p, sizeof(*p));
	p->serial = serial;
	state_default_pin_puk(c);
	p->pin_max = p->pin_left = 3;
	p->puk_max = p->puk_left = 3;
	p->mgm_alg = PIV_ALG_3DES;
	memcpy(p->mgm_key, default_mgm, sizeof(default_mgm));
	if (make_chuid(c) != 0 || make_ccc(c) != 0)
		return -1;
	return 0;
}

void state_session_clear(struct piv_card *c)
{
	c->pin_verified = false;
	c->pin_always = false;
	c->cmd_always = false;
	c->mgm_authed = false;
	c->auth_state = AUTH_NONE;
	c->cmd_auth = AUTH_NONE;
	piv_wipe(c->auth_nonce, sizeof(c->auth_nonce));
	c->chaining = false;
	piv_wipe(c->chain, c->chain_len);
	c->chain_len = 0;
	piv_wipe(c->resp, c->resp_len);
	c->resp_len = 0;
	c->resp_off = 0;
}

/* ---- Encoding. ---- */

static void put_u16(struct piv_buf *b, uint16_t v)
{
	buf_byte(b, (uint8_t)(v >> 8));
	buf_byte(b, (uint8_t)v);
}

static void put_u32(struct piv_buf *b, uint32_t v)
{
	put_u16(b, (uint16_t)(v >> 16));
	put_u16(b, (uint16_t)v);
}

static size_t encode(const struct piv_persist *p, uint8_t *out, size_t cap)
{
	struct piv_buf b = { out, 0, cap, false };
	buf_put(&b, magic, sizeof(magic));
	put_u32(&b, p->serial);
	buf_put(&b, p->pin, 8);
	buf_byte(&b, p->pin_max);
	buf_byte(&b, p->pin_left);
	buf_put(&b, p->puk, 8);
	buf_byte(&b, p->puk_max);
	buf_byte(&b, p->puk_left);
	buf_byte(&b, p->mgm_alg);
	buf_put(&b, p->mgm_key, piv_sym_key_len(p->mgm_alg));
	for (size_t i = 0; i < PIV_NKEYS; i++) {
		const struct piv_key *k = &p->keys[i];
		size_t n = piv_ec_len(k->alg);
		buf_byte(&b, k->alg);
		if (n == 0)
			continue;
		buf_byte(&b, k->pin_policy);
		buf_byte(&b, k->touch_policy);
		buf_byte(&b, k->origin);
		buf_put(&b, k->priv, n);
		buf_put(&b, k->pub, 2 * n + 1);
	}
	uint8_t count = 0;
	for (size_t i = 0; i < PIV_OBJ_COUNT; i++)
		if (p->objects[i].tag[0] != 0)
			count++;
	buf_byte(&b, count);
	for (size_t i = 0; i < PIV_OBJ_COUNT; i++) {
		const struct piv_object *o = &p->objects[i];
		if (o->tag[0] == 0)
			continue;
		buf_put(&b, o->tag, 3);
		put_u16(&b, o->len);
		buf_put(&b, o->data, o->len);
	}
	put_u32(&b, crc32(out, b.len));
	return b.overflow ? 0 : b.len;
}

/* ---- Decoding: every field checked, nothing trusted. ---- */

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *take(struct reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *q = r->p;
	r->p += n;
	return q;
}

static uint8_t take_u8(struct reader *r)
{
	const uint8_t *q = take(r, 1);
	return q ? q[0] : 0;
}

static uint32_t take_be(struct reader *r, size_t n)
{
	const uint8_t *q = take(r, n);
	uint32_t v = 0;
	for (size_t i = 0; q && i < n; i++)
		v = (v << 8) | q[i];
	return v;
}

static void take_into(struct reader *r, uint8_t *dst, size_t n)
{
	const uint8_t *q = take(r, n);
	if (q)
		memcpy(dst, q, n);
}

bool pin_well_formed(const uint8_t pin[8])
{
	size_t n = 0;
	while (n < 8 && pin[n] != 0xff) {
		if (pin[n] < '0' || pin[n] > '9')
			return false;
		n++;
	}
	for (size_t i = n; i < 8; i++)
		if (pin[i] != 0xff)
			return false;
	return n >= 6;
}

static bool counters_ok(uint8_t max, uint8_t left)
{
	return max >= 1 && max <= 15 && left <= max;
}

static void decode_key(struct reader *r, struct piv_key *k)
{
	k->alg = take_u8(r);
	size_t n = piv_ec_len(k->alg);
	if (k->alg == 0)
		return;
	if (n == 0) {
		r->bad = true;
		return;
	}
	k->pin_policy = take_u8(r);
	k->touch_policy = take_u8(r);
	k->origin = take_u8(r);
	take_into(r, k->priv, n);
	take_into(r, k->pub, 2 * n + 1);
	if (k->pin_policy < PIV_PINPOLICY_NEVER || k->pin_policy > PIV_PINPOLICY_ALWAYS ||
	    k->touch_policy > 1 || k->origin != 1 || k->pub[0] != 0x04)
		r->bad = true;
}

static void decode_objects(struct reader *r, struct piv_persist *p)
{
	uint8_t count = take_u8(r);
	if (count > PIV_OBJ_COUNT) {
		r->bad = true;
		return;
	}
	for (size_t i = 0; i < count && !r->bad; i++) {
		struct piv_object *o = &p->objects[i];
		take_into(r, o->tag, 3);
		o->len = (uint16_t)take_be(r, 2);
		if (r->bad || !object_tag_storable(o->tag) || o->len == 0 || o->len > PIV_OBJ_MAX) {
			r->bad = true;
			return;
		}
		take_into(r, o->data, o->len);
		for (size_t j = 0; j < i; j++)
			if (memcmp(p->objects[j].tag, o->tag, 3) == 0)
				r->bad = true;
	}
}

static int decode(struct piv_persist *p, const uint8_t *in, size_t len)
{
	struct reader r = { in, in + len, false };
	if (len < sizeof(magic) + 4 || memcmp(in, magic, sizeof(magic)) != 0)
		return -1;
	r.end -= 4;
	uint32_t stored = (uint32_t)r.end[0] << 24 | (uint32_t)r.end[1] << 16 |
			  (uint32_t)r.end[2] << 8 | r.end[3];
	if (stored != crc32(in, len - 4))
		return -1;
	piv_wipe(p, sizeof(*p));
	take(&r, sizeof(magic));
	p->serial = take_be(&r, 4);
	take_into(&r, p->pin, 8);
	p->pin_max = take_u8(&r);
	p->pin_left = take_u8(&r);
	take_into(&r, p->puk, 8);
	p->puk_max = take_u8(&r);
	p->puk_left = take_u8(&r);
	p->mgm_alg = take_u8(&r);
	size_t kl = piv_sym_key_len(p->mgm_alg);
	take_into(&r, p->mgm_key, kl);
	for (size_t i = 0; i < PIV_NKEYS && !r.bad; i++)
		decode_key(&r, &p->keys[i]);
	decode_objects(&r, p);
	if (r.bad || r.p != r.end || kl == 0 || !pin_well_formed(p->pin) ||
	    !counters_ok(p->pin_max, p->pin_left) || !counters_ok(p->puk_max, p->puk_left))
		return -1;
	return 0;
}

/* ---- Commit and roll back. ---- */

void state_begin(struct piv_card *c)
{
	memcpy(&c->shadow, &c->p, sizeof(c->p));
}

static int save_now(struct piv_card *c)
{
	size_t n = encode(&c->p, c->image, sizeof(c->image));
	int rc = n == 0 ? -1 : c->host->save(c->host->ctx, c->image, n);
	piv_wipe(c->image, n);
	return rc == 0 ? 0 : -1;
}

uint16_t state_commit(struct piv_card *c)
{
	if (save_now(c) == 0)
		return SW_OK;
	memcpy(&c->p, &c->shadow, sizeof(c->p));
	return SW_MEMORY;
}

int piv_save(struct piv_card *card)
{
	return save_now(card);
}

int piv_load(struct piv_card *card, const uint8_t *state, size_t len)
{
	/* Decode into the shadow so that a bad image changes nothing. */
	if (decode(&card->shadow, state, len) != 0)
		return -1;
	memcpy(&card->p, &card->shadow, sizeof(card->p));
	state_session_clear(card);
	return 0;
}

int piv_init(struct piv_card *card, const struct piv_host *host, uint32_t serial)
{
	memset(card, 0, sizeof(*card));
	card->host = host;
	return state_defaults(card, serial);
}

void piv_wipe_card(struct piv_card *card)
{
	piv_wipe(card, sizeof(*card));
}
