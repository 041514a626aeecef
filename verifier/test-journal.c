/* test-journal.c - Check suite of the journal and of sealing: what is on
 * disk after each decision, torn tails, removed and changed records,
 * sealed batches opened with ofp_unseal, sequence numbers across reopen,
 * seal_done trimming, crash points between the steps of a seal. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/seal.h"
#include "format/sig.h"
#include "verifier/test-util.h"
#include "verifier/verifier_internal.h"

static char dir[64];
static offpass_verifier_config_t cfg;
static offpass_verifier_t *v;

static void setup(void)
{
	tu_keys_init();
	tu_tmpdir(dir, sizeof(dir));
	tu_config(&cfg, dir);
	v = tu_open_trusted(&cfg);
}

static void teardown(void)
{
	offpass_verifier_close(v);
	v = NULL;
	tu_rmdir(dir);
}

static void seg_path(char *out, size_t cap, uint64_t seq)
{
	snprintf(out, cap, "%s/journal-%016llx.bin", dir, (unsigned long long)seq);
}

static void state_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/* A crash: the process dies, close() never runs (so no snapshot). */
static void crash(void)
{
	char path[128];

	offpass_verifier_close(v);
	v = NULL;
	state_path(path, sizeof(path), "replay.state");
	(void)unlink(path);
}

static offpass_status_t try_open(char *err, size_t cap)
{
	offpass_verifier_t *v2 = NULL;
	offpass_status_t st = offpass_verifier_open(&cfg, &v2, err, cap);

	if (st == OFFPASS_STATUS_OK)
		v = v2;
	else
		ck_assert_ptr_null(v2);
	return st;
}

static uint64_t records(void)
{
	ofp_v_stats_t s;

	ofp_v_stats(v, &s);
	return s.journal_records;
}

/* counter, one-way, at T_NOW */
static offpass_reason_t operate(uint32_t counter)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_simple(p, counter);

	return tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL);
}

/* Offsets of the records of a journal file. */
static unsigned split(const uint8_t *buf, size_t len, size_t *off, unsigned max)
{
	size_t pos = 0, rl;
	unsigned n = 0;

	while (pos < len && n < max) {
		ck_assert_int_eq(ofp_journal_record_peek_len(buf + pos, len - pos, &rl, NULL), OFP_FMT_OK);
		off[n++] = pos;
		pos += rl;
	}
	ck_assert_uint_eq(pos, len);
	off[n] = pos;
	return n;
}

/* --- what is written ------------------------------------------------------ */

START_TEST(test_records_written)
{
	static const uint8_t garbage[] = "not a presentation";
	uint8_t p[OFP_PRESENTATION_MAX], big[400], *buf, prev[32] = { 0 };
	size_t n = tu_simple(p, 1), len, off[8];
	ofp_journal_record_t r;
	char path[128];
	unsigned count;

	memset(big, 0x5a, sizeof(big));
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW + 1, NULL), OFFPASS_REASON_OK);
	/* The record is on disk when check returns. */
	seg_path(path, sizeof(path), 1);
	ck_assert(tu_read(path, &buf, &len));
	ck_assert_int_eq(ofp_journal_record_decode(buf, len, &r, NULL), OFP_FMT_OK);
	free(buf);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW + 2, NULL), OFFPASS_REASON_REPLAY);
	ck_assert_int_eq(tu_check(v, garbage, sizeof(garbage) - 1, 0, NULL, 0, T_NOW + 3, NULL),
			 OFFPASS_REASON_MALFORMED);
	ck_assert_int_eq(tu_check(v, big, sizeof(big), 0, NULL, 0, T_NOW + 4, NULL), OFFPASS_REASON_MALFORMED);
	ck_assert_uint_eq(records(), 4);

	ck_assert(tu_read(path, &buf, &len));
	count = split(buf, len, off, 7);
	ck_assert_uint_eq(count, 4);
	for (unsigned i = 0; i < count; i++) {
		ck_assert_int_eq(ofp_journal_record_decode(buf + off[i], off[i + 1] - off[i], &r, NULL), OFP_FMT_OK);
		ck_assert_mem_eq(r.prev_hash, prev, 32); /* the chain, from zero */
		ck_assert(ofp_sha256(buf + off[i], off[i + 1] - off[i], prev));
		ck_assert_mem_eq(r.verifier_id, "GATE0001", 8);
		ck_assert_uint_eq(r.time, T_NOW + 1 + i);
		switch (i) {
		case 0:
			ck_assert_uint_eq(r.decision, OFP_DECISION_OPERATE);
			ck_assert_uint_eq(r.reason, OFP_REASON_OK);
			ck_assert_mem_eq(r.holder_id, "HOLDER01", 8);
			ck_assert_uint_eq(r.serial, 1001);
			ck_assert_uint_eq(r.counter, 1);
			ck_assert_uint_eq(r.presentation_len, n);
			ck_assert_mem_eq(r.presentation, p, n);
			break;
		case 1:
			ck_assert_uint_eq(r.decision, OFP_DECISION_REFUSE);
			ck_assert_uint_eq(r.reason, OFP_REASON_REPLAY);
			ck_assert_mem_eq(r.presentation, p, n);
			break;
		case 2:
			ck_assert_uint_eq(r.reason, OFP_REASON_MALFORMED);
			ck_assert_mem_eq(r.holder_id, "\0\0\0\0\0\0\0\0", 8);
			ck_assert_uint_eq(r.counter, 0);
			ck_assert_uint_eq(r.presentation_len, sizeof(garbage) - 1);
			ck_assert_mem_eq(r.presentation, garbage, sizeof(garbage) - 1);
			break;
		default: /* the first 246 bytes of an oversized input */
			ck_assert_uint_eq(r.reason, OFP_REASON_MALFORMED);
			ck_assert_uint_eq(r.presentation_len, OFP_PRESENTATION_MAX);
			ck_assert_mem_eq(r.presentation, big, OFP_PRESENTATION_MAX);
		}
	}
	free(buf);
}
END_TEST

