/* keys.c - the issuer's keys on the token: init, rollover, and the signed
 * trust list that tells verifiers which keys to trust until when. */
#include "config.h"
#include "issuer/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRUST_BLOB OFP_ISSUER_BLOB_TRUST
#define TRUST_VERSION "trust_version"

static bool valid_at(const ofp_ledger_key_t *k, uint32_t t)
{
	return k->not_before <= t && t <= k->not_after;
}

ofp_issuer_rc_t ofp_issuer_keys(ofp_issuer_t *iss, ofp_ledger_key_t **out, size_t *n)
{
	return iss_ledger_fail(iss, ofp_ledger_keys(iss->ledger, out, n));
}

/* The signing key valid now with the highest (newest) or lowest number. */
static ofp_issuer_rc_t pick_signing_key(ofp_issuer_t *iss, bool newest, ofp_ledger_key_t *out)
{
	ofp_ledger_key_t *keys = NULL;
	const ofp_ledger_key_t *best = NULL;
	size_t n;
	ofp_issuer_rc_t rc = ofp_issuer_keys(iss, &keys, &n);

	if (rc != OFP_ISSUER_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (keys[i].usage != OFP_USAGE_CREDENTIAL_SIGNING || !valid_at(&keys[i], iss->now))
			continue;
		if (best == NULL || (newest ? keys[i].n > best->n : keys[i].n < best->n))
			best = &keys[i];
	}
	if (best == NULL)
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "no signing key is valid at %" PRIu32 " (run 'rollover')",
			      iss->now);
	else
		*out = *best;
	free(keys);
	return rc;
}

ofp_issuer_rc_t ofp_issuer_current_signing_key(ofp_issuer_t *iss, ofp_ledger_key_t *out)
{
	return pick_signing_key(iss, true, out);
}

/* Lists are signed by the oldest key still valid, which a verifier that
 * missed the latest rollovers still has. */
ofp_issuer_rc_t iss_list_signer(ofp_issuer_t *iss, ofp_ledger_key_t *out)
{
	return pick_signing_key(iss, false, out);
}

/* ---- the trust list ------------------------------------------------------------------- */

/* The entries a list made now carries: every key not past its not_after. */
static ofp_issuer_rc_t trust_entries(ofp_issuer_t *iss, ofp_trust_list_t *t)
{
	ofp_ledger_key_t *keys = NULL;
	size_t n;
	ofp_issuer_rc_t rc = ofp_issuer_keys(iss, &keys, &n);

	if (rc != OFP_ISSUER_OK)
		return rc;
	t->count = 0;
	for (size_t i = 0; i < n; i++) {
		ofp_trust_entry_t *e;
		if (keys[i].not_after < iss->now)
			continue;
		if (t->count == OFP_TRUST_MAX_ENTRIES) {
			free(keys);
			return iss_fail(iss, OFP_ISSUER_ERROR, "more than %d unexpired keys: a trust list holds %d",
					OFP_TRUST_MAX_ENTRIES, OFP_TRUST_MAX_ENTRIES);
		}
		e = &t->entries[t->count++];
		memcpy(e->kid, keys[i].kid, OFP_KEY_ID_LEN);
		e->alg = (uint8_t)keys[i].alg;
		e->usage = (uint8_t)keys[i].usage;
		e->not_before = keys[i].not_before;
		e->not_after = keys[i].not_after;
		memcpy(e->key, keys[i].pub, keys[i].pub_len);
	}
	free(keys);
	ofp_trust_list_sort(t);
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t iss_trust_publish(ofp_issuer_t *iss, uint64_t version, uint8_t **out, size_t *len)
{
	ofp_trust_list_t t;
	ofp_ledger_key_t signer;
	ofp_fmt_error_t ferr;
	uint8_t tbs[OFP_TRUST_LIST_MAX];
	size_t tbs_len;
	uint8_t *buf = NULL;
	ofp_issuer_rc_t rc;

	memset(&t, 0, sizeof(t));
	t.version = version;
	t.issued_at = iss->now;
	rc = trust_entries(iss, &t);
	if (rc == OFP_ISSUER_OK)
		rc = iss_list_signer(iss, &signer);
	if (rc != OFP_ISSUER_OK)
		return rc;
	memcpy(t.signer_kid, signer.kid, OFP_KEY_ID_LEN);
	if (ofp_trust_list_tbs(&t, tbs, sizeof(tbs), &tbs_len, &ferr) != OFP_FMT_OK)
		return iss_fail(iss, OFP_ISSUER_ERROR, "trust list: %s", ferr.reason);
	rc = iss_sign(iss, &signer, tbs, tbs_len, t.issuer_sig);
	if (rc != OFP_ISSUER_OK)
		return rc;
	buf = malloc(OFP_TRUST_LIST_MAX);
	if (buf == NULL)
		return iss_fail(iss, OFP_ISSUER_ERROR, "out of memory");
	if (ofp_trust_list_encode(&t, buf, OFP_TRUST_LIST_MAX, len, &ferr) != OFP_FMT_OK) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "trust list: %s", ferr.reason);
		goto out;
	}
	rc = iss_ledger_fail(iss, ofp_ledger_blob_set(iss->ledger, TRUST_BLOB, buf, *len));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_meta_set(iss->ledger, TRUST_VERSION, (int64_t)version));
