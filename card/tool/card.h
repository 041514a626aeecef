/* card.h - an offpass holder's PIV card: provisioning (init), status, and
 * the issued credential kept on the card beside the key, over the PIV
 * client of piv-client.h. offpass-card is a thin CLI over this; the tests
 * call it directly with the applet in-process.
 *
 * The holder key is an EC P-256 key generated on the card (slot 9A by
 * default; 9C, PIN always, too). Its certificate is self-signed by the
 * card itself — OpenSSL builds the TBSCertificate, the card signs its
 * hash with GENERAL AUTHENTICATE — and stored in the slot's certificate
 * object, which is what makes OpenSC's opensc-pkcs11.so show the key.
 *
 * The credential lives in the Printed Information object (5FC109, read
 * only after the PIN) under its own tag, OFP_CARD_CRED_TAG; whatever else
 * the object holds (a YubiKey's PIN-protected management key under 88, say)
 * is kept. docs/CARD.md explains the choice.
 *
 * Fallible functions return OFP_CARD_OK, OFP_CARD_REFUSED (a check said
 * no: the slot holds a key, the credential is for another key, the card
 * is not blocked for a reset...) or OFP_CARD_FAILED, with the reason in
 * err naming the reader, command and status word. */
#ifndef OFFPASS_CARD_H
#define OFFPASS_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "compiler.h"
#include "card/tool/piv-client.h"

enum { OFP_CARD_OK = 0, OFP_CARD_FAILED = -1, OFP_CARD_REFUSED = -2 };

#define OFP_CARD_ERR_LEN 2048
#define OFP_CARD_DEFAULT_PIN "123456"
#define OFP_CARD_DEFAULT_PUK "12345678"
#define OFP_CARD_DEFAULT_SUBJECT "offpass holder"
/* The credential's tag inside Printed Information: private class, so no
 * standard field and no YubiKey tool uses it. */
#define OFP_CARD_CRED_TAG 0xcfu
#define OFP_CARD_CRED_OBJECT OFP_PIV_OBJ_PRINTED

/* A management key: alg 0 means "as the card says" (GET METADATA of 9B),
 * else 3DES. */
typedef struct ofp_card_mgm {
	uint8_t alg;
	uint8_t key[OFP_PIV_MGM_KEY_MAX];
	size_t len;
} ofp_card_mgm_t;

/* The certificate object of a key slot (0 for other slots). */
uint32_t ofp_card_cert_object(uint8_t slot);
/* OpenSC's label of the private key in a slot: "PIV AUTH key", "SIGN key",
 * "KEY MAN key", "CARD AUTH key"; and its CKA_ID (1 to 4). */
const char *ofp_card_p11_label(uint8_t slot);
unsigned ofp_card_p11_id(uint8_t slot);

/* Authenticate with the management key m, or the factory key when m is
 * NULL; the algorithm comes from m, else GET METADATA, else 3DES. */
int ofp_card_authenticate(ofp_piv_t *p, const ofp_card_mgm_t *m, char *err, size_t err_len) OFP_WUR;

/* ---- what the card can do ----------------------------------------------- */

typedef enum { OFP_CARD_CAP_UNKNOWN = 0, OFP_CARD_CAP_YES, OFP_CARD_CAP_NO } ofp_card_cap_t;

/* YubiKey's extensions, each found out with a form that changes nothing
 * (docs/CARD.md, "Standard PIV cards"), and the PIN's tries left. */
typedef struct ofp_card_caps {
	ofp_card_cap_t version;     /* GET VERSION (FD) */
	ofp_card_cap_t metadata;    /* GET METADATA (F7) of 9B */
	ofp_card_cap_t set_mgm;     /* SET MANAGEMENT KEY (FF) without a key */
	ofp_card_cap_t pin_retries; /* SET PIN RETRIES (FA) to 0, unauthenticated */
	ofp_card_cap_t reset;       /* RESET (FB) while the PIN is not blocked */
	uint8_t version_bytes[3];
	bool pin_verified;
	int pin_tries;              /* VERIFY without data; -1 unknown */
} ofp_card_caps_t;

/* Probe the card, first thing in a session (VERIFY without data must come
 * before any VERIFY; a PIN found verified is reset, VERIFY P1 FF, and
 * asked again, so that the tries left are known). SET PIN RETRIES is probed only while the PIN is not
 * verified, RESET only on a card with GET VERSION whose PIN is not blocked
 * (then every card refuses it): otherwise they stay UNKNOWN. Fails only
 * when the transport does. */
