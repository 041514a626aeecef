/* holder.h - the holder library (libofpholder.la) under offpass-holder:
 * the holder key in a PKCS#11 token, the enrollment request, the issued
 * credential stored on the token beside the key, and presentations
 * (credential + a fresh authorization signed by the token).
 *
 * Every artifact goes through format/format.h; every signature is made
 * by the token (common/p11client.h). Fallible functions return
 * OFP_HOLDER_OK, OFP_HOLDER_REFUSED (a check said no: wrong key, expired,
 * over the grant...) or OFP_HOLDER_FAILED, with a reason in err that names
 * the token, file or field at fault. Nothing is changed on a refusal. */
#ifndef OFFPASS_HOLDER_H
#define OFFPASS_HOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "compiler.h"
#include "p11client.h"
#include "format/format.h"
#include "format/trust.h"

#define OFP_HOLDER_KEY_LABEL "offpass-holder"
#define OFP_HOLDER_CREDENTIAL_LABEL "offpass-credential"
/* A good size for err buffers. */
#define OFP_HOLDER_ERR_LEN 1024

enum { OFP_HOLDER_OK = 0, OFP_HOLDER_FAILED = -1, OFP_HOLDER_REFUSED = -2 };

/* ---- the key (enroll.c) ------------------------------------------------ */

/* The token key in its credential form (compressed P-256, raw Ed25519) and
 * its alg; out holds OFP_HOLDER_KEY_MAX bytes. */
int ofp_holder_key_form(const ofp_p11_key_t *key, uint8_t *out, size_t *len, char *err, size_t err_len) OFP_WUR;

/* Generate the holder key pair in the (logged-in, read-write) token:
 * sensitive, never extractable, CKA_SIGN. Refused when a key with this
 * label is already there: a holder key is never replaced silently. */
int ofp_holder_keygen(ofp_p11_t *p, unsigned alg, const char *label, ofp_p11_key_t *out, char *err,
		      size_t err_len) OFP_WUR;

/* The enrollment request for holder_id: the key, the time, the token's
 * signature over it (proof of possession) and the MAC under the
 * enrollment code the operator gave (docs/FORMAT.md); code NULL: no MAC
 * (all zero), a refresh request for a key the issuer enrolled already.
 * out holds OFP_ENROLLMENT_MAX bytes. */
int ofp_holder_enroll(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t holder_id[OFP_ID_LEN],
		      const uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t now, uint8_t *out, size_t *len, char *err,
		      size_t err_len) OFP_WUR;

/* ---- the credential (credential.c) ------------------------------------- */

typedef enum { OFP_VALIDITY_NOT_YET, OFP_VALIDITY_VALID, OFP_VALIDITY_EXPIRED } ofp_validity_t;

/* Decode a credential and check that it is for this key; when it is, store
 * it on the token (data object OFP_HOLDER_CREDENTIAL_LABEL, replacing the
 * previous one). An expired credential is refused. out may be NULL. */
int ofp_holder_install(ofp_p11_t *p, const ofp_p11_key_t *key, const uint8_t *cred, size_t len, uint32_t now,
		       ofp_credential_t *out, char *err, size_t err_len) OFP_WUR;

/* The credential stored on the token, decoded: OFP_HOLDER_OK; 1 when the
 * token has none; OFP_HOLDER_REFUSED when it is not for this key (key may
 * be NULL: no check); OFP_HOLDER_FAILED otherwise. */
int ofp_holder_credential(ofp_p11_t *p, const ofp_p11_key_t *key, ofp_credential_t *out, char *err,
			  size_t err_len) OFP_WUR;

/* Tokens that cannot keep data objects: a PIV card through OpenSC's
 * opensc-pkcs11.so answers C_CreateObject with CKR_FUNCTION_NOT_SUPPORTED.
 * There the credential is read from the card's PIV Printed Information
 * object, where `offpass-card put-credential` stores it (OpenSC shows it
 * as the private data object "Printed Information"; the credential is the
 * value of tag CF inside), or kept in the holder's state directory,
 * DIR/credential-<first 8 bytes of SHA-256(key), hex>, mode 0600. */