/* The journal cannot be written: no decision, nothing remembered. */
START_TEST(test_write_failure)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	size_t n = tu_simple(p, 1);
	offpass_result_t r;
	char path[128];

	seg_path(path, sizeof(path), 1);
	ck_assert_int_eq(mkdir(path, 0700), 0); /* where the segment file goes */
	ck_assert_int_eq(offpass_verifier_check(v, p, n, T_FARE, NULL, 0, T_NOW, &r), OFFPASS_STATUS_IO);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "journal-0000000000000001.bin"));
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(tu_check(v, p, n, 0, NULL, 0, T_NOW, &r), OFFPASS_REASON_OK);
	ck_assert_uint_eq(records(), 1);
}
END_TEST

/* --- crash recovery ---------------------------------------------------------- */

/* Cut the last record by 1..its whole length: the earlier records stay,
 * the cut one is forgotten (its counter operates again), the journal
 * goes on from the last complete record. */
START_TEST(test_torn_tail)
{
	uint8_t *orig, *buf;
	size_t len, blen, off[8];
	char path[128], err[256];

	for (uint32_t i = 1; i <= 3; i++)
		ck_assert_int_eq(operate(i), OFFPASS_REASON_OK);
	seg_path(path, sizeof(path), 1);
	crash();
	ck_assert(tu_read(path, &orig, &len));
	ck_assert_uint_eq(split(orig, len, off, 7), 3);
	for (size_t cut = 1; cut <= off[3] - off[2]; cut++) {
		ck_assert(tu_write(path, orig, len - cut));
		ck_assert_msg(try_open(err, sizeof(err)) == OFFPASS_STATUS_OK, "cut %zu: %s", cut, err);
		ck_assert_uint_eq(records(), 2);
		ck_assert(tu_read(path, &buf, &blen));
		ck_assert_uint_eq(blen, off[2]); /* cut back to the record boundary */
		free(buf);
		if (cut % 50 == 1 || cut == off[3] - off[2]) {
			ck_assert_int_eq(operate(2), OFFPASS_REASON_REPLAY);
			ck_assert_int_eq(operate(3), OFFPASS_REASON_OK);
			ck_assert_uint_eq(records(), 4);
			crash();
			ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_OK); /* the chain holds */
			ck_assert_uint_eq(records(), 4);
		}
		crash();
	}
	free(orig);
	v = tu_open(&cfg);
}
END_TEST

