/* test-piv.c - the PIV applet driven by APDUs directly (no pcscd): every
 * command, bad lengths and parameters, chaining and GET RESPONSE, PIN and
 * PUK counters down to blocked, the management key, PIN-always on 9C,
 * signatures and ECDH checked with OpenSSL, and the persisted state:
 * round trip, corrupt images, and a save that fails mid-command. */
#include "config.h"
#include "card/piv/piv.h"
#include "card/piv/piv-ossl.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* ---- Harness: one card, an OpenSSL host, a save hook that can fail. ---- */

static struct piv_card card;
static struct piv_host host;
static struct {
	uint8_t image[PIV_STATE_MAX];
	size_t len;
	int count;
	bool fail;
} saved;
static bool fail_generate;

static int test_save(void *ctx, const uint8_t *state, size_t len)
{
	(void)ctx;
	if (saved.fail)
		return -1;
	ck_assert_uint_le(len, sizeof(saved.image));
	memcpy(saved.image, state, len);
	saved.len = len;
	saved.count++;
	return 0;
}

static int test_generate(void *ctx, uint8_t alg, uint8_t *priv, uint8_t *pub)
{
	return fail_generate ? -1 : piv_ossl_ec_generate(ctx, alg, priv, pub);
}

static void setup(void)
{
	memset(&saved, 0, sizeof(saved));
	fail_generate = false;
	memset(&host, 0, sizeof(host));
	piv_ossl_host(&host);
	host.save = test_save;
	host.ec_generate = test_generate;
	ck_assert_int_eq(piv_init(&card, &host, 12345678), 0);
	ck_assert_int_eq(piv_save(&card), 0);
	ck_assert_int_eq(saved.count, 1);
}

static void teardown(void)
{
	piv_wipe_card(&card);
}

/* The last response. */
static uint8_t rdata[70000];
static size_t rlen;

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		unsigned v;
		ck_assert_int_eq(sscanf(p, "%2x", &v), 1);
		ck_assert_uint_lt(n, cap);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

static uint16_t tx_raw(const uint8_t *apdu, size_t len)
{
	size_t n = piv_apdu(&card, apdu, len, rdata, sizeof(rdata));
	ck_assert_uint_ge(n, 2);
	rlen = n - 2;
	return (uint16_t)(rdata[n - 2] << 8 | rdata[n - 1]);
}

static uint16_t tx(const char *hex)
{
	uint8_t apdu[600];
	return tx_raw(apdu, unhex(hex, apdu, sizeof(apdu)));
}

/* A short or extended APDU with data. */
static uint16_t tx_cmd(uint8_t cla, uint8_t ins, uint8_t p1, uint8_t p2, const uint8_t *data,
		       size_t lc, bool extended)
{
	static uint8_t apdu[PIV_CMD_MAX + 16];
	size_t n = 0;
	apdu[n++] = cla;
	apdu[n++] = ins;
	apdu[n++] = p1;
	apdu[n++] = p2;
	if (lc > 0 && !extended) {
		ck_assert_uint_le(lc, 255);
		apdu[n++] = (uint8_t)lc;
	} else if (lc > 0) {
		apdu[n++] = 0;
		apdu[n++] = (uint8_t)(lc >> 8);
		apdu[n++] = (uint8_t)lc;
	}
	memcpy(apdu + n, data, lc);
	return tx_raw(apdu, n + lc);
}

/* A whole response: GET RESPONSE while 61xx. */
static uint16_t collect(uint16_t sw, uint8_t *out, size_t *out_len)
{
	size_t n = 0;
	memcpy(out, rdata, rlen);
	n = rlen;
	while ((sw & 0xff00) == 0x6100) {
		sw = tx("00 C0 00 00 00");
		memcpy(out + n, rdata, rlen);
		n += rlen;
	}
	*out_len = n;
	return sw;
}

static const char *pin_apdu(const char *pin)
{
	static char buf[64];
	uint8_t padded[8];
	memset(padded, 0xff, sizeof(padded));
	memcpy(padded, pin, strlen(pin) < 8 ? strlen(pin) : 8);
	int n = snprintf(buf, sizeof(buf), "00 20 00 80 08");
	for (size_t i = 0; i < 8; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, " %02X", padded[i]);
	return buf;
}

static uint16_t verify_pin(const char *pin)
{
	return tx(pin_apdu(pin));
}

static void des3_decrypt(const uint8_t key[24], const uint8_t in[8], uint8_t out[8])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0;
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_DecryptInit_ex(c, EVP_des_ede3_ecb(), NULL, key, NULL), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	ck_assert_int_eq(EVP_DecryptUpdate(c, out, &len, in, 8), 1);
	ck_assert_int_eq(len, 8);
	EVP_CIPHER_CTX_free(c);
}

static const uint8_t default_mgm[24] = { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4,
					 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 };

/* Mutual authentication as ykpiv does it. Returns the SW of step 2 and
 * checks the card's proof when it succeeds. */
static uint16_t mgm_mutual(uint8_t alg, const uint8_t *key, size_t key_len)
{
	size_t bl = alg == PIV_ALG_3DES ? 8 : 16;
	uint8_t step1[4] = { 0x7c, 0x02, 0x80, 0x00 }, step2[64], witness[16], chal[16],
		expect[16];
	uint16_t sw = tx_cmd(0, 0x87, alg, 0x9b, step1, 4, false);
	if (sw != 0x9000)
		return sw;
	ck_assert_uint_eq(rlen, 4 + bl);
	ck_assert_int_eq(rdata[0], 0x7c);
	ck_assert_int_eq(rdata[2], 0x80);
	if (alg == PIV_ALG_3DES) {
		des3_decrypt(key, rdata + 4, witness);
	} else {
		/* AES: decrypt through ECB with OpenSSL directly. */
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int len = 0;
		const EVP_CIPHER *ciph = EVP_aes_256_ecb();
		if (key_len == 16)
			ciph = EVP_aes_128_ecb();
		else if (key_len == 24)
			ciph = EVP_aes_192_ecb();
		ck_assert_int_eq(EVP_DecryptInit_ex(c, ciph, NULL, key, NULL), 1);
		EVP_CIPHER_CTX_set_padding(c, 0);
		ck_assert_int_eq(EVP_DecryptUpdate(c, witness, &len, rdata + 4, 16), 1);
		EVP_CIPHER_CTX_free(c);
	}
	memset(chal, 0x5a, sizeof(chal));
	size_t n = 0;
	step2[n++] = 0x7c;
	step2[n++] = (uint8_t)(4 + 2 * bl);
	step2[n++] = 0x80;
	step2[n++] = (uint8_t)bl;
	memcpy(step2 + n, witness, bl);
	n += bl;
	step2[n++] = 0x81;
	step2[n++] = (uint8_t)bl;
	memcpy(step2 + n, chal, bl);
	n += bl;
	sw = tx_cmd(0, 0x87, alg, 0x9b, step2, n, false);
	if (sw == 0x9000) {
		ck_assert_int_eq(piv_ossl_block_encrypt(NULL, alg, key, key_len, chal, expect), 0);
		ck_assert_uint_eq(rlen, 4 + bl);
		ck_assert_int_eq(rdata[2], 0x82);
		ck_assert_mem_eq(rdata + 4, expect, bl);
	}
	return sw;
}

static void mgm_auth(void)
{
	ck_assert_uint_eq(mgm_mutual(PIV_ALG_3DES, default_mgm, 24), 0x9000);
}

