/* offpass-verifier.h - the verifier library integrators link into gates.
 *
 * A gate opens one verifier on a state directory, installs the issuer's
 * trust list (and deny list), and calls offpass_verifier_check for every
 * presentation it reads (QR code, NFC, BLE). The library decodes strictly,
 * checks the issuer's credential and the holder's authorization in the
 * order of VERIFIER.md section 3 (trust, validity, deny list, holder
 * signature, freshness, the deny list's age, replay, grant), writes the decision to its journal
 * durably and only then answers OFFPASS_OPERATE. Later, the journal is
 * sealed for the issuer in batches (offpass_verifier_next_batch) until the
 * issuer confirms each (offpass_verifier_seal_done).
 *
 * Documentation (installed under $(docdir), e.g. /usr/share/doc/offpass):
 * VERIFIER.md, the integrator's guide; FORMAT.md, the byte layouts and
 * reason codes; man pages offpass_verifier_open(3), offpass_verifier_check(3),
 * offpass_verifier_next_batch(3).
 *
 * ABI: the exported symbols carry the version LIBOFFPASS_VERIFIER_1 (and
 * LIBOFFPASS_VERIFIER_1.1 for those added in 1.1). The configuration is
 * versioned by its size: offpass_verifier_config_init sets struct_size;
 * open takes this header's size or an older one (the fields added since
 * get their defaults) and refuses any other. Fields are only ever added
 * at the end.
 *
 * Threads: one offpass_verifier_t may be used from many threads at once;
 * the library has no global state. All times are seconds since the Unix
 * epoch, passed in by the caller (gates keep their own clock).
 *
 * Errors: functions return an offpass_status_t; offpass_verifier_error()
 * gives the calling thread's text for its last call on that verifier,
 * naming the file or field at fault: empty after a success, the detail of
 * the refusal after a check that refused. docs/VERIFIER.md is the guide. */
#ifndef OFFPASS_VERIFIER_H
#define OFFPASS_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; offpass_verifier_version() gives the
 * library's, which may be newer (never an older major). */
#define OFFPASS_VERIFIER_VERSION_MAJOR 1
#define OFFPASS_VERIFIER_VERSION_MINOR 2
#define OFFPASS_VERIFIER_VERSION_PATCH 0
#define OFFPASS_VERIFIER_VERSION \
	((OFFPASS_VERIFIER_VERSION_MAJOR << 16) | (OFFPASS_VERIFIER_VERSION_MINOR << 8) | OFFPASS_VERIFIER_VERSION_PATCH)

#if defined(__GNUC__)
#define OFFPASS_API __attribute__((visibility("default")))
#define OFFPASS_WUR __attribute__((warn_unused_result))
#else
#define OFFPASS_API
#define OFFPASS_WUR
#endif

typedef struct offpass_verifier offpass_verifier_t;

typedef enum offpass_status {
	OFFPASS_STATUS_OK = 0,
	OFFPASS_STATUS_INVALID_ARGUMENT, /* NULL pointers, bad configuration */
	OFFPASS_STATUS_IO,               /* state directory, journal: see the error text */
	OFFPASS_STATUS_CORRUPT,          /* a state file fails its checks (e.g. broken journal chain) */
	OFFPASS_STATUS_REJECTED,         /* a trust/deny list that is invalid, unsigned or not newer; a clock set back */
	OFFPASS_STATUS_NOTHING,          /* seal: no records to seal */
	OFFPASS_STATUS_NO_MEMORY,
	OFFPASS_STATUS_INTERNAL          /* OpenSSL failed */
} offpass_status_t;

/* The decision for one presentation. */
typedef enum offpass_decision {
	OFFPASS_OPERATE = 1, /* open the gate / take the amount */
	OFFPASS_REFUSE = 2
} offpass_decision_t;