/* A file system may extend the file before the data lands: zeros. */
START_TEST(test_zero_tail)
{
	uint8_t *orig, *grown;
	size_t len;
	char path[128], err[256];

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	seg_path(path, sizeof(path), 1);
	crash();
	ck_assert(tu_read(path, &orig, &len));
	grown = calloc(1, len + 300);
	memcpy(grown, orig, len);
	ck_assert(tu_write(path, grown, len + 300));
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(records(), 2);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_REPLAY);
	free(grown);
	free(orig);
}
END_TEST

/* Write `len` bytes of records with record `skip` left out (or, with
 * flip_at >= 0, one byte of that record changed), then open. */
static offpass_status_t tamper(int skip, int flip_at, char *err, size_t cap)
{
	uint8_t *orig, *out;
	size_t len, off[8], o = 0;
	char path[128];
	unsigned n;

	seg_path(path, sizeof(path), 1);
	ck_assert(tu_read(path, &orig, &len));
	n = split(orig, len, off, 7);
	out = malloc(len);
	for (unsigned i = 0; i < n; i++) {
		size_t rl = off[i + 1] - off[i];

		if ((int)i == skip && flip_at < 0)
			continue;
		memcpy(out + o, orig + off[i], rl);
		if ((int)i == skip)
			out[o + (size_t)flip_at] ^= 0x01;
		o += rl;
	}
	ck_assert(tu_write(path, out, o));
	free(out);
	free(orig);
	return try_open(err, cap);
}

static void four_records(void)
{
	for (uint32_t i = 1; i <= 4; i++)
		ck_assert_int_eq(operate(i), OFFPASS_REASON_OK);
	crash();
}

START_TEST(test_removed_record)
{
	char err[256];

	char path[128];
	struct stat st;

	four_records();
	ck_assert_int_eq(tamper(1, -1, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_msg(strstr(err, "record 1") != NULL && strstr(err, "chain") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "journal-0000000000000001.bin") != NULL, "%s", err);
	/* A failed open writes nothing. */
	state_path(path, sizeof(path), "replay.state");
	ck_assert_int_ne(stat(path, &st), 0);
}
END_TEST

START_TEST(test_removed_first_record)
{
	char err[256];

	four_records();
	ck_assert_int_eq(tamper(0, -1, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_msg(strstr(err, "record 0") != NULL, "%s", err);
}
END_TEST

/* A byte of the holder signature (still decodes): the next record's
 * prev_hash no longer matches. */
START_TEST(test_changed_record)
{
	char err[256];

	four_records();
	ck_assert_int_eq(tamper(1, 73 + 180, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_msg(strstr(err, "record 2") != NULL && strstr(err, "chain") != NULL, "%s", err);
}
END_TEST

/* A record that no longer decodes (decision byte) in the middle. */
START_TEST(test_undecodable_record)
{
	char err[256];

	four_records();
	ck_assert_int_eq(tamper(2, 3, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_msg(strstr(err, "record 2") != NULL && strstr(err, "decision") != NULL, "%s", err);
}
END_TEST

/* The first record's prev_hash. */
START_TEST(test_changed_prev_hash)
{
	char err[256];

	four_records();
	ck_assert_int_eq(tamper(0, 41, err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_msg(strstr(err, "record 0") != NULL, "%s", err);
}
END_TEST

START_TEST(test_damaged_state_files)
{
	uint8_t *buf;
	size_t len;
	char path[128], err[256];

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	offpass_verifier_close(v);
	v = NULL;
	/* journal.state: one bit. */
	state_path(path, sizeof(path), "journal.state");
	ck_assert(tu_read(path, &buf, &len));
	buf[20] ^= 0x01;
	ck_assert(tu_write(path, buf, len));
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "journal.state"));
	buf[20] ^= 0x01;
	ck_assert(tu_write(path, buf, len));
	free(buf);
	/* replay.state: one bit. */
	state_path(path, sizeof(path), "replay.state");
	ck_assert(tu_read(path, &buf, &len));
	buf[len - 40] ^= 0x01;
	ck_assert(tu_write(path, buf, len));
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "replay.state"));
	ck_assert(tu_write(path, buf, 10));
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_int_eq(unlink(path), 0);
	free(buf);
	/* A segment that cannot be ours. */
	seg_path(path, sizeof(path), 5);
	ck_assert(tu_write(path, (const uint8_t *)"x", 1));
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "journal-0000000000000005.bin"));
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_OK);
	ck_assert_int_eq(operate(1), OFFPASS_REASON_REPLAY);
}
END_TEST

/* Issue 7.6a: removing the current segment - decisions not sealed yet -
 * is caught at open, as a removed closed segment is; so is removing
 * journal.state, which would hide the batch numbers. */
START_TEST(test_removed_current_segment)
{
	char path[128], err[256];

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	offpass_verifier_close(v);
	v = NULL;
	seg_path(path, sizeof(path), 1);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_msg(strstr(err, "journal-0000000000000001.bin") != NULL && strstr(err, "removed") != NULL, "%s",
		      err);
	/* With the snapshot gone as well, still caught. */
	state_path(path, sizeof(path), "replay.state");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "journal-0000000000000001.bin"));
}
END_TEST