/* PUT DATA of value (len bytes) under 5FC1xx, chained when long. */
static uint16_t put_object(uint8_t id, const uint8_t *value, size_t len)
{
	static uint8_t data[PIV_CMD_MAX + 16];
	size_t n = 0;
	data[n++] = 0x5c;
	data[n++] = 3;
	data[n++] = 0x5f;
	data[n++] = 0xc1;
	data[n++] = id;
	data[n++] = 0x53;
	if (len < 0x80) {
		data[n++] = (uint8_t)len;
	} else if (len < 0x100) {
		data[n++] = 0x81;
		data[n++] = (uint8_t)len;
	} else {
		data[n++] = 0x82;
		data[n++] = (uint8_t)(len >> 8);
		data[n++] = (uint8_t)len;
	}
	memcpy(data + n, value, len);
	n += len;
	size_t off = 0;
	uint16_t sw = 0x9000;
	while (n - off > 255) {
		sw = tx_cmd(0x10, 0xdb, 0x3f, 0xff, data + off, 255, false);
		if (sw != 0x9000)
			return sw;
		off += 255;
	}
	return tx_cmd(0x00, 0xdb, 0x3f, 0xff, data + off, n - off, false);
}

static uint16_t get_object(uint8_t id, uint8_t *out, size_t *out_len)
{
	uint8_t cmd[5] = { 0x5c, 3, 0x5f, 0xc1, id };
	uint16_t sw = tx_cmd(0, 0xcb, 0x3f, 0xff, cmd, 5, false);
	return collect(sw, out, out_len);
}

/* GENERATE in slot; the public point into pub. */
static uint16_t generate(uint8_t slot, uint8_t alg, uint8_t *pub, size_t *pub_len)
{
	uint8_t tmpl[5] = { 0xac, 3, 0x80, 1, alg };
	uint16_t sw = tx_cmd(0, 0x47, 0x00, slot, tmpl, 5, false);
	if (sw != 0x9000)
		return sw;
	size_t n = alg == PIV_ALG_ECCP256 ? 65 : 97;
	ck_assert_int_eq(rdata[0], 0x7f);
	ck_assert_int_eq(rdata[1], 0x49);
	ck_assert_int_eq(rdata[2], n + 2);
	ck_assert_int_eq(rdata[3], 0x86);
	ck_assert_int_eq(rdata[4], n);
	ck_assert_int_eq(rdata[5], 0x04);
	memcpy(pub, rdata + 5, n);
	*pub_len = n;
	return sw;
}

/* GENERAL AUTHENTICATE 7C{82 00, tag len input}. */
static uint16_t ga(uint8_t alg, uint8_t slot, uint8_t tag, const uint8_t *in, size_t len)
{
	uint8_t data[300];
	size_t n = 0;
	data[n++] = 0x7c;
	data[n++] = (uint8_t)(len + 4);
	data[n++] = 0x82;
	data[n++] = 0x00;
	data[n++] = tag;
	data[n++] = (uint8_t)len;
	memcpy(data + n, in, len);
	return tx_cmd(0, 0x87, alg, slot, data, n + len, false);
}

/* The signature in the last 7C{82 sig} response verifies over digest. */
static bool signature_verifies(uint8_t alg, const uint8_t *pub, size_t pub_len,
			       const uint8_t *digest, size_t dlen)
{
	ck_assert_int_eq(rdata[0], 0x7c);
	ck_assert_int_eq(rdata[2], 0x82);
	EVP_PKEY *pkey = piv_ossl_pkey(alg, NULL, pub, pub_len);
	ck_assert_ptr_nonnull(pkey);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_PKEY_verify_init(ctx), 1);
	int ok = EVP_PKEY_verify(ctx, rdata + 4, rdata[3], digest, dlen);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok == 1;
}

static uint16_t pin_change(const char *old_hex16, const char *new_hex16, uint8_t ins, uint8_t p2)
{
	char cmd[100];
	snprintf(cmd, sizeof(cmd), "00 %02X 00 %02X 10 %s %s", ins, p2, old_hex16, new_hex16);
	return tx(cmd);
}

#define PIN_123456 "313233343536FFFF"
#define PIN_654321 "363534333231FFFF"
#define PUK_DEFAULT "3132333435363738"
#define PUK_WRONG "3838383838383838"

/* ---- SELECT and APDU parsing. ---- */

START_TEST(select_answers_the_application_property_template)
{
	uint8_t want_start[] = { 0x61, 0x3d, 0x4f, 0x06, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
				 0x79, 0x07, 0x4f, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08 };
	ck_assert_uint_eq(tx("00 A4 04 00 0B A0 00 00 03 08 00 00 10 00 01 00 00"), 0x9000);
	ck_assert_uint_ge(rlen, sizeof(want_start));
	ck_assert_mem_eq(rdata, want_start, sizeof(want_start));
	ck_assert_uint_eq(rlen, 2u + rdata[1]);
	/* The algorithm list has EC P-256 (80 01 11) and P-384 (80 01 14). */
	bool p256 = false, p384 = false;
	for (size_t i = 0; i + 2 < rlen; i++) {
		p256 |= rdata[i] == 0x80 && rdata[i + 1] == 1 && rdata[i + 2] == 0x11;
		p384 |= rdata[i] == 0x80 && rdata[i + 1] == 1 && rdata[i + 2] == 0x14;
	}
	ck_assert(p256 && p384);
	/* The truncated AID that yubico-piv-tool and OpenSC send. */
	ck_assert_uint_eq(tx("00 A4 04 00 05 A0 00 00 03 08"), 0x9000);
	ck_assert_uint_eq(tx("00 A4 04 00 09 A0 00 00 03 08 00 00 10 00"), 0x9000);
	/* Other applications, and too short or too long AIDs. */
	ck_assert_uint_eq(tx("00 A4 04 00 08 A0 00 00 05 27 20 01 01"), 0x6a82);
	ck_assert_uint_eq(tx("00 A4 04 00 04 A0 00 00 03"), 0x6a82);
	ck_assert_uint_eq(tx("00 A4 04 00 0C A0 00 00 03 08 00 00 10 00 01 00 00"), 0x6a82);
	ck_assert_uint_eq(tx("00 A4 04 00"), 0x6a82);
	ck_assert_uint_eq(tx("00 A4 00 00 02 3F 00"), 0x6a86);
	ck_assert_uint_eq(tx("00 A4 04 0C 05 A0 00 00 03 08"), 0x6a86);
	/* A failed SELECT leaves PIV selected. */
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00"), 0x9000);
}
END_TEST

START_TEST(malformed_apdus_are_refused)
{
	ck_assert_uint_eq(tx("00 CB 3F"), 0x6700);
	ck_assert_uint_eq(tx(""), 0x6700);
	/* Lc says 5, 3 bytes follow; Lc 3 with 5 bytes and no sensible Le. */
	ck_assert_uint_eq(tx("00 CB 3F FF 05 5C 01 7E"), 0x6700);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00 00"), 0x6700);
	/* Extended with a zero Lc, or truncated. */
	ck_assert_uint_eq(tx("00 CB 3F FF 00 00 00 5C"), 0x6700);
	ck_assert_uint_eq(tx("00 CB 3F FF 00 00"), 0x6700);
	ck_assert_uint_eq(tx("80 CB 3F FF 03 5C 01 7E"), 0x6e00);
	ck_assert_uint_eq(tx("0C CB 3F FF 03 5C 01 7E"), 0x6e00);
	ck_assert_uint_eq(tx("00 B0 00 00 00"), 0x6d00);
	ck_assert_uint_eq(tx("00 F9 9A 00 00"), 0x6d00); /* attestation: not here */
	/* Extended length, case 4: the same answer as short. */
	ck_assert_uint_eq(tx("00 CB 3F FF 00 00 03 5C 01 7E 00 00"), 0x9000);
	ck_assert_uint_eq(rlen, 20);
	ck_assert_int_eq(rdata[0], 0x7e);
	/* Case 3 extended, case 2 with Le 00 (VERIFY status as ykpiv asks). */
	ck_assert_uint_eq(tx("00 CB 3F FF 00 00 03 5C 01 7E"), 0x9000);
	ck_assert_uint_eq(tx("00 20 00 80 00"), 0x63c3);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_int_eq(piv_apdu(&card, (const uint8_t *)"\x00\x20\x00\x80", 4, rdata, 1), 0);
}
END_TEST

