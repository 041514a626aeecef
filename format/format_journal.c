/* format_journal.c - what flows from the gate back to the issuer: journal
 * records, the batch of one period's records, and its sealed envelope.
 *
 * A record repeats holder id, counter, amount and serial beside the
 * presentation they come from, so that a journal can be read without
 * decoding presentations; the decoder insists that the copies agree. */
#include "config.h"
#include "format/format_internal.h"

#include <stdio.h>
#include <string.h>

/* Record length field: the bytes after it (decision .. presentation). */
#define RECORD_HEAD_LEN 3u  /* header byte, u16 length */
#define RECORD_FIXED_LEN 70u /* decision .. prev_hash */
#define BATCH_HEAD_LEN 5u   /* header byte, u32 count */

static const uint8_t zero_id[OFP_ID_LEN];

/* --- journal record --------------------------------------------------- */

const char *ofp_reason_name(unsigned reason)
{
	static const char *const names[] = {
		[OFP_REASON_OK] = "ok",
		[OFP_REASON_MALFORMED] = "malformed",
		[OFP_REASON_UNKNOWN_ISSUER] = "unknown issuer",
		[OFP_REASON_BAD_ISSUER_SIGNATURE] = "bad issuer signature",
		[OFP_REASON_NOT_YET_VALID] = "not yet valid",
		[OFP_REASON_EXPIRED] = "expired",
		[OFP_REASON_DENIED] = "denied",
		[OFP_REASON_BAD_HOLDER_SIGNATURE] = "bad holder signature",
		[OFP_REASON_STALE] = "stale time",
		[OFP_REASON_FUTURE] = "future time",
		[OFP_REASON_CHALLENGE] = "challenge mismatch",
		[OFP_REASON_REPLAY] = "replay",
		[OFP_REASON_OVER_OPERATION_MAX] = "over the per-operation maximum",
		[OFP_REASON_OVER_OFFLINE_TOTAL] = "over the offline total",
		[OFP_REASON_WRONG_RESOURCE] = "wrong resource class",
		[OFP_REASON_WRONG_AMOUNT] = "wrong amount",
		[OFP_REASON_CLOCK_BACK] = "gate clock went back",
		[OFP_REASON_REPLAY_FULL] = "replay memory full",
		[OFP_REASON_DENY_LIST_STALE] = "deny list too old",
	};

	return reason < OFP_ARRAY_LEN(names) ? names[reason] : "unknown";
}

/* The copied fields against the presentation they come from. */
static ofp_fmt_rc_t record_check_copies(const char *ctx, const ofp_journal_record_t *r, ofp_fmt_error_t *err)
{
	char pres_ctx[96];
	ofp_presentation_t p;
	ofp_fmt_rc_t rc;

	if (r->reason == OFP_REASON_MALFORMED) {
		/* Nothing is known of a malformed input: one encoding, zeros. */
		if (memcmp(r->holder_id, zero_id, OFP_ID_LEN) != 0 || r->counter != 0 || r->amount != 0 ||
		    r->serial != 0)
			return fmt_fail(err, OFP_FMT_ENONCANONICAL, ctx, "holder_id",
					"holder_id, counter, amount and serial must be 0 when malformed");
		return OFP_FMT_OK;
	}
	snprintf(pres_ctx, sizeof(pres_ctx), "%s.presentation", ctx);
	rc = fmt_presentation_decode(r->presentation, r->presentation_len, &p, pres_ctx, err);
	if (rc != OFP_FMT_OK)
		return rc;
	if (memcmp(r->holder_id, p.cred.holder_id, OFP_ID_LEN) != 0)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "holder_id", "differs from the presentation");
	if (r->counter != p.auth.counter)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "counter", "differs from the presentation");
	if (r->amount != p.auth.amount)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "amount", "differs from the presentation");
	if (r->serial != p.cred.serial)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "serial", "differs from the presentation");
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t record_check_decision(const char *ctx, const ofp_journal_record_t *r, ofp_fmt_error_t *err)
{
	if (r->decision != OFP_DECISION_OPERATE && r->decision != OFP_DECISION_REFUSE)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "decision", "unknown decision %u", r->decision);
	if (r->reason > OFP_REASON_LAST)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "reason", "unknown reason %u", r->reason);
	if ((r->decision == OFP_DECISION_OPERATE) != (r->reason == OFP_REASON_OK))
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "reason", "%s with decision %s", ofp_reason_name(r->reason),
				r->decision == OFP_DECISION_OPERATE ? "operate" : "refuse");
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t record_check(const char *ctx, const ofp_journal_record_t *r, ofp_fmt_error_t *err)
{
	ofp_fmt_rc_t rc = record_check_decision(ctx, r, err);

	if (rc != OFP_FMT_OK)
		return rc;
	if (r->presentation_len > OFP_PRESENTATION_MAX)
		return fmt_fail(err, OFP_FMT_ELIMIT, ctx, "presentation", "%u bytes, at most %u", r->presentation_len,
				OFP_PRESENTATION_MAX);
	return record_check_copies(ctx, r, err);
}

