/* test-kit.c - software holder and gate for the issuer's tests. */
#include "config.h"
#include "issuer/test-kit.h"
#include "format/seal.h"
#include "format/sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/pem.h>

bool tk_holder_new(tk_holder_t *h, unsigned alg, const uint8_t holder_id[OFP_ID_LEN], EVP_PKEY *key)
{
	uint8_t raw[OFP_TRUST_KEY_MAX];
	size_t raw_len = 0;

	memset(h, 0, sizeof(*h));
	h->alg = alg;
	memcpy(h->holder_id, holder_id, OFP_ID_LEN);
	if (key != NULL)
		h->key = key;
	else
		h->key = alg == OFP_ALG_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
						: EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (h->key == NULL || !ofp_sig_public_raw(h->key, alg, raw, &raw_len))
		return false;
	if (alg == OFP_ALG_ED25519) {
		memcpy(h->holder_key, raw, raw_len);
		h->holder_key_len = raw_len;
		return true;
	}
	h->holder_key_len = OFP_P256_COMPRESSED_LEN;
	return ofp_p256_compress(raw, h->holder_key, NULL) == OFP_FMT_OK;
}

void tk_holder_free(tk_holder_t *h)
{
	EVP_PKEY_free(h->key);
	h->key = NULL;
}

bool tk_enrollment(const tk_holder_t *h, uint32_t t, uint8_t *out, size_t *len)
{
	ofp_enrollment_t e;
	uint8_t tbs[OFP_TBS_MAX], key[OFP_HASH_LEN];
	size_t tbs_len;

	memset(&e, 0, sizeof(e));
	e.holder_alg = (uint8_t)h->alg;
	memcpy(e.holder_id, h->holder_id, OFP_ID_LEN);
	memcpy(e.holder_key, h->holder_key, h->holder_key_len);
	e.time = t;
	if (h->has_code && (ofp_enroll_code_key(h->code, h->holder_id, key, NULL) != OFP_FMT_OK ||
			     ofp_enrollment_mac(&e, key, e.code_mac, NULL) != OFP_FMT_OK))
		return false;
	return ofp_enrollment_tbs(&e, tbs, sizeof(tbs), &tbs_len, NULL) == OFP_FMT_OK &&
	       ofp_sig_sign(h->key, h->alg, tbs, tbs_len, e.holder_sig) &&
	       ofp_enrollment_encode(&e, out, OFP_ENROLLMENT_MAX, len, NULL) == OFP_FMT_OK;
}

bool tk_presentation(const tk_holder_t *h, const uint8_t *cred, size_t cred_len, uint32_t t, uint32_t counter,
		     uint32_t amount, uint8_t *out, size_t *len)
{
	ofp_presentation_t p;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;

	memset(&p, 0, sizeof(p));
	if (ofp_credential_decode(cred, cred_len, &p.cred, NULL) != OFP_FMT_OK)
		return false;
	p.auth.time = t;
	p.auth.counter = counter;
	p.auth.amount = amount;
	return ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &tbs_len, NULL) == OFP_FMT_OK &&
	       ofp_sig_sign(h->key, h->alg, tbs, tbs_len, p.auth.holder_sig) &&
	       ofp_presentation_encode(&p, out, OFP_PRESENTATION_MAX, len, NULL) == OFP_FMT_OK;
}

bool tk_gate_new(tk_gate_t *g, const uint8_t id[OFP_ID_LEN], EVP_PKEY *key)
{
	size_t len = 0;

	memset(g, 0, sizeof(*g));
	memcpy(g->id, id, OFP_ID_LEN);
	g->key = key != NULL ? key : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return g->key != NULL && ofp_sig_public_raw(g->key, OFP_ALG_P256, g->pub, &len) &&
	       len == OFP_P256_UNCOMPRESSED_LEN && ofp_key_id(OFP_ALG_P256, g->pub, len, g->kid, NULL) == OFP_FMT_OK;
}

void tk_gate_free(tk_gate_t *g)
{
	EVP_PKEY_free(g->key);
	free(g->records);
	memset(g, 0, sizeof(*g));
}