/* ---- GET DATA, PUT DATA, GET RESPONSE, chaining. ---- */

START_TEST(get_data_objects)
{
	static const uint8_t discovery[] = { 0x7e, 0x12, 0x4f, 0x0b, 0xa0, 0x00, 0x00, 0x03, 0x08,
					     0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x5f, 0x2f,
					     0x02, 0x40, 0x00 };
	static uint8_t buf[4096];
	size_t n;
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00"), 0x9000);
	ck_assert_uint_eq(rlen, sizeof(discovery));
	ck_assert_mem_eq(rdata, discovery, sizeof(discovery));
	/* CHUID and CCC exist from the start; CHUID carries the FASC-N and a GUID. */
	ck_assert_uint_eq(get_object(0x02, buf, &n), 0x9000);
	ck_assert_int_eq(buf[0], 0x53);
	ck_assert_int_eq(buf[2], 0x30);
	ck_assert_int_eq(buf[3], 25);
	ck_assert_int_eq(buf[2 + 27], 0x34);
	ck_assert_uint_eq(get_object(0x07, buf, &n), 0x9000);
	ck_assert_int_eq(buf[2], 0xf0);
	/* Certificates not stored yet, key history. */
	ck_assert_uint_eq(get_object(0x05, buf, &n), 0x6a82);
	ck_assert_uint_eq(get_object(0x0a, buf, &n), 0x6a82);
	ck_assert_uint_eq(get_object(0x0c, buf, &n), 0x6a82);
	ck_assert_uint_eq(tx("00 CB 3F FF 04 5C 02 7F 61 00"), 0x6a82);
	/* Bad parameters and data. */
	ck_assert_uint_eq(tx("00 CB 3F FE 03 5C 01 7E 00"), 0x6a86);
	ck_assert_uint_eq(tx("00 CB 3F FF 00"), 0x6700);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5D 01 7E 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 CB 3F FF 04 5C 01 7E 00 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 02 7E 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 CB 3F FF 02 5C 83"), 0x6a80);
}
END_TEST

START_TEST(pin_protected_objects_need_the_pin)
{
	static uint8_t buf[64];
	size_t n;
	const uint8_t printed[] = { 0x01, 0x02, 0x03 };
	mgm_auth();
	ck_assert_uint_eq(put_object(0x09, printed, sizeof(printed)), 0x9000);
	/* Without the PIN even a missing protected object answers 6982. */
	ck_assert_uint_eq(get_object(0x09, buf, &n), 0x6982);
	ck_assert_uint_eq(get_object(0x08, buf, &n), 0x6982);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(get_object(0x09, buf, &n), 0x9000);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(buf + 2, printed, 3);
	ck_assert_uint_eq(get_object(0x08, buf, &n), 0x6a82);
}
END_TEST

START_TEST(put_data_chained_and_read_with_get_response)
{
	static uint8_t value[2000], buf[4096];
	size_t n;
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i * 7 + 1);
	ck_assert_uint_eq(put_object(0x0a, value, sizeof(value)), 0x6982);
	mgm_auth();
	int before = saved.count;
	ck_assert_uint_eq(put_object(0x0a, value, sizeof(value)), 0x9000);
	ck_assert_int_eq(saved.count, before + 1);
	/* First chunk: 256 bytes and 61xx (xx = 00: 256 or more left). */
	uint8_t cmd[5] = { 0x5c, 3, 0x5f, 0xc1, 0x0a };
	uint16_t sw = tx_cmd(0, 0xcb, 0x3f, 0xff, cmd, 5, false);
	ck_assert_uint_eq(sw, 0x6100);
	ck_assert_uint_eq(rlen, 256);
	ck_assert_uint_eq(collect(sw, buf, &n), 0x9000);
	ck_assert_uint_eq(n, 4 + sizeof(value));
	ck_assert_int_eq(buf[0], 0x53);
	ck_assert_int_eq(buf[1], 0x82);
	ck_assert_int_eq(buf[2] << 8 | buf[3], (int)sizeof(value));
	ck_assert_mem_eq(buf + 4, value, sizeof(value));
	/* Le is honoured: 8 bytes, then 61 xx with what is left (< 256). */
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 08"), 0x610c);
	ck_assert_uint_eq(rlen, 8);
	ck_assert_uint_eq(tx("00 C0 00 00 0C"), 0x9000);
	ck_assert_uint_eq(rlen, 12);
	/* Nothing pending; bad P1P2; another command drops the rest. */
	ck_assert_uint_eq(tx("00 C0 00 00 00"), 0x6985);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 08"), 0x610c);
	ck_assert_uint_eq(tx("00 C0 01 00 00"), 0x6a86);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(tx("00 C0 00 00 00"), 0x6985);
	/* An output buffer smaller than Le splits the same way. */
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00"), 0x9000);
	uint8_t small[6];
	size_t got = piv_apdu(&card, (const uint8_t *)"\x00\xcb\x3f\xff\x03\x5c\x01\x7e\x00", 9,
			      small, sizeof(small));
	ck_assert_uint_eq(got, 6);
	ck_assert_int_eq(small[4], 0x61);
	ck_assert_int_eq(small[5], 16);
}
END_TEST

START_TEST(chaining_limits_and_interruptions)
{
	static uint8_t big[PIV_CMD_MAX + 300], buf[64];
	size_t n;
	mgm_auth();
	/* More than the chain buffer holds: 6700 and nothing stored. */
	memset(big, 0x11, sizeof(big));
	size_t off = 0;
	uint16_t sw = 0x9000;
	while (off + 255 < sizeof(big) && sw == 0x9000) {
		sw = tx_cmd(0x10, 0xdb, 0x3f, 0xff, big + off, 255, false);
		off += 255;
	}
	ck_assert_uint_eq(sw, 0x6700);
	/* A chain interrupted by another command is dropped: the last piece
	 * alone is not a valid PUT DATA. */
	const uint8_t head[] = { 0x5c, 0x03, 0x5f, 0xc1, 0x01, 0x53, 0x04 };
	const uint8_t tail[] = { 0xaa, 0xbb, 0xcc, 0xdd };
	ck_assert_uint_eq(tx_cmd(0x10, 0xdb, 0x3f, 0xff, head, sizeof(head), false), 0x9000);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00"), 0x9000);
	ck_assert_uint_eq(tx_cmd(0x00, 0xdb, 0x3f, 0xff, tail, sizeof(tail), false), 0x6a80);
	/* Uninterrupted, the two pieces make one object. */
	ck_assert_uint_eq(tx_cmd(0x10, 0xdb, 0x3f, 0xff, head, sizeof(head), false), 0x9000);
	ck_assert_uint_eq(tx_cmd(0x00, 0xdb, 0x3f, 0xff, tail, sizeof(tail), false), 0x9000);
	ck_assert_uint_eq(get_object(0x01, buf, &n), 0x9000);
	ck_assert_uint_eq(n, 6);
	ck_assert_mem_eq(buf + 2, tail, 4);
	/* A chain of another INS/P1/P2 restarts the chain. */
	ck_assert_uint_eq(tx_cmd(0x10, 0xdb, 0x3f, 0xff, head, sizeof(head), false), 0x9000);
	ck_assert_uint_eq(tx_cmd(0x10, 0x87, 0x11, 0x9a, tail, sizeof(tail), false), 0x9000);
	ck_assert_uint_eq(tx_cmd(0x00, 0x87, 0x11, 0x9a, tail, 0, false), 0x6a80);
}
END_TEST