ofp_fmt_rc_t ofp_journal_record_encode(const ofp_journal_record_t *r, uint8_t *out, size_t cap, size_t *len,
				       ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = record_check("journal_record", r, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_u8(&w, fmt_header(OFP_TYPE_JOURNAL_RECORD));
	fmt_put_u16(&w, (uint16_t)(RECORD_FIXED_LEN + r->presentation_len));
	fmt_put_u8(&w, r->decision);
	fmt_put_u8(&w, r->reason);
	fmt_put_u32(&w, r->time);
	fmt_put_bytes(&w, r->verifier_id, OFP_ID_LEN);
	fmt_put_bytes(&w, r->holder_id, OFP_ID_LEN);
	fmt_put_u32(&w, r->counter);
	fmt_put_u32(&w, r->amount);
	fmt_put_u64(&w, r->serial);
	fmt_put_bytes(&w, r->prev_hash, OFP_HASH_LEN);
	fmt_put_bytes(&w, r->presentation, r->presentation_len);
	return fmt_writer_finish(&w, len, "journal_record", err);
}

/* Header and length of a record; the length as bytes after the field. */
static void record_get_head(fmt_reader_t *r, uint16_t *body_len)
{
	unsigned type;

	fmt_get_header(r, OFP_TYPE_JOURNAL_RECORD, 0, &type);
	if (!fmt_get_u16(r, "length", body_len))
		return;
	if (*body_len < RECORD_FIXED_LEN)
		fmt_reader_fail(r, OFP_FMT_EVALUE, "length", "%u, at least %u", *body_len, RECORD_FIXED_LEN);
	else if (*body_len > RECORD_FIXED_LEN + OFP_PRESENTATION_MAX)
		fmt_reader_fail(r, OFP_FMT_ELIMIT, "length", "%u, at most %u", *body_len,
				RECORD_FIXED_LEN + OFP_PRESENTATION_MAX);
}

ofp_fmt_rc_t fmt_journal_record_decode(const uint8_t *in, size_t len, ofp_journal_record_t *rec, const char *ctx,
				       ofp_fmt_error_t *err)
{
	uint16_t body_len = 0;
	fmt_reader_t r;

	memset(rec, 0, sizeof(*rec));
	fmt_reader_init(&r, in, len, ctx, err);
	record_get_head(&r, &body_len);
	fmt_get_u8(&r, "decision", &rec->decision);
	fmt_get_u8(&r, "reason", &rec->reason);
	FMT_CHECK(&r, record_check_decision(ctx, rec, err));
	fmt_get_u32(&r, "time", &rec->time);
	fmt_get_bytes(&r, "verifier_id", rec->verifier_id, OFP_ID_LEN);
	fmt_get_bytes(&r, "holder_id", rec->holder_id, OFP_ID_LEN);
	fmt_get_u32(&r, "counter", &rec->counter);
	fmt_get_u32(&r, "amount", &rec->amount);
	fmt_get_u64(&r, "serial", &rec->serial);
	fmt_get_bytes(&r, "prev_hash", rec->prev_hash, OFP_HASH_LEN);
	if (r.rc == OFP_FMT_OK)
		rec->presentation_len = (uint16_t)(body_len - RECORD_FIXED_LEN);
	fmt_get_bytes(&r, "presentation", rec->presentation, rec->presentation_len);
	fmt_end(&r);
	FMT_CHECK(&r, record_check_copies(ctx, rec, err));
	if (r.rc != OFP_FMT_OK)
		memset(rec, 0, sizeof(*rec));
	return r.rc;
}

ofp_fmt_rc_t ofp_journal_record_decode(const uint8_t *in, size_t len, ofp_journal_record_t *r,
				       ofp_fmt_error_t *err)
{
	return fmt_journal_record_decode(in, len, r, "journal_record", err);
}

static ofp_fmt_rc_t record_peek_len(const uint8_t *in, size_t len, size_t *record_len, const char *ctx,
				    ofp_fmt_error_t *err)
{
	uint16_t body_len = 0;
	fmt_reader_t r;

	fmt_reader_init(&r, in, len, ctx, err);
	record_get_head(&r, &body_len);
	*record_len = r.rc == OFP_FMT_OK ? RECORD_HEAD_LEN + body_len : 0;
	return r.rc;
}

ofp_fmt_rc_t ofp_journal_record_peek_len(const uint8_t *in, size_t len, size_t *record_len, ofp_fmt_error_t *err)
{
	return record_peek_len(in, len, record_len, "journal_record", err);
}

ofp_fmt_rc_t ofp_journal_record_set_presentation(ofp_journal_record_t *r, const uint8_t *pres, size_t pres_len,
						 ofp_fmt_error_t *err)
{
	ofp_presentation_t p;
	ofp_fmt_rc_t rc;

	memset(r->holder_id, 0, OFP_ID_LEN);
	r->counter = r->amount = 0;
	r->serial = 0;
	r->presentation_len = (uint16_t)(pres_len < OFP_PRESENTATION_MAX ? pres_len : OFP_PRESENTATION_MAX);
	if (r->presentation_len > 0)
		memcpy(r->presentation, pres, r->presentation_len);
	rc = ofp_presentation_decode(pres, pres_len, &p, err);
	if (rc != OFP_FMT_OK)
		return rc;
	memcpy(r->holder_id, p.cred.holder_id, OFP_ID_LEN);
	r->counter = p.auth.counter;
	r->amount = p.auth.amount;
	r->serial = p.cred.serial;
	return OFP_FMT_OK;
}

/* --- batch ------------------------------------------------------------ */

/* Walk count records from [p, p+len): each one decodes on its own and the
 * last one ends the region. */
static ofp_fmt_rc_t walk_records(const uint8_t *p, size_t len, uint32_t count, ofp_fmt_error_t *err)
{
	ofp_journal_record_t rec;
	char ctx[48];
	size_t n;

	for (uint32_t i = 0; i < count; i++) {
		ofp_fmt_rc_t rc;

		snprintf(ctx, sizeof(ctx), "batch.record[%u]", i);
		rc = record_peek_len(p, len, &n, ctx, err);
		if (rc != OFP_FMT_OK)
			return rc;
		rc = fmt_journal_record_decode(p, n < len ? n : len, &rec, ctx, err);
		if (rc != OFP_FMT_OK)
			return rc;
		p += n;
		len -= n;
	}
	if (len != 0)
		return fmt_fail(err, OFP_FMT_ETRAILING, "batch", NULL, "%zu bytes after record %u", len, count);
	return OFP_FMT_OK;
}

ofp_fmt_rc_t ofp_batch_encode(const ofp_batch_t *b, uint8_t *out, size_t cap, size_t *len, ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	if (b->count > OFP_BATCH_MAX_RECORDS)
		return fmt_fail(err, OFP_FMT_ELIMIT, "batch", "count", "%u records, at most %u", b->count,
				OFP_BATCH_MAX_RECORDS);
	rc = walk_records(b->records, b->records_len, b->count, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_u8(&w, fmt_header(OFP_TYPE_BATCH));
	fmt_put_u32(&w, b->count);
	fmt_put_bytes(&w, b->records, b->records_len);
	return fmt_writer_finish(&w, len, "batch", err);
}

ofp_fmt_rc_t ofp_batch_decode(const uint8_t *in, size_t len, ofp_batch_t *b, ofp_fmt_error_t *err)
{
	fmt_reader_t r;
	unsigned type;

	memset(b, 0, sizeof(*b));
	fmt_reader_init(&r, in, len, "batch", err);
	fmt_get_header(&r, OFP_TYPE_BATCH, 0, &type);
	fmt_get_u32(&r, "count", &b->count);
	if (r.rc == OFP_FMT_OK && b->count > OFP_BATCH_MAX_RECORDS)
		fmt_reader_fail(&r, OFP_FMT_ELIMIT, "count", "%u records, at most %u", b->count,
				OFP_BATCH_MAX_RECORDS);
	FMT_CHECK(&r, walk_records(in + r.off, fmt_left(&r), b->count, err));
	if (r.rc != OFP_FMT_OK) {
		memset(b, 0, sizeof(*b));
		return r.rc;
	}
	b->records = in + BATCH_HEAD_LEN;
	b->records_len = len - BATCH_HEAD_LEN;
	return OFP_FMT_OK;
}

void ofp_batch_iter_init(ofp_batch_iter_t *it, const ofp_batch_t *b)
{
	it->p = b->records;
	it->left = b->records_len;
}

bool ofp_batch_next(ofp_batch_iter_t *it, ofp_journal_record_t *r, const uint8_t **raw, size_t *raw_len)
{
	size_t n;

	if (it->left == 0 || record_peek_len(it->p, it->left, &n, "batch", NULL) != OFP_FMT_OK || n > it->left ||
	    fmt_journal_record_decode(it->p, n, r, "batch", NULL) != OFP_FMT_OK)
		return false;
	if (raw != NULL)
		*raw = it->p;
	if (raw_len != NULL)
		*raw_len = n;
	it->p += n;
	it->left -= n;
	return true;
}

/* --- sealed batch ----------------------------------------------------- */

/* The ciphertext is as long as the batch plaintext, whose size the record
 * count bounds: a length outside those bounds is refused unopened. */
static ofp_fmt_rc_t check_ciphertext_len(const char *ctx, uint32_t count, uint32_t ct_len, ofp_fmt_error_t *err)
{
	uint64_t lo = BATCH_HEAD_LEN + (uint64_t)count * OFP_JOURNAL_RECORD_MIN;
	uint64_t hi = BATCH_HEAD_LEN + (uint64_t)count * OFP_JOURNAL_RECORD_MAX;

	if (ct_len < lo || ct_len > hi)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "ciphertext_length",
				"%u bytes cannot hold %u records (%llu..%llu)", ct_len, count, (unsigned long long)lo,
				(unsigned long long)hi);
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t check_count(const char *ctx, uint32_t count, ofp_fmt_error_t *err)
{
	if (count > OFP_BATCH_MAX_RECORDS)
		return fmt_fail(err, OFP_FMT_ELIMIT, ctx, "record_count", "%u records, at most %u", count,
				OFP_BATCH_MAX_RECORDS);
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t check_sequence(const char *ctx, uint64_t seq, ofp_fmt_error_t *err)
{
	if (seq == 0)
		return fmt_fail(err, OFP_FMT_EVALUE, ctx, "sequence", "0; batches are numbered from 1");
	return OFP_FMT_OK;
}

static ofp_fmt_rc_t check_ephemeral(const char *ctx, const uint8_t *key, ofp_fmt_error_t *err)
{
	if (key[0] != 0x02 && key[0] != 0x03)
		return fmt_fail(err, OFP_FMT_ENONCANONICAL, ctx, "ephemeral_key",
				"P-256 point prefix 0x%02x, not 0x02 or 0x03", key[0]);
	return OFP_FMT_OK;
}

/* Every rule but the ciphertext's presence: what the AAD needs. */
static ofp_fmt_rc_t sealed_check_head(const ofp_sealed_batch_t *s, ofp_fmt_error_t *err)
{
	const char *ctx = "sealed_batch";
	ofp_fmt_rc_t rc = check_sequence(ctx, s->sequence, err);

	if (rc == OFP_FMT_OK)
		rc = fmt_check_window(ctx, "period_end", s->period_start, s->period_end, true, err);
	if (rc == OFP_FMT_OK)
		rc = check_count(ctx, s->record_count, err);
	if (rc == OFP_FMT_OK)
		rc = check_ephemeral(ctx, s->ephemeral_key, err);
	if (rc == OFP_FMT_OK)
		rc = check_ciphertext_len(ctx, s->record_count, s->ciphertext_len, err);
	return rc;
}

static ofp_fmt_rc_t sealed_check(const ofp_sealed_batch_t *s, ofp_fmt_error_t *err)
{
	ofp_fmt_rc_t rc = sealed_check_head(s, err);

	if (rc == OFP_FMT_OK && s->ciphertext == NULL)
		rc = fmt_fail(err, OFP_FMT_EVALUE, "sealed_batch", "ciphertext", "missing");
	return rc;
}

static void sealed_put_head(fmt_writer_t *w, const ofp_sealed_batch_t *s)
{
	fmt_put_u8(w, fmt_header(OFP_TYPE_SEALED_BATCH));
	fmt_put_bytes(w, s->verifier_id, OFP_ID_LEN);
	fmt_put_bytes(w, s->verifier_kid, OFP_KEY_ID_LEN);
	fmt_put_u64(w, s->sequence);
	fmt_put_u32(w, s->period_start);
	fmt_put_u32(w, s->period_end);
	fmt_put_u32(w, s->record_count);
	fmt_put_bytes(w, s->sealing_kid, OFP_KEY_ID_LEN);
	fmt_put_bytes(w, s->ephemeral_key, OFP_P256_COMPRESSED_LEN);
	fmt_put_bytes(w, s->nonce, OFP_GCM_NONCE_LEN);
	fmt_put_u32(w, s->ciphertext_len);
}

static void sealed_put_sealed(fmt_writer_t *w, const ofp_sealed_batch_t *s)
{
	sealed_put_head(w, s);
	fmt_put_bytes(w, s->ciphertext, s->ciphertext_len);
	fmt_put_bytes(w, s->tag, OFP_GCM_TAG_LEN);
}

ofp_fmt_rc_t ofp_sealed_batch_encode(const ofp_sealed_batch_t *s, uint8_t *out, size_t cap, size_t *len,
				     ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = sealed_check(s, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	sealed_put_sealed(&w, s);
	fmt_put_bytes(&w, s->verifier_sig, OFP_SIG_LEN);
	return fmt_writer_finish(&w, len, "sealed_batch", err);
}

ofp_fmt_rc_t ofp_sealed_batch_decode(const uint8_t *in, size_t len, ofp_sealed_batch_t *s, ofp_fmt_error_t *err)
{
	fmt_reader_t r;
	unsigned type;

	memset(s, 0, sizeof(*s));
	fmt_reader_init(&r, in, len, "sealed_batch", err);
	fmt_get_header(&r, OFP_TYPE_SEALED_BATCH, 0, &type);
	fmt_get_bytes(&r, "verifier_id", s->verifier_id, OFP_ID_LEN);
	fmt_get_bytes(&r, "verifier_key_id", s->verifier_kid, OFP_KEY_ID_LEN);
	fmt_get_u64(&r, "sequence", &s->sequence);
	FMT_CHECK(&r, check_sequence(r.ctx, s->sequence, err));
	fmt_get_u32(&r, "period_start", &s->period_start);
	fmt_get_u32(&r, "period_end", &s->period_end);
	FMT_CHECK(&r, fmt_check_window(r.ctx, "period_end", s->period_start, s->period_end, true, err));
	fmt_get_u32(&r, "record_count", &s->record_count);
	FMT_CHECK(&r, check_count(r.ctx, s->record_count, err));
	fmt_get_bytes(&r, "sealing_key_id", s->sealing_kid, OFP_KEY_ID_LEN);
	fmt_get_bytes(&r, "ephemeral_key", s->ephemeral_key, OFP_P256_COMPRESSED_LEN);
	FMT_CHECK(&r, check_ephemeral(r.ctx, s->ephemeral_key, err));
	fmt_get_bytes(&r, "nonce", s->nonce, OFP_GCM_NONCE_LEN);
	fmt_get_u32(&r, "ciphertext_length", &s->ciphertext_len);
	FMT_CHECK(&r, check_ciphertext_len(r.ctx, s->record_count, s->ciphertext_len, err));
	fmt_get_view(&r, "ciphertext", s->ciphertext_len, &s->ciphertext);
	fmt_get_bytes(&r, "tag", s->tag, OFP_GCM_TAG_LEN);
	fmt_get_bytes(&r, "verifier_signature", s->verifier_sig, OFP_SIG_LEN);
	fmt_end(&r);
	if (r.rc != OFP_FMT_OK)
		memset(s, 0, sizeof(*s));
	return r.rc;
}

ofp_fmt_rc_t ofp_sealed_batch_aad(const ofp_sealed_batch_t *s, uint8_t out[OFP_SEALED_BATCH_AAD_LEN],
				  ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	size_t len;
	ofp_fmt_rc_t rc;

	rc = sealed_check_head(s, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, OFP_SEALED_BATCH_AAD_LEN);
	sealed_put_head(&w, s);
	return fmt_writer_finish(&w, &len, "sealed_batch", err);
}

ofp_fmt_rc_t ofp_sealed_batch_tbs(const ofp_sealed_batch_t *s, uint8_t *out, size_t cap, size_t *len,
				  ofp_fmt_error_t *err)
{
	fmt_writer_t w;
	ofp_fmt_rc_t rc;

	*len = 0;
	rc = sealed_check(s, err);
	if (rc != OFP_FMT_OK)
		return rc;
	fmt_writer_init(&w, out, cap);
	fmt_put_domain(&w, OFP_DOMAIN_SEALED_BATCH);
	sealed_put_sealed(&w, s);
	return fmt_writer_finish(&w, len, "sealed_batch", err);
}

/* One record of a batch against the envelope and the record before it. */
static ofp_fmt_rc_t check_record_in(const ofp_sealed_batch_t *s, const ofp_journal_record_t *rec, uint32_t i,
				    const uint8_t prev[OFP_HASH_LEN], ofp_fmt_error_t *err)
{
	char ctx[48];

	snprintf(ctx, sizeof(ctx), "batch.record[%u]", i);
	if (memcmp(rec->verifier_id, s->verifier_id, OFP_ID_LEN) != 0)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "verifier_id", "not the sealed batch's verifier");
	if (rec->time < s->period_start || rec->time > s->period_end)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "time", "%u outside the period %u..%u", rec->time,
				s->period_start, s->period_end);
	if (i > 0 && memcmp(rec->prev_hash, prev, OFP_HASH_LEN) != 0)
		return fmt_fail(err, OFP_FMT_EMISMATCH, ctx, "prev_hash", "not the hash of record %u", i - 1);
	return OFP_FMT_OK;
}

ofp_fmt_rc_t ofp_batch_check(const ofp_sealed_batch_t *s, const ofp_batch_t *b, uint8_t first_prev[OFP_HASH_LEN],
			     uint8_t last_hash[OFP_HASH_LEN], ofp_fmt_error_t *err)
{
	uint8_t first[OFP_HASH_LEN] = { 0 }, hash[OFP_HASH_LEN] = { 0 };
	ofp_journal_record_t rec;
	ofp_batch_iter_t it;
	const uint8_t *raw;
	size_t raw_len;
	uint32_t i = 0;
	ofp_fmt_rc_t rc = OFP_FMT_OK;

	if (b->count != s->record_count)
		return fmt_fail(err, OFP_FMT_EMISMATCH, "batch", "count", "%u records, the sealed batch says %u",
				b->count, s->record_count);
	ofp_batch_iter_init(&it, b);
	for (; rc == OFP_FMT_OK && ofp_batch_next(&it, &rec, &raw, &raw_len); i++) {
		rc = check_record_in(s, &rec, i, hash, err);
		if (i == 0)
			memcpy(first, rec.prev_hash, OFP_HASH_LEN);
		if (rc == OFP_FMT_OK && !ofp_sha256(raw, raw_len, hash))
			rc = fmt_fail(err, OFP_FMT_EINTERNAL, "batch", NULL, "SHA-256 failed");
	}
	if (rc == OFP_FMT_OK && i != b->count)
		rc = fmt_fail(err, OFP_FMT_EMISMATCH, "batch", "count", "%u records readable of %u", i, b->count);
	if (rc != OFP_FMT_OK)
		return rc;
	if (first_prev != NULL)
		memcpy(first_prev, first, OFP_HASH_LEN);
	if (last_hash != NULL)
		memcpy(last_hash, hash, OFP_HASH_LEN);
	return OFP_FMT_OK;
}
