/* enroll.c - enrollment codes: the operator's one-time secret that lets a
 * holder bind a key to an account (docs/ISSUER.md, "Accounts and
 * holders"). The code is made here, shown once, and kept in the ledger
 * only as its HKDF key (docs/FORMAT.md): the holder id alone never
 * authorizes anything. */
#include "config.h"
#include "issuer/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

/* In a transaction: a fresh code for account a. */
static ofp_issuer_rc_t new_code(ofp_issuer_t *iss, const ofp_account_t *a, uint8_t code[OFP_ENROLL_CODE_LEN],
				uint32_t *expires)
{
	uint8_t key[OFP_HASH_LEN];
	ofp_fmt_error_t ferr;
	ofp_issuer_rc_t rc;

	*expires = iss_time_add(iss->now, iss->cfg.enrollment_code_lifetime);
	if (RAND_bytes(code, OFP_ENROLL_CODE_LEN) != 1)
		return iss_fail(iss, OFP_ISSUER_ERROR, "RAND_bytes failed");
	if (ofp_enroll_code_key(code, a->holder_id, key, &ferr) != OFP_FMT_OK) {
		OPENSSL_cleanse(code, OFP_ENROLL_CODE_LEN);
		return iss_fail(iss, OFP_ISSUER_ERROR, "%s", ferr.reason);
	}
	rc = iss_ledger_fail(iss, ofp_ledger_enroll_code_set(iss->ledger, a->id, key, iss->now, *expires));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_note(iss->ledger, a, "code", 0, "new enrollment code", iss->now));
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != OFP_ISSUER_OK)
		OPENSSL_cleanse(code, OFP_ENROLL_CODE_LEN);
	return rc;
}

struct code_tx {
	const char *name;
	bool open; /* a new account, else an existing one */
	ofp_account_t a;
	uint8_t *code;
	uint32_t *expires;
};

/* Re-runnable: a retry draws a new code (the failed one was never shown). */
static ofp_issuer_rc_t code_body(ofp_issuer_t *iss, void *ctx)
{
	struct code_tx *t = ctx;
	ofp_issuer_rc_t rc = iss_ledger_fail(iss, t->open ? ofp_ledger_account_create(iss->ledger, t->name, iss->now, &t->a)
							  : ofp_ledger_account_get(iss->ledger, t->name, &t->a));

	/* A writer of the account's rights: after an issuance using the old
	 * code, or before it (docs/ISSUER.md 9). */
	if (rc == OFP_ISSUER_OK && !t->open)
		rc = iss_ledger_fail(iss, ofp_ledger_account_lock(iss->ledger, t->a.id));
	return rc == OFP_ISSUER_OK ? new_code(iss, &t->a, t->code, t->expires) : rc;
}

static ofp_issuer_rc_t code_run(ofp_issuer_t *iss, const char *name, bool open, ofp_account_t *out,
				uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t *expires)
{
	struct code_tx t = { .name = name, .open = open, .code = code, .expires = expires };
	ofp_issuer_rc_t rc = iss_transact(iss, code_body, &t);

	if (rc != OFP_ISSUER_OK) {
		OPENSSL_cleanse(code, OFP_ENROLL_CODE_LEN);
		return rc;
	}
	if (out != NULL)
		*out = t.a;
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t ofp_issuer_account_open(ofp_issuer_t *iss, const char *name, ofp_account_t *out,
					uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t *expires)
{
	return code_run(iss, name, true, out, code, expires);
}

ofp_issuer_rc_t ofp_issuer_enroll_code(ofp_issuer_t *iss, const char *name, ofp_account_t *out,
				       uint8_t code[OFP_ENROLL_CODE_LEN], uint32_t *expires)
{
	return code_run(iss, name, false, out, code, expires);
}

/* The code is usable: there is one, unused, unexpired, not locked. */
static ofp_issuer_rc_t code_usable(ofp_issuer_t *iss, const ofp_account_t *a, const ofp_enroll_code_t *c, int lrc)
{
	if (lrc == OFP_LEDGER_NOT_FOUND)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': this key is not enrolled and the account has no enrollment code "
				"(the operator makes one: account code %s)",
				a->name, a->name);
	if (lrc != OFP_LEDGER_OK)
		return iss_ledger_fail(iss, lrc);
	if (c->used)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': the enrollment code was used at %" PRIu32
				" and works once (a new key needs a new code: account code %s)",
				a->name, c->used_at, a->name);
	/* A clock behind the code's making (a wrong --now, a clock set
	 * back) is the caller's problem to fix, not an internal error. */
	if (iss->now < c->created)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': the enrollment code was made at %" PRIu32
				", after the issuer's clock now (%" PRIu32 "): set the clock right and ask again",
				a->name, c->created, iss->now);
	if (iss->now >= c->expires)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': the enrollment code expired at %" PRIu32 " (a new one: account code %s)",
				a->name, c->expires, a->name);
	if (c->tries >= iss->cfg.enrollment_code_tries)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': the enrollment code is locked after %" PRIu32
				" tries (a new one: account code %s)",
				a->name, c->tries, a->name);
	return OFP_ISSUER_OK;
}