typedef enum {
	OFP_CRED_STORE_TOKEN, /* the token's data object OFP_HOLDER_CREDENTIAL_LABEL */
	OFP_CRED_STORE_CARD,  /* the PIV card's Printed Information object */
	OFP_CRED_STORE_FILE,  /* the state directory */
} ofp_cred_store_t;

typedef struct ofp_cred_place {
	ofp_cred_store_t store;
	char path[4096]; /* OFP_CRED_STORE_FILE: the file */
} ofp_cred_place_t;

#define OFP_HOLDER_PIV_OBJECT_LABEL "Printed Information"
#define OFP_HOLDER_PIV_CRED_TAG 0xcf

/* As ofp_holder_install, with the fallback for such tokens when dir (the
 * state directory) is not NULL: when the card's object already holds this
 * credential nothing is written (a stale file for the key is removed),
 * else it goes to the state file. place (may be NULL) says where it is. */
int ofp_holder_install_dir(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, const uint8_t *cred,
			   size_t len, uint32_t now, ofp_credential_t *out, ofp_cred_place_t *place, char *err,
			   size_t err_len) OFP_WUR;
/* As ofp_holder_credential, looking also at the card's object and (dir not
 * NULL) the state file when the token has no data object. With both, the
 * one for this key that expires last wins (then the higher serial). */
int ofp_holder_credential_dir(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, ofp_credential_t *out,
			      ofp_cred_place_t *place, char *err, size_t err_len) OFP_WUR;

/* A refresh gets the next window (not before the current credential's
 * end): until it begins the current one stays in use, and the next waits
 * in the state directory, DIR/credential-next-<key hash> (0600).
 * ofp_holder_next_keep checks it is for this key and writes it there;
 * ofp_holder_next_valid reads it when it is valid at now (0, else -1:
 * ofp_holder_present uses it when the installed one is not valid, with no
 * write); ofp_holder_next_promote (a read-write session: the next refresh)
 * installs it once it is valid and drops it once it has expired. */
int ofp_holder_next_valid(const ofp_p11_key_t *key, const char *dir, uint32_t now, ofp_credential_t *out) OFP_WUR;
int ofp_holder_next_keep(const ofp_p11_key_t *key, const char *dir, const uint8_t *cred, size_t len,
			 ofp_credential_t *out, ofp_cred_place_t *place, char *err, size_t err_len) OFP_WUR;
int ofp_holder_next_promote(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, uint32_t now, char *err,
			    size_t err_len) OFP_WUR;

/* [not_before, not_after) against now. */
ofp_validity_t ofp_holder_validity(const ofp_credential_t *c, uint32_t now);
/* "valid for 23 h 59 min", "expired 2 h 5 min ago", "not yet valid (in 5 min)". */
void ofp_holder_validity_text(const ofp_credential_t *c, uint32_t now, char *buf, size_t len);

typedef struct ofp_holder_status {
	const char *token_label;
	unsigned alg;
	uint8_t key[OFP_HOLDER_KEY_MAX]; /* credential form */
	size_t key_len;
	uint8_t key_id[64]; /* CKA_ID */
	size_t key_id_len;
	bool has_credential;
	bool credential_for_key; /* false: installed for another key */
	ofp_credential_t credential;
	ofp_cred_place_t place; /* where the credential is kept */
	bool has_counter;
	uint32_t counter; /* last value used */
	char counter_path[4096];
	int trust;		/* the pinned trust list: OFP_HOLDER_OK, 1 none, OFP_HOLDER_FAILED damaged */
	uint64_t trust_version; /* when pinned */
} ofp_holder_status_t;

/* Gather what `status` shows. A credential for another key is reported
 * (credential_for_key false), not refused. */
