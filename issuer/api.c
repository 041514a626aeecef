/* api.c - the issuer's HTTP API as functions: routing, OpenID4VCI
 * metadata, nonces, the credential endpoint (refresh by proof of
 * possession), gate batches and the signed lists. */
#include "config.h"
#include "issuer/api.h"
#include "issuer/committer.h"
#include "atomic_file.h"
#include "b64url.h"
#include "hex.h"
#include "secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define NONCE_RAND 12
#define MAC_LEN 16
#define NONCE_LEN (4 + NONCE_RAND + MAC_LEN)
#define USED_SLOTS 16384u
#define FAIL_SLOTS 4096u
#define PROBES 32u

typedef struct used_nonce {
	uint8_t tag[MAC_LEN];
	uint32_t expires;
} used_nonce_t;

/* Failures counted per key (an address, or "h:" + a holder id). */
typedef struct fail_slot {
	char key[64];
	uint32_t window_start;
	uint32_t count;
} fail_slot_t;

struct ofp_api {
	ofp_api_config_t cfg;
	char issuer_url[256];
	uint8_t key[OFP_API_KEY_LEN];
	/* HMAC-SHA256 keyed with key, fetched and set up once: each MAC
	 * works on a copy (an implicit fetch per call costs more than the
	 * MAC itself in OpenSSL 3, and takes a global lock). */
	EVP_MAC *hmac;
	EVP_MAC_CTX *mac_ctx;
	/* Issuer handles requests borrow, one at a time each (a handle's
	 * ledger connection and token session are not shared). */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_free;
	ofp_issuer_t *pool[OFP_API_HANDLES_MAX];
	bool lent[OFP_API_HANDLES_MAX];
	unsigned handles;
	/* Refreshes and enrollments commit in groups there (NULL: each on
	 * the borrowed handle, in its own transaction). */
	ofp_committer_t *committer;
	/* The tables every request shares. */
	pthread_mutex_t lock;
	used_nonce_t used[USED_SLOTS];
	fail_slot_t fails[FAIL_SLOTS];
};

/* One request being answered: the handle it borrowed (NULL once given
 * back) and its clock. */
typedef struct call {
	ofp_api_t *api;
	ofp_issuer_t *iss;
	uint32_t now;
} call_t;

void ofp_api_config_defaults(ofp_api_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->issuer_url = "http://127.0.0.1:8443";
	cfg->nonce_lifetime = 300;
	cfg->token_lifetime = 300;
	cfg->proof_skew = 300;
	cfg->attempt_window = 600;
	cfg->max_failures = 10;
	cfg->batch_max = OFP_API_BATCH_MAX_DEFAULT;
}

int ofp_api_set_issuer_url(ofp_api_t *api, const char *url)
{
	size_t n = strlen(url);

	if (n == 0 || n >= sizeof(api->issuer_url) || url[n - 1] == '/')
		return -1;
	memcpy(api->issuer_url, url, n + 1);
	return 0;
}

int ofp_api_new(ofp_issuer_t *iss, const ofp_api_config_t *cfg, const uint8_t key[OFP_API_KEY_LEN], ofp_api_t **out,
		char *err, size_t err_len)
{
	ofp_api_t *api;
	size_t n = strlen(cfg->issuer_url);
	OSSL_PARAM digest_params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
				       OSSL_PARAM_construct_end() };

	*out = NULL;
	if (n == 0 || n >= sizeof(api->issuer_url) || cfg->issuer_url[n - 1] == '/') {
		snprintf(err, err_len, "issuer URL: empty, too long or ending in '/'");
		return -1;
	}
	api = calloc(1, sizeof(*api));
	if (api == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	api->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	api->mac_ctx = api->hmac != NULL ? EVP_MAC_CTX_new(api->hmac) : NULL;
	if (api->mac_ctx == NULL || EVP_MAC_init(api->mac_ctx, key, OFP_API_KEY_LEN, digest_params) != 1) {
		EVP_MAC_CTX_free(api->mac_ctx);
		EVP_MAC_free(api->hmac);
		free(api);
		snprintf(err, err_len, "HMAC-SHA256 is not available (OpenSSL)");
		return -1;
	}
	pthread_mutex_init(&api->pool_lock, NULL);
	pthread_cond_init(&api->pool_free, NULL);
	pthread_mutex_init(&api->lock, NULL);
	api->pool[0] = iss;
	api->handles = 1;
	api->cfg = *cfg;
	memcpy(api->issuer_url, cfg->issuer_url, n + 1);
	api->cfg.issuer_url = api->issuer_url;
	memcpy(api->key, key, OFP_API_KEY_LEN);
	*out = api;
	return 0;
}

void ofp_api_free(ofp_api_t *api)
{
	if (api == NULL)
		return;
	secmem_wipe(api->key, sizeof(api->key));
	EVP_MAC_CTX_free(api->mac_ctx);
	EVP_MAC_free(api->hmac);
	pthread_mutex_destroy(&api->lock);
	pthread_cond_destroy(&api->pool_free);
	pthread_mutex_destroy(&api->pool_lock);
	free(api);
}

int ofp_api_add_handle(ofp_api_t *api, ofp_issuer_t *iss)
{
	int rc = -1;

	pthread_mutex_lock(&api->pool_lock);
	if (api->handles < OFP_API_HANDLES_MAX) {
		api->pool[api->handles++] = iss;
		pthread_cond_signal(&api->pool_free);
		rc = 0;
	}
	pthread_mutex_unlock(&api->pool_lock);
	return rc;
}

