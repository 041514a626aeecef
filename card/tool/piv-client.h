/* piv-client.h - the host side of PIV (NIST SP 800-73-4 part 2) and of the
 * YubiKey PIV extensions, the way yubico-piv-tool's libykpiv speaks them:
 * SELECT, VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER, management
 * key mutual authentication (3DES, AES-128/192/256), GENERATE ASYMMETRIC
 * KEY PAIR (EC P-256), GENERAL AUTHENTICATE (ECDSA), GET DATA / PUT DATA,
 * and the YubiKey GET VERSION, GET SERIAL, GET METADATA, SET MANAGEMENT
 * KEY and RESET. Long commands go out chained (CLA 10), long answers come
 * back through GET RESPONSE (61xx); a 6Cxx is retried with the Le it names.
 *
 * Only standard PIV and YubiKey-documented commands are sent, so a real
 * YubiKey or PIV card and offpass's virtual card answer alike.
 *
 * The transport is a function (ofp_piv_open): PC/SC for a card in a reader
 * (ofp_piv_connect, card/tool/piv-pcsc.c), the applet itself in-process
 * for tests. One ofp_piv_t is one card session; not shared by threads.
 *
 * Errors: fallible functions return OFP_PIV_OK (0) or OFP_PIV_ERR (-1);
 * ofp_piv_error() then names the command and its status word, e.g.
 * "VERIFY: 63C2 (wrong PIN, 2 tries left)", and ofp_piv_sw() gives the
 * status word itself (0 when the transport failed). A few return
 * OFP_PIV_ABSENT (1: no such object, empty slot) or OFP_PIV_UNSUPPORTED
 * (2: the card does not have the command), which are not errors. PINs,
 * PUKs and keys pass through memory from common/secmem.h and are wiped. */
#ifndef OFFPASS_PIV_CLIENT_H
#define OFFPASS_PIV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"

enum { OFP_PIV_OK = 0, OFP_PIV_ERR = -1, OFP_PIV_ABSENT = 1, OFP_PIV_UNSUPPORTED = 2 };

/* Algorithms (SP 800-78-4 table 6-2; AES-192/256 as YubiKeys number them). */
enum {
	OFP_PIV_ALG_3DES = 0x03,
	OFP_PIV_ALG_AES128 = 0x08,
	OFP_PIV_ALG_AES192 = 0x0a,
	OFP_PIV_ALG_AES256 = 0x0c,
	OFP_PIV_ALG_ECCP256 = 0x11,
};

/* Key references and slots. */
enum {
	OFP_PIV_SLOT_AUTH = 0x9a,     /* PIV authentication: PIN once */
	OFP_PIV_KEY_MGMT = 0x9b,      /* card management key (symmetric) */
	OFP_PIV_SLOT_SIGN = 0x9c,     /* digital signature: PIN always */
	OFP_PIV_SLOT_KEYMGMT = 0x9d,  /* key management */
	OFP_PIV_SLOT_CARDAUTH = 0x9e, /* card authentication: no PIN */
	OFP_PIV_REF_PIN = 0x80,
	OFP_PIV_REF_PUK = 0x81,
};

/* PIN policies (YubiKey tag AA): DEFAULT lets the card pick per slot. */
enum {
	OFP_PIV_PIN_POLICY_DEFAULT = 0,
	OFP_PIV_PIN_POLICY_NEVER = 1,
	OFP_PIV_PIN_POLICY_ONCE = 2,
	OFP_PIV_PIN_POLICY_ALWAYS = 3,
};

/* Data object tags (SP 800-73-4 part 1, table 3). */
#define OFP_PIV_OBJ_CHUID 0x5fc102u
#define OFP_PIV_OBJ_CERT_9A 0x5fc105u
#define OFP_PIV_OBJ_CERT_9C 0x5fc10au
#define OFP_PIV_OBJ_CERT_9D 0x5fc10bu
#define OFP_PIV_OBJ_CERT_9E 0x5fc101u
#define OFP_PIV_OBJ_PRINTED 0x5fc109u /* Printed Information: PIN to read */

/* PINs and PUKs go on the card as 6 to 8 bytes padded with FF. */
#define OFP_PIV_PIN_MIN 6
#define OFP_PIV_PIN_MAX 8
#define OFP_PIV_MGM_KEY_MAX 32
#define OFP_PIV_P256_POINT_LEN 65
#define OFP_PIV_SIG_MAX 80 /* DER ECDSA P-256 */
/* The largest data object value this client writes or accepts. */
#define OFP_PIV_OBJECT_MAX 3072

/* The factory management key of PIV test cards and YubiKeys (3DES). */
extern const uint8_t ofp_piv_default_mgm_key[24];