START_TEST(put_data_rules)
{
	static uint8_t big[PIV_OBJ_MAX + 1], buf[PIV_OBJ_MAX + 16];
	size_t n;
	const uint8_t one[] = { 0x42 };
	mgm_auth();
	ck_assert_uint_eq(tx("00 DB 3F FE 07 5C 03 5F C1 05 53 00"), 0x6a86);
	ck_assert_uint_eq(tx("00 DB 3F FF 00"), 0x6700);
	/* Trailing bytes, missing 53, the discovery object, a tag out of range. */
	ck_assert_uint_eq(tx("00 DB 3F FF 08 5C 03 5F C1 05 53 00 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 DB 3F FF 05 5C 03 5F C1 05"), 0x6a80);
	ck_assert_uint_eq(tx("00 DB 3F FF 06 5C 01 7E 53 01 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 DB 3F FF 08 5C 03 5F C1 24 53 01 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 DB 3F FF 08 5C 03 5F C0 05 53 01 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 DB 3F FF 08 5C 03 5F C1 05 53 02 00"), 0x6a80);
	/* The largest object fits, one byte more does not. */
	memset(big, 0x33, sizeof(big));
	ck_assert_uint_eq(put_object(0x05, big, PIV_OBJ_MAX), 0x9000);
	ck_assert_uint_eq(get_object(0x05, buf, &n), 0x9000);
	ck_assert_uint_eq(n, PIV_OBJ_MAX + 4);
	ck_assert_uint_eq(put_object(0x0b, big, PIV_OBJ_MAX + 1), 0x6a84);
	/* An empty value deletes; deleting nothing is fine. */
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 05 53 00"), 0x9000);
	ck_assert_uint_eq(get_object(0x05, buf, &n), 0x6a82);
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 05 53 00"), 0x9000);
	/* The table is full after PIV_OBJ_COUNT objects (CHUID and CCC count). */
	uint8_t id = 0x0d;
	for (int i = 2; i < PIV_OBJ_COUNT; i++)
		ck_assert_uint_eq(put_object(id++, one, 1), 0x9000);
	ck_assert_uint_eq(put_object(id, one, 1), 0x6a84);
	/* Replacing an existing one still works when full. */
	ck_assert_uint_eq(put_object(0x0d, big, 10), 0x9000);
}
END_TEST

/* ---- PIN and PUK. ---- */

START_TEST(wrong_pin_counts_down_to_blocked)
{
	ck_assert_uint_eq(tx("00 20 00 80 00"), 0x63c3);
	int before = saved.count;
	ck_assert_uint_eq(verify_pin("111111"), 0x63c2);
	/* The try was paid for (saved) before the comparison. */
	ck_assert_int_eq(saved.count, before + 1);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c2);
	/* A correct PIN restores the counter. */
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_int_eq(saved.count, before + 3);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x9000);
	/* P1 FF resets the security status. */
	ck_assert_uint_eq(tx("00 20 FF 80"), 0x9000);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(verify_pin("111111"), 0x63c2);
	ck_assert_uint_eq(verify_pin("222222"), 0x63c1);
	ck_assert_uint_eq(verify_pin("333333"), 0x63c0);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x6983);
	/* Blocked: even the right PIN fails and nothing is saved. */
	before = saved.count;
	ck_assert_uint_eq(verify_pin("123456"), 0x6983);
	ck_assert_int_eq(saved.count, before);
}
END_TEST

START_TEST(verify_bad_input)
{
	ck_assert_uint_eq(tx("00 20 00 80 07 31 32 33 34 35 36 FF"), 0x6700);
	ck_assert_uint_eq(tx("00 20 00 80 09 31 32 33 34 35 36 FF FF FF"), 0x6700);
	/* Malformed PINs cannot match: refused without costing a try. */
	ck_assert_uint_eq(tx("00 20 00 80 08 31 32 33 FF 35 36 FF FF"), 0x6a80);
	ck_assert_uint_eq(tx("00 20 00 80 08 31 32 33 34 35 FF FF FF"), 0x6a80);
	ck_assert_uint_eq(tx("00 20 00 80 08 31 32 33 34 35 41 FF FF"), 0x6a80);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(tx("00 20 01 80"), 0x6a86);
	ck_assert_uint_eq(tx("00 20 00 81 08 31 32 33 34 35 36 37 38"), 0x6a86);
	ck_assert_uint_eq(tx("00 20 00 00"), 0x6a88); /* global PIN: none here */
	ck_assert_uint_eq(tx("00 20 FF 80 01 00"), 0x6700);
	/* 8-digit PIN form is fine (and wrong). */
	ck_assert_uint_eq(verify_pin("12345678"), 0x63c2);
}
END_TEST

START_TEST(change_pin_and_puk)
{
	ck_assert_uint_eq(pin_change(PIN_654321, PIN_654321, 0x24, 0x80), 0x63c2);
	ck_assert_uint_eq(pin_change(PIN_123456, PIN_654321, 0x24, 0x80), 0x9000);
	/* Success sets the security status and restores the counter. */
	ck_assert_uint_eq(tx("00 20 00 80"), 0x9000);
	ck_assert_uint_eq(tx("00 20 FF 80"), 0x9000);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(verify_pin("123456"), 0x63c2);
	ck_assert_uint_eq(verify_pin("654321"), 0x9000);
	/* New PINs must be 6-8 digits; lengths exact. */
	ck_assert_uint_eq(pin_change(PIN_654321, "3132333435FFFFFF", 0x24, 0x80), 0x6a80);
	ck_assert_uint_eq(pin_change(PIN_654321, "31323334353641FF", 0x24, 0x80), 0x6a80);
	ck_assert_uint_eq(tx("00 24 00 80 0F 36 35 34 33 32 31 FF FF 31 32 33 34 35 36 FF"), 0x6700);
	ck_assert_uint_eq(pin_change(PIN_654321, PIN_123456, 0x24, 0x82), 0x6a86);
	ck_assert_uint_eq(pin_change(PIN_654321, PIN_123456, 0x24, 0x00), 0x6a88);
	ck_assert_uint_eq(tx("00 24 01 80 10 36 35 34 33 32 31 FF FF 31 32 33 34 35 36 FF FF"), 0x6a86);
	/* The PUK: any 8 bytes. */
	ck_assert_uint_eq(pin_change(PUK_WRONG, "0102030405060708", 0x24, 0x81), 0x63c2);
	ck_assert_uint_eq(pin_change(PUK_DEFAULT, "0102030405060708", 0x24, 0x81), 0x9000);
	ck_assert_uint_eq(pin_change(PUK_DEFAULT, PIN_123456, 0x2c, 0x80), 0x63c2);
	ck_assert_uint_eq(pin_change("0102030405060708", PIN_123456, 0x2c, 0x80), 0x9000);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
}
END_TEST

START_TEST(puk_unblocks_the_pin)
{
	for (int i = 0; i < 3; i++)
		verify_pin("000000");
	ck_assert_uint_eq(tx("00 20 00 80"), 0x6983);
	/* Bad forms first: no try is spent on them. */
	ck_assert_uint_eq(tx("00 2C 00 80 08 31 32 33 34 35 36 37 38"), 0x6700);
	ck_assert_uint_eq(pin_change(PUK_DEFAULT, "31323334FFFFFFFF", 0x2c, 0x80), 0x6a80);
	ck_assert_uint_eq(pin_change(PUK_DEFAULT, PIN_654321, 0x2c, 0x81), 0x6a86);
	ck_assert_uint_eq(pin_change(PUK_WRONG, PIN_654321, 0x2c, 0x80), 0x63c2);
	ck_assert_uint_eq(pin_change(PUK_DEFAULT, PIN_654321, 0x2c, 0x80), 0x9000);
	/* The PIN has its tries back, the PUK too, and the new PIN works. */
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(verify_pin("123456"), 0x63c2);
	ck_assert_uint_eq(verify_pin("654321"), 0x9000);
	ck_assert_uint_eq(pin_change(PUK_WRONG, PIN_654321, 0x2c, 0x80), 0x63c2);
}
END_TEST