out:
	if (rc != OFP_ISSUER_OK)
		free(buf);
	else
		*out = buf;
	return rc;
}

/* The stored list still names exactly the keys a new one would. */
static bool trust_list_current(ofp_issuer_t *iss, const uint8_t *stored, size_t len)
{
	ofp_trust_list_t have, want;

	if (ofp_trust_list_decode(stored, len, &have, NULL) != OFP_FMT_OK)
		return false;
	memset(&want, 0, sizeof(want));
	if (trust_entries(iss, &want) != OFP_ISSUER_OK || want.count != have.count)
		return false;
	for (size_t i = 0; i < want.count; i++)
		if (memcmp(want.entries[i].kid, have.entries[i].kid, OFP_KEY_ID_LEN) != 0)
			return false;
	return true;
}

struct trust_tx {
	const ofp_ledger_key_t *add; /* a key to record first, or NULL */
	uint8_t *list;
	size_t list_len;
};

/* Re-runnable: each try reads the version again and signs its own list. */
static ofp_issuer_rc_t trust_body(ofp_issuer_t *iss, void *ctx)
{
	struct trust_tx *t = ctx;
	int64_t version = 0;
	ofp_issuer_rc_t rc = OFP_ISSUER_OK;

	free(t->list);
	t->list = NULL;
	if (t->add != NULL)
		rc = iss_ledger_fail(iss, ofp_ledger_key_add(iss->ledger, t->add));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_meta_get(iss->ledger, TRUST_VERSION, &version));
	if (rc == OFP_ISSUER_OK)
		rc = iss_trust_publish(iss, (uint64_t)version + 1, &t->list, &t->list_len);
	return rc;
}

/* A new version of the list, stored and written, in one transaction. */
static ofp_issuer_rc_t trust_republish(ofp_issuer_t *iss, uint8_t **out, size_t *len)
{
	struct trust_tx t = { 0 };
	ofp_issuer_rc_t rc = iss_token(iss);

	if (rc == OFP_ISSUER_OK)
		rc = iss_transact_queued(iss, OFP_LEDGER_QUEUE_ISSUANCE_BARRIER, trust_body, &t);
	if (rc == OFP_ISSUER_OK)
		rc = iss_write_file(iss, OFP_ISSUER_TRUST, t.list, t.list_len);
	if (rc != OFP_ISSUER_OK) {
		free(t.list);
		return rc;
	}
	*out = t.list;
	*len = t.list_len;
	return rc;
}

ofp_issuer_rc_t ofp_issuer_trust_list(ofp_issuer_t *iss, uint8_t **out, size_t *len)
{
	uint8_t *stored = NULL;
	size_t stored_len = 0;
	ofp_issuer_rc_t rc;

	*out = NULL;
	rc = iss_ledger_fail(iss, ofp_ledger_blob_get(iss->ledger, TRUST_BLOB, &stored, &stored_len));
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (trust_list_current(iss, stored, stored_len)) {
		*out = stored;
		*len = stored_len;
		return OFP_ISSUER_OK;
	}
	free(stored);
	return trust_republish(iss, out, len);
}

/* ---- key generation ------------------------------------------------------------------ */

