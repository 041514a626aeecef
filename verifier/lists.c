/* lists.c - the trust list and the deny list: verification on install,
 * durable storage (trust.bin, deny.bin, each replaced atomically) and the
 * look-ups the checks make. */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "format/sig.h"
#include "format/trust.h"

#define DENY_FILE_MAX (85u + OFP_DENY_ENTRY_LEN * OFP_DENY_MAX_ENTRIES)

static void deny_state_free(ofp_deny_state_t *d)
{
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

void ofp_lists_free(offpass_verifier_t *v)
{
	ofp_trust_set_free(&v->trust);
	deny_state_free(&v->deny);
}

static void kid_hex(const uint8_t kid[OFP_KEY_ID_LEN], char out[2 * OFP_KEY_ID_LEN + 1])
{
	snprintf(out, 2 * OFP_KEY_ID_LEN + 1, "%02x%02x%02x%02x", kid[0], kid[1], kid[2], kid[3]);
}

EVP_PKEY *ofp_trust_signing_key(offpass_verifier_t *v, const uint8_t kid[OFP_KEY_ID_LEN], uint32_t now,
				const ofp_trust_entry_t **entry)
{
	EVP_PKEY *key;

	*entry = ofp_trust_set_signer(&v->trust, kid, now, v->cfg.clock_skew, &key);
	if (*entry == NULL || EVP_PKEY_up_ref(key) != 1) {
		*entry = NULL;
		return NULL;
	}
	return key;
}

const ofp_trust_entry_t *ofp_trust_sealing_key(offpass_verifier_t *v, uint32_t now)
{
	const ofp_trust_entry_t *best = NULL;

	if (!v->trust.loaded)
		return NULL;
	for (unsigned i = 0; i < v->trust.list.count; i++) {
		const ofp_trust_entry_t *e = &v->trust.list.entries[i];

		if (e->usage != OFP_USAGE_SEALING || e->alg != OFP_ALG_P256 ||
		    !ofp_v_within(v, e->not_before, e->not_after, now))
			continue;
		/* Several during a rollover: the newest. */
		if (best == NULL || e->not_before > best->not_before)
			best = e;
	}
	return best;
}

bool ofp_deny_contains(offpass_verifier_t *v, const uint8_t holder_id[OFP_ID_LEN], uint64_t serial)
{
	uint8_t entry[OFP_DENY_ENTRY_LEN];

	if (!v->deny.installed)
		return false;
	ofp_deny_entry_holder(entry, holder_id);
	if (ofp_deny_list_contains(&v->deny.list, entry))
		return true;
	ofp_deny_entry_serial(entry, serial);
	return ofp_deny_list_contains(&v->deny.list, entry);
}

/* A list issued more than clock_skew after the gate's now: the issuer's
 * clock or the gate's is wrong. Installed, it would keep the deny list's
 * age (VERIFIER.md 3.5) at 0 until the gate's clock passed its issued_at,
 * so a gate that never syncs again would stay open to holders revoked
 * since for as long as the list is ahead. */
static bool issued_ahead(const offpass_verifier_t *v, uint32_t issued_at, uint32_t now)
{
	return issued_at > now && issued_at - now > v->cfg.clock_skew;
}

static bool verify_list_signature(EVP_PKEY *key, unsigned alg, const uint8_t *tbs, size_t tbs_len,
				  const uint8_t sig[OFP_SIG_LEN])
{
	return ofp_sig_verify(key, alg, tbs, tbs_len, sig);
}

/* Atomic replacement of a list file: the old list or the new one, never
 * a mix, whatever the timing of a crash. */
static offpass_status_t store_list(offpass_verifier_t *v, const char *name, const uint8_t *list, size_t len)
{
	char path[4096];
	int rc;

	if (!ofp_v_path(v, path, sizeof(path), name))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = atomic_file_write(path, list, len, 0600);
	if (rc != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(-rc));
	return OFFPASS_STATUS_OK;
}

/* Under admin_lock: v->trust changes only under it, so it is read here
 * without v->lock, and the signature check does not hold up checks. */
static offpass_status_t install_trust(offpass_verifier_t *v, ofp_trust_state_t *next, const uint8_t *list,
				      size_t len, uint32_t now)
{
	char why[200];
	offpass_status_t st;

	if (!ofp_trust_set_load(next, list, len, why, sizeof(why)) ||
	    !ofp_trust_set_accept(&v->trust, next, now, v->cfg.clock_skew, v->cfg.clock_skew, why,
				  sizeof(why)))
		return ofp_v_fail(v, OFFPASS_STATUS_REJECTED, "trust list refused: %s", why);
	st = store_list(v, OFP_V_TRUST_FILE, list, len);
	if (st != OFFPASS_STATUS_OK)
		return st;
	pthread_mutex_lock(&v->lock);
	ofp_trust_set_free(&v->trust);
	v->trust = *next;
	memset(next, 0, sizeof(*next));
	pthread_mutex_unlock(&v->lock);
	return OFFPASS_STATUS_OK;
}

offpass_status_t offpass_verifier_install_trust_list(offpass_verifier_t *v, const uint8_t *list, size_t len,
						     uint32_t now)
{
	ofp_trust_state_t *next;
	offpass_status_t st;

	if (v == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	ofp_v_clear_error(v);
	if (list == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "trust list: no bytes");
	next = calloc(1, sizeof(*next));
	if (next == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory");
	/* admin_lock: two installs at once cannot both pass the version
	 * check against the same installed list. */
	pthread_mutex_lock(&v->admin_lock);
	/* The clock first: a list install is a reading of it (clock.c). */
	st = ofp_clock_note(v, now);
	if (st == OFFPASS_STATUS_OK)
		st = install_trust(v, next, list, len, now);
	pthread_mutex_unlock(&v->admin_lock);
	ofp_trust_set_free(next);
	free(next);
	return st;
}

/* Version, signer and signature of a decoded deny list (under
 * admin_lock: the installed lists cannot change meanwhile). */
static offpass_status_t check_deny(offpass_verifier_t *v, const ofp_deny_list_t *d, uint32_t now)
{
	const ofp_trust_entry_t *e;
	EVP_PKEY *signer;
	uint8_t *tbs = NULL;
	size_t tbs_len, cap;
	char kid[9];
	offpass_status_t st = OFFPASS_STATUS_OK;

	kid_hex(d->signer_kid, kid);
	pthread_mutex_lock(&v->lock);
	if (v->deny.installed && d->version <= v->deny.list.version)
		st = ofp_v_fail(v, OFFPASS_STATUS_REJECTED,
				"deny list refused: deny_list.version: %llu is not newer than the installed %llu",
				(unsigned long long)d->version, (unsigned long long)v->deny.list.version);
	else if (!v->trust.loaded)
		st = ofp_v_fail(v, OFFPASS_STATUS_REJECTED, "deny list refused: no trust list installed to check it");
	else if (issued_ahead(v, d->issued_at, now))
		st = ofp_v_fail(v, OFFPASS_STATUS_REJECTED,
				"deny list refused: deny_list.issued_at: %u is more than clock_skew %u s after this "
				"gate's clock (%u); the issuer's clock or this gate's is wrong",
				d->issued_at, v->cfg.clock_skew, now);
	signer = st == OFFPASS_STATUS_OK ? ofp_trust_signing_key(v, d->signer_kid, now, &e) : NULL;
	if (st == OFFPASS_STATUS_OK && signer == NULL)
		st = ofp_v_fail(v, OFFPASS_STATUS_REJECTED,
				"deny list refused: deny_list.signer_key_id: %s is not a trusted credential-signing key "
				"valid now",
				kid);
	pthread_mutex_unlock(&v->lock);
	if (st != OFFPASS_STATUS_OK)
		return st;
	cap = 64 + OFP_DENY_ENTRY_LEN * (size_t)d->count + 32;
	tbs = malloc(cap);
	if (tbs == NULL)
		st = ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory");
	else if (ofp_deny_list_tbs(d, tbs, cap, &tbs_len, NULL) != OFP_FMT_OK ||
		 !verify_list_signature(signer, e->alg, tbs, tbs_len, d->issuer_sig))
		st = ofp_v_fail(v, OFFPASS_STATUS_REJECTED,
				"deny list refused: deny_list.issuer_signature: does not verify");
	free(tbs);
	EVP_PKEY_free(signer);
	return st;
}

static offpass_status_t install_deny(offpass_verifier_t *v, ofp_deny_state_t *next, uint32_t now)
{
	ofp_fmt_error_t ferr;
	offpass_status_t st;

	if (ofp_deny_list_decode(next->buf, next->len, &next->list, &ferr) != OFP_FMT_OK)
		return ofp_v_fail(v, OFFPASS_STATUS_REJECTED, "deny list refused: %s", ferr.reason);
	st = check_deny(v, &next->list, now);
	if (st == OFFPASS_STATUS_OK)
		st = store_list(v, OFP_V_DENY_FILE, next->buf, next->len);
	if (st != OFFPASS_STATUS_OK)
		return st;
	next->installed = true;
	pthread_mutex_lock(&v->lock);
	deny_state_free(&v->deny);
	v->deny = *next;
	memset(next, 0, sizeof(*next));
	pthread_mutex_unlock(&v->lock);
	return OFFPASS_STATUS_OK;
}

offpass_status_t offpass_verifier_install_deny_list(offpass_verifier_t *v, const uint8_t *list, size_t len,
						    uint32_t now)
{
	ofp_deny_state_t next = { 0 };
	offpass_status_t st;

	if (v == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	ofp_v_clear_error(v);
	if (list == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "deny list: no bytes");
	if (len > DENY_FILE_MAX)
		return ofp_v_fail(v, OFFPASS_STATUS_REJECTED, "deny list refused: %zu bytes, at most %u", len,
				  DENY_FILE_MAX);
	/* Our own copy: the decoded entries borrow it for as long as the
	 * list is installed. */
	next.buf = malloc(len + 1);
	if (next.buf == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory");
	memcpy(next.buf, list, len);
	next.len = len;
	pthread_mutex_lock(&v->admin_lock);
	st = ofp_clock_note(v, now);
	if (st == OFFPASS_STATUS_OK)
		st = install_deny(v, &next, now);
	pthread_mutex_unlock(&v->admin_lock);
	deny_state_free(&next);
	return st;
}

/* At open: the lists as last installed. They were verified then; a file
 * that no longer decodes was damaged on disk. */
static offpass_status_t load_trust(offpass_verifier_t *v)
{
	char path[4096], why[160];
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	if (!ofp_v_path(v, path, sizeof(path), OFP_V_TRUST_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, OFP_TRUST_LIST_MAX, &buf, &len);
	if (rc == -ENOENT)
		return OFFPASS_STATUS_OK;
	if (rc != 0)
		return ofp_v_fail(v, rc == -EFBIG ? OFFPASS_STATUS_CORRUPT : OFFPASS_STATUS_IO, "%s: %s", path,
				  rc == -EFBIG ? "too large for a trust list" : strerror(-rc));
	if (!ofp_trust_set_load(&v->trust, buf, len, why, sizeof(why))) {
		free(buf);
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: %s", path, why);
	}
	free(buf);
	return OFFPASS_STATUS_OK;
}

static offpass_status_t load_deny(offpass_verifier_t *v)
{
	char path[4096];
	ofp_fmt_error_t ferr;
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	if (!ofp_v_path(v, path, sizeof(path), OFP_V_DENY_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, DENY_FILE_MAX, &buf, &len);
	if (rc == -ENOENT)
		return OFFPASS_STATUS_OK;
	if (rc != 0)
		return ofp_v_fail(v, rc == -EFBIG ? OFFPASS_STATUS_CORRUPT : OFFPASS_STATUS_IO, "%s: %s", path,
				  rc == -EFBIG ? "too large for a deny list" : strerror(-rc));
	if (ofp_deny_list_decode(buf, len, &v->deny.list, &ferr) != OFP_FMT_OK) {
		free(buf);
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: %s", path, ferr.reason);
	}
	v->deny.buf = buf;
	v->deny.len = len;
	v->deny.installed = true;
	return OFFPASS_STATUS_OK;
}

offpass_status_t ofp_lists_load(offpass_verifier_t *v)
{
	offpass_status_t st = load_trust(v);

	return st == OFFPASS_STATUS_OK ? load_deny(v) : st;
}
