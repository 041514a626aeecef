/* settle_verify.c - settlement's verify phase: every operate record of a
 * batch re-checked with no ledger and no token (the holder's signature, the
 * credential's issuer signature once per distinct credential through the
 * handle's cache, the record against the presentation, validity,
 * freshness, the per-operation maximum), the records shared out in blocks
 * to a few threads. Each verdict is a pure function of the record, the
 * issuer's keys and the configuration: which thread made it, and whether
 * the cache had it, changes nothing (issuer/test-settle.c checks). */
#include "config.h"
#include "issuer/settle_int.h"
#include "format/sig.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Records a thread takes at a time: small enough that both threads finish
 * together, large enough that taking them costs nothing. */
#define BLOCK 32u

typedef struct span {
	const uint8_t *p;
	size_t len;
} span_t;

typedef struct vjob {
	const ofp_issuer_config_t *cfg;
	iss_cred_cache_t *cache; /* may be NULL */
	const ofp_ledger_key_t *keys;
	EVP_PKEY **pkeys; /* credential-signing keys parsed, others NULL */
	size_t n_keys;
	const span_t *spans;
	settle_rec_t *recs;
	size_t n;
	atomic_size_t next;
	atomic_bool broken; /* a record did not decode */
} vjob_t;

/* The ledger's signing key with this key id, parsed; NULL when the
 * issuer has none (never had, or removed). */
static EVP_PKEY *issuer_key(const vjob_t *j, const uint8_t kid[OFP_KEY_ID_LEN], const ofp_ledger_key_t **lk)
{
	for (size_t i = 0; i < j->n_keys; i++) {
		if (j->pkeys[i] != NULL && memcmp(j->keys[i].kid, kid, OFP_KEY_ID_LEN) == 0) {
			*lk = &j->keys[i];
			return j->pkeys[i];
		}
	}
	return NULL;
}

/* The holder key of a credential whose issuer signature verifies (the
 * cache's verdict, or checked now and cached): a reference the caller
 * frees; NULL with *why otherwise. */
static EVP_PKEY *verified_holder_key(const vjob_t *j, const ofp_credential_t *cred, const char **why)
{
	uint8_t digest[OFP_HASH_LEN], tbs[OFP_TBS_MAX];
	size_t tbs_len;
	const ofp_ledger_key_t *lk = NULL;
	EVP_PKEY *ik = issuer_key(j, cred->issuer_kid, &lk), *hk = NULL;
	bool reserved = false;

	*why = "the credential names a key id this issuer never had";
	if (ik == NULL)
		return NULL;
	if (j->cache != NULL && ofp_credential_digest(cred, digest, NULL) == OFP_FMT_OK) {
		hk = iss_cred_cache_get(j->cache, digest, lk->pub, lk->pub_len, &reserved);
		if (hk != NULL)
			return hk;
	}
	*why = "the credential's issuer signature does not verify";
	if (ofp_credential_tbs(cred, tbs, sizeof(tbs), &tbs_len, NULL) == OFP_FMT_OK &&
	    ofp_sig_verify(ik, lk->alg, tbs, tbs_len, cred->issuer_sig)) {
		*why = "the credential's holder key is not a valid key";
		hk = ofp_sig_public_key(cred->holder_alg, cred->holder_key, ofp_holder_key_len(cred->holder_alg));
	}
	if (reserved && hk != NULL)
		iss_cred_cache_fill(j->cache, digest, lk->pub, lk->pub_len, hk);
	else if (reserved)
		iss_cred_cache_release(j->cache, digest);
	return hk;
}

/* The record's copied fields must be the presentation's: the issuer
 * charges what the holder signed, not what the gate says. */
static const char *record_matches(const ofp_journal_record_t *r, const ofp_presentation_t *p)
{
	if (memcmp(r->holder_id, p->cred.holder_id, OFP_ID_LEN) != 0)
		return "the record's holder id is not the credential's";
	if (r->counter != p->auth.counter || r->amount != p->auth.amount)
		return "the record's counter or amount is not the authorization's";
	if (r->serial != p->cred.serial)
		return "the record's serial is not the credential's";
	return NULL;
}

/* What needs no gate state (6b): the credential was valid at the record's
 * time, a one-way authorization was fresh then, the amount is within the
 * grant. With the gates' skew and freshness (issuer.conf); a challenge
 * presentation's freshness is its challenge, which only the gate knew. */
static const char *recheck(const ofp_issuer_config_t *cfg, const ofp_journal_record_t *r, const ofp_presentation_t *p)
{
	uint64_t skew = cfg->gate_clock_skew, fresh = cfg->gate_freshness, t = r->time;

	if (t + skew < p->cred.not_before || t > (uint64_t)p->cred.not_after + skew)
		return "operated outside the credential's validity (not_before..not_after, with the gates' skew)";
	if (p->auth.challenge_len == 0 && (uint64_t)p->auth.time + fresh + skew < t)
		return "the one-way authorization was stale when operated (time + freshness + skew < record time)";
	if (p->auth.challenge_len == 0 && (uint64_t)p->auth.time > t + skew)
		return "the authorization is dated after the record time + skew";
	if (p->auth.amount > p->cred.grant.per_op_max)
		return "the amount is over the credential's per-operation maximum";
	return NULL;
}

/* NULL when the operate record r re-checks (out's charge filled), else
 * why not. */