START_TEST(blocked_puk_is_final_until_reset)
{
	static uint8_t pub[97], buf[64];
	size_t pub_len, n;
	mgm_auth();
	ck_assert_uint_eq(generate(0x9a, PIV_ALG_ECCP256, pub, &pub_len), 0x9000);
	ck_assert_uint_eq(tx("00 FB 00 00"), 0x6985); /* nothing blocked yet */
	ck_assert_uint_eq(pin_change(PUK_WRONG, PIN_654321, 0x2c, 0x80), 0x63c2);
	ck_assert_uint_eq(pin_change(PUK_WRONG, PIN_654321, 0x2c, 0x80), 0x63c1);
	ck_assert_uint_eq(pin_change(PUK_WRONG, PIN_654321, 0x2c, 0x80), 0x63c0);
	/* The right PUK no longer helps, for unblock or change. */
	ck_assert_uint_eq(pin_change(PUK_DEFAULT, PIN_654321, 0x2c, 0x80), 0x6983);
	ck_assert_uint_eq(pin_change(PUK_DEFAULT, PUK_DEFAULT, 0x24, 0x81), 0x6983);
	/* The PIN still works while it is not blocked. */
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 FB 00 00"), 0x6985);
	for (int i = 0; i < 3; i++)
		verify_pin("000000");
	ck_assert_uint_eq(tx("00 FB 00 01"), 0x6a86);
	ck_assert_uint_eq(tx("00 FB 00 00"), 0x9000);
	/* Factory state: default PIN/PUK with full tries, keys gone, serial kept,
	 * the management key default and authentication dropped. */
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 87 11 9A 08 7C 06 82 00 81 02 01 02"), 0x6a88);
	ck_assert_uint_eq(tx("00 F8 00 00"), 0x9000);
	ck_assert_int_eq(rdata[0] << 24 | rdata[1] << 16 | rdata[2] << 8 | rdata[3], 12345678);
	ck_assert_uint_eq(get_object(0x02, buf, &n), 0x9000);
	ck_assert_uint_eq(put_object(0x05, buf, 1), 0x6982);
	mgm_auth();
}
END_TEST

/* ---- Management key. ---- */

START_TEST(management_key_mutual_and_external)
{
	uint8_t wrong[24];
	memcpy(wrong, default_mgm, 24);
	wrong[23] ^= 0x01 << 1;
	/* A wrong key fails the witness and leaves nothing authenticated. */
	ck_assert_uint_eq(mgm_mutual(PIV_ALG_3DES, wrong, 24), 0x6982);
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 05 53 00"), 0x6982);
	mgm_auth();
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 05 53 00"), 0x9000);
	/* A failed exchange drops the authentication it had. */
	ck_assert_uint_eq(mgm_mutual(PIV_ALG_3DES, wrong, 24), 0x6982);
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 05 53 00"), 0x6982);
	/* External: challenge, then its encryption. */
	ck_assert_uint_eq(tx("00 87 03 9B 04 7C 02 81 00"), 0x9000);
	ck_assert_uint_eq(rlen, 12);
	uint8_t resp[16] = { 0x7c, 0x0a, 0x82, 0x08 };
	ck_assert_int_eq(piv_ossl_block_encrypt(NULL, PIV_ALG_3DES, default_mgm, 24, rdata + 4,
						resp + 4),
			 0);
	ck_assert_uint_eq(tx_cmd(0, 0x87, 0x03, 0x9b, resp, 12, false), 0x9000);
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 05 53 00"), 0x9000);
	/* The response once more: the challenge was single use. */
	ck_assert_uint_eq(tx_cmd(0, 0x87, 0x03, 0x9b, resp, 12, false), 0x6982);
	/* A response after another command, or with a wrong value. */
	ck_assert_uint_eq(tx("00 87 03 9B 04 7C 02 81 00"), 0x9000);
	ck_assert_int_eq(piv_ossl_block_encrypt(NULL, PIV_ALG_3DES, default_mgm, 24, rdata + 4,
						resp + 4),
			 0);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00"), 0x9000);
	ck_assert_uint_eq(tx_cmd(0, 0x87, 0x03, 0x9b, resp, 12, false), 0x6982);
	ck_assert_uint_eq(tx("00 87 03 9B 04 7C 02 81 00"), 0x9000);
	ck_assert_uint_eq(tx("00 87 03 9B 0C 7C 0A 82 08 00 00 00 00 00 00 00 00"), 0x6982);
	/* Malformed templates and the wrong algorithm. */
	ck_assert_uint_eq(tx("00 87 08 9B 04 7C 02 80 00"), 0x6a86);
	ck_assert_uint_eq(tx("00 87 03 9B 04 7C 02 83 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 87 03 9B 06 7C 04 80 00 80 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 87 03 9B 04 7D 02 80 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 87 03 9B"), 0x6700);
	/* OpenSC's GET CHALLENGE: random bytes that arm nothing. */
	ck_assert_uint_eq(tx("00 87 00 9B 04 7C 02 81 00 00"), 0x9000);
	ck_assert_uint_eq(rlen, 12);
	ck_assert_int_eq(piv_ossl_block_encrypt(NULL, PIV_ALG_3DES, default_mgm, 24, rdata + 4,
						resp + 4),
			 0);
	ck_assert_uint_eq(tx_cmd(0, 0x87, 0x03, 0x9b, resp, 12, false), 0x6982);
}
END_TEST

START_TEST(set_management_key_aes)
{
	uint8_t aes[16], cmd[3 + 32];
	for (int i = 0; i < 16; i++)
		aes[i] = (uint8_t)(0xa0 + i);
	cmd[0] = PIV_ALG_AES128;
	cmd[1] = 0x9b;
	cmd[2] = 16;
	memcpy(cmd + 3, aes, 16);
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, cmd, 19, false), 0x6982);
	mgm_auth();
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xfe, cmd, 19, false), 0x6a86);
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, cmd, 18, false), 0x6700);
	cmd[2] = 24; /* AES-128 with a 24-byte key */
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, cmd, 3 + 24, false), 0x6a80);
	cmd[2] = 16;
	cmd[1] = 0x9a;
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, cmd, 19, false), 0x6a80);
	cmd[1] = 0x9b;
	cmd[0] = 0x07; /* RSA is no management key */
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, cmd, 19, false), 0x6a80);
	cmd[0] = PIV_ALG_AES128;
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, cmd, 19, false), 0x9000);
	/* Now 3DES is the wrong algorithm, and the default key is gone. */
	ck_assert_uint_eq(tx("00 87 03 9B 04 7C 02 80 00"), 0x6a86);
	ck_assert_uint_eq(mgm_mutual(PIV_ALG_AES128, aes, 16), 0x9000);
	/* AES-256 too. */
	uint8_t k256[32];
	memset(k256, 0x77, sizeof(k256));
	cmd[0] = PIV_ALG_AES256;
	cmd[2] = 32;
	memcpy(cmd + 3, k256, 32);
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, cmd, 35, false), 0x9000);
	ck_assert_uint_eq(mgm_mutual(PIV_ALG_AES256, k256, 32), 0x9000);
	/* GET METADATA reports the algorithm and that it is not the default. */
	ck_assert_uint_eq(tx("00 F7 00 9B 00"), 0x9000);
	const uint8_t want[] = { 0x01, 0x01, PIV_ALG_AES256, 0x02, 0x02, 0x00, 0x01, 0x05, 0x01, 0x00 };
	ck_assert_uint_eq(rlen, sizeof(want));
	ck_assert_mem_eq(rdata, want, sizeof(want));
}
END_TEST

/* ---- Keys: generate, sign, ECDH. ---- */