void ofp_api_set_committer(ofp_api_t *api, ofp_committer_t *committer)
{
	api->committer = committer;
}

/* Borrow a handle for this request (waits while all are lent). */
static void call_borrow(call_t *cx)
{
	ofp_api_t *api = cx->api;
	unsigned i;

	pthread_mutex_lock(&api->pool_lock);
	for (;;) {
		for (i = 0; i < api->handles && api->lent[i]; i++)
			;
		if (i < api->handles)
			break;
		pthread_cond_wait(&api->pool_free, &api->pool_lock);
	}
	api->lent[i] = true;
	cx->iss = api->pool[i];
	pthread_mutex_unlock(&api->pool_lock);
	ofp_issuer_set_now(cx->iss, cx->now);
}

/* Give it back (before waiting on a grouped commit, and at the end). */
static void call_return(call_t *cx)
{
	ofp_api_t *api = cx->api;

	if (cx->iss == NULL)
		return;
	pthread_mutex_lock(&api->pool_lock);
	for (unsigned i = 0; i < api->handles; i++)
		if (api->pool[i] == cx->iss)
			api->lent[i] = false;
	pthread_cond_signal(&api->pool_free);
	pthread_mutex_unlock(&api->pool_lock);
	cx->iss = NULL;
}

int ofp_api_load_key(const char *dir, uint8_t key[OFP_API_KEY_LEN])
{
	char path[1024], tmp[1100];
	uint8_t fresh[OFP_API_KEY_LEN];
	unsigned char *data = NULL;
	size_t len = 0;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", dir, OFP_API_KEY_FILE);
	rc = file_read_all(path, 64, &data, &len);
	if (rc == -ENOENT) {
		/* Write a candidate and link it in: link() does not replace, so
		 * of two processes starting at once one key wins and both read it. */
		snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
		if (RAND_bytes(fresh, sizeof(fresh)) != 1)
			return -EIO;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		rc = write(fd, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && fsync(fd) == 0 ? 0 : -EIO;
		close(fd);
		secmem_wipe(fresh, sizeof(fresh));
		if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST)
			rc = -errno;
		unlink(tmp);
		if (rc == 0)
			rc = fsync_parent_dir(path);
		if (rc != 0)
			return rc;
		rc = file_read_all(path, 64, &data, &len);
	}
	if (rc != 0)
		return rc;
	if (len != OFP_API_KEY_LEN) {
		secmem_wipe(data, len);
		free(data);
		return -EINVAL;
	}
	memcpy(key, data, OFP_API_KEY_LEN);
	secmem_wipe(data, len);
	free(data);
	return 0;
}

/* ---- responses ------------------------------------------------------------------------ */

static void respond_json(ofp_api_response_t *r, unsigned status, json_t *obj)
{
	r->status = status;
	r->content_type = "application/json";
	r->body = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	r->body_len = r->body != NULL ? strlen(r->body) : 0;
	if (r->body == NULL)
		r->status = 500;
	json_decref(obj);
}

/* An OAuth-style error: {"error", "error_description", "field"}. */
static void respond_error(ofp_api_response_t *r, unsigned status, const char *error, const char *field,
			  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void respond_error(ofp_api_response_t *r, unsigned status, const char *error, const char *field,
			  const char *fmt, ...)
{
	char why[OFP_API_WHY_MAX + 256];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s, s:s}", "error", error, "error_description", why);
	if (o != NULL && field != NULL)
		json_object_set_new(o, "field", json_string(field));
	/* The log line: the error and the field; the description may quote
	 * the request, and the log keeps nothing a requester sent. */
	snprintf(r->summary, sizeof(r->summary), "%.40s %.63s", error, field != NULL ? field : "-");
	r->no_store = true;
	respond_json(r, status, o);
}

static void respond_fault(ofp_api_response_t *r, const char *error, const ofp_api_fault_t *f)
{
	respond_error(r, 400, error, f->field, "%s", f->why);
}

/* ---- MACs, nonces, failure counts ---------------------------------------------------------- */