static const char *verify_record(const vjob_t *j, const ofp_journal_record_t *r, settle_rec_t *out)
{
	ofp_presentation_t p;
	ofp_charge_t *c = &out->charge;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	EVP_PKEY *hk;
	const char *why = NULL;
	bool ok;

	if (ofp_presentation_decode(r->presentation, r->presentation_len, &p, NULL) != OFP_FMT_OK)
		return "the presentation does not decode";
	hk = verified_holder_key(j, &p.cred, &why);
	if (hk == NULL)
		return why;
	ok = ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &tbs_len, NULL) == OFP_FMT_OK &&
	     ofp_sig_verify(hk, p.cred.holder_alg, tbs, tbs_len, p.auth.holder_sig);
	EVP_PKEY_free(hk);
	if (!ok)
		return "the holder signature does not verify";
	why = record_matches(r, &p);
	if (why == NULL)
		why = recheck(j->cfg, r, &p);
	if (why == NULL && !ofp_sha256(tbs, tbs_len, c->auth_hash))
		why = "SHA-256 failed";
	if (why != NULL)
		return why;
	memcpy(c->holder_id, p.cred.holder_id, OFP_ID_LEN);
	c->counter = p.auth.counter;
	c->amount = p.auth.amount;
	c->serial = p.cred.serial;
	c->time = r->time;
	c->holder_key_len = ofp_holder_key_len(p.cred.holder_alg);
	memcpy(c->holder_key, p.cred.holder_key, c->holder_key_len);
	out->offline_total = p.cred.grant.offline_total;
	return NULL;
}

static void verify_one(vjob_t *j, size_t i)
{
	ofp_journal_record_t r;
	settle_rec_t *out = &j->recs[i];

	memset(out, 0, sizeof(*out));
	if (ofp_journal_record_decode(j->spans[i].p, j->spans[i].len, &r, NULL) != OFP_FMT_OK) {
		atomic_store(&j->broken, true);
		return;
	}
	out->decision = r.decision;
	out->time = r.time;
	out->counter = r.counter;
	out->amount = r.amount;
	memcpy(out->holder_id, r.holder_id, OFP_ID_LEN);
	if (r.decision == OFP_DECISION_OPERATE)
		out->why = verify_record(j, &r, out);
}

static void *worker(void *arg)
{
	vjob_t *j = arg;
	size_t from;

	while ((from = atomic_fetch_add(&j->next, BLOCK)) < j->n) {
		size_t to = from + BLOCK < j->n ? from + BLOCK : j->n;
		for (size_t i = from; i < to; i++)
			verify_one(j, i);
	}
	return NULL;
}

static unsigned thread_count(const ofp_issuer_t *iss, size_t records)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = iss->settle_threads != 0 ? iss->settle_threads : online > 0 ? (unsigned)online : 1;
	size_t blocks = (records + BLOCK - 1) / BLOCK;

	if (n > ISS_SETTLE_THREADS_MAX)
		n = ISS_SETTLE_THREADS_MAX;
	if (n > blocks)
		n = blocks > 0 ? (unsigned)blocks : 1;
	return n;
}

/* Run the job on n threads, this one included; a thread that cannot be
 * started leaves its share to the others. */
static void run(vjob_t *j, unsigned n)
{
	pthread_t tid[ISS_SETTLE_THREADS_MAX];
	unsigned started = 0;

	for (unsigned i = 1; i < n; i++)
		if (pthread_create(&tid[started], NULL, worker, j) == 0)
			started++;
	worker(j);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
}

ofp_issuer_rc_t iss_settle_verify(ofp_issuer_t *iss, const ofp_ledger_key_t *keys, size_t n_keys, const ofp_batch_t *b,
				  settle_rec_t *recs)
{
	vjob_t j;
	ofp_batch_iter_t it;
	ofp_journal_record_t r;
	span_t *spans = calloc(b->count + 1, sizeof(*spans));
	EVP_PKEY **pkeys = calloc(n_keys + 1, sizeof(*pkeys));
	size_t n = 0;
	ofp_issuer_rc_t rc = OFP_ISSUER_ERROR;

	if (spans == NULL || pkeys == NULL) {
		iss_fail(iss, OFP_ISSUER_ERROR, "out of memory");
		goto out;
	}
	/* Parsed here, once: the threads only read them. A key that does
	 * not parse verifies nothing (as a key the issuer never had). */
	for (size_t i = 0; i < n_keys; i++)
		if (keys[i].usage == OFP_USAGE_CREDENTIAL_SIGNING)
			pkeys[i] = ofp_sig_public_key(keys[i].alg, keys[i].pub, keys[i].pub_len);
	ofp_batch_iter_init(&it, b);
	while (n < b->count && ofp_batch_next(&it, &r, &spans[n].p, &spans[n].len))
		n++;
	if (n != b->count) {
		iss_fail(iss, OFP_ISSUER_ERROR, "settlement: %zu of %u records readable", n, b->count);
		goto out;
	}
	memset(&j, 0, sizeof(j));
	j.cfg = &iss->cfg;
	j.cache = iss->creds;
	j.keys = keys;
	j.pkeys = pkeys;
	j.n_keys = n_keys;
	j.spans = spans;
	j.recs = recs;
	j.n = n;
	atomic_init(&j.next, 0);
	atomic_init(&j.broken, false);
	run(&j, thread_count(iss, n));
	if (atomic_load(&j.broken))
		iss_fail(iss, OFP_ISSUER_ERROR, "settlement: a record of a checked batch does not decode");
	else
		rc = OFP_ISSUER_OK;
out:
	for (size_t i = 0; pkeys != NULL && i < n_keys; i++)
		EVP_PKEY_free(pkeys[i]);
	free(pkeys);
	free(spans);
	return rc;
}