static void destroy_token_key(ofp_issuer_t *iss, const ofp_p11_key_t *k)
{
	CK_FUNCTION_LIST *fn = ofp_p11_functions(iss->p11);
	CK_SESSION_HANDLE s = ofp_p11_session(iss->p11);

	if (fn == NULL)
		return;
	if (k->priv != CK_INVALID_HANDLE)
		(void)fn->C_DestroyObject(s, k->priv);
	if (k->pub != CK_INVALID_HANDLE)
		(void)fn->C_DestroyObject(s, k->pub);
}

static bool kid_taken(const ofp_ledger_key_t *keys, size_t n, const uint8_t kid[OFP_KEY_ID_LEN])
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(keys[i].kid, kid, OFP_KEY_ID_LEN) == 0)
			return true;
	return false;
}

/* Generate a key on the token and describe it for the ledger. Key ids
 * are 4 bytes: a new key whose id is taken is thrown away (FORMAT.md 3.3). */
static ofp_issuer_rc_t generate(ofp_issuer_t *iss, unsigned usage, unsigned alg, int64_t n, const char *label,
				const ofp_ledger_key_t *existing, size_t n_existing, ofp_p11_key_t *pk,
				ofp_ledger_key_t *lk)
{
	ofp_fmt_error_t ferr;
	uint32_t life = usage == OFP_USAGE_SEALING ? iss->cfg.sealing_key_lifetime : iss->cfg.signing_key_lifetime;
	ofp_p11_use_t use = usage == OFP_USAGE_SEALING ? OFP_P11_USE_DERIVE : OFP_P11_USE_SIGN;

	for (int tries = 0; tries < 4; tries++) {
		memset(lk, 0, sizeof(*lk));
		if (ofp_p11_generate_key(iss->p11, alg, use, label, NULL, 0, pk) != 0)
			return iss_fail(iss, OFP_ISSUER_ERROR, "generating '%s': %s", label, ofp_p11_error(iss->p11));
		if (ofp_key_id(alg, pk->pub_raw, pk->pub_len, lk->kid, &ferr) != OFP_FMT_OK) {
			destroy_token_key(iss, pk);
			return iss_fail(iss, OFP_ISSUER_ERROR, "key '%s': %s", label, ferr.reason);
		}
		if (!kid_taken(existing, n_existing, lk->kid))
			break;
		destroy_token_key(iss, pk);
		if (tries == 3)
			return iss_fail(iss, OFP_ISSUER_ERROR, "key '%s': key id collision four times", label);
	}
	lk->n = n;
	lk->usage = usage;
	lk->alg = alg;
	snprintf(lk->label, sizeof(lk->label), "%s", label);
	memcpy(lk->cka_id, pk->id, pk->id_len);
	lk->cka_id_len = pk->id_len;
	memcpy(lk->pub, pk->pub_raw, pk->pub_len);
	lk->pub_len = pk->pub_len;
	lk->not_before = iss->now;
	lk->not_after = iss_time_add(iss->now, life);
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t ofp_issuer_rollover(ofp_issuer_t *iss, ofp_ledger_key_t *new_key)
{
	ofp_ledger_key_t *keys = NULL;
	char label[64];
	ofp_p11_key_t pk = { .priv = CK_INVALID_HANDLE, .pub = CK_INVALID_HANDLE };
	ofp_ledger_key_t lk;
	int64_t n_max = 0;
	size_t n, live = 0;
	struct trust_tx t = { 0 };
	bool generated = false;
	ofp_issuer_rc_t rc = ofp_issuer_keys(iss, &keys, &n);

	if (rc != OFP_ISSUER_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (keys[i].usage == OFP_USAGE_CREDENTIAL_SIGNING && keys[i].n > n_max)
			n_max = keys[i].n;
		live += keys[i].not_after >= iss->now;
	}
	if (live >= OFP_TRUST_MAX_ENTRIES) {
		rc = iss_fail(iss, OFP_ISSUER_REFUSED,
			      "%zu keys are unexpired and a trust list holds %d: wait until one expires", live,
			      OFP_TRUST_MAX_ENTRIES);
		goto out;
	}
	rc = iss_token(iss);
	if (rc != OFP_ISSUER_OK)
		goto out;
	snprintf(label, sizeof(label), OFP_ISSUER_SIGN_LABEL "%" PRId64, n_max + 1);
	rc = generate(iss, OFP_USAGE_CREDENTIAL_SIGNING, iss->cfg.signing_alg, n_max + 1, label, keys, n, &pk, &lk);
	if (rc != OFP_ISSUER_OK)
		goto out;
	generated = true;
	t.add = &lk;
	rc = iss_transact_queued(iss, OFP_LEDGER_QUEUE_ISSUANCE_BARRIER, trust_body, &t);
	if (rc != OFP_ISSUER_OK)
		goto out;
	generated = false; /* the ledger has it now: keep it whatever happens */
	if (new_key != NULL)
		*new_key = lk;
	rc = iss_write_file(iss, OFP_ISSUER_TRUST, t.list, t.list_len);
out:
	if (generated)
		destroy_token_key(iss, &pk);
	free(t.list);
	free(keys);
	return rc;
}

/* ---- init ------------------------------------------------------------------------------- */

static const char *const init_files[] = { OFP_ISSUER_CONF, OFP_ISSUER_LEDGER, OFP_ISSUER_TRUST, OFP_ISSUER_DENY };

static ofp_issuer_rc_t init_check_dir(ofp_issuer_t *iss)
{
	char path[ISS_PATH_MAX];
	struct stat st;

	if (mkdir(iss->dir, 0700) != 0 && errno != EEXIST)
		return iss_fail(iss, OFP_ISSUER_ERROR, "%s: %s", iss->dir, strerror(errno));
	if (stat(iss->dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return iss_fail(iss, OFP_ISSUER_ERROR, "%s: not a directory", iss->dir);
	for (size_t i = 0; i < OFP_ARRAY_LEN(init_files); i++) {
		ofp_issuer_path(iss, init_files[i], path, sizeof(path));
		if (lstat(path, &st) == 0)
			return iss_fail(iss, OFP_ISSUER_REFUSED, "%s exists: %s is an issuer directory already", path,
					iss->dir);
	}
	return OFP_ISSUER_OK;
}

static void init_remove_files(ofp_issuer_t *iss)
{
	static const char *const extra[] = { OFP_ISSUER_LEDGER "-wal", OFP_ISSUER_LEDGER "-shm" };
	char path[ISS_PATH_MAX];

	ofp_ledger_close(iss->ledger);
	iss->ledger = NULL;
	for (size_t i = 0; i < OFP_ARRAY_LEN(init_files); i++) {
		ofp_issuer_path(iss, init_files[i], path, sizeof(path));
		(void)unlink(path);
	}
	for (size_t i = 0; i < OFP_ARRAY_LEN(extra); i++) {
		ofp_issuer_path(iss, extra[i], path, sizeof(path));
		(void)unlink(path);
	}
}

/* The ledger with both keys and the first two lists, one transaction. */
static ofp_issuer_rc_t init_ledger(ofp_issuer_t *iss, const ofp_ledger_key_t *seal, const ofp_ledger_key_t *sign,
				   uint8_t **trust, size_t *trust_len, uint8_t **deny, size_t *deny_len)
{
	char path[ISS_PATH_MAX];
	ofp_ledger_key_t *had = NULL;
	size_t n_had = 0;
	ofp_issuer_rc_t rc;

	iss_ledger_target(iss, path, sizeof(path));
	if (ofp_ledger_open(path, true, &iss->ledger, iss->err, sizeof(iss->err)) != OFP_LEDGER_OK)
		return OFP_ISSUER_ERROR;
	/* A shared database may hold another issuer's ledger already. */
	rc = iss_ledger_fail(iss, ofp_ledger_keys(iss->ledger, &had, &n_had));
	free(had);
	if (rc != OFP_ISSUER_OK)
		return rc;
	if (n_had != 0)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "%s: holds an issuer's ledger already", path);
	rc = iss_ledger_fail(iss, ofp_ledger_begin(iss->ledger));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_key_add(iss->ledger, seal));
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_key_add(iss->ledger, sign));
	if (rc == OFP_ISSUER_OK)
		rc = iss_trust_publish(iss, 1, trust, trust_len);
	if (rc == OFP_ISSUER_OK)
		rc = iss_deny_publish(iss, 1, deny, deny_len);
	if (rc == OFP_ISSUER_OK)
		rc = iss_ledger_fail(iss, ofp_ledger_commit(iss->ledger));
	if (rc != OFP_ISSUER_OK)
		ofp_ledger_rollback(iss->ledger);
	return rc;
}