typedef struct ofp_piv ofp_piv_t;

/* How APDUs reach the card. transmit sends one command APDU and puts the
 * response APDU (data, SW1, SW2) into resp (cap bytes, at least 258), its
 * length into *resp_len; 0, or -1 with a reason in err. close (may be NULL)
 * ends the connection. */
typedef struct ofp_piv_transport {
	void *ctx;
	int (*transmit)(void *ctx, const uint8_t *apdu, size_t len, uint8_t *resp, size_t cap,
			size_t *resp_len, char *err, size_t err_len);
	void (*close)(void *ctx);
} ofp_piv_transport_t;

/* Take over the transport (closed by ofp_piv_close, also when this fails)
 * and SELECT the PIV application. reader names the card in messages. */
int ofp_piv_open(const ofp_piv_transport_t *t, const char *reader, ofp_piv_t **out, char *err,
		 size_t err_len) OFP_WUR;
/* PC/SC: connect to the reader named reader (exact name, else the only
 * reader whose name contains it), or with reader NULL the first reader
 * with a card, in a transaction that lasts until ofp_piv_close (which
 * resets the card, so that no PIN status is left behind); then SELECT. */
int ofp_piv_connect(const char *reader, ofp_piv_t **out, char *err, size_t err_len) OFP_WUR;
void ofp_piv_close(ofp_piv_t *p);

