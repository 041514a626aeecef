/* context.c - the issuer handle: its directory, settings, ledger and the
 * token, opened (and the PIN read) only when a key is needed. */
#include "config.h"
#include "issuer/internal.h"
#include "atomic_file.h"
#include "secmem.h"
#include "format/sig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PIN_MAX 256

ofp_issuer_rc_t iss_fail(ofp_issuer_t *iss, ofp_issuer_rc_t rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(iss->err, sizeof(iss->err), fmt, ap);
	va_end(ap);
	return rc;
}

ofp_issuer_rc_t iss_ledger_fail(ofp_issuer_t *iss, int ledger_rc)
{
	if (ledger_rc == OFP_LEDGER_OK)
		return OFP_ISSUER_OK;
	snprintf(iss->err, sizeof(iss->err), "%s", ofp_ledger_error(iss->ledger));
	return ledger_rc == OFP_LEDGER_ERROR ? OFP_ISSUER_ERROR : OFP_ISSUER_REFUSED;
}

ofp_issuer_rc_t iss_transact(ofp_issuer_t *iss, ofp_issuer_rc_t (*body)(ofp_issuer_t *iss, void *ctx), void *ctx)
{
	return iss_transact_queued(iss, OFP_LEDGER_QUEUE_NONE, body, ctx);
}

ofp_issuer_rc_t iss_transact_queued(ofp_issuer_t *iss, ofp_ledger_queue_t queue,
				    ofp_issuer_rc_t (*body)(ofp_issuer_t *iss, void *ctx), void *ctx)
{
	ofp_issuer_rc_t rc = OFP_ISSUER_ERROR;

	for (unsigned attempt = 0; attempt < OFP_LEDGER_TRIES; attempt++) {
		if (attempt > 0)
			ofp_ledger_backoff(attempt - 1);
		rc = iss_ledger_fail(iss, ofp_ledger_begin_queued(iss->ledger, queue));
		if (rc == OFP_ISSUER_OK)
			rc = body(iss, ctx);
		if (rc == OFP_ISSUER_OK)
			rc = iss_ledger_fail(iss, ofp_ledger_commit(iss->ledger));
		if (rc == OFP_ISSUER_OK)
			return rc;
		ofp_ledger_rollback(iss->ledger);
		if (!ofp_ledger_retryable(iss->ledger))
			return rc;
	}
	return rc;
}

const char *ofp_issuer_error(const ofp_issuer_t *iss)
{
	return iss != NULL ? iss->err : "no issuer";
}

ofp_ledger_t *ofp_issuer_ledger(ofp_issuer_t *iss)
{
	return iss->ledger;
}

ofp_issuer_config_t *ofp_issuer_config(ofp_issuer_t *iss)
{
	return &iss->cfg;
}

void ofp_issuer_set_now(ofp_issuer_t *iss, uint32_t now)
{
	iss->now = now;
}

void ofp_issuer_path(const ofp_issuer_t *iss, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", iss->dir, name);
}

uint32_t iss_time_add(uint32_t now, uint32_t span)
{
	return now > UINT32_MAX - span ? UINT32_MAX : now + span;
}

void iss_hex(char *out, const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
	out[2 * len] = '\0';
}

void iss_ledger_target(const ofp_issuer_t *iss, char *buf, size_t len)
{
	if (iss->ledger_arg != NULL && iss->ledger_arg[0] != '\0')
		snprintf(buf, len, "%s", iss->ledger_arg);
	else if (iss->cfg.ledger[0] != '\0')
		snprintf(buf, len, "%s", iss->cfg.ledger);
	else
		ofp_issuer_path(iss, OFP_ISSUER_LEDGER, buf, len);
}

