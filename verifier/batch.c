/* batch.c - sealing the journal for the issuer (claim 20): a frozen
 * journal segment becomes one batch (docs/FORMAT.md 9), sealed to the
 * trust list's sealing key and signed by the gate key (seal.c).
 *
 * journal.state numbers: frozen (segments closed for appends), sealed
 * (handed out at least once), done (confirmed, dropped). A seal first
 * freezes the current segment if nothing is waiting, then seals segment
 * sealed+1, then records it as sealed. A crash before that last step
 * leaves the segment frozen: the next seal produces the same sequence
 * number and the same records. */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <stdlib.h>
#include <string.h>

#include "format/seal.h"

typedef struct seal_job {
	uint64_t seq;
	ofp_segment_t seg;
	ofp_trust_entry_t sealing;
	uint32_t now;
} seal_job_t;

/* Under v->lock: the sealing key, and a copy of the segment (the array
 * moves when checks append). */
static offpass_status_t job_key(offpass_verifier_t *v, seal_job_t *job)
{
	const ofp_trust_entry_t *e = ofp_trust_sealing_key(v, job->now);

	if (e == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
				  v->trust.loaded ? "the trust list has no sealing key valid now"
						     : "no trust list installed: nothing to seal to");
	job->sealing = *e;
	return OFFPASS_STATUS_OK;
}

static offpass_status_t job_segment(offpass_verifier_t *v, seal_job_t *job)
{
	const ofp_segment_t *s = ofp_journal_segment(&v->journal, job->seq);

	if (s == NULL || s->count == 0)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "journal segment %llu: missing",
				  (unsigned long long)job->seq);
	job->seg = *s;
	return OFFPASS_STATUS_OK;
}

/* The file must still be what open (or the appends) saw: same number
 * of records, same last hash. */
static offpass_status_t check_segment_bytes(offpass_verifier_t *v, const seal_job_t *job, const uint8_t *buf,
					    size_t len)
{
	uint8_t hash[OFP_HASH_LEN] = { 0 };
	uint32_t count = 0;
	size_t off = 0, rl;

	while (off < len && ofp_journal_record_peek_len(buf + off, len - off, &rl, NULL) == OFP_FMT_OK &&
	       rl <= len - off) {
		if (!ofp_sha256(buf + off, rl, hash))
			return ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
		off += rl;
		count++;
	}
	if (off != len || count != job->seg.count || memcmp(hash, job->seg.last_hash, OFP_HASH_LEN) != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT,
				  "journal segment %llu: changed on disk since it was written",
				  (unsigned long long)job->seq);
	return OFFPASS_STATUS_OK;
}

static void job_envelope(const offpass_verifier_t *v, const seal_job_t *job, ofp_sealed_batch_t *env)
{
	memset(env, 0, sizeof(*env));
	memcpy(env->verifier_id, v->cfg.verifier_id, OFP_ID_LEN);
	memcpy(env->verifier_kid, v->gate_kid, OFP_KEY_ID_LEN);
	env->sequence = job->seq;
	env->period_start = job->seg.time_min;
	/* The period runs to the seal, so consecutive batches tile time. */
	env->period_end = job->now > job->seg.time_max ? job->now : job->seg.time_max;
	env->record_count = job->seg.count;
	memcpy(env->sealing_kid, job->sealing.kid, OFP_KEY_ID_LEN);
}

/* Outside v->lock: the segment is frozen, nobody writes it. */
static offpass_status_t produce(offpass_verifier_t *v, const seal_job_t *job, uint8_t **out, size_t *out_len)
{
	uint8_t *records = NULL, *batch = NULL;
	size_t len = 0, batch_len;
	ofp_sealed_batch_t env;
	ofp_fmt_error_t ferr;
	ofp_batch_t b;
	offpass_status_t st = ofp_journal_read_segment(v, job->seq, &records, &len);

	if (st == OFFPASS_STATUS_OK)
		st = check_segment_bytes(v, job, records, len);
	if (st != OFFPASS_STATUS_OK)
		goto out;
	batch = malloc(len + 5);
	b = (ofp_batch_t){ .count = job->seg.count, .records = records, .records_len = len };
	if (batch == NULL) {
		st = ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (batch)");
		goto out;
	}
	if (ofp_batch_encode(&b, batch, len + 5, &batch_len, &ferr) != OFP_FMT_OK) {
		st = ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "journal segment %llu: %s", (unsigned long long)job->seq,
				ferr.reason);
		goto out;
	}
	job_envelope(v, job, &env);
	if (ofp_seal(&env, batch, batch_len, job->sealing.key, v->gate_key, OFP_ALG_P256, out, out_len, &ferr) != 0)
		st = ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "sealing batch %llu: %s", (unsigned long long)job->seq,
				ferr.reason);
out:
	free(batch);
	free(records);
	return st;
}

/* Under v->lock: which segment this seal is for, freezing the current
 * one when no frozen segment waits. */
static offpass_status_t pick_next(offpass_verifier_t *v, seal_job_t *job)
{
	ofp_journal_t *j = &v->journal;
	offpass_status_t st = job_key(v, job);

	if (st != OFFPASS_STATUS_OK)
		return st;
	if (j->sealed == j->frozen) {
		if (j->segs[j->nsegs - 1].count == 0)
			return ofp_v_fail(v, OFFPASS_STATUS_NOTHING, "no journal record to seal");
		if (j->broken)
			return ofp_v_fail(v, OFFPASS_STATUS_IO,
					  "journal: a failed write could not be undone; reopen the verifier");
		st = ofp_journal_freeze(v);
		if (st != OFFPASS_STATUS_OK)
			return st;
	}
	job->seq = j->sealed + 1;
	return job_segment(v, job);
}

