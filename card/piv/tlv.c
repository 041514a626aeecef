/* tlv.c - bounded BER-TLV reading and writing, and small helpers. */
#include "piv_int.h"

#include <string.h>

void buf_put(struct piv_buf *b, const uint8_t *data, size_t len)
{
	if (b->overflow || len > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

void buf_byte(struct piv_buf *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

static void buf_tag(struct piv_buf *b, uint32_t tag)
{
	if (tag > 0xffff)
		buf_byte(b, (uint8_t)(tag >> 16));
	if (tag > 0xff)
		buf_byte(b, (uint8_t)(tag >> 8));
	buf_byte(b, (uint8_t)tag);
}

static void buf_len(struct piv_buf *b, size_t len)
{
	if (len < 0x80) {
		buf_byte(b, (uint8_t)len);
	} else if (len < 0x100) {
		buf_byte(b, 0x81);
		buf_byte(b, (uint8_t)len);
	} else if (len <= 0xffff) {
		buf_byte(b, 0x82);
		buf_byte(b, (uint8_t)(len >> 8));
		buf_byte(b, (uint8_t)len);
	} else {
		b->overflow = true;
	}
}

void buf_tag_len(struct piv_buf *b, uint32_t tag, size_t len)
{
	buf_tag(b, tag);
	buf_len(b, len);
}

void buf_tlv(struct piv_buf *b, uint32_t tag, const uint8_t *val, size_t len)
{
	buf_tag_len(b, tag, len);
	buf_put(b, val, len);
}

/* The length is written as 82 xx xx and shortened in buf_close: responses
 * stay DER-minimal, which strict parsers (OpenSC's) want. */
size_t buf_open(struct piv_buf *b, uint32_t tag)
{
	static const uint8_t placeholder[3] = { 0x82, 0, 0 };
	buf_tag(b, tag);
	size_t mark = b->len;
	buf_put(b, placeholder, sizeof(placeholder));
	return mark;
}

void buf_close(struct piv_buf *b, size_t mark)
{
	if (b->overflow)
		return;
	size_t body = b->len - mark - 3;
	uint8_t hdr[3];
	size_t n;
	if (body < 0x80) {
		hdr[0] = (uint8_t)body;
		n = 1;
	} else if (body < 0x100) {
		hdr[0] = 0x81;
		hdr[1] = (uint8_t)body;
		n = 2;
	} else if (body <= 0xffff) {
		hdr[0] = 0x82;
		hdr[1] = (uint8_t)(body >> 8);
		hdr[2] = (uint8_t)body;
		n = 3;
	} else {
		b->overflow = true;
		return;
	}
	memmove(b->p + mark + n, b->p + mark + 3, body);
	memcpy(b->p + mark, hdr, n);
	b->len -= 3 - n;
}

static int read_tag(const uint8_t **p, const uint8_t *end, uint32_t *tag)
{
	const uint8_t *q = *p;
	if (q >= end)
		return -1;
	uint32_t t = *q++;
	if ((t & 0x1f) == 0x1f) {
		/* Subsequent bytes while bit 8 is set; at most 3 bytes in all. */
		for (int i = 0;; i++) {
			if (q >= end || i == 2)
				return -1;
			uint8_t v = *q++;
			t = (t << 8) | v;
			if (!(v & 0x80))
				break;
		}
	}
	*tag = t;
	*p = q;
	return 0;
}

static int read_len(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *q = *p;
	if (q >= end)
		return -1;
	uint8_t first = *q++;
	size_t n = 0;
	if (first < 0x80) {
		n = first;
	} else if (first == 0x81 || first == 0x82) {
		int bytes = first & 0x7f;
		if (end - q < bytes)
			return -1;
		for (int i = 0; i < bytes; i++)
			n = (n << 8) | *q++;
	} else {
		return -1; /* indefinite or longer than 64 KB */
	}
	*len = n;
	*p = q;
	return 0;
}

int tlv_next(const uint8_t **p, const uint8_t *end, struct piv_tlv *out)
{
	const uint8_t *q = *p;
	if (read_tag(&q, end, &out->tag) != 0 || read_len(&q, end, &out->len) != 0)
		return -1;
	if ((size_t)(end - q) < out->len)
		return -1;
	out->val = q;
	*p = q + out->len;
	return 0;
}

int tlv_whole(const uint8_t *data, size_t len, uint32_t want, struct piv_tlv *out)
{
	const uint8_t *p = data, *end = data + len;
	if (tlv_next(&p, end, out) != 0 || p != end || out->tag != want)
		return -1;
	return 0;
}

void piv_wipe(void *p, size_t len)
{
	volatile uint8_t *v = p;
	while (len-- > 0)
		*v++ = 0;
}

bool piv_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t d = 0;
	for (size_t i = 0; i < len; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

size_t piv_ec_len(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_ECCP256:
		return 32;
	case PIV_ALG_ECCP384:
		return 48;
	default:
		return 0;
	}
}

size_t piv_block_len(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_3DES:
		return 8;
	case PIV_ALG_AES128:
	case PIV_ALG_AES192:
	case PIV_ALG_AES256:
		return 16;
	default:
		return 0;
	}
}

size_t piv_sym_key_len(uint8_t alg)
{
	switch (alg) {
	case PIV_ALG_3DES:
		return 24;
	case PIV_ALG_AES128:
		return 16;
	case PIV_ALG_AES192:
		return 24;
	case PIV_ALG_AES256:
		return 32;
	default:
		return 0;
	}
}

uint16_t resp_done(struct piv_card *c, const struct piv_buf *b)
{
	if (b->overflow) {
		c->resp_len = 0;
		return SW_INTERNAL;
	}
	c->resp_len = b->len;
	return SW_OK;
}
