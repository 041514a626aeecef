/* bench-flow-kit.c - a software issuer and holders for the gate figures and
 * the sizes: OpenSSL keys, every artifact made by the wire format
 * (format/format.h) and signed with format/sig.h, as the real issuer
 * and holder make them. */
#include "config.h"
#include "bench/bench-flow.h"
#include "format/sig.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DAY 86400u

static int fail(const char *what, const ofp_fmt_error_t *err)
{
	fprintf(stderr, "bench-flow: %s%s%s\n", what, err != NULL ? ": " : "", err != NULL ? err->reason : "");
	return -1;
}

static int trust_entry(ofp_trust_entry_t *e, EVP_PKEY *key, unsigned usage)
{
	size_t len = 0;

	memset(e, 0, sizeof(*e));
	e->alg = OFP_ALG_P256;
	e->usage = (uint8_t)usage;
	e->not_before = FLOW_NOW - DAY;
	e->not_after = FLOW_NOW + 365 * DAY;
	if (!ofp_sig_public_raw(key, OFP_ALG_P256, e->key, &len) ||
	    ofp_key_id(OFP_ALG_P256, e->key, len, e->kid, NULL) != OFP_FMT_OK)
		return fail("trust list key", NULL);
	return 0;
}

int flow_issuer_new(flow_issuer_t *iss)
{
	ofp_trust_list_t t;
	ofp_fmt_error_t err;
	uint8_t tbs[OFP_TRUST_LIST_MAX];
	size_t tbs_len;

	memset(iss, 0, sizeof(*iss));
	iss->sign = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	iss->seal = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (iss->sign == NULL || iss->seal == NULL)
		return fail("issuer keys", NULL);
	memset(&t, 0, sizeof(t));
	t.version = 1;
	t.issued_at = FLOW_NOW - 60;
	t.count = 2;
	if (trust_entry(&t.entries[0], iss->sign, OFP_USAGE_CREDENTIAL_SIGNING) != 0 ||
	    trust_entry(&t.entries[1], iss->seal, OFP_USAGE_SEALING) != 0)
		return -1;
	memcpy(iss->sign_kid, t.entries[0].kid, OFP_KEY_ID_LEN);
	memcpy(t.signer_kid, iss->sign_kid, OFP_KEY_ID_LEN);
	ofp_trust_list_sort(&t);
	if (ofp_trust_list_tbs(&t, tbs, sizeof(tbs), &tbs_len, &err) != OFP_FMT_OK)
		return fail("trust list", &err);
	if (!ofp_sig_sign(iss->sign, OFP_ALG_P256, tbs, tbs_len, t.issuer_sig))
		return fail("trust list signature", NULL);
	if (ofp_trust_list_encode(&t, iss->trust, sizeof(iss->trust), &iss->trust_len, &err) != OFP_FMT_OK)
		return fail("trust list", &err);
	return 0;
}

void flow_issuer_free(flow_issuer_t *iss)
{
	EVP_PKEY_free(iss->sign);
	EVP_PKEY_free(iss->seal);
	memset(iss, 0, sizeof(*iss));
}

int flow_credential(const flow_issuer_t *iss, const tk_holder_t *h, uint64_t serial, uint64_t holder_id,
		    ofp_credential_t *c)
{
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	ofp_fmt_error_t err;

	memset(c, 0, sizeof(*c));
	c->holder_alg = (uint8_t)h->alg;
	memcpy(c->issuer_kid, iss->sign_kid, OFP_KEY_ID_LEN);
	c->serial = serial;
	for (int i = 0; i < OFP_ID_LEN; i++)
		c->holder_id[i] = (uint8_t)(holder_id >> (8 * (OFP_ID_LEN - 1 - i)));
	memcpy(c->holder_key, h->holder_key, h->holder_key_len);
	c->not_before = FLOW_NOW - DAY;
	c->not_after = FLOW_NOW + 30 * DAY;
	c->grant.resource_class = 1;
	c->grant.per_op_max = 1000;
	c->grant.offline_total = 4000000000u;
	if (ofp_credential_tbs(c, tbs, sizeof(tbs), &tbs_len, &err) != OFP_FMT_OK)
		return fail("credential", &err);
	return ofp_sig_sign(iss->sign, OFP_ALG_P256, tbs, tbs_len, c->issuer_sig) ? 0
										   : fail("credential signature", NULL);
}

int flow_present(const ofp_credential_t *c, const tk_holder_t *h, uint32_t counter, const uint8_t *challenge,
		 size_t challenge_len, uint8_t *out, size_t *len)
{
	ofp_presentation_t p;
	uint8_t tbs[OFP_TBS_MAX];
	size_t tbs_len;
	ofp_fmt_error_t err;

	if (challenge_len > OFP_CHALLENGE_MAX)
		return fail("challenge too long", NULL);
	memset(&p, 0, sizeof(p));
	p.cred = *c;
	p.auth.time = FLOW_NOW;
	p.auth.counter = counter;
	p.auth.amount = FLOW_AMOUNT;
	p.auth.challenge_len = (uint8_t)challenge_len;
	if (challenge_len > 0)
		memcpy(p.auth.challenge, challenge, challenge_len);
	if (ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &tbs_len, &err) != OFP_FMT_OK)
		return fail("authorization", &err);
	if (!ofp_sig_sign(h->key, h->alg, tbs, tbs_len, p.auth.holder_sig))
		return fail("authorization signature", NULL);
	if (ofp_presentation_encode(&p, out, OFP_PRESENTATION_MAX, len, &err) != OFP_FMT_OK)
		return fail("presentation", &err);
	return 0;
}

int flow_mkdtemp(const char *parent, const char *prefix, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s.XXXXXX", parent, prefix);

	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "bench-flow: %s: path too long\n", parent);
		return -1;
	}
	if (mkdtemp(out) == NULL) {
		perror(out);
		return -1;
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		perror(path);
	return 0;
}

void flow_rmtree(const char *dir)
{
	if (dir != NULL && dir[0] != '\0')
		(void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