START_TEST(test_removed_journal_state)
{
	char path[128], err[256];

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	offpass_verifier_close(v);
	v = NULL;
	state_path(path, sizeof(path), "journal.state");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "journal.state"));
	/* Even with every segment gone too: the gate key is still there. */
	seg_path(path, sizeof(path), 1);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "gate-key.pem"));
}
END_TEST

/* --- sealing ------------------------------------------------------------------ */

typedef struct opened {
	uint8_t *plain;
	size_t len;
	ofp_sealed_batch_t env;
	ofp_batch_t batch;
	uint8_t first_prev[32], last_hash[32];
} opened_t;

/* The issuer's side: check the gate's signature, ECDH with the sealing
 * key, decrypt, check the batch. */
static void open_batch(const uint8_t *sealed, size_t len, opened_t *o)
{
	uint8_t pub[65];
	EVP_PKEY *gate;
	ofp_fmt_error_t err;

	ck_assert_int_eq(offpass_verifier_public_key(v, pub), OFFPASS_STATUS_OK);
	gate = ofp_sig_public_key(OFP_ALG_P256, pub, 65);
	ck_assert_ptr_nonnull(gate);
	ck_assert_msg(ofp_unseal(sealed, len, gate, OFP_ALG_P256, tu_keys[TK_SEALING].pub, tu_ecdh, NULL, &o->env,
				 &o->plain, &o->len, &err) == 0,
		      "%s", err.reason);
	ck_assert_int_eq(ofp_batch_decode(o->plain, o->len, &o->batch, NULL), OFP_FMT_OK);
	ck_assert_int_eq(ofp_batch_check(&o->env, &o->batch, o->first_prev, o->last_hash, NULL), OFP_FMT_OK);
	EVP_PKEY_free(gate);
}

static void seal_and_open(uint32_t now, opened_t *o)
{
	uint8_t *sealed = NULL;
	size_t len = 0;

	ck_assert_msg(offpass_verifier_seal(v, now, &sealed, &len) == OFFPASS_STATUS_OK, "%s",
		      offpass_verifier_error(v));
	open_batch(sealed, len, o);
	offpass_free(sealed);
}

static void check_reason(const opened_t *o, unsigned i, unsigned reason)
{
	ofp_batch_iter_t it;
	ofp_journal_record_t r;

	ofp_batch_iter_init(&it, &o->batch);
	for (unsigned k = 0; k <= i; k++)
		ck_assert(ofp_batch_next(&it, &r, NULL, NULL));
	ck_assert_uint_eq(r.reason, reason);
}

START_TEST(test_seal_unseal)
{
	static const uint8_t garbage[] = "not a presentation";
	uint8_t *journal, *out = (uint8_t *)1;
	size_t jlen, olen = 5;
	opened_t o;
	char path[128];

	ck_assert_int_eq(offpass_verifier_seal(v, T_NOW, &out, &olen), OFFPASS_STATUS_NOTHING);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(olen, 0);
	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(1), OFFPASS_REASON_REPLAY);
	ck_assert_int_eq(tu_check(v, garbage, sizeof(garbage) - 1, 0, NULL, 0, T_NOW + 9, NULL),
			 OFFPASS_REASON_MALFORMED);
	seg_path(path, sizeof(path), 1);
	ck_assert(tu_read(path, &journal, &jlen));
	seal_and_open(T_NOW + 100, &o);
	ck_assert_uint_eq(o.env.sequence, 1);
	ck_assert_uint_eq(o.env.record_count, 3);
	ck_assert_mem_eq(o.env.verifier_id, "GATE0001", 8);
	ck_assert_uint_eq(o.env.period_start, T_NOW);
	ck_assert_uint_eq(o.env.period_end, T_NOW + 100);
	/* The records are the journal's, byte for byte. */
	ck_assert_uint_eq(o.batch.records_len, jlen);
	ck_assert_mem_eq(o.batch.records, journal, jlen);
	ck_assert_mem_eq(o.first_prev, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 32);
	check_reason(&o, 0, OFP_REASON_OK);
	check_reason(&o, 1, OFP_REASON_REPLAY);
	check_reason(&o, 2, OFP_REASON_MALFORMED);
	free(journal);
	free(o.plain);
	ck_assert_int_eq(offpass_verifier_seal(v, T_NOW + 101, &out, &olen), OFFPASS_STATUS_NOTHING);
}
END_TEST