/* A handle without ledger or token: the shared part of open and init. */
static ofp_issuer_rc_t handle_new(const ofp_issuer_args_t *args, ofp_issuer_t **out, char *err, size_t err_len)
{
	ofp_issuer_t *iss;

	*out = NULL;
	if (args->dir == NULL || args->dir[0] == '\0') {
		snprintf(err, err_len, "no issuer directory given");
		return OFP_ISSUER_ERROR;
	}
	if (strlen(args->dir) >= ISS_PATH_MAX - 64) {
		snprintf(err, err_len, "issuer directory name too long");
		return OFP_ISSUER_ERROR;
	}
	iss = calloc(1, sizeof(*iss));
	if (iss == NULL) {
		snprintf(err, err_len, "out of memory");
		return OFP_ISSUER_ERROR;
	}
	snprintf(iss->dir, sizeof(iss->dir), "%s", args->dir);
	iss->now = args->now;
	iss->pin_file = args->pin_file;
	iss->pin_env = args->pin_env;
	iss->ledger_arg = args->ledger;
	if (args->pin != NULL) {
		iss->pin_len = strlen(args->pin) + 1;
		iss->pin = secmem_dup(args->pin, iss->pin_len);
		if (iss->pin == NULL) {
			free(iss);
			snprintf(err, err_len, "out of memory");
			return OFP_ISSUER_ERROR;
		}
	}
	*out = iss;
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t ofp_issuer_open(const ofp_issuer_args_t *args, ofp_issuer_t **out, char *err, size_t err_len)
{
	char path[ISS_PATH_MAX];
	ofp_issuer_t *iss = NULL;
	ofp_issuer_rc_t rc = handle_new(args, &iss, err, err_len);
	struct stat st;

	*out = NULL;
	if (rc != OFP_ISSUER_OK)
		return rc;
	ofp_issuer_path(iss, OFP_ISSUER_CONF, path, sizeof(path));
	if (stat(path, &st) != 0 && errno == ENOENT) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "%s: not an issuer directory (no %s; run 'offpass-issuer --dir %s init')",
			      iss->dir, OFP_ISSUER_CONF, iss->dir);
		goto out;
	}
	if (ofp_issuer_config_load(path, &iss->cfg, iss->err, sizeof(iss->err)) != 0) {
		rc = OFP_ISSUER_ERROR;
		goto out;
	}
	iss_ledger_target(iss, path, sizeof(path));
	if (ofp_ledger_open(path, false, &iss->ledger, iss->err, sizeof(iss->err)) != OFP_LEDGER_OK) {
		rc = OFP_ISSUER_ERROR;
		goto out;
	}
	*out = iss;
	iss = NULL;
out:
	if (iss != NULL) {
		snprintf(err, err_len, "%s", iss->err);
		ofp_issuer_close(iss);
	}
	return rc;
}

ofp_issuer_rc_t iss_handle_new(const ofp_issuer_args_t *args, ofp_issuer_t **out, char *err, size_t err_len)
{
	return handle_new(args, out, err, err_len);
}

void ofp_issuer_close(ofp_issuer_t *iss)
{
	if (iss == NULL)
		return;
	for (unsigned i = 0; i < iss->verify_keys_n; i++)
		EVP_PKEY_free(iss->verify_keys[i].pkey);
	ofp_p11_close(iss->p11);
	ofp_ledger_close(iss->ledger);
	iss_cred_cache_free(iss->creds);
	secmem_free(iss->pin, iss->pin_len);
	free(iss);
}

/* ---- the token -------------------------------------------------------------------- */

static bool uri_has_pin(const char *uri)
{
	return strstr(uri, "pin-value=") != NULL || strstr(uri, "pin-source=") != NULL;
}

static ofp_issuer_rc_t login(ofp_issuer_t *iss)
{
	char prompt[96];
	char *buf = NULL;
	ofp_issuer_rc_t rc = OFP_ISSUER_ERROR;
	const char *pin = iss->pin;

	if (pin == NULL && iss->pin_file == NULL && iss->pin_env == NULL && uri_has_pin(iss->cfg.uri))
		goto login; /* the URI's pin-value / pin-source */
	if (pin == NULL) {
		buf = secmem_alloc(PIN_MAX);
		if (buf == NULL)
			return iss_fail(iss, OFP_ISSUER_ERROR, "out of memory");
		snprintf(prompt, sizeof(prompt), "PIN for issuer token '%s': ", ofp_p11_token_label(iss->p11));
		if (ofp_pin_read(iss->pin_file, iss->pin_env, prompt, buf, PIN_MAX, iss->err, sizeof(iss->err)) != 0)
			goto out;
		pin = buf;
	}
login:
	if (ofp_p11_login(iss->p11, pin) != 0) {
		rc = iss_fail(iss, OFP_ISSUER_ERROR, "%s", ofp_p11_error(iss->p11));
		goto out;
	}
	rc = OFP_ISSUER_OK;
out:
	secmem_free(buf, PIN_MAX);
	return rc;
}

ofp_issuer_rc_t iss_token(ofp_issuer_t *iss)
{
	ofp_p11_open_args_t a = { 0 };
	char err[ISS_ERR_LEN];
	ofp_issuer_rc_t rc;

	if (iss->p11 != NULL)
		return OFP_ISSUER_OK;
	a.module = iss->cfg.module[0] != '\0' ? iss->cfg.module : NULL;
	a.uri = iss->cfg.uri[0] != '\0' ? iss->cfg.uri : NULL;
	a.token_label = iss->cfg.token_label[0] != '\0' ? iss->cfg.token_label : NULL;
	a.read_write = true;
	iss->token_keys_n = 0; /* object handles of another session */
	if (ofp_p11_open(&a, &iss->p11, err, sizeof(err)) != 0)
		return iss_fail(iss, OFP_ISSUER_ERROR, "issuer token: %s", err);
	rc = login(iss);
	if (rc != OFP_ISSUER_OK) {
		ofp_p11_close(iss->p11);
		iss->p11 = NULL;
	}
	return rc;
}

ofp_issuer_rc_t ofp_issuer_unlock(ofp_issuer_t *iss)
{
	return iss_token(iss);
}