int ofp_card_probe(ofp_piv_t *p, ofp_card_caps_t *caps, char *err, size_t err_len) OFP_WUR;
/* One line: "GET VERSION yes (5.4.3), GET METADATA no, ...". */
void ofp_card_caps_print(FILE *f, const ofp_card_caps_t *caps);

/* ---- init ------------------------------------------------------------- */

typedef struct ofp_card_init_args {
	uint8_t slot;                /* 9A or 9C */
	uint8_t pin_policy;          /* OFP_PIV_PIN_POLICY_*; DEFAULT: the slot's */
	const char *pin, *puk;       /* current; NULL: the factory values */
	const ofp_card_mgm_t *mgm;   /* current; NULL: the factory key */
	const char *new_pin;         /* NULL: keep the PIN */
	const char *new_puk;         /* NULL: keep the PUK */
	const ofp_card_mgm_t *new_mgm; /* NULL: keep the management key ... */
	bool keep_mgm;               /* ... which must be said when it is the factory key */
	const char *subject;         /* certificate CN; NULL: OFP_CARD_DEFAULT_SUBJECT */
	unsigned days;               /* certificate validity; 0: 3650 */
	time_t now;
	bool force;                  /* replace a key already in the slot */
	bool dry_run;                /* probe, plan and check; change nothing */
} ofp_card_init_args_t;

/* The steps of init, in the order it takes them. */
enum {
	OFP_CARD_STEP_PUK = 1u << 0,  /* CHANGE REFERENCE DATA of the PUK */
	OFP_CARD_STEP_PIN = 1u << 1,  /* ... of the PIN */
	OFP_CARD_STEP_KEY = 1u << 2,  /* GENERATE ASYMMETRIC KEY PAIR */
	OFP_CARD_STEP_CERT = 1u << 3, /* the self-signed certificate stored */
	OFP_CARD_STEP_MGM = 1u << 4,  /* SET MANAGEMENT KEY */
};

typedef struct ofp_card_init_result {
	ofp_card_caps_t caps;
	unsigned plan;   /* OFP_CARD_STEP_* init was to take */
	unsigned done;   /* those it took (all of plan on success) */
	bool factory_mgm_kept; /* keep_mgm on a card with the factory key */
	uint8_t pub[OFP_PIV_P256_POINT_LEN];
	uint8_t *cert; /* DER, malloc'ed: ofp_card_init_result_free */
	size_t cert_len;
	bool pin_changed, puk_changed, mgm_changed;
} ofp_card_init_result_t;

/* What init will do on a card with caps, or OFP_CARD_REFUSED (nothing
 * sent) with the reason: a new management key for a card that cannot set
 * one (--keep-management-key is the way, and err says what it means), the
 * factory key kept without keep_mgm, a current PIN or PUK not given to a
 * card that cannot say whether it is still the factory one (no GET
 * METADATA: init never guesses), a blocked PIN. */
int ofp_card_init_plan(const ofp_card_caps_t *caps, const ofp_card_init_args_t *a, unsigned *plan, char *err,
		       size_t err_len) OFP_WUR;
/* "change the PUK; change the PIN; ..." for plan. */
void ofp_card_plan_print(FILE *f, const ofp_card_init_args_t *a, unsigned plan);

/* Prepare a card for a holder: probe it, plan, check everything that can
 * be checked before anything changes (the management key, the slot being
 * empty, the current PIN and PUK); then new PUK, new PIN, a key generated
 * in the slot, its self-signed certificate stored, then the new
 * management key. A slot that holds a key already is refused unless
 * force. When a step fails, err ends with what was already changed and
 * how to go on (ofp_card_init_resume); r->done has the steps taken. */
int ofp_card_init(ofp_piv_t *p, const ofp_card_init_args_t *a, ofp_card_init_result_t *r, char *err,
		  size_t err_len) OFP_WUR;
void ofp_card_init_result_free(ofp_card_init_result_t *r);
/* After a failure with the steps done taken: what the card now has, and
 * the init to run to finish. */
void ofp_card_init_resume(const ofp_card_init_args_t *a, unsigned done, char *buf, size_t len);

/* The self-signed certificate for the P-256 key pub in slot, signed by
 * the card (the PIN is verified right before the signature, as a
 * PIN-always key needs); DER into a malloc'ed *der. */