/* 1, 2, 3 across reopen; each batch links to the one before. */
START_TEST(test_seal_sequence)
{
	uint8_t last[32];
	opened_t o;

	for (uint32_t seq = 1; seq <= 3; seq++) {
		ck_assert_int_eq(operate(seq), OFFPASS_REASON_OK);
		seal_and_open(T_NOW + seq, &o);
		ck_assert_uint_eq(o.env.sequence, seq);
		ck_assert_uint_eq(o.env.record_count, 1);
		if (seq > 1)
			ck_assert_mem_eq(o.first_prev, last, 32);
		memcpy(last, o.last_hash, 32);
		free(o.plain);
		offpass_verifier_close(v);
		v = tu_open(&cfg);
	}
}
END_TEST

START_TEST(test_seal_needs_sealing_key)
{
	uint8_t list[OFP_TRUST_LIST_MAX], *out;
	ofp_trust_entry_t e[1];
	size_t n, olen;

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	tu_trust_entry(&e[0], TK_ISSUER, OFP_USAGE_CREDENTIAL_SIGNING, T_LIST_FROM, T_LIST_UNTIL);
	n = tu_trust_list(list, 2, TK_ISSUER, e, 1);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	ck_assert_int_eq(offpass_verifier_seal(v, T_NOW, &out, &olen), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "sealing key"));
	ck_assert_int_eq(offpass_verifier_seal(v, T_NOW, NULL, &olen), OFFPASS_STATUS_INVALID_ARGUMENT);
	/* Nothing was frozen or numbered: the next seal is batch 1. */
	n = tu_default_trust(list, 3);
	ck_assert_int_eq(offpass_verifier_install_trust_list(v, list, n, T_NOW), OFFPASS_STATUS_OK);
	ck_assert_int_eq(offpass_verifier_seal(v, T_NOW, &out, &olen), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(out[13 + 7], 1);
	offpass_free(out);
}
END_TEST

START_TEST(test_seal_done)
{
	uint8_t *out, first2[2048];
	size_t olen, first2_len;
	opened_t o;
	char path[128], err[256];
	struct stat st;

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	seal_and_open(T_NOW, &o);
	free(o.plain);
	ck_assert_int_eq(operate(3), OFFPASS_REASON_OK);
	seal_and_open(T_NOW, &o);
	ck_assert_uint_eq(o.env.sequence, 2);
	first2_len = o.len;
	memcpy(first2, o.plain, o.len);
	free(o.plain);
	ck_assert_int_eq(operate(4), OFFPASS_REASON_OK); /* not sealed yet */
	ck_assert_uint_eq(records(), 4);

	ck_assert_int_eq(offpass_verifier_seal_done(v, 3), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 0), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 1), OFFPASS_STATUS_OK);
	seg_path(path, sizeof(path), 1);
	ck_assert_int_ne(stat(path, &st), 0);
	ck_assert_uint_eq(records(), 2);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 1), OFFPASS_STATUS_OK); /* again: fine */
	ck_assert_int_eq(offpass_verifier_reseal(v, 1, T_NOW, &out, &olen), OFFPASS_STATUS_INVALID_ARGUMENT);
	/* Batch 2 again: the same sequence and records. */
	ck_assert_int_eq(offpass_verifier_reseal(v, 2, T_NOW, &out, &olen), OFFPASS_STATUS_OK);
	open_batch(out, olen, &o);
	ck_assert_uint_eq(o.env.sequence, 2);
	ck_assert_uint_eq(o.len, first2_len);
	ck_assert_mem_eq(o.plain, first2, first2_len);
	free(o.plain);
	offpass_free(out);
	/* The chain is anchored at the dropped record: reopen is clean,
	 * and what the dropped records taught (replays) is kept. */
	offpass_verifier_close(v);
	v = tu_open(&cfg);
	ck_assert_uint_eq(records(), 2);
	ck_assert_int_eq(operate(1), OFFPASS_REASON_REPLAY);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 2), OFFPASS_STATUS_OK);
	crash(); /* the journal cannot rebuild what was dropped */
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "replay.state"));
}
END_TEST