int ofp_holder_status(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, ofp_holder_status_t *st,
		      char *err, size_t err_len) OFP_WUR;
void ofp_holder_status_print(FILE *f, const ofp_holder_status_t *st, uint32_t now);

/* ---- the issuer's trust list, pinned (trust.c) ------------------------- */

/* The holder takes no credential on the word of whoever answers at the
 * issuer's URL: it keeps the issuer's signed trust list (the trust.bin
 * every gate has) in DIR/trust-<key hash> (0600), and a credential is
 * installed or kept only when it is signed by a credential-signing key of
 * that list (docs/HOLDER.md). The first pin comes from the operator
 * (`--trust FILE`) or, at online enrollment, from the issuer over TLS;
 * later lists replace it only when the pinned list's key signed them
 * (format/trust.h, the gates' rule). Times are judged with this skew. */
#define OFP_HOLDER_TRUST_SKEW 600u

/* The pinned list, loaded: OFP_HOLDER_OK; 1 when none is pinned;
 * OFP_HOLDER_FAILED when the file cannot be read or is damaged. */
int ofp_holder_trust_pinned(const char *dir, const ofp_p11_key_t *key, ofp_trust_set_t *out, char *err,
			    size_t err_len) OFP_WUR;
/* Pin a signed trust list: with none pinned it must be signed by a key
 * of its own (the anchor); else a newer version must be signed by a key
 * of the pinned list, and a version not newer than the pinned one is
 * left aside (*changed false; the pin stays). REFUSED (pin unchanged)
 * when it does not verify. *version: the version pinned after. */
int ofp_holder_trust_pin(const char *dir, const ofp_p11_key_t *key, const uint8_t *list, size_t len, uint32_t now,
			 uint64_t *version, bool *changed, char *err, size_t err_len) OFP_WUR;
/* A credential received (a file, an issuer's answer) before it replaces
 * anything: not expired at now, and signed by a credential-signing key of
 * the pinned list (of key) valid when it comes into use (now, or its
 * not_before when later). REFUSED with the reason otherwise, also when no
 * list is pinned. The install that follows checks that it is for key. */
int ofp_holder_check_issued(const char *dir, const ofp_p11_key_t *key, const ofp_credential_t *c, uint32_t now,
			    char *err, size_t err_len) OFP_WUR;

/* ---- presentations (present.c) ----------------------------------------- */

typedef struct ofp_present_args {
	const char *dir; /* state directory (counters) */
	uint32_t now;
	uint32_t amount;
	const uint8_t *challenge; /* NULL/0: a one-way (QR) presentation */
	size_t challenge_len;	  /* <= OFP_CHALLENGE_MAX */
} ofp_present_args_t;

/* Sign a fresh authorization with the token key under the installed
 * credential: the counter is reserved (durably) first, then the token
 * signs, then the presentation is encoded into out (OFP_PRESENTATION_MAX
 * bytes). Refused without a credential for this key, when it is expired,
 * or when amount is over its per-operation maximum. pres may be NULL. */
int ofp_holder_present(ofp_p11_t *p, const ofp_p11_key_t *key, const ofp_present_args_t *args, uint8_t *out,
		       size_t *len, ofp_presentation_t *pres, char *err, size_t err_len) OFP_WUR;

/* ---- small shared helpers --------------------------------------------- */

/* DIR/<prefix>-<first 8 bytes of SHA-256(key form), hex> (credential.c). */
int ofp_holder_state_path(const char *dir, const char *prefix, const ofp_p11_key_t *key, char *path, size_t cap,
			  char *err, size_t err_len) OFP_WUR;
/* mkdir -p, new directories 0700. */
int ofp_holder_make_dirs(const char *dir, char *err, size_t err_len) OFP_WUR;

/* "P-256", "Ed25519", "unknown". */
const char *ofp_holder_alg_name(unsigned alg);
/* "2024-05-01 12:00:00 UTC" */
void ofp_holder_time_text(uint32_t t, char *buf, size_t len);

#endif