/* One transaction that only changes the try count (delta +1 before the
 * MAC is compared, -1 after a match), committed before the comparison: a
 * guesser gets no answer without spending a try, even by killing the
 * process (the PIN counter's rule). A +1 re-checks the code in the
 * transaction, so concurrent guesses cannot pass the limit. */
struct try_tx {
	const ofp_account_t *a;
	int delta;
	ofp_enroll_code_t *c;
};

static ofp_issuer_rc_t count_try_body(ofp_issuer_t *iss, void *ctx)
{
	struct try_tx *t = ctx;
	ofp_issuer_rc_t rc = iss_ledger_fail(iss, ofp_ledger_account_lock(iss->ledger, t->a->id));

	if (rc == OFP_ISSUER_OK && t->delta > 0)
		rc = code_usable(iss, t->a, t->c, ofp_ledger_enroll_code_get(iss->ledger, t->a->id, t->c));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_enroll_code_try(iss->ledger, t->a->id, t->delta));
	return rc;
}

static ofp_issuer_rc_t count_try(ofp_issuer_t *iss, const ofp_account_t *a, int delta, ofp_enroll_code_t *c)
{
	struct try_tx t = { a, delta, c };

	return iss_transact_queued(iss, OFP_LEDGER_QUEUE_ACCOUNT, count_try_body, &t);
}

/* The account e's holder key is enrolled to: OK, NOT_FOUND, or a ledger
 * error; known when the caller read it already. */
static int key_owner(ofp_issuer_t *iss, const ofp_enrollment_t *e, const iss_key_owner_t *known, int64_t *owner)
{
	if (known == NULL)
		return ofp_ledger_holder_key_account(iss->ledger, e->holder_key, ofp_holder_key_len(e->holder_alg), owner);
	*owner = known->account;
	return known->enrolled ? OFP_LEDGER_OK : OFP_LEDGER_NOT_FOUND;
}

ofp_issuer_rc_t iss_enroll_check(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_account_t *a,
				 const iss_key_owner_t *known, bool *needs_code)
{
	static const uint8_t zero[OFP_HASH_LEN];
	uint8_t mac[OFP_HASH_LEN];
	ofp_enroll_code_t c;
	ofp_fmt_error_t ferr;
	int64_t owner = 0;
	uint32_t tries;
	bool match;
	int lrc = key_owner(iss, e, known, &owner);
	ofp_issuer_rc_t rc;

	*needs_code = false;
	if (lrc == OFP_LEDGER_OK && owner == a->id)
		return OFP_ISSUER_OK; /* enrolled with a code before: a refresh */
	if (lrc == OFP_LEDGER_OK)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"enrollment request: this holder key is enrolled to another account, not '%s'", a->name);
	if (lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(iss, lrc);
	*needs_code = true;
	if (CRYPTO_memcmp(e->code_mac, zero, OFP_HASH_LEN) == 0)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"enrollment request: no enrollment code (code_mac is zero), and this key is not enrolled: "
				"give the holder's enroll the code from the operator");
	rc = count_try(iss, a, 1, &c);
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (ofp_enrollment_mac(e, c.code_key, mac, &ferr) != OFP_FMT_OK) {
		OPENSSL_cleanse(&c, sizeof(c));
		return iss_fail(iss, OFP_ISSUER_ERROR, "enrollment request: %s", ferr.reason);
	}
	match = CRYPTO_memcmp(mac, e->code_mac, OFP_HASH_LEN) == 0;
	tries = c.tries + 1;
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!match)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': the enrollment code does not match (try %" PRIu32 " of %" PRIu32 ")",
				a->name, tries, iss->cfg.enrollment_code_tries);
	/* The right code gives its try back; the code itself is spent when
	 * the credential commits. */
	return count_try(iss, a, -1, &c);
}