START_TEST(test_seal_done_keeps_chain)
{
	char err[256];
	opened_t o;

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	seal_and_open(T_NOW, &o);
	free(o.plain);
	for (uint32_t i = 2; i <= 4; i++)
		ck_assert_int_eq(operate(i), OFFPASS_REASON_OK);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 1), OFFPASS_STATUS_OK);
	offpass_verifier_close(v);
	v = NULL;
	/* The first kept record must link to the dropped one. */
	{
		uint8_t *orig;
		size_t len, off[8];
		char path[128];

		seg_path(path, sizeof(path), 2);
		ck_assert(tu_read(path, &orig, &len));
		ck_assert_uint_eq(split(orig, len, off, 7), 3);
		ck_assert(tu_write(path, orig + off[1], len - off[1]));
		ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
		ck_assert_msg(strstr(err, "record 0") != NULL && strstr(err, "last confirmed") != NULL, "%s", err);
		ck_assert(tu_write(path, orig, len));
		free(orig);
	}
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(records(), 3);
}
END_TEST

/* A crash after the segment was frozen, before the batch was marked
 * sealed: the next seal has the same number and the same records, not
 * the ones written since. */
START_TEST(test_seal_crash_after_freeze)
{
	opened_t o;
	offpass_status_t st;

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	pthread_mutex_lock(&v->lock);
	st = ofp_journal_freeze(v);
	pthread_mutex_unlock(&v->lock);
	ck_assert_int_eq(st, OFFPASS_STATUS_OK);
	crash();
	v = tu_open(&cfg);
	ck_assert_int_eq(operate(3), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_REPLAY);
	seal_and_open(T_NOW, &o);
	ck_assert_uint_eq(o.env.sequence, 1);
	ck_assert_uint_eq(o.env.record_count, 2);
	free(o.plain);
	seal_and_open(T_NOW, &o);
	ck_assert_uint_eq(o.env.sequence, 2);
	ck_assert_uint_eq(o.env.record_count, 2); /* operate(3), the replay of 2 */
	free(o.plain);
}
END_TEST

START_TEST(test_removed_current_segment_after_seal)
{
	char path[128], err[256];
	opened_t o;

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	seal_and_open(T_NOW, &o);
	free(o.plain);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	offpass_verifier_close(v);
	v = NULL;
	seg_path(path, sizeof(path), 2);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "journal-0000000000000002.bin"));
}
END_TEST

/* next_batch as export uses it: the batch sealed and not confirmed is
 * offered again (same number, same records), then the next. */
static uint64_t next_batch(uint32_t now, opened_t *o)
{
	uint8_t *sealed = NULL;
	size_t len = 0;
	uint64_t seq = 0;

	ck_assert_msg(offpass_verifier_next_batch(v, now, &seq, &sealed, &len) == OFFPASS_STATUS_OK, "%s",
		      offpass_verifier_error(v));
	open_batch(sealed, len, o);
	ck_assert_uint_eq(o->env.sequence, seq);
	offpass_free(sealed);
	free(o->plain);
	return seq;
}

/* Issue 7.7d: the process is killed (SIGKILL) after the batch is marked
 * sealed and before its file is written. The next export offers the same
 * batch, and a later batch's confirmation cannot drop it. */