/* False when OpenSSL fails: the caller refuses (fail closed). */
static bool mac(const call_t *cx, const char *label, const uint8_t *data, size_t len, uint8_t out[MAC_LEN])
{
	uint8_t buf[64], full[EVP_MAX_MD_SIZE];
	size_t llen = strlen(label) + 1, full_len = 0;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(cx->api->mac_ctx);
	bool ok;

	memcpy(buf, label, llen); /* the label with its NUL: domains cannot overlap */
	memcpy(buf + llen, data, len);
	ok = ctx != NULL && EVP_MAC_update(ctx, buf, llen + len) == 1 &&
	     EVP_MAC_final(ctx, full, &full_len, sizeof(full)) == 1 && full_len >= MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	memcpy(out, full, MAC_LEN);
	return ok;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int nonce_new(call_t *cx, char out[B64URL_LEN(NONCE_LEN) + 1])
{
	uint8_t n[NONCE_LEN];

	put32(n, cx->now);
	if (RAND_bytes(n + 4, NONCE_RAND) != 1)
		return -1;
	if (!mac(cx, "offpass-nonce-v1", n, 4 + NONCE_RAND, n + 4 + NONCE_RAND))
		return -1;
	b64url_encode(n, sizeof(n), out);
	return 0;
}

/* (Under the lock.) 0 when the nonce of tag was not used yet, and now is. */
static int nonce_mark_used(call_t *cx, uint32_t h, const uint8_t tag[MAC_LEN], uint32_t t, const char **why)
{
	for (uint32_t i = 0; i < PROBES; i++) {
		used_nonce_t *u = &cx->api->used[(h + i) % USED_SLOTS];
		if (u->expires > cx->now && memcmp(u->tag, tag, MAC_LEN) == 0) {
			*why = "used already: ask /nonce for a fresh one";
			return -1;
		}
	}
	for (uint32_t i = 0; i < PROBES; i++) {
		used_nonce_t *u = &cx->api->used[(h + i) % USED_SLOTS];
		if (u->expires <= cx->now) {
			memcpy(u->tag, tag, MAC_LEN);
			u->expires = t + cx->api->cfg.nonce_lifetime + 1;
			return 0;
		}
	}
	/* Fail closed: never forget a live nonce to make room. */
	*why = "too many nonces in use: try again shortly";
	return -1;
}

/* 0: ours and fresh, and now used; -1 otherwise (why says which). */
static int nonce_use(call_t *cx, const char *text, const char **why)
{
	uint8_t n[NONCE_LEN], want[MAC_LEN];
	size_t len;
	uint32_t t, h;
	int rc;

	*why = "not a c_nonce of this issuer";
	if (b64url_decode(text, strlen(text), n, sizeof(n), &len) != 0 || len != NONCE_LEN)
		return -1;
	if (!mac(cx, "offpass-nonce-v1", n, 4 + NONCE_RAND, want) || CRYPTO_memcmp(want, n + 4 + NONCE_RAND, MAC_LEN) != 0)
		return -1;
	t = get32(n);
	*why = "expired: ask /nonce for a fresh one";
	if (t > cx->now || cx->now - t > cx->api->cfg.nonce_lifetime)
		return -1;
	h = get32(want);
	pthread_mutex_lock(&cx->api->lock);
	rc = nonce_mark_used(cx, h, want, t, why);
	pthread_mutex_unlock(&cx->api->lock);
	return rc;
}

/* ---- access tokens: expiry || holder id || code tag || MAC --------------------------------- */

#define TOKEN_LEN (4 + OFP_ID_LEN + OFP_CODE_TAG_LEN + MAC_LEN)

static bool token_new(call_t *cx, const uint8_t holder_id[OFP_ID_LEN], const uint8_t tag[OFP_CODE_TAG_LEN],
		      char out[B64URL_LEN(TOKEN_LEN) + 1])
{
	uint8_t t[TOKEN_LEN];

	put32(t, cx->now + cx->api->cfg.token_lifetime);
	memcpy(t + 4, holder_id, OFP_ID_LEN);
	memcpy(t + 4 + OFP_ID_LEN, tag, OFP_CODE_TAG_LEN);
	if (!mac(cx, "offpass-access-v1", t, TOKEN_LEN - MAC_LEN, t + TOKEN_LEN - MAC_LEN))
		return false;
	b64url_encode(t, sizeof(t), out);
	return true;
}

/* "Bearer TOKEN": 0 with the holder id and code tag, -1 otherwise. */
static int token_check(call_t *cx, const char *authorization, uint8_t holder_id[OFP_ID_LEN],
		       uint8_t tag[OFP_CODE_TAG_LEN], const char **why)
{
	uint8_t t[TOKEN_LEN], want[MAC_LEN];
	size_t len;

	*why = "not an access token of this issuer";
	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return -1;
	authorization += 7;
	if (b64url_decode(authorization, strlen(authorization), t, sizeof(t), &len) != 0 || len != TOKEN_LEN)
		return -1;
	if (!mac(cx, "offpass-access-v1", t, TOKEN_LEN - MAC_LEN, want) || CRYPTO_memcmp(want, t + TOKEN_LEN - MAC_LEN, MAC_LEN) != 0)
		return -1;
	*why = "expired: redeem the code again at /token";
	if (get32(t) <= cx->now)
		return -1;
	memcpy(holder_id, t + 4, OFP_ID_LEN);
	memcpy(tag, t + 4 + OFP_ID_LEN, OFP_CODE_TAG_LEN);
	return 0;
}

static fail_slot_t *fail_slot(call_t *cx, const char *key, bool create)
{
	uint32_t h = 2166136261u;
	fail_slot_t *free_slot = NULL;

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (uint32_t i = 0; i < PROBES; i++) {
		fail_slot_t *s = &cx->api->fails[(h + i) % FAIL_SLOTS];
		bool live = s->key[0] != '\0' && cx->now - s->window_start < cx->api->cfg.attempt_window;
		if (live && strcmp(s->key, key) == 0)
			return s;
		if (!live && free_slot == NULL)
			free_slot = s;
	}
	if (create && free_slot != NULL) {
		snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
		free_slot->window_start = cx->now;
		free_slot->count = 0;
	}
	return create ? free_slot : NULL;
}

/* (Under the lock.) Whether a slot for key could be made now. */
static bool fail_slot_room(const call_t *cx, const char *key)
{
	uint32_t h = 2166136261u;

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (uint32_t i = 0; i < PROBES; i++) {
		const fail_slot_t *s = &cx->api->fails[(h + i) % FAIL_SLOTS];
		if (s->key[0] == '\0' || cx->now - s->window_start >= cx->api->cfg.attempt_window)
			return true;
	}
	return false;
}

/* True when key may try again; a table too full to count its failures
 * refuses (fail closed). Only failures take a slot: a key that has not
 * failed (every holder that refreshes) must not fill the table. */
static bool may_try(call_t *cx, const char *key)
{
	fail_slot_t *s;
	bool ok;

	pthread_mutex_lock(&cx->api->lock);
	s = fail_slot(cx, key, false);
	ok = s == NULL ? fail_slot_room(cx, key) : s->count < cx->api->cfg.max_failures;
	pthread_mutex_unlock(&cx->api->lock);
	return ok;
}

static void failed(call_t *cx, const char *key)
{
	fail_slot_t *s;

	pthread_mutex_lock(&cx->api->lock);
	s = fail_slot(cx, key, true);
	if (s != NULL && s->count < UINT32_MAX)
		s->count++;
	pthread_mutex_unlock(&cx->api->lock);
}

static void holder_key_name(char *out, size_t len, const uint8_t holder_id[OFP_ID_LEN])
{
	char hex[2 * OFP_ID_LEN + 1];
	hex_encode(holder_id, OFP_ID_LEN, hex);
	snprintf(out, len, "h:%s", hex);
}

static void respond_limited(call_t *cx, ofp_api_response_t *r, const char *who)
{
	r->retry_after = cx->api->cfg.attempt_window;
	respond_error(r, 429, "slow_down", NULL, "too many failed attempts from this %s: retry later", who);
}

/* ---- metadata ------------------------------------------------------------------------------ */

static json_t *url_of(const call_t *cx, const char *path)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s%s", cx->api->issuer_url, path);
	return json_string(buf);
}