int ofp_card_selfsign(ofp_piv_t *p, uint8_t slot, const uint8_t pub[OFP_PIV_P256_POINT_LEN], const char *pin,
		      const char *subject, unsigned days, time_t now, uint8_t **der, size_t *der_len, char *err,
		      size_t err_len) OFP_WUR;
/* PUT DATA of the certificate object: 70 cert, 71 00, FE (SP 800-73-4). */
int ofp_card_store_cert(ofp_piv_t *p, uint8_t slot, const uint8_t *der, size_t len, char *err,
			size_t err_len) OFP_WUR;

/* ---- slots and status ---------------------------------------------------- */

typedef struct ofp_card_slot {
	uint8_t slot;
	int key;              /* 1 a key, 0 empty, -1 unknown (no GET METADATA) */
	uint8_t alg, pin_policy, origin;
	bool has_cert;
	char subject[128];    /* the certificate's subject, one line */
	char not_after[32];
	uint8_t pub[OFP_PIV_P256_POINT_LEN]; /* from metadata, else the certificate */
	size_t pub_len;       /* 0: not known, or not a P-256 key */
} ofp_card_slot_t;

/* What the card says about a key slot. */
int ofp_card_slot_info(ofp_piv_t *p, uint8_t slot, ofp_card_slot_t *out, char *err, size_t err_len) OFP_WUR;

typedef enum {
	OFP_CARD_CRED_UNREAD,  /* no PIN given: the object is read only after it */
	OFP_CARD_CRED_NONE,
	OFP_CARD_CRED_PRESENT,
	OFP_CARD_CRED_CORRUPT, /* the tag is there but is not a credential */
} ofp_card_cred_state_t;

typedef struct ofp_card_status {
	char reader[256];
	ofp_card_caps_t caps;
	bool has_version, has_serial;
	uint8_t version[3];
	uint32_t serial;
	bool pin_verified;
	int pin_tries, pin_total, puk_tries, puk_total; /* -1: unknown */
	int pin_default, puk_default, mgm_default;     /* -1: unknown */
	uint8_t mgm_alg;                                /* 0: unknown */
	ofp_card_slot_t slots[4];                       /* 9A 9C 9D 9E */
	ofp_card_cred_state_t cred_state;
	uint8_t cred[256];
	size_t cred_len;
} ofp_card_status_t;

/* Everything status shows. With pin (may be NULL) the PIN is verified and
 * the credential read; a wrong PIN is an error (and costs a try). */
int ofp_card_status(ofp_piv_t *p, const char *pin, ofp_card_status_t *st, char *err, size_t err_len) OFP_WUR;
void ofp_card_status_print(FILE *f, const ofp_card_status_t *st, uint32_t now);

/* ---- the credential on the card ---------------------------------------------- */

/* The credential inside a Printed Information value: 0 and *cred pointing
 * into obj, 1 when there is none, -1 when the object is malformed. */
int ofp_card_cred_extract(const uint8_t *obj, size_t len, const uint8_t **cred, size_t *cred_len) OFP_WUR;
/* The object's new value: old's TLVs but ours and FE, then ours, then FE 00
 * (cred NULL: ours removed). Malloc'ed into *out. -1 for a malformed old
 * value or one that would grow past OFP_PIV_OBJECT_MAX. */
int ofp_card_cred_merge(const uint8_t *old, size_t old_len, const uint8_t *cred, size_t cred_len, uint8_t **out,
			size_t *out_len) OFP_WUR;

/* Check the credential (it decodes, is not expired at now, and names the
 * public key of one of the card's key slots), verify the PIN, and store
 * it, keeping the rest of the object. The management key must have been
 * authenticated. *slot gets the slot whose key it is for. */
int ofp_card_put_credential(ofp_piv_t *p, const char *pin, const uint8_t *cred, size_t len, uint32_t now,
			    uint8_t *slot, char *err, size_t err_len) OFP_WUR;
/* Verify the PIN and read the credential: OFP_CARD_OK with a malloc'ed
 * copy, 1 when the card has none. */
int ofp_card_get_credential(ofp_piv_t *p, const char *pin, uint8_t **cred, size_t *len, char *err,
			    size_t err_len) OFP_WUR;

/* ---- reset ------------------------------------------------------------------- */

/* RESET, but only once both the PIN and the PUK are blocked, as PIV cards
 * and YubiKeys require: otherwise OFP_CARD_REFUSED saying how many tries
 * each has left. */
int ofp_card_reset(ofp_piv_t *p, char *err, size_t err_len) OFP_WUR;

#endif
