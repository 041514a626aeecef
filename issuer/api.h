/* api.h - the issuer's HTTP API without HTTP: offpass-issuerd hands each
 * request (method, path, a few headers, the body) to ofp_api_handle and
 * sends back the response it fills. The Check suites and the fuzz target
 * drive the same functions with no socket.
 *
 * The endpoints follow OpenID for Verifiable Credential Issuance 1.0, the
 * pre-authorized code flow (docs/ISSUER.md lists each deviation):
 *
 *   GET  /.well-known/openid-credential-issuer   credential issuer metadata
 *   GET  /.well-known/oauth-authorization-server  token endpoint metadata
 *   POST /token        pre-authorized_code -> access token
 *   POST /nonce        a fresh c_nonce
 *   POST /credential   proof JWT (+ access token, or + current credential
 *                      for a refresh) -> offpass credential, base64url
 *   POST /gate/batch   a sealed batch -> settled / already settled / refused
 *   GET  /trust-list, /deny-list   signed lists, with ETag / If-None-Match
 *
 * Nonces and access tokens are stateless (MAC'ed with a key every issuerd
 * of one issuer shares, <dir>/issuerd.key), so several processes serve one
 * ledger; a nonce is also single-use within one process. */
#ifndef OFFPASS_ISSUER_API_H
#define OFFPASS_ISSUER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "compiler.h"
#include "issuer/issuer.h"

#define OFP_API_KEY_LEN 32
#define OFP_API_KEY_FILE "issuerd.key"
/* The format identifier of offpass credentials on the API. */
#define OFP_API_FORMAT "offpass_credential_v1"
#define OFP_API_CONFIGURATION_ID "offpass"
#define OFP_API_PROOF_TYP "openid4vci-proof+jwt"

/* Largest bodies accepted: JSON and form requests; a sealed batch. */
#define OFP_API_JSON_MAX 8192u
#define OFP_API_BATCH_MAX_DEFAULT (8u * 1024u * 1024u)

typedef struct ofp_api_config {
	const char *issuer_url; /* the Credential Issuer Identifier (https://host[:port]) */
	uint32_t nonce_lifetime;  /* seconds a c_nonce is good for */
	uint32_t token_lifetime;  /* seconds an access token is good for */
	uint32_t proof_skew;	  /* how far a proof's iat may be from the clock */
	uint32_t attempt_window;  /* seconds over which failures are counted */
	uint32_t max_failures;	  /* failures per address (and per account) in a window */
	size_t batch_max;	  /* largest sealed batch body */
} ofp_api_config_t;

void ofp_api_config_defaults(ofp_api_config_t *cfg);

typedef struct ofp_api_request {
	const char *method;
	const char *path; /* without the query string */
	const char *peer; /* the client's address as text, for limits and logs */
	const char *content_type;  /* may be NULL */
	const char *authorization; /* may be NULL */
	const char *if_none_match; /* may be NULL */
	const uint8_t *body;
	size_t body_len;
} ofp_api_request_t;

typedef struct ofp_api_response {
	unsigned status;
	char *body; /* malloc'ed */
	size_t body_len;
	const char *content_type;
	char etag[48];	    /* "" or a quoted ETag */
	bool no_store;	    /* Cache-Control: no-store */
	uint32_t retry_after; /* seconds, 0: none */
	char summary[192];  /* for the log line: the outcome, never a secret */
} ofp_api_response_t;

typedef struct ofp_api ofp_api_t;
typedef struct ofp_committer ofp_committer_t;

/* Most issuer handles one API lends to requests answered in parallel. */
#define OFP_API_HANDLES_MAX 32

/* An API over an open issuer (which it does not own). key: the MAC key
 * shared by every issuerd of this issuer. */
int ofp_api_new(ofp_issuer_t *iss, const ofp_api_config_t *cfg, const uint8_t key[OFP_API_KEY_LEN],
		ofp_api_t **out, char *err, size_t err_len) OFP_WUR;
void ofp_api_free(ofp_api_t *api);
/* Threads: ofp_api_handle may be called from several threads at once.
 * Each request borrows one issuer handle for its ledger reads (and its
 * settlement), waiting while all are lent: add one more (opened and
 * unlocked on the same directory; not owned) per request to answer in
 * parallel. 0, or -1 past OFP_API_HANDLES_MAX. */
int ofp_api_add_handle(ofp_api_t *api, ofp_issuer_t *iss) OFP_WUR;
/* Issue (refresh, enrollment) through committer (issuer/committer.h):
 * the issuing transactions of concurrent requests are grouped in one
 * commit; each response waits for its group's commit. NULL (the
 * default): each issuance commits on its own on the borrowed handle. */