START_TEST(generate_rules)
{
	static uint8_t pub[97];
	size_t pub_len;
	ck_assert_uint_eq(generate(0x9a, PIV_ALG_ECCP256, pub, &pub_len), 0x6982);
	mgm_auth();
	ck_assert_uint_eq(tx("00 47 00 9A 05 AC 03 80 01 07"), 0x6a80); /* RSA-2048 */
	ck_assert_uint_eq(tx("00 47 00 9A 05 AD 03 80 01 11"), 0x6a80);
	ck_assert_uint_eq(tx("00 47 00 9A 06 AC 03 80 01 11 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 47 00 9A 08 AC 06 80 01 11 80 01 11"), 0x6a80);
	ck_assert_uint_eq(tx("00 47 00 9A 08 AC 06 80 01 11 AB 01 02"), 0x6a80); /* touch */
	ck_assert_uint_eq(tx("00 47 00 9A 08 AC 06 80 01 11 AA 01 04"), 0x6a80);
	ck_assert_uint_eq(tx("00 47 00 9A 05 AC 03 81 01 11"), 0x6a80);
	ck_assert_uint_eq(tx("00 47 00 9A 02 AC 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 47 00 9A"), 0x6700);
	ck_assert_uint_eq(tx("00 47 00 9B 05 AC 03 80 01 11"), 0x6a86);
	ck_assert_uint_eq(tx("00 47 00 82 05 AC 03 80 01 11"), 0x6a86);
	ck_assert_uint_eq(tx("00 47 01 9A 05 AC 03 80 01 11"), 0x6a86);
	ck_assert_uint_eq(generate(0x9a, PIV_ALG_ECCP256, pub, &pub_len), 0x9000);
	ck_assert_uint_eq(pub_len, 65);
	EVP_PKEY *k = piv_ossl_pkey(PIV_ALG_ECCP256, NULL, pub, pub_len);
	ck_assert_ptr_nonnull(k); /* on the curve */
	EVP_PKEY_free(k);
	ck_assert_uint_eq(generate(0x9d, PIV_ALG_ECCP384, pub, &pub_len), 0x9000);
	ck_assert_uint_eq(pub_len, 97);
	/* A host crypto failure answers 6F00 and changes nothing. */
	fail_generate = true;
	int before = saved.count;
	ck_assert_uint_eq(generate(0x9e, PIV_ALG_ECCP256, pub, &pub_len), 0x6f00);
	ck_assert_int_eq(saved.count, before);
	ck_assert_uint_eq(tx("00 F7 00 9E"), 0x6a88);
	/* Policies in GET METADATA: 9A once by default, 9E with AA never. */
	fail_generate = false;
	ck_assert_uint_eq(tx("00 47 00 9E 08 AC 06 80 01 11 AA 01 01"), 0x9000);
	ck_assert_uint_eq(tx("00 F7 00 9E"), 0x9000);
	ck_assert_int_eq(rdata[5], PIV_PINPOLICY_NEVER);
	ck_assert_uint_eq(tx("00 F7 00 9A"), 0x9000);
	const uint8_t head[] = { 0x01, 0x01, 0x11, 0x02, 0x02, PIV_PINPOLICY_ONCE, 0x01,
				 0x03, 0x01, 0x01, 0x04, 0x43, 0x86, 0x41 };
	ck_assert_uint_eq(rlen, sizeof(head) + 65);
	ck_assert_mem_eq(rdata, head, sizeof(head));
}
END_TEST

START_TEST(ecdsa_signatures_verify)
{
	static uint8_t pub_a[97], pub_d[97], pub_e[97];
	size_t la, ld, le;
	uint8_t digest[48];
	for (size_t i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(i + 3);
	mgm_auth();
	ck_assert_uint_eq(generate(0x9a, PIV_ALG_ECCP256, pub_a, &la), 0x9000);
	ck_assert_uint_eq(generate(0x9d, PIV_ALG_ECCP384, pub_d, &ld), 0x9000);
	ck_assert_uint_eq(generate(0x9e, PIV_ALG_ECCP256, pub_e, &le), 0x9000);
	/* 9A and 9D need the PIN; 9E does not. */
	ck_assert_uint_eq(ga(0x11, 0x9a, 0x81, digest, 32), 0x6982);
	ck_assert_uint_eq(ga(0x11, 0x9e, 0x81, digest, 32), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub_e, le, digest, 32));
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9a, 0x81, digest, 32), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub_a, la, digest, 32));
	ck_assert(!signature_verifies(PIV_ALG_ECCP256, pub_e, le, digest, 32));
	/* PIN once: still good for a second signature. */
	ck_assert_uint_eq(ga(0x11, 0x9a, 0x81, digest, 20), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub_a, la, digest, 20));
	ck_assert_uint_eq(ga(0x14, 0x9d, 0x81, digest, 48), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP384, pub_d, ld, digest, 48));
	/* A digest longer than the order is cut to its leftmost bytes. */
	ck_assert_uint_eq(ga(0x11, 0x9a, 0x81, digest, 48), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub_a, la, digest, 32));
	/* Wrong algorithm for the key, empty slot, not a key, bad template. */
	ck_assert_uint_eq(ga(0x14, 0x9a, 0x81, digest, 32), 0x6a86);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x6a88);
	ck_assert_uint_eq(ga(0x11, 0x95, 0x81, digest, 32), 0x6a86);
	ck_assert_uint_eq(tx("00 87 11 9A 06 7C 04 81 02 01 02"), 0x6a80);       /* no 82 */
	ck_assert_uint_eq(tx("00 87 11 9A 08 7C 06 82 01 00 81 01 01"), 0x6a80); /* 82 not empty */
	ck_assert_uint_eq(tx("00 87 11 9A 06 7C 04 82 00 81 00"), 0x6a80);       /* no input */
	ck_assert_uint_eq(tx("00 87 11 9A 0B 7C 09 82 00 81 01 01 81 01 01 00"), 0x6a80);
	ck_assert_uint_eq(tx("00 87 11 9A 07 7C 06 82 00 81 01 01"), 0x6a80);
	ck_assert_uint_eq(tx("00 87 11 9A 06 7D 04 82 00 81 00"), 0x6a80);
	/* 81 before 82 is accepted, as OpenSC's order 82-then-81 is. */
	ck_assert_uint_eq(tx("00 87 11 9A 07 7C 05 81 01 01 82 00"), 0x9000);
}
END_TEST

START_TEST(pin_always_on_9c)
{
	static uint8_t pub_c[97], pub_a[97];
	size_t lc, la;
	uint8_t digest[32];
	memset(digest, 0x42, sizeof(digest));
	mgm_auth();
	ck_assert_uint_eq(generate(0x9c, PIV_ALG_ECCP256, pub_c, &lc), 0x9000);
	ck_assert_uint_eq(generate(0x9a, PIV_ALG_ECCP256, pub_a, &la), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x6982);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub_c, lc, digest, 32));
	/* One VERIFY, one signature. */
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x6982);
	/* The VERIFY must come immediately before. */
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x6982);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x6982);
	/* A chained GENERAL AUTHENTICATE right after VERIFY is one command. */
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	const uint8_t part1[] = { 0x7c, 0x24, 0x82, 0x00, 0x81, 0x20 };
	ck_assert_uint_eq(tx_cmd(0x10, 0x87, 0x11, 0x9c, part1, sizeof(part1), false), 0x9000);
	ck_assert_uint_eq(tx_cmd(0x00, 0x87, 0x11, 0x9c, digest, 32, false), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub_c, lc, digest, 32));
	/* A failed VERIFY grants nothing; the PIN-once key 9A still works. */
	ck_assert_uint_eq(verify_pin("000000"), 0x63c2);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x6982);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9a, 0x81, digest, 32), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub_a, la, digest, 32));
}
END_TEST

static EVP_PKEY *peer_key(const char *curve, uint8_t *point, size_t *point_len)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(EVP_PKEY_get_octet_string_param(k, "pub", point, 97, point_len), 1);
	return k;
}