const char *ofp_piv_error(const ofp_piv_t *p);
uint16_t ofp_piv_sw(const ofp_piv_t *p);
const char *ofp_piv_reader(const ofp_piv_t *p);
/* Set the error text (for callers that add context). */
void ofp_piv_set_error(ofp_piv_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "63C2 (wrong PIN, 2 tries left)" and the like, for any status word. */
void ofp_piv_sw_text(uint16_t sw, char *buf, size_t len);
/* Tries left that a status word reports: x for 63Cx, 0 for 6983
 * (blocked), -1 for anything else. */
int ofp_piv_sw_tries(uint16_t sw);

/* One command: data goes out chained when longer than 255 bytes; the whole
 * answer (after GET RESPONSE) goes into a malloc'ed *resp (free() it; may
 * be NULL when not wanted). name is the command's name in messages. 0 for
 * 9000, else -1 with the error set. */
int ofp_piv_command(ofp_piv_t *p, const char *name, uint8_t ins, uint8_t p1, uint8_t p2,
		    const uint8_t *data, size_t len, bool want_data, uint8_t **resp,
		    size_t *resp_len) OFP_WUR;

/* ---- PIN and PUK (6 to 8 characters) ---------------------------------- */

/* VERIFY without data: *verified, and the tries left (-1 when the card
 * does not say: it answers 9000 once the PIN is verified). */
int ofp_piv_pin_status(ofp_piv_t *p, bool *verified, int *tries_left) OFP_WUR;
int ofp_piv_verify_pin(ofp_piv_t *p, const char *pin) OFP_WUR;
/* VERIFY with P1 FF (SP 800-73-4): the PIN is no longer verified. Cards
 * older than SP 800-73-4 may not know it (an error, nothing changed). */
int ofp_piv_pin_logout(ofp_piv_t *p) OFP_WUR;
/* CHANGE REFERENCE DATA of the PIN (ref OFP_PIV_REF_PIN) or the PUK. */
int ofp_piv_change_reference(ofp_piv_t *p, uint8_t ref, const char *old_value,
			     const char *new_value) OFP_WUR;
/* RESET RETRY COUNTER: the PUK sets a new PIN (and unblocks it). */
int ofp_piv_unblock_pin(ofp_piv_t *p, const char *puk, const char *new_pin) OFP_WUR;
/* 6 to 8 characters: the only check the client makes (cards differ on
 * digits: SP 800-73-4 wants them, YubiKeys take any ASCII). */
bool ofp_piv_pin_ok(const char *pin);

/* ---- the management key ----------------------------------------------- */

/* 24 for 3DES, 16/24/32 for AES-128/192/256, 0 for anything else. */
size_t ofp_piv_mgm_key_len(uint8_t alg);
/* "3DES", "AES-128", ...; "unknown". */
const char *ofp_piv_alg_name(uint8_t alg);
/* Mutual authentication (SP 800-73-4 part 2 appendix A.1, as libykpiv):
 * the card's encrypted witness is decrypted here, and the card must
 * encrypt our challenge right, so a card that does not hold the key is
 * found out too. */
int ofp_piv_authenticate(ofp_piv_t *p, uint8_t alg, const uint8_t *key, size_t key_len) OFP_WUR;
/* YubiKey SET MANAGEMENT KEY (after ofp_piv_authenticate). */
int ofp_piv_set_mgm_key(ofp_piv_t *p, uint8_t alg, const uint8_t *key, size_t key_len) OFP_WUR;

/* ---- keys --------------------------------------------------------------- */

/* GENERATE ASYMMETRIC KEY PAIR (after ofp_piv_authenticate): an EC P-256
 * key in slot; pub gets the 65-byte uncompressed point. */
int ofp_piv_generate(ofp_piv_t *p, uint8_t slot, uint8_t pin_policy, uint8_t pub[OFP_PIV_P256_POINT_LEN]) OFP_WUR;
/* GENERAL AUTHENTICATE: ECDSA by the slot's P-256 key over a digest (at
 * most 32 bytes are signed); the DER signature into sig (OFP_PIV_SIG_MAX).
 * A PIN-always key needs ofp_piv_verify_pin as the command right before. */
int ofp_piv_sign(ofp_piv_t *p, uint8_t slot, const uint8_t *digest, size_t digest_len, uint8_t *sig,
		 size_t *sig_len) OFP_WUR;

/* ---- data objects --------------------------------------------------------- */

/* GET DATA: the object's value (inside tag 53) into a malloc'ed *val.
 * OFP_PIV_ABSENT when the card has no such object. */
int ofp_piv_get_data(ofp_piv_t *p, uint32_t tag, uint8_t **val, size_t *len) OFP_WUR;
/* PUT DATA (after ofp_piv_authenticate); an empty value deletes. */
int ofp_piv_put_data(ofp_piv_t *p, uint32_t tag, const uint8_t *val, size_t len) OFP_WUR;

/* ---- YubiKey extensions ----------------------------------------------------- */

/* Does the card know instruction ins? It is sent with P1 P2 and no data,
 * a form that changes nothing on a card that has it (the caller picks one):
 * OFP_PIV_UNSUPPORTED for 6D00, 6E00 or 6A81, OFP_PIV_OK for any other
 * answer, OFP_PIV_ERR only when the transport failed. */
int ofp_piv_probe(ofp_piv_t *p, const char *name, uint8_t ins, uint8_t p1, uint8_t p2) OFP_WUR;

/* OFP_PIV_UNSUPPORTED on cards without the command. */
int ofp_piv_get_version(ofp_piv_t *p, uint8_t version[3]) OFP_WUR;
int ofp_piv_get_serial(ofp_piv_t *p, uint32_t *serial) OFP_WUR;

typedef struct ofp_piv_metadata {
	uint8_t alg;		/* 0xff for PIN and PUK */
	uint8_t pin_policy;	/* keys */
	uint8_t touch_policy;	/* keys */
	uint8_t origin;		/* keys: 1 generated on the card, 2 imported */
	bool is_default;	/* PIN, PUK, management key: still the factory value */
	int tries_total;	/* PIN, PUK; -1 otherwise */
	int tries_left;
	uint8_t pub[OFP_PIV_P256_POINT_LEN]; /* keys (P-256) */
	size_t pub_len;
} ofp_piv_metadata_t;

/* GET METADATA (YubiKey 5.3) of a key, the PIN, the PUK or 9B:
 * OFP_PIV_ABSENT for an empty slot, OFP_PIV_UNSUPPORTED without it. */
int ofp_piv_get_metadata(ofp_piv_t *p, uint8_t ref, ofp_piv_metadata_t *md) OFP_WUR;
/* RESET: back to the factory state; cards allow it only once both PIN and
 * PUK are blocked (the error then says so). */
int ofp_piv_reset(ofp_piv_t *p) OFP_WUR;

/* ---- BER-TLV as PIV writes it (tags of 1 to 3 bytes, lengths up to 82) ---- */

typedef struct ofp_tlv {
	uint32_t tag;
	const uint8_t *val;
	size_t len;
} ofp_tlv_t;

/* The next TLV from *pos (advanced past it); -1 when it is malformed or
 * runs past end. */
int ofp_tlv_next(const uint8_t **pos, const uint8_t *end, ofp_tlv_t *out) OFP_WUR;
/* The first TLV with this tag among those in [buf, buf+len): 0 found, 1
 * not there, -1 malformed. */
int ofp_tlv_find(const uint8_t *buf, size_t len, uint32_t tag, ofp_tlv_t *out) OFP_WUR;
/* Append tag, length and value at out + *at (cap bytes in all): -1 when
 * it does not fit. val may be NULL to write the header only. */
int ofp_tlv_put(uint8_t *out, size_t cap, size_t *at, uint32_t tag, const uint8_t *val, size_t len) OFP_WUR;

#endif