static void issuer_metadata(call_t *cx, ofp_api_response_t *r)
{
	json_t *cfg = json_pack("{s:s, s:[s], s:[s, s], s:{s:{s:[s, s]}}}", "format", OFP_API_FORMAT,
				"cryptographic_binding_methods_supported", "jwk",
				"credential_signing_alg_values_supported", "ES256", "EdDSA", "proof_types_supported",
				"jwt", "proof_signing_alg_values_supported", "ES256", "EdDSA");
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:{s:o}}", "credential_issuer", cx->api->issuer_url,
			      "credential_endpoint", url_of(cx, "/credential"), "nonce_endpoint",
			      url_of(cx, "/nonce"), "offpass_batch_endpoint", url_of(cx, "/gate/batch"),
			      "offpass_trust_list_endpoint", url_of(cx, "/trust-list"),
			      "offpass_deny_list_endpoint", url_of(cx, "/deny-list"),
			      "credential_configurations_supported", OFP_API_CONFIGURATION_ID, cfg);
	snprintf(r->summary, sizeof(r->summary), "metadata");
	respond_json(r, 200, o);
}

static void as_metadata(call_t *cx, ofp_api_response_t *r)
{
	json_t *o = json_pack("{s:s, s:o, s:[s], s:b}", "issuer", cx->api->issuer_url, "token_endpoint",
			      url_of(cx, "/token"), "grant_types_supported",
			      "urn:ietf:params:oauth:grant-type:pre-authorized_code",
			      "pre-authorized_grant_anonymous_access_supported", 1);
	snprintf(r->summary, sizeof(r->summary), "metadata");
	respond_json(r, 200, o);
}

static void nonce_endpoint(call_t *cx, ofp_api_response_t *r)
{
	char nonce[B64URL_LEN(NONCE_LEN) + 1];

	if (nonce_new(cx, nonce) != 0) {
		respond_error(r, 500, "server_error", NULL, "no randomness");
		return;
	}
	r->no_store = true;
	snprintf(r->summary, sizeof(r->summary), "nonce");
	respond_json(r, 200, json_pack("{s:s}", "c_nonce", nonce));
}

/* ---- the token endpoint: pre-authorized code (the holder id) + tx_code (the enrollment code) ---- */

#define GRANT_PRE_AUTH "urn:ietf:params:oauth:grant-type:pre-authorized_code"

static bool media_type_is(const char *ct, const char *want);

static void token_endpoint(call_t *cx, const ofp_api_request_t *req, ofp_api_response_t *r)
{
	ofp_token_request_t t;
	ofp_api_fault_t f;
	uint8_t holder_id[OFP_ID_LEN], code[OFP_ENROLL_CODE_LEN], code_key[OFP_HASH_LEN], tag[OFP_CODE_TAG_LEN];
	char token[B64URL_LEN(TOKEN_LEN) + 1], who[64];
	ofp_fmt_error_t ferr;
	ofp_issuer_rc_t rc;

	if (!media_type_is(req->content_type, "application/x-www-form-urlencoded")) {
		respond_error(r, 415, "invalid_request", "Content-Type", "must be application/x-www-form-urlencoded");
		return;
	}
	if (ofp_api_parse_token_request(req->body, req->body_len, &t, &f) != 0) {
		respond_fault(r, "invalid_request", &f);
		return;
	}
	if (strcmp(t.grant_type, GRANT_PRE_AUTH) != 0) {
		respond_error(r, 400, "unsupported_grant_type", "grant_type", "only %s", GRANT_PRE_AUTH);
	} else if (hex_decode(t.code, holder_id, sizeof(holder_id)) != 0) {
		respond_error(r, 400, "invalid_grant", "pre-authorized_code", "not a holder id (16 hex digits)");
	} else if (ofp_enroll_code_parse(t.tx_code, code, &ferr) != OFP_FMT_OK ||
		   ofp_enroll_code_key(code, holder_id, code_key, &ferr) != OFP_FMT_OK) {
		failed(cx, req->peer);
		respond_error(r, 400, "invalid_grant", "tx_code", "not an enrollment code: %s", ferr.reason);
	} else {
		holder_key_name(who, sizeof(who), holder_id);
		if (!may_try(cx, who)) {
			respond_limited(cx, r, "holder");
		} else if ((rc = ofp_issuer_code_check(cx->iss, holder_id, code_key, tag, NULL)) != OFP_ISSUER_OK) {
			failed(cx, req->peer);
			failed(cx, who);
			if (rc == OFP_ISSUER_REFUSED)
				respond_error(r, 400, "invalid_grant", "tx_code", "%s", ofp_issuer_error(cx->iss));
			else
				respond_error(r, 503, "server_error", NULL, "the issuer could not check the code");
		} else if (!token_new(cx, holder_id, tag, token)) {
			respond_error(r, 500, "server_error", NULL, "no access token (OpenSSL)");
		} else {
			r->no_store = true;
			snprintf(r->summary, sizeof(r->summary), "token for holder %.16s", t.code);
			respond_json(r, 200, json_pack("{s:s, s:s, s:I}", "access_token", token, "token_type", "Bearer",
						       "expires_in", (json_int_t)cx->api->cfg.token_lifetime));
		}
	}
	secmem_wipe(code, sizeof(code));
	secmem_wipe(code_key, sizeof(code_key));
	secmem_wipe(&t, sizeof(t));
}