static void openssl_derive(EVP_PKEY *mine, uint8_t alg, const uint8_t *card_pub, size_t len,
			   uint8_t *out, size_t *out_len)
{
	EVP_PKEY *theirs = piv_ossl_pkey(alg, NULL, card_pub, len);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(mine, NULL);
	ck_assert_ptr_nonnull(theirs);
	ck_assert_int_eq(EVP_PKEY_derive_init(ctx), 1);
	ck_assert_int_eq(EVP_PKEY_derive_set_peer(ctx, theirs), 1);
	*out_len = 48;
	ck_assert_int_eq(EVP_PKEY_derive(ctx, out, out_len), 1);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(theirs);
}

START_TEST(ecdh_matches_openssl)
{
	static uint8_t pub_d[97], pub_c[97], point[97], expect[48];
	size_t ld, lc, lp, le;
	mgm_auth();
	ck_assert_uint_eq(generate(0x9d, PIV_ALG_ECCP256, pub_d, &ld), 0x9000);
	ck_assert_uint_eq(generate(0x9c, PIV_ALG_ECCP256, pub_c, &lc), 0x9000);
	EVP_PKEY *mine = peer_key("P-256", point, &lp);
	ck_assert_uint_eq(ga(0x11, 0x9d, 0x85, point, lp), 0x6982);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9d, 0x85, point, lp), 0x9000);
	openssl_derive(mine, PIV_ALG_ECCP256, pub_d, ld, expect, &le);
	ck_assert_uint_eq(le, 32);
	ck_assert_int_eq(rdata[0], 0x7c);
	ck_assert_int_eq(rdata[1], 34);
	ck_assert_int_eq(rdata[2], 0x82);
	ck_assert_int_eq(rdata[3], 32);
	ck_assert_mem_eq(rdata + 4, expect, 32);
	/* Not a point on the curve, compressed, the wrong size. */
	uint8_t bad[65];
	memcpy(bad, point, 65);
	bad[64] ^= 1;
	ck_assert_uint_eq(ga(0x11, 0x9d, 0x85, bad, 65), 0x6a80);
	bad[0] = 0x02;
	ck_assert_uint_eq(ga(0x11, 0x9d, 0x85, bad, 33), 0x6a80);
	ck_assert_uint_eq(ga(0x11, 0x9d, 0x85, point, 64), 0x6a80);
	/* The signature key does not do key agreement. */
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x85, point, lp), 0x6a80);
	EVP_PKEY_free(mine);
	/* P-384 on 9A. */
	static uint8_t pub_a[97];
	size_t la;
	ck_assert_uint_eq(generate(0x9a, PIV_ALG_ECCP384, pub_a, &la), 0x9000);
	mine = peer_key("P-384", point, &lp);
	ck_assert_uint_eq(ga(0x14, 0x9a, 0x85, point, lp), 0x9000);
	openssl_derive(mine, PIV_ALG_ECCP384, pub_a, la, expect, &le);
	ck_assert_uint_eq(le, 48);
	ck_assert_mem_eq(rdata + 4, expect, 48);
	EVP_PKEY_free(mine);
}
END_TEST

/* ---- YubiKey extensions. ---- */

START_TEST(yubikey_extensions)
{
	ck_assert_uint_eq(tx("00 FD 00 00 00"), 0x9000);
	ck_assert_uint_eq(rlen, 3);
	ck_assert_int_eq(rdata[0], 5);
	ck_assert_uint_eq(tx("00 FD 00 00 01 00"), 0x6700);
	ck_assert_uint_eq(tx("00 F8 00 00 00"), 0x9000);
	ck_assert_uint_eq(rlen, 4);
	ck_assert_int_eq(rdata[0] << 24 | rdata[1] << 16 | rdata[2] << 8 | rdata[3], 12345678);
	/* PIN metadata: default, 3 of 3, then 2 of 3. */
	const uint8_t pin_meta[] = { 0x01, 0x01, 0xff, 0x05, 0x01, 0x01, 0x06, 0x02, 0x03, 0x03 };
	ck_assert_uint_eq(tx("00 F7 00 80 00"), 0x9000);
	ck_assert_uint_eq(rlen, sizeof(pin_meta));
	ck_assert_mem_eq(rdata, pin_meta, sizeof(pin_meta));
	ck_assert_uint_eq(verify_pin("999999"), 0x63c2);
	ck_assert_uint_eq(tx("00 F7 00 80 00"), 0x9000);
	ck_assert_int_eq(rdata[9], 2);
	ck_assert_uint_eq(tx("00 F7 00 81 00"), 0x9000);
	ck_assert_int_eq(rdata[5], 1);
	ck_assert_uint_eq(tx("00 F7 00 9C 00"), 0x6a88);
	ck_assert_uint_eq(tx("00 F7 00 77 00"), 0x6a86);
	ck_assert_uint_eq(tx("00 F7 01 80 00"), 0x6a86);
	/* SET PIN RETRIES needs the management key and the PIN. */
	ck_assert_uint_eq(tx("00 FA 05 06"), 0x6982);
	mgm_auth();
	ck_assert_uint_eq(tx("00 FA 05 06"), 0x6982);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 FA 00 06"), 0x6a86);
	ck_assert_uint_eq(tx("00 FA 05 10"), 0x6a86);
	ck_assert_uint_eq(tx("00 FA 05 06 01 00"), 0x6700);
	ck_assert_uint_eq(pin_change(PIN_123456, PIN_654321, 0x24, 0x80), 0x9000);
	ck_assert_uint_eq(tx("00 FA 05 06"), 0x9000);
	/* New counts, and the PIN back to its default (as a YubiKey does). */
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c5);
	ck_assert_uint_eq(tx("00 F7 00 81 00"), 0x9000);
	ck_assert_int_eq(rdata[8], 6);
	ck_assert_int_eq(rdata[9], 6);
	ck_assert_uint_eq(verify_pin("654321"), 0x63c4);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 F7 00 80 00"), 0x9000);
	ck_assert_int_eq(rdata[5], 1);
	ck_assert_int_eq(rdata[9], 5);
}
END_TEST

/* The standard profile: every YubiKey instruction is unknown (6D00) and
 * changes nothing, the standard commands still work, and the profile
 * survives a load (the host chooses it, the state file does not say). */
START_TEST(standard_profile_has_no_yubikey_extensions)
{
	static const char *const probes[] = { "00 FD 00 00 00", "00 F8 00 00 00", "00 F7 00 9B 00",
					      "00 F7 00 80 00", "00 FA 00 00",	  "00 FA 05 06",
					      "00 FB 00 00",	"00 FF FF FF 1B 03 9B 18 0102030405060708"
								"0102030405060708AABBCCDDEEFF0011" };
	unsigned count;

	piv_set_profile(&card, PIV_PROFILE_STANDARD);
	mgm_auth();
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	count = saved.count;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		ck_assert_uint_eq(tx(probes[i]), 0x6d00);
	ck_assert_uint_eq(saved.count, count);
	/* The factory management key still works: SET MANAGEMENT KEY did nothing. */
	mgm_auth();
	ck_assert_uint_eq(tx("00 20 FF 80"), 0x9000);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(pin_change(PIN_123456, PIN_654321, 0x24, 0x80), 0x9000);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x9000);
	ck_assert_int_eq(piv_load(&card, saved.image, saved.len), 0);
	ck_assert_uint_eq(tx("00 FD 00 00 00"), 0x6d00);
	piv_set_profile(&card, PIV_PROFILE_YUBIKEY);
	ck_assert_uint_eq(tx("00 FD 00 00 00"), 0x9000);
}
END_TEST

/* ---- Persistence. ---- */