/* Why: the same numbers as the journal's reason codes (docs/FORMAT.md). */
typedef enum offpass_reason {
	OFFPASS_REASON_OK = 0,
	OFFPASS_REASON_MALFORMED = 1,
	OFFPASS_REASON_UNKNOWN_ISSUER = 2,
	OFFPASS_REASON_BAD_ISSUER_SIGNATURE = 3,
	OFFPASS_REASON_NOT_YET_VALID = 4,
	OFFPASS_REASON_EXPIRED = 5,
	OFFPASS_REASON_DENIED = 6,
	OFFPASS_REASON_BAD_HOLDER_SIGNATURE = 7,
	OFFPASS_REASON_STALE = 8,
	OFFPASS_REASON_FUTURE = 9,
	OFFPASS_REASON_CHALLENGE = 10,
	OFFPASS_REASON_REPLAY = 11,
	OFFPASS_REASON_OVER_OPERATION_MAX = 12,
	OFFPASS_REASON_OVER_OFFLINE_TOTAL = 13,
	OFFPASS_REASON_WRONG_RESOURCE = 14,
	OFFPASS_REASON_WRONG_AMOUNT = 15,  /* not the amount this check charges */
	OFFPASS_REASON_CLOCK_BACK = 16,    /* the gate's clock is behind what it said before */
	OFFPASS_REASON_REPLAY_FULL = 17,   /* replay memory full of live entries */
	OFFPASS_REASON_DENY_LIST_STALE = 18 /* the deny list is older than deny_max_age (1.1) */
} offpass_reason_t;

/* Who sets the price (VERIFIER.md section 3.3). There is no default: a
 * config left at OFFPASS_FARE_UNSET is refused by open. */
typedef enum offpass_fare_mode {
	OFFPASS_FARE_UNSET = 0,
	OFFPASS_FARE_FIXED = 1, /* every check charges config.fare */
	OFFPASS_FARE_TILL = 2   /* each check passes its own amount */
} offpass_fare_mode_t;

/* config.flags */
#define OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT 0x1u /* a charge of 0 may operate */
/* (1.1) No maximum age for the deny list: a gate that never gets a new
 * deny list goes on operating for holders revoked since. Only for gates
 * whose lists reach them by other means (VERIFIER.md 3.5). */
#define OFFPASS_CONFIG_NO_DENY_MAX_AGE 0x2u

/* The default maximum age of the deny list: 48 hours. */
#define OFFPASS_DEFAULT_DENY_MAX_AGE 172800u

/* (1.2) The largest clock_skew open accepts: one day. A gate whose clock
 * is off by more needs its clock fixed, not a tolerance; a larger skew
 * would stretch every credential's window and every authorization's
 * freshness by as much, and weaken the clock-back check (VERIFIER.md 3.4). */
#define OFFPASS_CLOCK_SKEW_MAX 86400u

typedef struct offpass_verifier_config {
	/* sizeof(offpass_verifier_config_t) as the caller was compiled:
	 * set by offpass_verifier_config_init, checked by open. */
	size_t struct_size;
	/* Directory for the journal, replay state, lists and the gate's
	 * batch-signing key; created (0700) when missing. Required. */
	const char *state_dir;
	/* This verifier's id (8 bytes), written into every journal record. */
	uint8_t verifier_id[8];
	/* The resource this gate operates (credential grant class). */
	uint16_t resource_class;
	/* Clock tolerance for credential validity and authorization time, at
	 * most OFFPASS_CLOCK_SKEW_MAX (more is refused by open). */
	uint32_t clock_skew;
	/* A one-way (QR) authorization is fresh for this long after its time. */
	uint32_t freshness;
	/* Bound on remembered holder keys and credential totals; 0 = a
	 * default (65536). Memory stays within this bound: when it is full of
	 * entries still live, checks refuse (OFFPASS_REASON_REPLAY_FULL)
	 * rather than forget one (VERIFIER.md 3.2 for sizing). */
	uint32_t replay_capacity;
	/* The price: fixed (fare) or till (each check's amount). */
	offpass_fare_mode_t fare_mode;
	/* OFFPASS_FARE_FIXED: what every check charges. */
	uint32_t fare;
	/* OFFPASS_CONFIG_* bits. */
	uint32_t flags;
	/* --- since 1.1: a caller compiled against 1.0 (a smaller
	 * struct_size) gets the defaults of these fields. --- */
	/* The deny list's maximum age in seconds (VERIFIER.md 3.5): once
	 * now - issued_at is over it, checks are refused with
	 * OFFPASS_REASON_DENY_LIST_STALE (or limited by
	 * stale_deny_operation_max). Default OFFPASS_DEFAULT_DENY_MAX_AGE; 0
	 * is refused by open (turn the rule off with
	 * OFFPASS_CONFIG_NO_DENY_MAX_AGE). */
	uint32_t deny_max_age;
	/* While the deny list is too old: 0 (the default) refuses every
	 * check; N > 0 lets a charge of at most N operate (the offline
	 * floor limit of an EMV terminal whose exception file is stale). */
	uint32_t stale_deny_operation_max;
} offpass_verifier_config_t;