static offpass_status_t mark_sealed(offpass_verifier_t *v, uint64_t seq)
{
	ofp_journal_t *j = &v->journal;
	uint64_t old = j->sealed;
	offpass_status_t st;

	if (seq <= old)
		return OFFPASS_STATUS_OK;
	j->sealed = seq;
	st = ofp_journal_save_state(v);
	if (st != OFFPASS_STATUS_OK)
		j->sealed = old;
	return st;
}

static bool out_args_ok(offpass_verifier_t *v, uint8_t **out, size_t *out_len)
{
	if (v == NULL || out == NULL || out_len == NULL)
		return false;
	*out = NULL;
	*out_len = 0;
	return true;
}

static offpass_status_t seal_new(offpass_verifier_t *v, uint32_t now, uint64_t *sequence, uint8_t **out,
				 size_t *out_len)
{
	seal_job_t job = { .now = now };
	offpass_status_t st;

	pthread_mutex_lock(&v->admin_lock);
	pthread_mutex_lock(&v->lock);
	st = pick_next(v, &job);
	pthread_mutex_unlock(&v->lock);
	if (st == OFFPASS_STATUS_OK)
		st = produce(v, &job, out, out_len);
	if (st == OFFPASS_STATUS_OK) {
		pthread_mutex_lock(&v->lock);
		st = mark_sealed(v, job.seq);
		pthread_mutex_unlock(&v->lock);
		if (st != OFFPASS_STATUS_OK) { /* not marked: not handed out */
			free(*out);
			*out = NULL;
			*out_len = 0;
		}
	}
	pthread_mutex_unlock(&v->admin_lock);
	*sequence = st == OFFPASS_STATUS_OK ? job.seq : 0;
	return st;
}

offpass_status_t offpass_verifier_seal(offpass_verifier_t *v, uint32_t now, uint8_t **out, size_t *out_len)
{
	uint64_t seq;

	if (!out_args_ok(v, out, out_len))
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	ofp_v_clear_error(v);
	return seal_new(v, now, &seq, out, out_len);
}

static offpass_status_t check_sealed_seq(offpass_verifier_t *v, uint64_t sequence)
{
	if (sequence == 0 || sequence > v->journal.sealed)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
				  "batch %llu has not been sealed (last sealed: %llu)", (unsigned long long)sequence,
				  (unsigned long long)v->journal.sealed);
	return OFFPASS_STATUS_OK;
}

offpass_status_t offpass_verifier_reseal(offpass_verifier_t *v, uint64_t sequence, uint32_t now, uint8_t **out,
					 size_t *out_len)
{
	seal_job_t job = { .seq = sequence, .now = now };
	offpass_status_t st;

	if (!out_args_ok(v, out, out_len))
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	ofp_v_clear_error(v);
	pthread_mutex_lock(&v->admin_lock);
	pthread_mutex_lock(&v->lock);
	st = check_sealed_seq(v, sequence);
	if (st == OFFPASS_STATUS_OK && sequence <= v->journal.done)
		st = ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
				"batch %llu was confirmed (seal_done) and its records dropped",
				(unsigned long long)sequence);
	if (st == OFFPASS_STATUS_OK)
		st = job_key(v, &job);
	if (st == OFFPASS_STATUS_OK)
		st = job_segment(v, &job);
	pthread_mutex_unlock(&v->lock);
	if (st == OFFPASS_STATUS_OK)
		st = produce(v, &job, out, out_len);
	pthread_mutex_unlock(&v->admin_lock);
	return st;
}

offpass_status_t offpass_verifier_next_batch(offpass_verifier_t *v, uint32_t now, uint64_t *sequence, uint8_t **out,
					     size_t *out_len)
{
	uint64_t pending;
	offpass_status_t st;

	if (sequence == NULL || !out_args_ok(v, out, out_len))
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	*sequence = 0;
	ofp_v_clear_error(v);
	/* seal and reseal take the locks; a seal_done in between only makes
	 * the reseal refuse a batch that no longer needs sending. */
	pthread_mutex_lock(&v->lock);
	pending = v->journal.sealed > v->journal.done ? v->journal.done + 1 : 0;
	pthread_mutex_unlock(&v->lock);
	if (pending == 0)
		return seal_new(v, now, sequence, out, out_len);
	st = offpass_verifier_reseal(v, pending, now, out, out_len);
	if (st == OFFPASS_STATUS_OK)
		*sequence = pending;
	return st;
}

/* Batches are confirmed in order: confirming n while an earlier batch is
 * unconfirmed would drop records the issuer never had. */
static offpass_status_t check_in_order(offpass_verifier_t *v, uint64_t sequence)
{
	if (sequence > v->journal.done + 1)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
				  "batch %llu is not confirmed yet: confirm batches in order (batch %llu first); "
				  "nothing was dropped",
				  (unsigned long long)(v->journal.done + 1), (unsigned long long)(v->journal.done + 1));
	return OFFPASS_STATUS_OK;
}

offpass_status_t offpass_verifier_seal_done(offpass_verifier_t *v, uint64_t sequence)
{
	offpass_status_t st;

	if (v == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	ofp_v_clear_error(v);
	pthread_mutex_lock(&v->admin_lock);
	pthread_mutex_lock(&v->lock);
	st = check_sealed_seq(v, sequence);
	if (st == OFFPASS_STATUS_OK)
		st = check_in_order(v, sequence);
	if (st == OFFPASS_STATUS_OK && sequence > v->journal.done)
		st = ofp_journal_trim(v, sequence);
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_unlock(&v->admin_lock);
	return st;
}