static ofp_issuer_rc_t init_write(ofp_issuer_t *iss, const uint8_t *trust, size_t trust_len, const uint8_t *deny,
				  size_t deny_len)
{
	char *conf = ofp_issuer_config_format(&iss->cfg);
	ofp_issuer_rc_t rc;

	if (conf == NULL)
		return iss_fail(iss, OFP_ISSUER_ERROR, "out of memory");
	rc = iss_write_file(iss, OFP_ISSUER_TRUST, trust, trust_len);
	if (rc == OFP_ISSUER_OK)
		rc = iss_write_file(iss, OFP_ISSUER_DENY, deny, deny_len);
	/* issuer.conf last: its presence says the directory is complete. */
	if (rc == OFP_ISSUER_OK)
		rc = iss_write_file(iss, OFP_ISSUER_CONF, (const uint8_t *)conf, strlen(conf));
	free(conf);
	return rc;
}

static ofp_issuer_rc_t init_keys(ofp_issuer_t *iss, ofp_p11_key_t *seal_pk, ofp_p11_key_t *sign_pk,
				 ofp_ledger_key_t *seal, ofp_ledger_key_t *sign, int *made)
{
	char label[64];
	ofp_p11_key_t probe;
	ofp_issuer_rc_t rc;

	if (ofp_p11_find_key(iss->p11, OFP_ISSUER_SEAL_LABEL, NULL, 0, &probe) == 0)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "token '%s' already holds an issuer key '%s': use another token",
				ofp_p11_token_label(iss->p11), OFP_ISSUER_SEAL_LABEL);
	rc = generate(iss, OFP_USAGE_SEALING, OFP_ALG_P256, 1, OFP_ISSUER_SEAL_LABEL, NULL, 0, seal_pk, seal);
	if (rc != OFP_ISSUER_OK)
		return rc;
	*made = 1;
	snprintf(label, sizeof(label), OFP_ISSUER_SIGN_LABEL "1");
	rc = generate(iss, OFP_USAGE_CREDENTIAL_SIGNING, iss->cfg.signing_alg, 1, label, seal, 1, sign_pk, sign);
	if (rc == OFP_ISSUER_OK)
		*made = 2;
	return rc;
}

