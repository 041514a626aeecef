/* fuzz-batch.c - libFuzzer target for the batch decoder and its iterator:
 * the plaintext the issuer gets out of a sealed batch, up to 100 000
 * records that a gate wrote.
 *
 * Properties: no crash or out-of-bounds read, whatever the count claims;
 * a refusal carries its code and a reason; what decodes is canonical
 * (re-encoding gives the input back); the iterator yields exactly count
 * records that tile the record bytes, each one canonical on its own; and
 * ofp_batch_check, against an envelope made to fit, accepts the batch
 * exactly when every record has the first one's verifier and links to the
 * hash of the one before it (computed here independently), and then gives
 * the first prev_hash and the last record's hash. Built by
 * tests/fuzz/run.sh. */
#include "fuzz.h"

typedef struct walk {
	uint32_t n;
	uint32_t t_min, t_max;
	uint8_t verifier_id[OFP_ID_LEN];
	uint8_t first_prev[OFP_HASH_LEN];
	uint8_t last_hash[OFP_HASH_LEN];
	bool chained; /* one verifier, every prev_hash the hash of the record before */
} walk_t;

static void walk(const ofp_batch_t *b, walk_t *w)
{
	static ofp_journal_record_t r, again;
	static uint8_t out[OFP_JOURNAL_RECORD_MAX];
	ofp_batch_iter_t it;
	const uint8_t *raw, *expect = b->records;
	size_t raw_len, len;

	memset(w, 0, sizeof(*w));
	w->chained = true;
	ofp_batch_iter_init(&it, b);
	while (ofp_batch_next(&it, &r, &raw, &raw_len)) {
		FUZZ_ASSERT(raw == expect && raw_len >= OFP_JOURNAL_RECORD_MIN && raw_len <= OFP_JOURNAL_RECORD_MAX);
		expect += raw_len;
		FUZZ_ASSERT(ofp_journal_record_encode(&r, out, sizeof(out), &len, NULL) == OFP_FMT_OK);
		FUZZ_ASSERT(len == raw_len && memcmp(out, raw, len) == 0);
		FUZZ_ASSERT(ofp_journal_record_decode(raw, raw_len, &again, NULL) == OFP_FMT_OK);
		FUZZ_ASSERT(memcmp(&again, &r, sizeof(r)) == 0);
		if (w->n == 0) {
			memcpy(w->verifier_id, r.verifier_id, OFP_ID_LEN);
			memcpy(w->first_prev, r.prev_hash, OFP_HASH_LEN);
			w->t_min = w->t_max = r.time;
		} else if (memcmp(w->verifier_id, r.verifier_id, OFP_ID_LEN) != 0 ||
			   memcmp(w->last_hash, r.prev_hash, OFP_HASH_LEN) != 0) {
			w->chained = false;
		}
		w->t_min = r.time < w->t_min ? r.time : w->t_min;
		w->t_max = r.time > w->t_max ? r.time : w->t_max;
		FUZZ_ASSERT(ofp_sha256(raw, raw_len, w->last_hash));
		w->n++;
	}
	FUZZ_ASSERT(w->n == b->count);
	FUZZ_ASSERT(expect == b->records + b->records_len);
}

/* An envelope that fits the batch: its verifier, count, period and size. */
static void check_against_envelope(const ofp_batch_t *b, const walk_t *w, size_t size)
{
	uint8_t first_prev[OFP_HASH_LEN], last_hash[OFP_HASH_LEN];
	static const uint8_t zero[OFP_HASH_LEN];
	ofp_sealed_batch_t s;
	ofp_fmt_error_t err;
	ofp_fmt_rc_t rc;

	memset(&s, 0, sizeof(s));
	memcpy(s.verifier_id, w->verifier_id, OFP_ID_LEN);
	s.sequence = 1;
	s.period_start = w->t_min;
	s.period_end = w->t_max;
	s.record_count = b->count;
	s.ciphertext_len = (uint32_t)size;
	memset(first_prev, 0xa5, sizeof(first_prev));
	memset(last_hash, 0xa5, sizeof(last_hash));
	memset(&err, 0, sizeof(err));
	rc = ofp_batch_check(&s, b, first_prev, last_hash, &err);
	if (!w->chained) {
		FUZZ_ASSERT(rc == OFP_FMT_EMISMATCH);
		fuzz_check_refusal(rc, &err);
		return;
	}
	FUZZ_ASSERT(rc == OFP_FMT_OK);
	FUZZ_ASSERT(memcmp(first_prev, w->n > 0 ? w->first_prev : zero, OFP_HASH_LEN) == 0);
	FUZZ_ASSERT(memcmp(last_hash, w->n > 0 ? w->last_hash : zero, OFP_HASH_LEN) == 0);
	/* One record more than the envelope says: refused. */
	s.record_count = b->count + 1;
	FUZZ_ASSERT(ofp_batch_check(&s, b, NULL, NULL, NULL) == OFP_FMT_EMISMATCH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ofp_fmt_error_t err;
	ofp_batch_t b;
	ofp_fmt_rc_t rc;
	uint8_t *out;
	walk_t w;
	size_t len;

	memset(&err, 0, sizeof(err));
	rc = ofp_batch_decode(data, size, &b, &err);
	if (rc != OFP_FMT_OK) {
		fuzz_check_refusal(rc, &err);
		return 0;
	}
	FUZZ_ASSERT(b.count <= OFP_BATCH_MAX_RECORDS && b.records == data + 5 && b.records_len == size - 5);
	out = malloc(size);
	FUZZ_ASSERT(out != NULL);
	FUZZ_ASSERT(ofp_batch_encode(&b, out, size, &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == size && memcmp(out, data, size) == 0);
	free(out);
	walk(&b, &w);
	check_against_envelope(&b, &w, size);
	return 0;
}