/* ---- the credential endpoint ---------------------------------------------------------------- */

static bool media_type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	return ct != NULL && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The proof's claims beyond its signature: audience, time, nonce. */
static bool proof_claims(call_t *cx, const ofp_proof_t *p, ofp_api_response_t *r)
{
	const char *why;
	int64_t now = cx->now;

	if (strcmp(p->aud, cx->api->issuer_url) != 0) {
		respond_error(r, 400, "invalid_proof", "proof.payload.aud", "must be \"%s\"", cx->api->issuer_url);
		return false;
	}
	if (p->iat < now - (int64_t)cx->api->cfg.proof_skew || p->iat > now + (int64_t)cx->api->cfg.proof_skew) {
		respond_error(r, 400, "invalid_proof", "proof.payload.iat", "more than %" PRIu32 " s from the issuer's clock",
			      cx->api->cfg.proof_skew);
		return false;
	}
	if (nonce_use(cx, p->nonce, &why) != 0) {
		respond_error(r, 400, "invalid_nonce", "proof.payload.nonce", "%s", why);
		return false;
	}
	return true;
}

static void respond_credential(ofp_api_response_t *r, const uint8_t *cred, size_t len, const ofp_credential_t *c,
			       const char *what)
{
	char text[B64URL_LEN(OFP_CREDENTIAL_MAX) + 1];

	b64url_encode(cred, len, text);
	r->no_store = true;
	snprintf(r->summary, sizeof(r->summary), "%s serial %" PRIu64 " until %" PRIu32, what, c->serial, c->not_after);
	respond_json(r, 200,
		     json_pack("{s:[{s:s}], s:I, s:I, s:I}", "credentials", "credential", text, "offpass_serial",
			       (json_int_t)c->serial, "offpass_not_before", (json_int_t)c->not_before,
			       "offpass_not_after", (json_int_t)c->not_after));
}

static void issuer_refusal(ofp_api_response_t *r, ofp_issuer_rc_t rc, const char *why)
{
	if (rc == OFP_ISSUER_REFUSED)
		respond_error(r, 400, "credential_request_denied", NULL, "%s", why);
	else
		respond_error(r, 503, "server_error", NULL, "the issuer could not complete the request");
}

/* ---- grouped commits: the ledger part of a refresh or an enrollment as a unit ---- */

typedef struct issue_unit {
	const ofp_credential_request_t *shown; /* refresh: the credential shown */
	bool bad_credential;		       /* refresh: the unit refused the one shown */
	const uint8_t *holder_id, *tag;	       /* enrollment: the access token's */
	const ofp_proof_t *proof;	       /* enrollment: the key */
	uint8_t out[OFP_CREDENTIAL_MAX];
	size_t out_len;
	ofp_credential_t cred;
} issue_unit_t;

/* The credential shown is checked in the group's transaction, on the
 * committer's ledger connection (which holds the write transaction
 * already: no read transaction of its own, as on a borrowed handle), then
 * the next one is issued. */
static ofp_issuer_rc_t refresh_unit(ofp_issuer_t *iss, void *arg)
{
	issue_unit_t *u = arg;
	ofp_credential_t cur;
	ofp_issue_opts_t opts;
	ofp_issuer_rc_t rc = ofp_issuer_check_credential(iss, u->shown->credential, u->shown->credential_len, &cur);

	u->bad_credential = rc == OFP_ISSUER_REFUSED;
	if (rc != OFP_ISSUER_OK)
		return rc;
	memset(&opts, 0, sizeof(opts));
	opts.in_transaction = true;
	return ofp_issuer_refresh_opts(iss, &cur, &opts, u->out, &u->out_len, &u->cred);
}

static ofp_issuer_rc_t enroll_unit(ofp_issuer_t *iss, void *arg)
{
	issue_unit_t *u = arg;

	return ofp_issuer_issue_online_in_tx(iss, u->holder_id, u->proof->alg, u->proof->key, u->proof->key_len,
					     u->tag, u->out, &u->out_len, &u->cred);
}

/* Queue the unit and wait for its group's commit: the credential goes
 * out only once the ledger holds it durably. A request that issues
 * through the committer borrows no handle. */