static void code_tag_of(const uint8_t code_key[OFP_HASH_LEN], uint8_t tag[OFP_CODE_TAG_LEN])
{
	uint8_t h[OFP_HASH_LEN];

	if (!ofp_sha256(code_key, OFP_HASH_LEN, h))
		memset(h, 0, sizeof(h));
	memcpy(tag, h, OFP_CODE_TAG_LEN);
}

ofp_issuer_rc_t ofp_issuer_code_check(ofp_issuer_t *iss, const uint8_t holder_id[OFP_ID_LEN],
				      const uint8_t code_key[OFP_HASH_LEN], uint8_t tag[OFP_CODE_TAG_LEN],
				      ofp_account_t *out)
{
	char hex[2 * OFP_ID_LEN + 1];
	ofp_enroll_code_t c;
	ofp_account_t a;
	uint32_t tries;
	bool match;
	int lrc = ofp_ledger_account_by_holder(iss->ledger, holder_id, &a);
	ofp_issuer_rc_t rc;

	iss_hex(hex, holder_id, OFP_ID_LEN);
	if (lrc == OFP_LEDGER_NOT_FOUND)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "no account has holder id %s", hex);
	if (lrc != OFP_LEDGER_OK)
		return iss_ledger_fail(iss, lrc);
	rc = count_try(iss, &a, 1, &c);
	if (rc != OFP_ISSUER_OK)
		return rc;
	match = CRYPTO_memcmp(c.code_key, code_key, OFP_HASH_LEN) == 0;
	tries = c.tries + 1;
	code_tag_of(c.code_key, tag);
	OPENSSL_cleanse(&c, sizeof(c));
	if (!match)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': the enrollment code does not match (try %" PRIu32 " of %" PRIu32 ")",
				a.name, tries, iss->cfg.enrollment_code_tries);
	rc = count_try(iss, &a, -1, &c);
	if (rc == OFP_ISSUER_OK && out != NULL)
		*out = a;
	return rc;
}

ofp_issuer_rc_t iss_enroll_proven(ofp_issuer_t *iss, const ofp_enrollment_t *e, const ofp_account_t *a,
				  const iss_key_owner_t *known, bool *needs_code)
{
	int64_t owner = 0;
	int lrc = key_owner(iss, e, known, &owner);

	*needs_code = false;
	if (lrc == OFP_LEDGER_OK && owner == a->id)
		return OFP_ISSUER_OK;
	if (lrc == OFP_LEDGER_OK)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "this holder key is enrolled to another account, not '%s'",
				a->name);
	if (lrc != OFP_LEDGER_NOT_FOUND)
		return iss_ledger_fail(iss, lrc);
	*needs_code = true;
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t iss_code_tag_current(ofp_issuer_t *iss, const ofp_account_t *a, const uint8_t tag[OFP_CODE_TAG_LEN])
{
	ofp_enroll_code_t c;
	uint8_t now_tag[OFP_CODE_TAG_LEN];
	ofp_issuer_rc_t rc = code_usable(iss, a, &c, ofp_ledger_enroll_code_get(iss->ledger, a->id, &c));

	if (rc != OFP_ISSUER_OK)
		return rc;
	code_tag_of(c.code_key, now_tag);
	OPENSSL_cleanse(&c, sizeof(c));
	if (CRYPTO_memcmp(now_tag, tag, OFP_CODE_TAG_LEN) != 0)
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"account '%s': the enrollment code was replaced since the access token was given", a->name);
	return OFP_ISSUER_OK;
}