/* Fill cfg with defaults: struct_size, clock_skew 120 s, freshness 60 s,
 * capacity 65536, resource class 1, fare mode UNSET, deny_max_age 48 h,
 * stale_deny_operation_max 0; state_dir,
 * verifier_id and the fare mode are left for the caller. */
OFFPASS_API void offpass_verifier_config_init(offpass_verifier_config_t *cfg);

/* The library's version, as OFFPASS_VERIFIER_VERSION: (major << 16) |
 * (minor << 8) | patch. */
OFFPASS_API unsigned offpass_verifier_version(void);

/* Open (or create) the verifier state in cfg->state_dir. Recovers after a
 * crash: a torn journal tail is cut (the records before it are kept), the
 * replay state and grant totals are restored. A journal whose hash chain is
 * broken (a record removed or changed) is OFFPASS_STATUS_CORRUPT, the text
 * naming the record. One open verifier per state directory (a second open,
 * in any process, is OFFPASS_STATUS_IO); the directory belongs to the
 * verifier id it was created with. On failure *out is NULL and err (if not
 * NULL) holds the reason. */
OFFPASS_API offpass_status_t offpass_verifier_open(const offpass_verifier_config_t *cfg,
						   offpass_verifier_t **out, char *err,
						   size_t err_len) OFFPASS_WUR;
/* No call on v may be running or follow. v may be NULL. */
OFFPASS_API void offpass_verifier_close(offpass_verifier_t *v);
OFFPASS_API const char *offpass_verifier_error(const offpass_verifier_t *v);
/* The verifier id it was opened with (8 bytes). */
OFFPASS_API offpass_status_t offpass_verifier_id(const offpass_verifier_t *v, uint8_t out[8]) OFFPASS_WUR;

/* Install an issuer-signed trust list (docs/FORMAT.md). The first list a
 * verifier gets is its anchor (it must be signed by a key it contains);
 * later ones must be signed by a key of the installed list that is valid
 * at now, and have a higher version: OFFPASS_STATUS_REJECTED otherwise,
 * with the installed list unchanged. Stored durably. Both installs first
 * note now as offpass_verifier_note_time does (REJECTED when the clock
 * was set back). */
OFFPASS_API offpass_status_t offpass_verifier_install_trust_list(offpass_verifier_t *v, const uint8_t *list,
								 size_t len, uint32_t now) OFFPASS_WUR;
/* Install an issuer-signed deny list: signed by a trusted key, a higher
 * version than the installed one. */
OFFPASS_API offpass_status_t offpass_verifier_install_deny_list(offpass_verifier_t *v, const uint8_t *list,
								size_t len, uint32_t now) OFFPASS_WUR;
/* Versions installed (0 when none). */
OFFPASS_API uint64_t offpass_verifier_trust_version(const offpass_verifier_t *v);
OFFPASS_API uint64_t offpass_verifier_deny_version(const offpass_verifier_t *v);
/* (1.1) The deny list's age at now (VERIFIER.md 3.5). *since: the time the
 * age counts from, the installed deny list's issued_at, or the trust
 * list's when no deny list is installed yet (0 when neither is).
 * *stale: 1 when checks at now are under the stale rule (the age is over
 * deny_max_age and the rule is on), else 0. Either pointer may be NULL. */
OFFPASS_API offpass_status_t offpass_verifier_deny_age(const offpass_verifier_t *v, uint32_t now, uint32_t *since,
						       int *stale) OFFPASS_WUR;

/* (1.2) The gate's clock read now, outside a check: a status screen, a
 * sync attempt (even one that cannot reach the issuer), a periodic tick.
 * The verifier's clock high-water mark (VERIFIER.md 3.4) rises to now,
 * durably, so that a gate with no checks for a while cannot have its
 * clock set back to a time when its deny list was fresh or a credential
 * valid. OFFPASS_STATUS_REJECTED (nothing changed) when now is more than
 * clock_skew behind the mark: the clock was set back. List installs do
 * the same with their now. */
OFFPASS_API offpass_status_t offpass_verifier_note_time(offpass_verifier_t *v, uint32_t now) OFFPASS_WUR;

/* What the gate learns about one presentation. */
typedef struct offpass_result {
	offpass_decision_t decision;
	offpass_reason_t reason;
	const char *reason_text; /* static: "replay", "expired", ... */
	uint8_t holder_id[8];    /* zero when malformed */
	uint64_t serial;         /* credential serial */
	uint32_t counter;
	uint32_t amount;
	uint32_t remaining;      /* offline total left on this credential after
				  * this decision (0 when it was not verified) */
} offpass_result_t;

