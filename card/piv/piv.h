/* piv.h - a PIV card application (NIST SP 800-73-4 part 2) as a library.
 *
 * The applet is the card edge only: command APDUs in, response APDUs out.
 * It never allocates memory and never calls the operating system. All its
 * state lives in a struct piv_card that the host provides; randomness,
 * persistence and the cryptographic primitives come through the hooks of
 * struct piv_host. A secure element could host it with its own crypto
 * engine and flash; offpass-vcard hosts it with OpenSSL and a state file
 * (card/piv/piv-ossl.h, card/vcard/).
 *
 * What it answers: SELECT, GET DATA, PUT DATA, VERIFY, CHANGE REFERENCE
 * DATA, RESET RETRY COUNTER, GENERATE ASYMMETRIC KEY PAIR (EC P-256 and
 * P-384), GENERAL AUTHENTICATE (ECDSA, ECDH, management key 3DES/AES),
 * GET RESPONSE and command chaining, and the YubiKey extensions that
 * yubico-piv-tool and ykman use (GET VERSION, GET SERIAL, SET MANAGEMENT
 * KEY, RESET, SET PIN RETRIES, GET METADATA). docs/CARD.md has the details.
 *
 * Persistence: every command that changes the persistent state hands the
 * whole new state to host->save before it answers. If save fails, the
 * applet rolls back to the state it had before the command and answers
 * 6581, so the host's copy and the applet never disagree. The host must
 * make save atomic (offpass-vcard: temp file, fsync, rename, fsync dir). */
#ifndef OFFPASS_PIV_H
#define OFFPASS_PIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define PIV_WUR __attribute__((warn_unused_result))
#else
#define PIV_WUR
#endif

/* Algorithm identifiers (SP 800-78-4 table 6-2, YubiKey for AES-192/256). */
enum {
	PIV_ALG_3DES = 0x03,
	PIV_ALG_AES128 = 0x08,
	PIV_ALG_AES192 = 0x0a,
	PIV_ALG_AES256 = 0x0c,
	PIV_ALG_ECCP256 = 0x11,
	PIV_ALG_ECCP384 = 0x14,
};

/* Key references. */
enum {
	PIV_KEY_AUTH = 0x9a,     /* PIV authentication, PIN once */
	PIV_KEY_MGMT = 0x9b,     /* card management (symmetric) */
	PIV_KEY_SIGN = 0x9c,     /* digital signature, PIN always */
	PIV_KEY_KEYMGMT = 0x9d,  /* key management (ECDH), PIN once */
	PIV_KEY_CARDAUTH = 0x9e, /* card authentication, no PIN */
	PIV_REF_PIN = 0x80,
	PIV_REF_PUK = 0x81,
};

/* PIN policies (YubiKey tag AA); DEFAULT resolves per slot at generation. */
enum {
	PIV_PINPOLICY_DEFAULT = 0,
	PIV_PINPOLICY_NEVER = 1,
	PIV_PINPOLICY_ONCE = 2,
	PIV_PINPOLICY_ALWAYS = 3,
};

/* Compile-time sizes: a secure element would shrink PIV_OBJ_MAX and
 * PIV_OBJ_COUNT to fit its memory. */
#define PIV_EC_MAX 48          /* P-384 scalar */
#define PIV_POINT_MAX 97       /* P-384 uncompressed point */
#define PIV_SIG_MAX 104        /* DER ECDSA-P384 signature */
#define PIV_SYM_KEY_MAX 32     /* AES-256 */
#define PIV_OBJ_MAX 3072       /* one data object's value (tag 53 contents) */
#define PIV_OBJ_COUNT 12       /* data objects stored at once */
#define PIV_NKEYS 4            /* 9A 9C 9D 9E */
#define PIV_CMD_MAX (PIV_OBJ_MAX + 64)  /* command data, chained or not */
#define PIV_RESP_MAX (PIV_OBJ_MAX + 64) /* a whole response before GET RESPONSE */
#define PIV_STATE_MAX (128 + PIV_NKEYS * (8 + PIV_EC_MAX + PIV_POINT_MAX) + \
		       PIV_OBJ_COUNT * (5 + PIV_OBJ_MAX))

/* What the host gives the applet. Every hook returns 0 on success and
 * anything else on failure (the applet then answers 6F00, or 6581 for
 * save); ctx is passed back unchanged. Keys are raw big-endian: a private
 * key is the scalar of n bytes (32 for P-256, 48 for P-384), a public key
 * the uncompressed point 04||X||Y of 2n+1 bytes. */