void ofp_api_set_committer(ofp_api_t *api, ofp_committer_t *committer);
/* Change the Credential Issuer Identifier (once the port is known):
 * 0, or -1 for an empty or too long URL, or one ending in '/'. */
int ofp_api_set_issuer_url(ofp_api_t *api, const char *url) OFP_WUR;
/* The largest body the route may carry (0: none): the HTTP layer refuses
 * a bigger upload (413) before reading it. */
size_t ofp_api_body_limit(const ofp_api_t *api, const char *method, const char *path);
/* Answer one request at the time now. Never fails: any error is a
 * response (4xx with a JSON error naming the field, 5xx). */
void ofp_api_handle(ofp_api_t *api, const ofp_api_request_t *req, uint32_t now, ofp_api_response_t *resp);
void ofp_api_response_free(ofp_api_response_t *resp);

/* Read <dir>/issuerd.key, creating it (random, 0600) when absent; two
 * processes starting at once end up with the same key. 0 or -errno. */
int ofp_api_load_key(const char *dir, uint8_t key[OFP_API_KEY_LEN]) OFP_WUR;

/* ---- the request parsers (api_parse.c), fuzzed on their own ---------------------- */

#define OFP_API_FIELD_MAX 64
#define OFP_API_WHY_MAX 160
#define OFP_API_CODE_MAX 128
#define OFP_API_PROOF_MAX 2048

/* Where a request is wrong: the field (e.g. "proofs.jwt[0].header.alg")
 * and why, for the 400 response. */
typedef struct ofp_api_fault {
	char field[OFP_API_FIELD_MAX];
	char why[OFP_API_WHY_MAX];
} ofp_api_fault_t;

typedef struct ofp_token_request {
	char grant_type[80];
	char code[OFP_API_CODE_MAX + 1];    /* pre-authorized_code: the holder id */
	char tx_code[OFP_API_CODE_MAX + 1]; /* the enrollment code (a secret: wipe) */
} ofp_token_request_t;

/* application/x-www-form-urlencoded: grant_type, pre-authorized_code and
 * tx_code required, each once; other names ignored (OAuth 2.0 section
 * 3.2). */
int ofp_api_parse_token_request(const uint8_t *body, size_t len, ofp_token_request_t *out,
				ofp_api_fault_t *fault) OFP_WUR;

typedef struct ofp_credential_request {
	char proof_jwt[OFP_API_PROOF_MAX + 1];
	uint8_t credential[OFP_CREDENTIAL_MAX]; /* offpass_credential, for a refresh */
	size_t credential_len;
	bool has_credential;
} ofp_credential_request_t;

/* The JSON credential request: credential_configuration_id "offpass",
 * proofs.jwt an array of exactly one string, optional offpass_credential
 * (base64url). */
int ofp_api_parse_credential_request(const uint8_t *body, size_t len, ofp_credential_request_t *out,
				     ofp_api_fault_t *fault) OFP_WUR;

typedef struct ofp_proof {
	unsigned alg; /* OFP_ALG_P256 (ES256) or OFP_ALG_ED25519 (EdDSA) */
	uint8_t key[OFP_HOLDER_KEY_MAX]; /* the header's jwk in credential form */
	size_t key_len;
	char aud[256];
	int64_t iat;
	char nonce[128];
	const char *signing_input; /* into the caller's JWT string */
	size_t signing_input_len;
	uint8_t sig[OFP_SIG_LEN];
	EVP_PKEY *pkey; /* the jwk, parsed: ofp_api_proof_free */
} ofp_proof_t;

/* Parse a compact JWS proof (OpenID4VCI 1.0 appendix F.1): header typ
 * "openid4vci-proof+jwt", alg ES256 or EdDSA, a jwk (EC P-256 or OKP
 * Ed25519, a valid public key) and no kid, x5c, trust_chain or crit;
 * payload aud, iat, nonce. The signature is not checked here
 * (ofp_api_proof_verify). On success the caller frees the parsed key with
 * ofp_api_proof_free; on failure nothing is held. */
int ofp_api_parse_proof(const char *jwt, ofp_proof_t *out, ofp_api_fault_t *fault) OFP_WUR;
/* True when the proof's signature verifies with its key. */
bool ofp_api_proof_verify(const ofp_proof_t *p) OFP_WUR;
void ofp_api_proof_free(ofp_proof_t *p);

#endif