START_TEST(state_round_trip)
{
	static uint8_t pub[97], image[PIV_STATE_MAX], buf[64];
	static struct piv_card other;
	size_t pl, n;
	uint8_t digest[32];
	memset(digest, 0x24, sizeof(digest));
	mgm_auth();
	ck_assert_uint_eq(generate(0x9c, PIV_ALG_ECCP256, pub, &pl), 0x9000);
	const uint8_t obj[] = { 1, 2, 3, 4 };
	ck_assert_uint_eq(put_object(0x0a, obj, sizeof(obj)), 0x9000);
	ck_assert_uint_eq(pin_change(PIN_123456, PIN_654321, 0x24, 0x80), 0x9000);
	ck_assert_uint_eq(verify_pin("000000"), 0x63c2);
	memcpy(image, saved.image, saved.len);
	size_t image_len = saved.len;
	/* The same card in another struct: counters, PIN, key, object. */
	ck_assert_int_eq(piv_init(&other, &host, 1), 0);
	ck_assert_int_eq(piv_load(&other, image, image_len), 0);
	piv_wipe_card(&card);
	memcpy(&card, &other, sizeof(card));
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c2);
	ck_assert_uint_eq(get_object(0x0a, buf, &n), 0x9000);
	ck_assert_mem_eq(buf + 2, obj, 4);
	ck_assert_uint_eq(verify_pin("654321"), 0x9000);
	ck_assert_uint_eq(ga(0x11, 0x9c, 0x81, digest, 32), 0x9000);
	ck_assert(signature_verifies(PIV_ALG_ECCP256, pub, pl, digest, 32));
	/* Loading ends the session: no management key authentication. */
	ck_assert_uint_eq(put_object(0x0a, obj, 1), 0x6982);
	ck_assert_uint_eq(tx("00 F8 00 00"), 0x9000);
	ck_assert_int_eq(rdata[3], 12345678 & 0xff);
}
END_TEST

START_TEST(corrupt_images_are_refused)
{
	static uint8_t image[PIV_STATE_MAX + 1], buf[64];
	size_t n;
	mgm_auth();
	const uint8_t obj[] = { 9, 9 };
	ck_assert_uint_eq(put_object(0x0a, obj, sizeof(obj)), 0x9000);
	memcpy(image, saved.image, saved.len);
	size_t len = saved.len;
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 0A 53 00"), 0x9000);
	/* Every failed load leaves the running state (no 5FC10A) alone. */
	ck_assert_int_eq(piv_load(&card, image, len - 1), -1);
	ck_assert_int_eq(piv_load(&card, image, 0), -1);
	image[len] = 0;
	ck_assert_int_eq(piv_load(&card, image, len + 1), -1);
	for (size_t i = 0; i < len; i += 97) {
		image[i] ^= 0x20;
		ck_assert_int_eq(piv_load(&card, image, len), -1);
		image[i] ^= 0x20;
	}
	ck_assert_uint_eq(get_object(0x0a, buf, &n), 0x6a82);
	ck_assert_int_eq(piv_load(&card, image, len), 0);
	ck_assert_uint_eq(get_object(0x0a, buf, &n), 0x9000);
}
END_TEST

/* The card is pulled in the middle of a command: the save fails. The
 * applet answers 6581, keeps the state it had, and the stored image (the
 * last good save) still decodes to that state. */
START_TEST(pulled_mid_command_keeps_the_previous_state)
{
	static uint8_t pub[97], buf[64], image[PIV_STATE_MAX];
	size_t pl, n;
	mgm_auth();
	const uint8_t obj[] = { 7, 7, 7 };
	ck_assert_uint_eq(put_object(0x0a, obj, sizeof(obj)), 0x9000);
	memcpy(image, saved.image, saved.len);
	size_t len = saved.len;
	saved.fail = true;
	ck_assert_uint_eq(put_object(0x05, obj, sizeof(obj)), 0x6581);
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 0A 53 00"), 0x6581);
	ck_assert_uint_eq(generate(0x9a, PIV_ALG_ECCP256, pub, &pl), 0x6581);
	ck_assert_uint_eq(pin_change(PIN_123456, PIN_654321, 0x24, 0x80), 0x6581);
	/* A VERIFY that cannot pay for its try is not compared at all. */
	ck_assert_uint_eq(verify_pin("123456"), 0x6581);
	ck_assert_uint_eq(verify_pin("000000"), 0x6581);
	uint8_t mk[] = { 0x03, 0x9b, 0x18, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
			 3, 3, 3, 3, 3, 3, 3, 3 };
	ck_assert_uint_eq(tx_cmd(0, 0xff, 0xff, 0xff, mk, sizeof(mk), false), 0x6581);
	saved.fail = false;
	/* In memory: nothing changed. */
	ck_assert_uint_eq(get_object(0x05, buf, &n), 0x6a82);
	ck_assert_uint_eq(get_object(0x0a, buf, &n), 0x9000);
	ck_assert_uint_eq(tx("00 F7 00 9A"), 0x6a88);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	mgm_auth();
	/* On "disk": the image from before is the state we have. */
	ck_assert_uint_eq(saved.len, len);
	ck_assert_mem_eq(saved.image, image, len);
	ck_assert_int_eq(piv_load(&card, saved.image, saved.len), 0);
	ck_assert_uint_eq(get_object(0x0a, buf, &n), 0x9000);
	ck_assert_uint_eq(n, 5);
}
END_TEST

/* When the second save of a VERIFY fails (the card pulled after paying for
 * the try), the try stays spent and the PIN is not verified. */
static int fail_second_save_left;
static int fail_after_one(void *ctx, const uint8_t *state, size_t len)
{
	if (fail_second_save_left-- == 0)
		return -1;
	return test_save(ctx, state, len);
}

START_TEST(verify_pulled_after_paying_keeps_the_try_spent)
{
	host.save = fail_after_one;
	fail_second_save_left = 1;
	ck_assert_uint_eq(verify_pin("123456"), 0x6581);
	host.save = test_save;
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c2);
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x9000);
}
END_TEST

START_TEST(power_events_end_the_session)
{
	mgm_auth();
	ck_assert_uint_eq(verify_pin("123456"), 0x9000);
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 08"), 0x610c);
	piv_reset(&card);
	ck_assert_uint_eq(tx("00 C0 00 00 00"), 0x6985);
	ck_assert_uint_eq(tx("00 20 00 80"), 0x63c3);
	ck_assert_uint_eq(tx("00 DB 3F FF 07 5C 03 5F C1 05 53 00"), 0x6982);
	/* The applet is selected after power on without a SELECT. */
	ck_assert_uint_eq(tx("00 CB 3F FF 03 5C 01 7E 00"), 0x9000);
}
END_TEST

static Suite *piv_suite(void)
{
	Suite *s = suite_create("piv");
	TCase *tc = tcase_create("applet");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, select_answers_the_application_property_template);
	tcase_add_test(tc, malformed_apdus_are_refused);
	tcase_add_test(tc, get_data_objects);
	tcase_add_test(tc, pin_protected_objects_need_the_pin);
	tcase_add_test(tc, put_data_chained_and_read_with_get_response);
	tcase_add_test(tc, chaining_limits_and_interruptions);
	tcase_add_test(tc, put_data_rules);
	tcase_add_test(tc, wrong_pin_counts_down_to_blocked);
	tcase_add_test(tc, verify_bad_input);
	tcase_add_test(tc, change_pin_and_puk);
	tcase_add_test(tc, puk_unblocks_the_pin);
	tcase_add_test(tc, blocked_puk_is_final_until_reset);
	tcase_add_test(tc, management_key_mutual_and_external);
	tcase_add_test(tc, set_management_key_aes);
	tcase_add_test(tc, generate_rules);
	tcase_add_test(tc, ecdsa_signatures_verify);
	tcase_add_test(tc, pin_always_on_9c);
	tcase_add_test(tc, ecdh_matches_openssl);
	tcase_add_test(tc, yubikey_extensions);
	tcase_add_test(tc, standard_profile_has_no_yubikey_extensions);
	tcase_add_test(tc, state_round_trip);
	tcase_add_test(tc, corrupt_images_are_refused);
	tcase_add_test(tc, pulled_mid_command_keeps_the_previous_state);
	tcase_add_test(tc, verify_pulled_after_paying_keeps_the_try_spent);
	tcase_add_test(tc, power_events_end_the_session);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(piv_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