static void issue_grouped(call_t *cx, const ofp_api_request_t *req, issue_unit_t *iu, ofp_commit_fn fn,
			  const uint8_t holder_id[OFP_ID_LEN], ofp_api_response_t *r, const char *what)
{
	ofp_commit_unit_t *u = calloc(1, sizeof(*u));

	if (u == NULL) {
		respond_error(r, 503, "server_error", NULL, "out of memory");
		return;
	}
	u->fn = fn;
	u->arg = iu;
	u->now = cx->now;
	memcpy(u->order, holder_id, OFP_ID_LEN);
	if (ofp_committer_run(cx->api->committer, u) == OFP_ISSUER_OK) {
		respond_credential(r, iu->out, iu->out_len, &iu->cred, what);
	} else if (iu->bad_credential && u->rc == OFP_ISSUER_REFUSED) { /* not a group that failed after */
		failed(cx, req->peer);
		respond_error(r, 400, "invalid_credential_request", "offpass_credential", "%s", u->err);
	} else {
		issuer_refusal(r, u->rc, u->err);
	}
	free(u);
}

static void refresh_grouped(call_t *cx, const ofp_api_request_t *req, const ofp_credential_request_t *cr,
			    const ofp_credential_t *cur, ofp_api_response_t *r)
{
	issue_unit_t *iu = calloc(1, sizeof(*iu));

	if (iu == NULL) {
		respond_error(r, 503, "server_error", NULL, "out of memory");
		return;
	}
	iu->shown = cr;
	issue_grouped(cx, req, iu, refresh_unit, cur->holder_id, r, "refresh");
	free(iu);
}

static void enroll_grouped(call_t *cx, const ofp_api_request_t *req, const uint8_t holder_id[OFP_ID_LEN],
			   const uint8_t tag[OFP_CODE_TAG_LEN], const ofp_proof_t *p, ofp_api_response_t *r)
{
	issue_unit_t *iu = calloc(1, sizeof(*iu));

	if (iu == NULL) {
		respond_error(r, 503, "server_error", NULL, "out of memory");
		return;
	}
	iu->holder_id = holder_id;
	iu->tag = tag;
	iu->proof = p;
	issue_grouped(cx, req, iu, enroll_unit, holder_id, r, "enroll");
	free(iu);
}

/* The credential shown, for its holder and key: false (answered) when it
 * is refused. Without a committer the issuer checks it now, on the
 * borrowed handle; with one, in the issuing transaction (refresh_unit),
 * and here it is only decoded. */
static bool shown_credential(call_t *cx, const ofp_api_request_t *req, const ofp_credential_request_t *cr,
			     ofp_credential_t *cur, ofp_api_response_t *r)
{
	ofp_fmt_error_t ferr;
	ofp_issuer_rc_t rc;

	if (cx->api->committer != NULL) {
		if (ofp_credential_decode(cr->credential, cr->credential_len, cur, &ferr) == OFP_FMT_OK)
			return true;
		failed(cx, req->peer);
		respond_error(r, 400, "invalid_credential_request", "offpass_credential", "%s", ferr.reason);
		return false;
	}
	rc = ofp_issuer_check_credential(cx->iss, cr->credential, cr->credential_len, cur);
	if (rc == OFP_ISSUER_OK)
		return true;
	failed(cx, req->peer);
	if (rc == OFP_ISSUER_REFUSED)
		respond_error(r, 400, "invalid_credential_request", "offpass_credential", "%s", ofp_issuer_error(cx->iss));
	else
		issuer_refusal(r, rc, ofp_issuer_error(cx->iss));
	return false;
}

/* Refresh: the holder shows its current credential and proves, with the
 * proof JWT, that it holds the key the credential certifies. */
static void refresh(call_t *cx, const ofp_api_request_t *req, const ofp_credential_request_t *cr,
		    const ofp_proof_t *p, ofp_api_response_t *r)
{
	ofp_credential_t cur, next;
	uint8_t out[OFP_CREDENTIAL_MAX];
	size_t out_len = 0;
	char who[64];
	ofp_issuer_rc_t rc;

	if (!shown_credential(cx, req, cr, &cur, r))
		return;
	holder_key_name(who, sizeof(who), cur.holder_id);
	if (!may_try(cx, who)) {
		respond_limited(cx, r, "holder");
		return;
	}
	if (cur.holder_alg != p->alg || ofp_holder_key_len(cur.holder_alg) != p->key_len ||
	    memcmp(cur.holder_key, p->key, p->key_len) != 0) {
		failed(cx, req->peer);
		failed(cx, who);
		respond_error(r, 400, "invalid_proof", "proof.header.jwk", "not the key the credential certifies");
		return;
	}
	if (cx->api->committer != NULL) {
		refresh_grouped(cx, req, cr, &cur, r);
		return;
	}
	rc = ofp_issuer_refresh(cx->iss, &cur, out, &out_len, &next);
	if (rc != OFP_ISSUER_OK) {
		issuer_refusal(r, rc, ofp_issuer_error(cx->iss));
		return;
	}
	respond_credential(r, out, out_len, &next, "refresh");
}

/* Enrollment: the access token from /token says which holder proved its
 * code; the proof's key becomes the account's holder key. */
static void enroll(call_t *cx, const ofp_api_request_t *req, const ofp_proof_t *p, ofp_api_response_t *r)
{
	uint8_t holder_id[OFP_ID_LEN], tag[OFP_CODE_TAG_LEN], out[OFP_CREDENTIAL_MAX];
	size_t out_len = 0;
	ofp_credential_t c;
	const char *why;
	ofp_issuer_rc_t rc;

	if (token_check(cx, req->authorization, holder_id, tag, &why) != 0) {
		failed(cx, req->peer);
		respond_error(r, 401, "invalid_token", "Authorization", "%s", why);
		return;
	}
	if (cx->api->committer != NULL) {
		enroll_grouped(cx, req, holder_id, tag, p, r);
		return;
	}
	rc = ofp_issuer_issue_online(cx->iss, holder_id, p->alg, p->key, p->key_len, tag, out, &out_len, &c);
	if (rc != OFP_ISSUER_OK) {
		issuer_refusal(r, rc, ofp_issuer_error(cx->iss));
		return;
	}
	respond_credential(r, out, out_len, &c, "enroll");
}