START_TEST(test_export_killed_after_seal)
{
	uint8_t *out = NULL;
	size_t len = 0;
	uint64_t seq = 0;
	opened_t o;
	pid_t pid;
	int status;

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		if (offpass_verifier_seal(v, T_NOW, &out, &len) == OFFPASS_STATUS_OK)
			raise(SIGKILL); /* before the batch is stored anywhere */
		_exit(1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	crash();
	v = tu_open(&cfg);
	ck_assert_int_eq(operate(3), OFFPASS_REASON_OK);
	/* Offered again, as often as asked, until confirmed. */
	ck_assert_uint_eq(next_batch(T_NOW, &o), 1);
	ck_assert_uint_eq(o.env.record_count, 2);
	ck_assert_uint_eq(next_batch(T_NOW, &o), 1);
	/* Batch 2 sealed directly; confirming it first is refused. */
	ck_assert_int_eq(offpass_verifier_seal(v, T_NOW, &out, &len), OFFPASS_STATUS_OK);
	offpass_free(out);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 2), OFFPASS_STATUS_INVALID_ARGUMENT);
	ck_assert_ptr_nonnull(strstr(offpass_verifier_error(v), "in order"));
	ck_assert_uint_eq(records(), 3);
	ck_assert_uint_eq(next_batch(T_NOW, &o), 1);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 1), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(next_batch(T_NOW, &o), 2);
	ck_assert_uint_eq(o.env.record_count, 1);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 2), OFFPASS_STATUS_OK);
	ck_assert_int_eq(offpass_verifier_next_batch(v, T_NOW, &seq, &out, &len), OFFPASS_STATUS_NOTHING);
	ck_assert_uint_eq(records(), 0);
}
END_TEST

/* Killed after the freeze, before the mark: next_batch makes the same
 * batch (the records written since go to the next). */
START_TEST(test_export_killed_after_freeze)
{
	opened_t o;
	pid_t pid;
	int status;

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		pthread_mutex_lock(&v->lock);
		if (ofp_journal_freeze(v) == OFFPASS_STATUS_OK)
			raise(SIGKILL);
		_exit(1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	crash();
	v = tu_open(&cfg);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	ck_assert_uint_eq(next_batch(T_NOW, &o), 1);
	ck_assert_uint_eq(o.env.record_count, 1);
	ck_assert_int_eq(offpass_verifier_seal_done(v, 1), OFFPASS_STATUS_OK);
	ck_assert_uint_eq(next_batch(T_NOW, &o), 2);
	ck_assert_uint_eq(o.env.record_count, 1);
}
END_TEST

/* A closed (frozen) segment cut short is damage, not a torn write. */
START_TEST(test_frozen_segment_cut)
{
	uint8_t *buf;
	size_t len;
	opened_t o;
	char path[128], err[256];

	ck_assert_int_eq(operate(1), OFFPASS_REASON_OK);
	ck_assert_int_eq(operate(2), OFFPASS_REASON_OK);
	seal_and_open(T_NOW, &o);
	free(o.plain);
	crash();
	seg_path(path, sizeof(path), 1);
	ck_assert(tu_read(path, &buf, &len));
	ck_assert(tu_write(path, buf, len - 5));
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "closed segment"));
	ck_assert_int_eq(unlink(path), 0); /* a missing one too */
	ck_assert_int_eq(try_open(err, sizeof(err)), OFFPASS_STATUS_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "missing"));
	free(buf);
}
END_TEST

/* A batch holds at most max_records (100000 in production): the journal
 * starts the next batch by itself and seal hands them out one by one. */
static offpass_reason_t operate_small(uint32_t counter)
{
	uint8_t p[OFP_PRESENTATION_MAX];
	tu_cred_spec_t c;
	tu_auth_spec_t a;
	size_t n;

	tu_cred_default(&c);
	tu_auth_default(&a, counter);
	a.amount = 10;
	n = tu_presentation(p, &c, &a);
	return tu_check(v, p, n, 0, NULL, 0, T_NOW, NULL);
}

START_TEST(test_segment_rotation)
{
	opened_t o;

	v->journal.max_records = 3;
	for (uint32_t i = 1; i <= 7; i++)
		ck_assert_int_eq(operate_small(i), OFFPASS_REASON_OK);
	for (uint32_t seq = 1; seq <= 3; seq++) {
		seal_and_open(T_NOW, &o);
		ck_assert_uint_eq(o.env.sequence, seq);
		ck_assert_uint_eq(o.env.record_count, seq < 3 ? 3 : 1);
		free(o.plain);
	}
	{
		uint8_t *out;
		size_t olen;

		ck_assert_int_eq(offpass_verifier_seal(v, T_NOW, &out, &olen), OFFPASS_STATUS_NOTHING);
	}
	offpass_verifier_close(v);
	v = tu_open(&cfg);
	ck_assert_int_eq(operate_small(7), OFFPASS_REASON_REPLAY);
}
END_TEST