ofp_issuer_rc_t ofp_issuer_init(const ofp_issuer_args_t *args, const ofp_issuer_config_t *cfg, ofp_issuer_t **out,
				char *err, size_t err_len)
{
	ofp_p11_key_t seal_pk, sign_pk;
	ofp_ledger_key_t seal, sign;
	uint8_t *trust = NULL, *deny = NULL;
	size_t trust_len = 0, deny_len = 0;
	ofp_issuer_t *iss = NULL;
	int made = 0;
	bool files = false;
	ofp_issuer_rc_t rc = iss_handle_new(args, &iss, err, err_len);

	*out = NULL;
	if (rc != OFP_ISSUER_OK)
		return rc;
	iss->cfg = *cfg;
	/* --ledger at init is where the ledger lives from now on: issuer.conf. */
	if (args->ledger != NULL && snprintf(iss->cfg.ledger, sizeof(iss->cfg.ledger), "%s", args->ledger) >=
					    (int)sizeof(iss->cfg.ledger)) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "--ledger: longer than %zu characters", sizeof(iss->cfg.ledger) - 1);
		goto out;
	}
	if (ofp_issuer_config_check(cfg, iss->err, sizeof(iss->err)) != 0) {
		rc = OFP_ISSUER_ERROR;
		goto out;
	}
	rc = init_check_dir(iss);
	if (rc == OFP_ISSUER_OK)
		rc = iss_token(iss);
	if (rc == OFP_ISSUER_OK)
		rc = init_keys(iss, &seal_pk, &sign_pk, &seal, &sign, &made);
	if (rc != OFP_ISSUER_OK)
		goto out;
	files = true;
	rc = init_ledger(iss, &seal, &sign, &trust, &trust_len, &deny, &deny_len);
	if (rc == OFP_ISSUER_OK)
		rc = init_write(iss, trust, trust_len, deny, deny_len);
out:
	if (rc != OFP_ISSUER_OK) {
		if (made >= 2)
			destroy_token_key(iss, &sign_pk);
		if (made >= 1)
			destroy_token_key(iss, &seal_pk);
		if (files)
			init_remove_files(iss);
		snprintf(err, err_len, "%s", iss->err);
		ofp_issuer_close(iss);
	} else {
		*out = iss;
	}
	free(trust);
	free(deny);
	return rc;
}