/* Check one presentation and journal the decision before returning.
 * The checks run in the order of VERIFIER.md section 3; the first that
 * fails gives the reason. Only OFFPASS_OPERATE changes the replay state
 * and the credential's total.
 *   amount     - OFFPASS_FARE_TILL: what this check charges (0 only with
 *                OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT); OFFPASS_FARE_FIXED: 0
 *                or the configured fare. Anything else is
 *                OFFPASS_STATUS_INVALID_ARGUMENT. The authorization must
 *                carry exactly the charge, else OFFPASS_REASON_WRONG_AMOUNT.
 *   challenge  - the nonce the gate sent on a two-way channel, or NULL
 *                for a one-way (QR) presentation
 *   now        - the gate's clock
 * OFFPASS_STATUS_OK means *result holds a decision (operate or refuse,
 * with the reason) and the journal has it on disk; any other status means
 * nothing was decided and the gate must not operate. */
OFFPASS_API offpass_status_t offpass_verifier_check(offpass_verifier_t *v, const uint8_t *presentation,
						    size_t len, uint32_t amount, const uint8_t *challenge,
						    size_t challenge_len, uint32_t now,
						    offpass_result_t *result) OFFPASS_WUR;

/* The batch to send to the issuer now: the oldest batch sealed and not
 * yet confirmed by seal_done (sealed again: same sequence and records,
 * fresh encryption), else a new batch of the records not sealed yet (as
 * offpass_verifier_seal). Until a batch is confirmed every call offers it
 * again, so a batch whose output was lost (a crash, a failed write) is
 * never skipped. *sequence is its number. OFFPASS_STATUS_NOTHING when
 * every record is in a confirmed batch. */
OFFPASS_API offpass_status_t offpass_verifier_next_batch(offpass_verifier_t *v, uint32_t now, uint64_t *sequence,
							 uint8_t **out, size_t *out_len) OFFPASS_WUR;

/* Seal every journal record not sealed yet into the next batch (numbered
 * 1, 2, ... per verifier), encrypted to the trust list's sealing key and
 * signed by the verifier's key. *out is malloc'ed (free with
 * offpass_free). OFFPASS_STATUS_NOTHING when there is nothing to seal;
 * OFFPASS_STATUS_INVALID_ARGUMENT when the trust list has no sealing key
 * valid at now. The batch is marked sealed only after *out is produced; a
 * batch sealed again after a crash carries the same sequence number and
 * records. A batch holds at most 100000 records (docs/FORMAT.md 9): past
 * that the journal starts a new batch by itself, so call until NOTHING. */
OFFPASS_API offpass_status_t offpass_verifier_seal(offpass_verifier_t *v, uint32_t now, uint8_t **out,
						   size_t *out_len) OFFPASS_WUR;
/* Seal batch `sequence` again (same sequence number and records, fresh
 * encryption), for a batch whose output was lost before it reached the
 * issuer. Only a batch sealed and not yet confirmed by seal_done. */
OFFPASS_API offpass_status_t offpass_verifier_reseal(offpass_verifier_t *v, uint64_t sequence, uint32_t now,
						     uint8_t **out, size_t *out_len) OFFPASS_WUR;
/* Confirm that the batch with this sequence number reached the issuer:
 * its records may now be dropped from the journal. Batches are confirmed
 * in order: confirming a batch while an earlier one is unconfirmed is
 * OFFPASS_STATUS_INVALID_ARGUMENT (nothing dropped), so that a batch lost
 * on the way is never dropped with its records. Confirming a batch again
 * is OK; one not sealed yet is OFFPASS_STATUS_INVALID_ARGUMENT. */
OFFPASS_API offpass_status_t offpass_verifier_seal_done(offpass_verifier_t *v, uint64_t sequence) OFFPASS_WUR;

/* The verifier's batch-signing public key (65-byte uncompressed P-256),
 * for registering the gate with the issuer. */
OFFPASS_API offpass_status_t offpass_verifier_public_key(const offpass_verifier_t *v, uint8_t out[65]) OFFPASS_WUR;

OFFPASS_API const char *offpass_reason_text(offpass_reason_t reason);
/* "ok", "invalid argument", "i/o error", ... (static). */
OFFPASS_API const char *offpass_status_text(offpass_status_t status);
OFFPASS_API void offpass_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