/* Checks from four threads while the main thread seals: every record
 * lands in exactly one batch, the batches are numbered without a gap and
 * chain one to the next. */
#define CC_THREADS 4
#define CC_PER_THREAD 20

typedef struct cc_arg {
	uint8_t p[CC_PER_THREAD][OFP_PRESENTATION_MAX];
	size_t n[CC_PER_THREAD];
	int ok;
} cc_arg_t;

static void *cc_thread(void *p)
{
	cc_arg_t *a = p;
	offpass_result_t r;

	for (int i = 0; i < CC_PER_THREAD; i++)
		if (offpass_verifier_check(v, a->p[i], a->n[i], 1, NULL, 0, T_NOW, &r) == OFFPASS_STATUS_OK &&
		    r.decision == OFFPASS_OPERATE)
			a->ok++;
	return NULL;
}

static void cc_collect(uint64_t *seq, uint32_t *total, uint8_t last[32])
{
	uint8_t *out;
	size_t len;
	opened_t o;
	offpass_status_t st = offpass_verifier_seal(v, T_NOW, &out, &len);

	if (st == OFFPASS_STATUS_NOTHING)
		return;
	ck_assert_msg(st == OFFPASS_STATUS_OK, "%s", offpass_verifier_error(v));
	open_batch(out, len, &o);
	ck_assert_uint_eq(o.env.sequence, *seq + 1);
	ck_assert_mem_eq(o.first_prev, last, 32);
	memcpy(last, o.last_hash, 32);
	*seq = o.env.sequence;
	*total += o.env.record_count;
	free(o.plain);
	offpass_free(out);
}

START_TEST(test_seal_concurrent)
{
	static cc_arg_t args[CC_THREADS];
	pthread_t th[CC_THREADS];
	uint8_t last[32] = { 0 };
	uint64_t seq = 0;
	uint32_t total = 0;
	int ok = 0;

	for (int t = 0; t < CC_THREADS; t++)
		for (int i = 0; i < CC_PER_THREAD; i++) {
			tu_cred_spec_t c;
			tu_auth_spec_t a;

			tu_cred_default(&c);
			snprintf(c.holder_id, sizeof(c.holder_id), "CCHOLD%02d", t);
			c.extra_key = (unsigned)t + 1; /* replay state is per key */
			c.serial = 700 + (uint64_t)t;
			tu_auth_default(&a, (uint32_t)i + 1);
			a.amount = 1;
			args[t].n[i] = tu_presentation(args[t].p[i], &c, &a);
		}
	for (int t = 0; t < CC_THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, cc_thread, &args[t]), 0);
	for (int k = 0; k < 10; k++)
		cc_collect(&seq, &total, last);
	for (int t = 0; t < CC_THREADS; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
		ok += args[t].ok;
	}
	cc_collect(&seq, &total, last);
	ck_assert_int_eq(ok, CC_THREADS * CC_PER_THREAD);
	ck_assert_uint_eq(total, CC_THREADS * CC_PER_THREAD);
	ck_assert_uint_ge(seq, 1);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc;

	tc = tcase_create("journal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_records_written);
	tcase_add_test(tc, test_write_failure);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_zero_tail);
	tcase_add_test(tc, test_removed_record);
	tcase_add_test(tc, test_removed_first_record);
	tcase_add_test(tc, test_changed_record);
	tcase_add_test(tc, test_undecodable_record);
	tcase_add_test(tc, test_changed_prev_hash);
	tcase_add_test(tc, test_damaged_state_files);
	tcase_add_test(tc, test_removed_current_segment);
	tcase_add_test(tc, test_removed_current_segment_after_seal);
	tcase_add_test(tc, test_removed_journal_state);
	suite_add_tcase(s, tc);

	tc = tcase_create("seal");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_seal_unseal);
	tcase_add_test(tc, test_seal_sequence);
	tcase_add_test(tc, test_seal_needs_sealing_key);
	tcase_add_test(tc, test_seal_done);
	tcase_add_test(tc, test_seal_done_keeps_chain);
	tcase_add_test(tc, test_seal_crash_after_freeze);
	tcase_add_test(tc, test_export_killed_after_seal);
	tcase_add_test(tc, test_export_killed_after_freeze);
	tcase_add_test(tc, test_frozen_segment_cut);
	tcase_add_test(tc, test_segment_rotation);
	tcase_add_test(tc, test_seal_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