/* The token key found before for this ledger key (object handles stay
 * valid while the session is open), or NULL. */
static const ofp_p11_key_t *token_key_cached(const ofp_issuer_t *iss, const ofp_ledger_key_t *lk)
{
	for (unsigned i = 0; i < iss->token_keys_n; i++) {
		const ofp_p11_key_t *k = &iss->token_keys[i].key;
		if (memcmp(iss->token_keys[i].kid, lk->kid, OFP_KEY_ID_LEN) == 0 && k->id_len == lk->cka_id_len &&
		    memcmp(k->id, lk->cka_id, k->id_len) == 0)
			return k;
	}
	return NULL;
}

static void token_key_remember(ofp_issuer_t *iss, const ofp_ledger_key_t *lk, const ofp_p11_key_t *k)
{
	iss_token_key_cache_t *e = &iss->token_keys[iss->token_keys_n < ISS_KEY_CACHE ? iss->token_keys_n++ : 0];

	memcpy(e->kid, lk->kid, OFP_KEY_ID_LEN);
	e->key = *k;
}

ofp_issuer_rc_t iss_token_key(ofp_issuer_t *iss, const ofp_ledger_key_t *lk, ofp_p11_key_t *out)
{
	const ofp_p11_key_t *cached;
	ofp_issuer_rc_t rc = iss_token(iss);

	if (rc != OFP_ISSUER_OK)
		return rc;
	cached = token_key_cached(iss, lk);
	if (cached != NULL && cached->pub_len == lk->pub_len && memcmp(cached->pub_raw, lk->pub, lk->pub_len) == 0) {
		*out = *cached;
		return OFP_ISSUER_OK;
	}
	if (ofp_p11_find_key(iss->p11, lk->label, lk->cka_id, lk->cka_id_len, out) != 0)
		return iss_fail(iss, OFP_ISSUER_ERROR, "issuer key '%s': %s", lk->label, ofp_p11_error(iss->p11));
	/* Another token with a key of the same label must not sign for us. */
	if (out->pub_len != lk->pub_len || memcmp(out->pub_raw, lk->pub, lk->pub_len) != 0)
		return iss_fail(iss, OFP_ISSUER_ERROR,
				"issuer key '%s' on token '%s' is not the key %s records (another token?)", lk->label,
				ofp_p11_token_label(iss->p11), OFP_ISSUER_LEDGER);
	token_key_remember(iss, lk, out);
	return OFP_ISSUER_OK;
}

EVP_PKEY *iss_verify_key(ofp_issuer_t *iss, const ofp_ledger_key_t *lk)
{
	iss_verify_key_cache_t *e;
	EVP_PKEY *pkey;

	for (unsigned i = 0; i < iss->verify_keys_n; i++) {
		e = &iss->verify_keys[i];
		if (memcmp(e->kid, lk->kid, OFP_KEY_ID_LEN) == 0 && e->alg == lk->alg && e->pub_len == lk->pub_len &&
		    memcmp(e->pub, lk->pub, lk->pub_len) == 0)
			return e->pkey;
	}
	pkey = ofp_sig_public_key(lk->alg, lk->pub, lk->pub_len);
	if (pkey == NULL)
		return NULL;
	e = &iss->verify_keys[iss->verify_keys_n < ISS_KEY_CACHE ? iss->verify_keys_n++ : 0];
	if (e->pkey != NULL)
		EVP_PKEY_free(e->pkey);
	memcpy(e->kid, lk->kid, OFP_KEY_ID_LEN);
	e->alg = lk->alg;
	memcpy(e->pub, lk->pub, lk->pub_len);
	e->pub_len = lk->pub_len;
	e->pkey = pkey;
	return pkey;
}

ofp_issuer_rc_t iss_sign(ofp_issuer_t *iss, const ofp_ledger_key_t *lk, const uint8_t *msg, size_t len,
			 uint8_t sig[OFP_SIG_LEN])
{
	ofp_p11_key_t key;
	ofp_issuer_rc_t rc = iss_token_key(iss, lk, &key);

	if (rc != OFP_ISSUER_OK)
		return rc;
	if (ofp_p11_sign(iss->p11, &key, msg, len, sig) != 0) {
		iss->token_keys_n = 0; /* find it again next time (a token changed under us?) */
		return iss_fail(iss, OFP_ISSUER_ERROR, "signing with '%s': %s", lk->label, ofp_p11_error(iss->p11));
	}
	return OFP_ISSUER_OK;
}

ofp_issuer_rc_t iss_write_file(ofp_issuer_t *iss, const char *name, const uint8_t *data, size_t len)
{
	char path[ISS_PATH_MAX];
	int rc;

	ofp_issuer_path(iss, name, path, sizeof(path));
	rc = atomic_file_write(path, data, len, 0644);
	if (rc != 0)
		return iss_fail(iss, OFP_ISSUER_ERROR, "%s: %s", path, strerror(-rc));
	return OFP_ISSUER_OK;
}