bool tk_gate_record(tk_gate_t *g, bool operate, uint8_t reason, uint32_t t, const uint8_t *pres, size_t pres_len)
{
	ofp_journal_record_t r;
	uint8_t enc[OFP_JOURNAL_RECORD_MAX];
	size_t len;
	uint8_t *grown;

	memset(&r, 0, sizeof(r));
	r.decision = operate ? OFP_DECISION_OPERATE : OFP_DECISION_REFUSE;
	r.reason = operate ? OFP_REASON_OK : reason;
	r.time = t;
	memcpy(r.verifier_id, g->id, OFP_ID_LEN);
	memcpy(r.prev_hash, g->prev, OFP_HASH_LEN);
	if (!operate && reason == OFP_REASON_MALFORMED) {
		/* Not a presentation: its bytes only, every copy zero. */
		r.presentation_len = (uint16_t)(pres_len < OFP_PRESENTATION_MAX ? pres_len : OFP_PRESENTATION_MAX);
		memcpy(r.presentation, pres, r.presentation_len);
	} else if (ofp_journal_record_set_presentation(&r, pres, pres_len, NULL) != OFP_FMT_OK) {
		return false;
	}
	if (ofp_journal_record_encode(&r, enc, sizeof(enc), &len, NULL) != OFP_FMT_OK)
		return false;
	grown = realloc(g->records, g->records_len + len);
	if (grown == NULL)
		return false;
	g->records = grown;
	memcpy(g->records + g->records_len, enc, len);
	g->records_len += len;
	if (g->count == 0 || t < g->period_start)
		g->period_start = t;
	if (g->count == 0 || t > g->period_end)
		g->period_end = t;
	g->count++;
	return ofp_sha256(enc, len, g->prev);
}

bool tk_gate_seal(tk_gate_t *g, uint64_t sequence, const uint8_t sealing_pub[OFP_P256_UNCOMPRESSED_LEN], uint32_t now,
		  uint8_t **out, size_t *len)
{
	ofp_batch_t b = { .count = g->count, .records = g->records, .records_len = g->records_len };
	ofp_sealed_batch_t env;
	size_t cap = 5 + g->records_len, blen;
	uint8_t *batch = malloc(cap);
	bool ok;

	memset(&env, 0, sizeof(env));
	memcpy(env.verifier_id, g->id, OFP_ID_LEN);
	memcpy(env.verifier_kid, g->kid, OFP_KEY_ID_LEN);
	env.sequence = sequence != 0 ? sequence : g->sequence + 1;
	env.period_start = g->count != 0 ? g->period_start : now;
	env.period_end = g->count != 0 ? g->period_end : now;
	env.record_count = g->count;
	ok = batch != NULL && ofp_key_id(OFP_ALG_P256, sealing_pub, OFP_P256_UNCOMPRESSED_LEN, env.sealing_kid, NULL) ==
				      OFP_FMT_OK;
	ok = ok && ofp_batch_encode(&b, batch, cap, &blen, NULL) == OFP_FMT_OK &&
	     ofp_seal(&env, batch, blen, sealing_pub, g->key, OFP_ALG_P256, out, len, NULL) == 0;
	free(batch);
	if (ok) {
		g->sequence = env.sequence;
		free(g->records);
		g->records = NULL;
		g->records_len = 0;
		g->count = 0;
	}
	return ok;
}

bool tk_trust_sealing_key(const uint8_t *list, size_t len, uint8_t pub[OFP_P256_UNCOMPRESSED_LEN])
{
	ofp_trust_list_t t;

	if (ofp_trust_list_decode(list, len, &t, NULL) != OFP_FMT_OK)
		return false;
	for (size_t i = 0; i < t.count; i++) {
		if (t.entries[i].usage == OFP_USAGE_SEALING) {
			memcpy(pub, t.entries[i].key, OFP_P256_UNCOMPRESSED_LEN);
			return true;
		}
	}
	return false;
}

bool tk_key_write(EVP_PKEY *key, const char *path)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (f == NULL)
		return false;
	(void)chmod(path, 0600);
	ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
	return fclose(f) == 0 && ok;
}

EVP_PKEY *tk_key_read(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *key;

	if (f == NULL)
		return NULL;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return key;
}