/* A parsed proof: its signature and claims, then the refresh or the
 * enrollment it is for. */
static void proof_checked(call_t *cx, const ofp_api_request_t *req, const ofp_credential_request_t *cr,
			  const ofp_proof_t *p, ofp_api_response_t *r)
{
	if (!ofp_api_proof_verify(p)) {
		failed(cx, req->peer);
		respond_error(r, 400, "invalid_proof", "proof.signature", "does not verify with proof.header.jwk");
	} else if (proof_claims(cx, p, r)) {
		if (cr->has_credential)
			refresh(cx, req, cr, p, r);
		else if (req->authorization != NULL)
			enroll(cx, req, p, r);
		else
			respond_error(r, 401, "invalid_token", "Authorization",
				      "a Bearer access token from /token (enrollment) or offpass_credential (refresh)");
	}
}

static void credential_endpoint(call_t *cx, const ofp_api_request_t *req, ofp_api_response_t *r)
{
	ofp_credential_request_t *cr;
	ofp_proof_t p;
	ofp_api_fault_t f;

	if (!media_type_is(req->content_type, "application/json")) {
		respond_error(r, 415, "invalid_credential_request", "Content-Type", "must be application/json");
		return;
	}
	cr = malloc(sizeof(*cr));
	if (cr == NULL) {
		respond_error(r, 503, "server_error", NULL, "out of memory");
		return;
	}
	if (ofp_api_parse_credential_request(req->body, req->body_len, cr, &f) != 0) {
		respond_fault(r, strcmp(f.field, "credential_configuration_id") == 0 ? "unknown_credential_configuration"
										     : "invalid_credential_request",
			      &f);
	} else if (ofp_api_parse_proof(cr->proof_jwt, &p, &f) != 0) {
		failed(cx, req->peer);
		respond_fault(r, "invalid_proof", &f);
	} else {
		proof_checked(cx, req, cr, &p, r);
		ofp_api_proof_free(&p);
	}
	free(cr);
}

/* ---- gates ---------------------------------------------------------------------------------- */

typedef struct settle_unit {
	const ofp_api_request_t *req;
	ofp_settle_report_t rep;
} settle_unit_t;

static ofp_issuer_rc_t settle_unit(ofp_issuer_t *iss, void *arg)
{
	settle_unit_t *u = arg;

	memset(&u->rep, 0, sizeof(u->rep));
	return ofp_issuer_settle(iss, u->req->body, u->req->body_len, NULL, NULL, &u->rep);
}

/* Settle on the committer's thread, between two groups (a settlement is
 * a transaction of its own): this process's writers never wait for each
 * other in SQLite's busy handler. Without a committer, on the borrowed
 * handle. why gets the refusal's reason. */
static ofp_issuer_rc_t settle(call_t *cx, const ofp_api_request_t *req, ofp_settle_report_t *rep, char *why,
			      size_t why_len)
{
	settle_unit_t su;
	ofp_commit_unit_t u;
	ofp_issuer_rc_t rc;

	memset(&su, 0, sizeof(su));
	su.req = req;
	if (cx->api->committer == NULL) {
		rc = settle_unit(cx->iss, &su);
		snprintf(why, why_len, "%s", rc != OFP_ISSUER_OK ? ofp_issuer_error(cx->iss) : "");
	} else {
		memset(&u, 0, sizeof(u));
		u.fn = settle_unit;
		u.arg = &su;
		u.now = cx->now;
		u.alone = true;
		call_return(cx);
		rc = ofp_committer_run(cx->api->committer, &u);
		snprintf(why, why_len, "%s", u.err);
	}
	*rep = su.rep;
	return rc;
}

static void batch_endpoint(call_t *cx, const ofp_api_request_t *req, ofp_api_response_t *r)
{
	ofp_settle_report_t rep;
	char vid[2 * OFP_ID_LEN + 1], why[OFP_COMMITTER_ERR_LEN];
	ofp_issuer_rc_t rc;
	const char *result;

	if (!media_type_is(req->content_type, "application/octet-stream")) {
		respond_error(r, 415, "invalid_request", "Content-Type", "must be application/octet-stream");
		return;
	}
	rc = settle(cx, req, &rep, why, sizeof(why));
	if (rc == OFP_ISSUER_REFUSED) {
		failed(cx, req->peer);
		respond_error(r, 422, "batch_refused", "body", "%s", why);
		return;
	}
	if (rc != OFP_ISSUER_OK) {
		r->retry_after = 30;
		respond_error(r, 503, "server_error", NULL, "the batch was not settled: send it again later");
		return;
	}
	hex_encode(rep.verifier_id, OFP_ID_LEN, vid);
	result = rep.already_settled ? "already_settled" : "settled";
	snprintf(r->summary, sizeof(r->summary), "%s gate %s batch %" PRIu64 ": %" PRIu32 " charged", result, vid,
		 rep.sequence, rep.charged);
	respond_json(r, 200,
		     json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "result", result,
			       "verifier_id", vid, "sequence", (json_int_t)rep.sequence, "records",
			       (json_int_t)rep.records, "refused", (json_int_t)rep.refused, "charged",
			       (json_int_t)rep.charged, "amount_charged", (json_int_t)rep.amount_charged, "rejected",
			       (json_int_t)rep.rejected, "double_uses", (json_int_t)rep.double_uses, "counter_reuses",
			       (json_int_t)rep.counter_reuses,
			       "unknown_holders", (json_int_t)rep.unknown_holders, "gaps", (json_int_t)rep.gaps,
			       "chain_breaks", (json_int_t)rep.chain_breaks));
}

