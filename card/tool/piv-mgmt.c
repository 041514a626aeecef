/* piv-mgmt.c - the card management key (9B): mutual authentication as
 * SP 800-73-4 part 2 appendix A.1 describes and libykpiv does it, and the
 * YubiKey SET MANAGEMENT KEY.
 *
 *   7C{80 00}              -> 7C{80 E(W)}    the card's witness, encrypted
 *   7C{80 W, 81 C}         -> 7C{82 E(C)}    we decrypted W; the card
 *                                             encrypts our challenge C
 *
 * The host proves it has the key by decrypting the witness; the card
 * proves it by encrypting C, which is checked here: a card (or a man in
 * the middle) without the key cannot pass as the one we provision. */
#include "config.h"
#include "card/tool/piv-client.h"
#include "card/tool/piv-client_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "secmem.h"

#define AUTH_NAME "management key authentication (GENERAL AUTHENTICATE 9B)"

size_t ofp_piv_mgm_key_len(uint8_t alg)
{
	switch (alg) {
	case OFP_PIV_ALG_3DES:
		return 24;
	case OFP_PIV_ALG_AES128:
		return 16;
	case OFP_PIV_ALG_AES192:
		return 24;
	case OFP_PIV_ALG_AES256:
		return 32;
	default:
		return 0;
	}
}

const char *ofp_piv_alg_name(uint8_t alg)
{
	switch (alg) {
	case OFP_PIV_ALG_3DES:
		return "3DES";
	case OFP_PIV_ALG_AES128:
		return "AES-128";
	case OFP_PIV_ALG_AES192:
		return "AES-192";
	case OFP_PIV_ALG_AES256:
		return "AES-256";
	case OFP_PIV_ALG_ECCP256:
		return "ECCP256";
	default:
		return "unknown";
	}
}

static size_t block_len(uint8_t alg)
{
	return alg == OFP_PIV_ALG_3DES ? 8 : 16;
}

static const EVP_CIPHER *ecb_cipher(uint8_t alg)
{
	switch (alg) {
	case OFP_PIV_ALG_3DES:
		return EVP_des_ede3_ecb();
	case OFP_PIV_ALG_AES128:
		return EVP_aes_128_ecb();
	case OFP_PIV_ALG_AES192:
		return EVP_aes_192_ecb();
	default:
		return EVP_aes_256_ecb();
	}
}

/* One block in ECB mode, either way. 0 or -1. */
static int one_block(uint8_t alg, const uint8_t *key, const uint8_t *in, uint8_t *out, bool encrypt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, rv = -1;

	if (ctx == NULL)
		return -1;
	if (EVP_CipherInit_ex(ctx, ecb_cipher(alg), NULL, key, NULL, encrypt ? 1 : 0) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_CipherUpdate(ctx, out, &n, in, (int)block_len(alg)) == 1 && (size_t)n == block_len(alg))
		rv = 0;
	EVP_CIPHER_CTX_free(ctx);
	return rv;
}

static int check_key(ofp_piv_t *p, const char *name, uint8_t alg, size_t key_len)
{
	size_t want = ofp_piv_mgm_key_len(alg);

	if (want == 0) {
		ofp_piv_set_error(p, "%s: algorithm %02X is not 3DES or AES", name, alg);
		return OFP_PIV_ERR;
	}
	if (key_len != want) {
		ofp_piv_set_error(p, "%s: a %s key has %zu bytes, not %zu", name, ofp_piv_alg_name(alg), want,
				  key_len);
		return OFP_PIV_ERR;
	}
	return OFP_PIV_OK;
}

/* The item tag inside the 7C template that makes up the whole answer. */
static int dynamic_item(ofp_piv_t *p, const uint8_t *resp, size_t len, uint32_t tag, size_t want,
			const uint8_t **val)
{
	const uint8_t *pos = resp;
	ofp_tlv_t t, item;

	if (ofp_tlv_next(&pos, resp + len, &t) != 0 || t.tag != 0x7c || pos != resp + len ||
	    ofp_tlv_find(t.val, t.len, tag, &item) != 0 || item.len != want) {
		ofp_piv_set_error(p, AUTH_NAME ": malformed answer (no %zu-byte %02X item)", want,
				  (unsigned)tag);
		return OFP_PIV_ERR;
	}
	*val = item.val;
	return OFP_PIV_OK;
}

