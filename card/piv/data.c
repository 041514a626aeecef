/* data.c - SELECT, GET DATA, PUT DATA, and the YubiKey GET VERSION and
 * GET SERIAL. */
#include "piv_int.h"

#include <string.h>

/* The full PIV AID (NIST RID, PIX 00 00 10 00 01 00, version 01 00). */
static const uint8_t piv_aid[11] = { 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00,
				     0x00, 0x10, 0x00, 0x01, 0x00 };
static const char label[] = "offpass virtual PIV";
/* What this applet claims to be to yubico-piv-tool and ykman: the version
 * from which YubiKeys have GET SERIAL and GET METADATA. */
static const uint8_t version[3] = { 5, 4, 3 };

/* The application property template (SP 800-73-4 part 2, table 3). */
uint16_t cmd_select(struct piv_card *c, const struct piv_cmd *cmd)
{
	static const uint8_t algs[] = { PIV_ALG_3DES,   PIV_ALG_AES128,  PIV_ALG_AES192,
					PIV_ALG_AES256, PIV_ALG_ECCP256, PIV_ALG_ECCP384 };
	if (cmd->p1 != 0x04 || cmd->p2 != 0x00)
		return SW_WRONG_P1P2;
	/* A right-truncated AID selects too (A0 00 00 03 08 is common). */
	if (cmd->lc < 5 || cmd->lc > sizeof(piv_aid) || memcmp(cmd->data, piv_aid, cmd->lc) != 0)
		return SW_NOT_FOUND;
	struct piv_buf b = resp_buf(c);
	size_t apt = buf_open(&b, 0x61);
	buf_tlv(&b, 0x4f, piv_aid + 5, sizeof(piv_aid) - 5);
	size_t auth = buf_open(&b, 0x79);
	buf_tlv(&b, 0x4f, piv_aid, 5);
	buf_close(&b, auth);
	buf_tlv(&b, 0x50, (const uint8_t *)label, sizeof(label) - 1);
	size_t ac = buf_open(&b, 0xac);
	for (size_t i = 0; i < sizeof(algs); i++)
		buf_tlv(&b, 0x80, &algs[i], 1);
	buf_tlv(&b, 0x06, (const uint8_t *)"\x00", 1);
	buf_close(&b, ac);
	buf_close(&b, apt);
	return resp_done(c, &b);
}

bool object_tag_storable(const uint8_t tag[3])
{
	if (tag[0] != 0x5f)
		return false;
	if (tag[1] == 0xc1)
		return tag[2] >= 0x01 && tag[2] <= 0x23;
	if (tag[1] == 0xff)
		return tag[2] <= 0x15;
	return false;
}

/* Fingerprints, facial image, printed information, iris, pairing code:
 * readable only after VERIFY (SP 800-73-4 part 1, table 1). */
static bool object_needs_pin(const uint8_t tag[3])
{
	static const uint8_t protected_ids[] = { 0x03, 0x08, 0x09, 0x21, 0x23 };
	if (tag[0] != 0x5f || tag[1] != 0xc1)
		return false;
	for (size_t i = 0; i < sizeof(protected_ids); i++)
		if (tag[2] == protected_ids[i])
			return true;
	return false;
}

/* Discovery object: the PIV AID and the PIN usage policy "PIV PIN only". */
static uint16_t discovery(struct piv_card *c)
{
	struct piv_buf b = resp_buf(c);
	size_t m = buf_open(&b, 0x7e);
	buf_tlv(&b, 0x4f, piv_aid, sizeof(piv_aid));
	buf_tlv(&b, 0x5f2f, (const uint8_t *)"\x40\x00", 2);
	buf_close(&b, m);
	return resp_done(c, &b);
}

uint16_t cmd_get_data(struct piv_card *c, const struct piv_cmd *cmd)
{
	struct piv_tlv t;
	if (cmd->p1 != 0x3f || cmd->p2 != 0xff)
		return SW_WRONG_P1P2;
	if (cmd->lc == 0)
		return SW_WRONG_LENGTH;
	if (tlv_whole(cmd->data, cmd->lc, 0x5c, &t) != 0)
		return SW_WRONG_DATA;
	if (t.len == 1 && t.val[0] == 0x7e)
		return discovery(c);
	if (t.len != 3)
		return SW_NOT_FOUND; /* the BIT group template 7F61 and the like */
	if (object_needs_pin(t.val) && !c->pin_verified)
		return SW_SECURITY;
	const struct piv_object *o = state_object(c, t.val);
	if (o == NULL)
		return SW_NOT_FOUND;
	struct piv_buf b = resp_buf(c);
	buf_tlv(&b, 0x53, o->data, o->len);
	return resp_done(c, &b);
}

static struct piv_object *free_object(struct piv_card *c)
{
	for (size_t i = 0; i < PIV_OBJ_COUNT; i++)
		if (c->p.objects[i].tag[0] == 0)
			return &c->p.objects[i];
	return NULL;
}

/* 5C <tag> 53 <value>; an empty value deletes the object. */
uint16_t cmd_put_data(struct piv_card *c, const struct piv_cmd *cmd)
{
	struct piv_tlv tag, val;
	if (cmd->p1 != 0x3f || cmd->p2 != 0xff)
		return SW_WRONG_P1P2;
	if (!c->mgm_authed)
		return SW_SECURITY;
	if (cmd->lc == 0)
		return SW_WRONG_LENGTH;
	const uint8_t *p = cmd->data, *end = cmd->data + cmd->lc;
	if (tlv_next(&p, end, &tag) != 0 || tag.tag != 0x5c || tlv_next(&p, end, &val) != 0 ||
	    val.tag != 0x53 || p != end)
		return SW_WRONG_DATA;
	if (tag.len != 3 || !object_tag_storable(tag.val))
		return SW_WRONG_DATA;
	if (val.len > PIV_OBJ_MAX)
		return SW_NO_SPACE;
	struct piv_object *o = state_object(c, tag.val);
	if (o == NULL && val.len == 0)
		return SW_OK;
	if (o == NULL && (o = free_object(c)) == NULL)
		return SW_NO_SPACE;
	state_begin(c);
	if (val.len == 0) {
		piv_wipe(o, sizeof(*o));
	} else {
		memcpy(o->tag, tag.val, 3);
		o->len = (uint16_t)val.len;
		memcpy(o->data, val.val, val.len);
	}
	return state_commit(c);
}

uint16_t cmd_get_version(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->lc != 0)
		return SW_WRONG_LENGTH;
	struct piv_buf b = resp_buf(c);
	buf_put(&b, version, sizeof(version));
	return resp_done(c, &b);
}

uint16_t cmd_get_serial(struct piv_card *c, const struct piv_cmd *cmd)
{
	if (cmd->lc != 0)
		return SW_WRONG_LENGTH;
	uint32_t s = c->p.serial;
	const uint8_t out[4] = { (uint8_t)(s >> 24), (uint8_t)(s >> 16), (uint8_t)(s >> 8),
				 (uint8_t)s };
	struct piv_buf b = resp_buf(c);
	buf_put(&b, out, sizeof(out));
	return resp_done(c, &b);
}