/* True when If-None-Match names etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t n = strlen(etag);

	if (inm == NULL)
		return false;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		if (p[0] == '*' && (p[1] == '\0' || p[1] == ',' || p[1] == ' '))
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return false;
}

static void list_endpoint(call_t *cx, const ofp_api_request_t *req, bool trust, ofp_api_response_t *r)
{
	uint8_t *list = NULL, digest[OFP_HASH_LEN];
	size_t len = 0;
	char hex[25];
	ofp_issuer_rc_t rc = trust ? ofp_issuer_trust_list(cx->iss, &list, &len) : ofp_issuer_deny_list(cx->iss, &list, &len);

	if (rc != OFP_ISSUER_OK || !ofp_sha256(list, len, digest)) {
		free(list);
		respond_error(r, 503, "server_error", NULL, "the list is not available");
		return;
	}
	hex_encode(digest, 12, hex);
	snprintf(r->etag, sizeof(r->etag), "\"%s\"", hex);
	r->content_type = "application/octet-stream";
	if (etag_matches(req->if_none_match, r->etag)) {
		free(list);
		r->status = 304;
		snprintf(r->summary, sizeof(r->summary), "%s list not modified", trust ? "trust" : "deny");
		return;
	}
	r->status = 200;
	r->body = (char *)list;
	r->body_len = len;
	snprintf(r->summary, sizeof(r->summary), "%s list %zu bytes", trust ? "trust" : "deny", len);
}

/* ---- routing -------------------------------------------------------------------------------- */

typedef enum route_kind { R_ISSUER_META, R_AS_META, R_TOKEN, R_NONCE, R_CREDENTIAL, R_BATCH, R_TRUST, R_DENY } route_kind_t;

typedef struct route {
	const char *path;
	const char *method;
	route_kind_t kind;
} route_t;

static const route_t routes[] = {
	{ "/.well-known/openid-credential-issuer", "GET", R_ISSUER_META },
	{ "/.well-known/oauth-authorization-server", "GET", R_AS_META },
	{ "/token", "POST", R_TOKEN },
	{ "/nonce", "POST", R_NONCE },
	{ "/credential", "POST", R_CREDENTIAL },
	{ "/gate/batch", "POST", R_BATCH },
	{ "/trust-list", "GET", R_TRUST },
	{ "/deny-list", "GET", R_DENY },
};

static const route_t *route_of(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return NULL;
}

size_t ofp_api_body_limit(const ofp_api_t *api, const char *method, const char *path)
{
	const route_t *rt = route_of(path);

	if (rt == NULL || strcmp(method, "POST") != 0 || strcmp(rt->method, "POST") != 0)
		return 0;
	return rt->kind == R_BATCH ? api->cfg.batch_max : OFP_API_JSON_MAX;
}

static void dispatch(call_t *cx, const route_t *rt, const ofp_api_request_t *req, ofp_api_response_t *r)
{
	switch (rt->kind) {
	case R_ISSUER_META: issuer_metadata(cx, r); break;
	case R_AS_META: as_metadata(cx, r); break;
	case R_TOKEN: token_endpoint(cx, req, r); break;
	case R_NONCE: nonce_endpoint(cx, r); break;
	case R_CREDENTIAL: credential_endpoint(cx, req, r); break;
	case R_BATCH: batch_endpoint(cx, req, r); break;
	case R_TRUST: list_endpoint(cx, req, true, r); break;
	case R_DENY: list_endpoint(cx, req, false, r); break;
	}
}

/* Routes that need an issuer handle (the ledger, the token): none of the
 * metadata and nonces, and credential requests only without a committer
 * (which has its own). */
static bool needs_handle(const ofp_api_t *api, route_kind_t kind)
{
	if (kind == R_CREDENTIAL)
		return api->committer == NULL;
	return kind != R_ISSUER_META && kind != R_AS_META && kind != R_NONCE;
}

void ofp_api_handle(ofp_api_t *api, const ofp_api_request_t *req, uint32_t now, ofp_api_response_t *r)
{
	const route_t *rt = route_of(req->path);
	call_t call = { api, NULL, now }, *cx = &call;

	memset(r, 0, sizeof(*r));
	if (rt == NULL) {
		respond_error(r, 404, "not_found", "path", "no such endpoint");
		return;
	}
	if (strcmp(req->method, rt->method) != 0 && !(strcmp(rt->method, "GET") == 0 && strcmp(req->method, "HEAD") == 0)) {
		respond_error(r, 405, "invalid_request", "method", "%s takes %s", rt->path, rt->method);
		return;
	}
	if (req->body_len > ofp_api_body_limit(api, req->method, req->path)) {
		respond_error(r, 413, "invalid_request", "body", "too long for %s", rt->path);
		return;
	}
	if ((rt->kind == R_TOKEN || rt->kind == R_CREDENTIAL || rt->kind == R_BATCH) && !may_try(cx, req->peer)) {
		respond_limited(cx, r, "address");
		return;
	}
	if (needs_handle(api, rt->kind))
		call_borrow(cx);
	dispatch(cx, rt, req, r);
	call_return(cx);
}

void ofp_api_response_free(ofp_api_response_t *r)
{
	free(r->body);
	r->body = NULL;
}