/* Step 1: the card's witness, decrypted. */
static int witness(ofp_piv_t *p, uint8_t alg, const uint8_t *key, uint8_t *w)
{
	static const uint8_t ask[] = { 0x7c, 0x02, 0x80, 0x00 };
	uint8_t *resp = NULL;
	const uint8_t *ew;
	size_t len = 0;
	int rv = ofp_piv_command(p, AUTH_NAME, 0x87, alg, OFP_PIV_KEY_MGMT, ask, sizeof(ask), true, &resp, &len);

	if (rv != OFP_PIV_OK && p->sw == 0x6a86)
		ofp_piv_set_error(p, "%s: 6A86 (incorrect P1/P2): the card's management key is not %s "
				     "(--mgm-alg)", AUTH_NAME, ofp_piv_alg_name(alg));
	if (rv == OFP_PIV_OK)
		rv = dynamic_item(p, resp, len, 0x80, block_len(alg), &ew);
	if (rv == OFP_PIV_OK && one_block(alg, key, ew, w, false) != 0) {
		ofp_piv_set_error(p, AUTH_NAME ": %s decryption failed (OpenSSL)", ofp_piv_alg_name(alg));
		rv = OFP_PIV_ERR;
	}
	if (resp != NULL)
		secmem_wipe(resp, len);
	free(resp);
	return rv;
}

/* Step 2: W and our challenge; the card must answer E(challenge). */
static int respond(ofp_piv_t *p, uint8_t alg, const uint8_t *key, const uint8_t *w)
{
	size_t bl = block_len(alg);
	uint8_t msg[4 + 2 * (2 + 16)], chal[16], expect[16];
	uint8_t *resp = NULL;
	const uint8_t *got;
	size_t len = 0, n = 0;
	int rv = OFP_PIV_ERR;

	if (RAND_bytes(chal, (int)bl) != 1 || one_block(alg, key, chal, expect, true) != 0) {
		ofp_piv_set_error(p, AUTH_NAME ": no challenge (OpenSSL)");
		goto out;
	}
	msg[n++] = 0x7c;
	msg[n++] = (uint8_t)(2 * (2 + bl));
	msg[n++] = 0x80;
	msg[n++] = (uint8_t)bl;
	memcpy(msg + n, w, bl);
	n += bl;
	msg[n++] = 0x81;
	msg[n++] = (uint8_t)bl;
	memcpy(msg + n, chal, bl);
	n += bl;
	rv = ofp_piv_command(p, AUTH_NAME, 0x87, alg, OFP_PIV_KEY_MGMT, msg, n, true, &resp, &len);
	if (rv != OFP_PIV_OK && p->sw == 0x6982)
		ofp_piv_set_error(p, "%s: 6982 (security status not satisfied): wrong management key", AUTH_NAME);
	if (rv == OFP_PIV_OK)
		rv = dynamic_item(p, resp, len, 0x82, bl, &got);
	if (rv == OFP_PIV_OK && CRYPTO_memcmp(got, expect, bl) != 0) {
		ofp_piv_set_error(p, AUTH_NAME ": the card encrypted our challenge wrong: it does not hold "
				     "this management key");
		rv = OFP_PIV_ERR;
	}
out:
	secmem_wipe(msg, sizeof(msg));
	secmem_wipe(expect, sizeof(expect));
	if (resp != NULL)
		secmem_wipe(resp, len);
	free(resp);
	return rv;
}

int ofp_piv_authenticate(ofp_piv_t *p, uint8_t alg, const uint8_t *key, size_t key_len)
{
	uint8_t w[16];
	int rv;

	if (check_key(p, AUTH_NAME, alg, key_len) != OFP_PIV_OK)
		return OFP_PIV_ERR;
	rv = witness(p, alg, key, w);
	if (rv == OFP_PIV_OK)
		rv = respond(p, alg, key, w);
	secmem_wipe(w, sizeof(w));
	return rv;
}

int ofp_piv_set_mgm_key(ofp_piv_t *p, uint8_t alg, const uint8_t *key, size_t key_len)
{
	uint8_t msg[3 + OFP_PIV_MGM_KEY_MAX];
	int rv;

	if (check_key(p, "SET MANAGEMENT KEY", alg, key_len) != OFP_PIV_OK)
		return OFP_PIV_ERR;
	msg[0] = alg;
	msg[1] = OFP_PIV_KEY_MGMT;
	msg[2] = (uint8_t)key_len;
	memcpy(msg + 3, key, key_len);
	/* P2 FF: no touch needed to use the key (FE would ask for one). */
	rv = ofp_piv_command(p, "SET MANAGEMENT KEY", 0xff, 0xff, 0xff, msg, 3 + key_len, false, NULL, NULL);
	if (rv != OFP_PIV_OK && p->sw == 0x6982)
		ofp_piv_set_error(p, "SET MANAGEMENT KEY: 6982 (security status not satisfied): authenticate "
				     "with the current management key first");
	secmem_wipe(msg, sizeof(msg));
	return rv;
}