struct piv_host {
	void *ctx;
	/* len bytes of cryptographic randomness. */
	int (*rand)(void *ctx, uint8_t *buf, size_t len);
	/* Durably replace the stored state with [state, state+len). */
	int (*save)(void *ctx, const uint8_t *state, size_t len);
	/* A fresh key pair on the curve of alg (PIV_ALG_ECCP256/384). */
	int (*ec_generate)(void *ctx, uint8_t alg, uint8_t *priv, uint8_t *pub);
	/* ECDSA with the key pair (priv, pub) over the given digest as is (no
	 * hashing; a digest shorter than n is a smaller number, a longer one is
	 * not passed). *sig_len is the room in sig on entry; the signature is
	 * DER (SEQUENCE of two INTEGERs), at most PIV_SIG_MAX bytes. */
	int (*ec_sign)(void *ctx, uint8_t alg, const uint8_t *priv, const uint8_t *pub,
		       const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t *sig_len);
	/* ECDH: the X coordinate (n bytes) of priv * peer. The host checks
	 * that peer is an uncompressed point on the curve. */
	int (*ecdh)(void *ctx, uint8_t alg, const uint8_t *priv, const uint8_t *pub,
		    const uint8_t *peer, size_t peer_len, uint8_t *secret);
	/* Encrypt one block (8 bytes for 3DES, 16 for AES) in ECB mode. */
	int (*block_encrypt)(void *ctx, uint8_t alg, const uint8_t *key, size_t key_len,
			     const uint8_t *in, uint8_t *out);
};

/* ---- Everything below is the applet's own memory: the host allocates a
 * struct piv_card (static or heap, about 120 KB with the default sizes) and
 * never touches its fields. ---- */

struct piv_key {
	uint8_t alg; /* 0: the slot is empty */
	uint8_t pin_policy;
	uint8_t touch_policy;
	uint8_t origin; /* 1 generated on the card */
	uint8_t priv[PIV_EC_MAX];
	uint8_t pub[PIV_POINT_MAX];
};

struct piv_object {
	uint8_t tag[3]; /* 5FC1xx or 5FFFxx; tag[0] == 0: the entry is free */
	uint16_t len;
	uint8_t data[PIV_OBJ_MAX];
};

/* The persistent state: what the save hook stores. */
struct piv_persist {
	uint32_t serial;
	uint8_t pin[8], puk[8]; /* padded with FF */
	uint8_t pin_max, pin_left, puk_max, puk_left;
	uint8_t mgm_alg;
	uint8_t mgm_key[PIV_SYM_KEY_MAX];
	struct piv_key keys[PIV_NKEYS];
	struct piv_object objects[PIV_OBJ_COUNT];
};

/* Which commands the card answers: every one above, or a standard PIV
 * card's (SP 800-73-4 only: GET VERSION, GET SERIAL, SET MANAGEMENT KEY,
 * RESET, SET PIN RETRIES and GET METADATA answer 6D00, as on a card
 * without YubiKey's extensions). */
enum piv_profile {
	PIV_PROFILE_YUBIKEY = 0,
	PIV_PROFILE_STANDARD = 1,
};

struct piv_card {
	const struct piv_host *host;
	enum piv_profile profile; /* the host's choice; not saved */
	struct piv_persist p;
	struct piv_persist shadow; /* p before the current command: rollback */
	/* Session state, lost at power off and reset. */
	bool pin_verified;
	bool pin_always;     /* a VERIFY was the last command: one PIN-always use */
	bool cmd_always;     /* pin_always as the current command found it */
	bool mgm_authed;
	uint8_t auth_state;  /* a management-key exchange under way */
	uint8_t cmd_auth;    /* auth_state as the current command found it */
	uint8_t auth_nonce[16];
	/* Command chaining. */
	bool chaining;
	uint8_t chain_hdr[3]; /* INS P1 P2 of the chain */
	size_t chain_len;
	uint8_t chain[PIV_CMD_MAX];
	/* The response being built, then read by GET RESPONSE. */
	size_t resp_len, resp_off;
	uint8_t resp[PIV_RESP_MAX];
	uint8_t image[PIV_STATE_MAX]; /* the serialized state for save */
};

/* Bind card to host and give it factory defaults in memory (PIN 123456,
 * PUK 12345678, 3 tries each, the default 3DES management key, no keys,
 * a fresh CHUID and CCC) with the given serial; nothing is saved. Returns
 * 0, or -1 when host->rand fails. */
int piv_init(struct piv_card *card, const struct piv_host *host, uint32_t serial) PIV_WUR;

/* Choose the profile (after piv_init; piv_load keeps it). A host setting,
 * like the card model: the state file does not record it. */
void piv_set_profile(struct piv_card *card, enum piv_profile profile);

/* Replace the persistent state with one earlier passed to host->save.
 * Returns 0, or -1 (nothing changed) for anything malformed or corrupt. */
int piv_load(struct piv_card *card, const uint8_t *state, size_t len) PIV_WUR;

/* Save the current persistent state through host->save (the first save of
 * a new card). Returns 0 or -1. */
int piv_save(struct piv_card *card) PIV_WUR;

/* Power events from the reader: every one ends the session (PIN status,
 * management-key authentication, chains, pending responses). */
void piv_reset(struct piv_card *card);

/* Process one command APDU (ISO 7816-4, short or extended) and write the
 * response APDU (data and SW1 SW2) into out. out_cap must be at least 2;
 * data beyond out_cap - 2 or Le is left for GET RESPONSE (61xx). Returns
 * the response length. */
size_t piv_apdu(struct piv_card *card, const uint8_t *apdu, size_t len, uint8_t *out,
		size_t out_cap);

/* Wipe every secret the applet holds (before the host frees the card). */
void piv_wipe_card(struct piv_card *card);

#endif
