/* journal.c - the append-only, hash-chained journal (docs/FORMAT.md 8).
 *
 * The journal is a run of segment files, journal-<n>.bin, one per batch:
 * segment n becomes sealed batch n. Only the last segment takes appends;
 * sealing freezes it (appends move to n+1), so a batch sealed again after
 * a crash has the same records, and offpass_verifier_seal_done drops
 * whole files instead of rewriting one. The hash chain runs across
 * segments; journal.state keeps the hash of the last dropped record so
 * that the first kept one still links to something.
 *
 * Each append is write() of the whole record then fdatasync() before the
 * caller may answer "operate". A crash can leave only a prefix of the last
 * record (or zeros the file system extended it with): open cuts that tail
 * and keeps everything before it. Any other damage - a record that does
 * not decode, a broken chain, a missing segment - is OFFPASS_STATUS_CORRUPT
 * naming the file and the record. */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "hex.h"

#define STATE_MAGIC "OFPJRN02"
#define STATE_MAGIC_V1 "OFPJRN01"
#define STATE_LEN_V1 (8 + OFP_ID_LEN + 3 * 8 + OFP_HASH_LEN + OFP_HASH_LEN)
#define STATE_LEN (STATE_LEN_V1 + 8)
#define SEGMENT_MAX ((size_t)OFP_BATCH_MAX_RECORDS * OFP_JOURNAL_RECORD_MAX)
#define SEGMENT_NAME_LEN 28 /* journal- + 16 hex digits + .bin */

static bool segment_path(const offpass_verifier_t *v, uint64_t seq, char *buf, size_t cap)
{
	char name[SEGMENT_NAME_LEN + 1];

	snprintf(name, sizeof(name), OFP_V_SEGMENT_FMT, (unsigned long long)seq);
	return ofp_v_path(v, buf, cap, name);
}

static void put_u64(uint8_t *p, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 8 | p[i];
	return x;
}

static bool parse_segment_name(const char *name, uint64_t *seq);

/* --- journal.state ----------------------------------------------------- */

offpass_status_t ofp_journal_save_state(offpass_verifier_t *v)
{
	const ofp_journal_t *j = &v->journal;
	uint8_t buf[STATE_LEN], *p = buf;
	char path[4096];
	int rc;

	memcpy(p, STATE_MAGIC, 8);
	memcpy(p + 8, v->cfg.verifier_id, OFP_ID_LEN);
	p += 8 + OFP_ID_LEN;
	put_u64(p, j->done);
	put_u64(p + 8, j->sealed);
	put_u64(p + 16, j->frozen);
	memcpy(p + 24, j->done_hash, OFP_HASH_LEN);
	put_u64(p + 24 + OFP_HASH_LEN, j->created);
	p += 32 + OFP_HASH_LEN;
	if (!ofp_sha256(buf, (size_t)(p - buf), p))
		return ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	if (!ofp_v_path(v, path, sizeof(path), OFP_V_JOURNAL_STATE_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = atomic_file_write(path, buf, sizeof(buf), 0600);
	if (rc != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(-rc));
	return OFFPASS_STATUS_OK;
}

static offpass_status_t parse_state(offpass_verifier_t *v, const char *path, const uint8_t *buf, size_t len)
{
	ofp_journal_t *j = &v->journal;
	const uint8_t *p = buf + 8 + OFP_ID_LEN;
	uint8_t sum[OFP_HASH_LEN];
	char have[2 * OFP_ID_LEN + 1], want[2 * OFP_ID_LEN + 1];

	bool v1 = len == STATE_LEN_V1 && memcmp(buf, STATE_MAGIC_V1, 8) == 0;

	if (!v1 && (len != STATE_LEN || memcmp(buf, STATE_MAGIC, 8) != 0))
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: not a journal state file", path);
	if (!ofp_sha256(buf, len - OFP_HASH_LEN, sum))
		return ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	if (memcmp(sum, buf + len - OFP_HASH_LEN, OFP_HASH_LEN) != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: checksum mismatch", path);
	if (memcmp(buf + 8, v->cfg.verifier_id, OFP_ID_LEN) != 0) {
		hex_encode(buf + 8, OFP_ID_LEN, have);
		hex_encode(v->cfg.verifier_id, OFP_ID_LEN, want);
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT,
				  "%s: this state belongs to verifier %s, not %s", path, have, want);
	}
	j->done = get_u64(p);
	j->sealed = get_u64(p + 8);
	j->frozen = get_u64(p + 16);
	memcpy(j->done_hash, p + 24, OFP_HASH_LEN);
	/* An older state file did not record the current segment's creation:
	 * only the closed ones are known to exist. */
	j->created = v1 ? j->frozen : get_u64(p + 24 + OFP_HASH_LEN);
	if (j->done > j->sealed || j->sealed > j->frozen || j->frozen >= UINT64_MAX - 1 || j->created > j->frozen + 1)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: batch numbers out of order", path);
	return OFFPASS_STATUS_OK;
}

/* A state directory without journal.state is new only if it holds no
 * other state: a gate key, a list, a snapshot or a segment means that
 * journal.state was there (it is the first file a verifier writes) and
 * has been removed, which would hide the journal's batch numbers. */
static offpass_status_t check_new_dir(offpass_verifier_t *v, const char *state_path)
{
	static const char *const names[] = { OFP_V_KEY_FILE, OFP_V_TRUST_FILE, OFP_V_DENY_FILE, OFP_V_REPLAY_FILE };
	DIR *d = opendir(v->state_dir);
	struct dirent *e;
	const char *found = NULL;
	uint64_t seq;

	if (d == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", v->state_dir, strerror(errno));
	while (found == NULL && (e = readdir(d)) != NULL) {
		for (size_t i = 0; i < OFP_ARRAY_LEN(names); i++)
			if (strcmp(e->d_name, names[i]) == 0)
				found = names[i];
		if (parse_segment_name(e->d_name, &seq))
			found = "a journal segment";
	}
	closedir(d);
	if (found == NULL)
		return OFFPASS_STATUS_OK;
	return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT,
			  "%s: missing, but the directory holds verifier state (%s): the journal's batch numbers "
			  "are lost", state_path, found);
}

/* A new state directory gets its state file at once, before anything
 * else: it fixes the verifier id the journal is written under. */
offpass_status_t ofp_journal_load_state(offpass_verifier_t *v)
{
	char path[4096];
	unsigned char *buf = NULL;
	size_t len = 0;
	offpass_status_t st;
	int rc;

	if (!ofp_v_path(v, path, sizeof(path), OFP_V_JOURNAL_STATE_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, STATE_LEN, &buf, &len);
	if (rc == -ENOENT) {
		st = check_new_dir(v, path);
		return st != OFFPASS_STATUS_OK ? st : ofp_journal_save_state(v);
	}
	if (rc != 0)
		return ofp_v_fail(v, rc == -EFBIG ? OFFPASS_STATUS_CORRUPT : OFFPASS_STATUS_IO, "%s: %s", path,
				  rc == -EFBIG ? "not a journal state file" : strerror(-rc));
	st = parse_state(v, path, buf, len);
	free(buf);
	return st;
}

/* --- segments on disk ---------------------------------------------------- */

static bool parse_segment_name(const char *name, uint64_t *seq)
{
	char hex[17];
	uint8_t be[8];

	if (strlen(name) != SEGMENT_NAME_LEN || strncmp(name, "journal-", 8) != 0 ||
	    strcmp(name + 24, ".bin") != 0)
		return false;
	memcpy(hex, name + 8, 16);
	hex[16] = '\0';
	if (hex_decode(hex, be, sizeof(be)) != 0)
		return false;
	*seq = get_u64(be);
	return true;
}

/* Segments up to `done` left by a trim that a crash interrupted are
 * removed now, and temporary files of interrupted atomic writes; a
 * segment past the current one cannot come from us. */
static offpass_status_t sweep_segments(offpass_verifier_t *v)
{
	DIR *d = opendir(v->state_dir);
	struct dirent *e;
	offpass_status_t st = OFFPASS_STATUS_OK;
	char path[4096];
	uint64_t seq;

	if (d == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", v->state_dir, strerror(errno));
	while (st == OFFPASS_STATUS_OK && (e = readdir(d)) != NULL) {
		/* A crash inside atomic_file_write leaves its temporary file. */
		if (strstr(e->d_name, ".tmp.") != NULL && ofp_v_path(v, path, sizeof(path), e->d_name)) {
			(void)unlink(path);
			continue;
		}
		if (!parse_segment_name(e->d_name, &seq))
			continue;
		if (seq > v->journal.frozen + 1)
			st = ofp_v_fail(v, OFFPASS_STATUS_CORRUPT,
					"%s/%s: a journal segment after the current one (%llu)", v->state_dir,
					e->d_name, (unsigned long long)(v->journal.frozen + 1));
		else if (seq <= v->journal.done && ofp_v_path(v, path, sizeof(path), e->d_name))
			(void)unlink(path);
	}
	closedir(d);
	return st;
}

static offpass_status_t cut_tail(offpass_verifier_t *v, const char *path, size_t keep)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	offpass_status_t st = OFFPASS_STATUS_OK;

	if (fd < 0 || ftruncate(fd, (off_t)keep) != 0 || fsync(fd) != 0)
		st = ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: cannot cut the torn tail: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return st;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* What a crash during an append leaves: the first bytes of a record, or
 * a tail of zeros where the file grew before its data reached the disk. */
static bool is_torn_tail(const uint8_t *p, size_t rem)
{
	ofp_fmt_error_t ferr;
	size_t rl = 0;
	ofp_fmt_rc_t rc = ofp_journal_record_peek_len(p, rem, &rl, &ferr);

	if (rc == OFP_FMT_ETRUNCATED || (rc == OFP_FMT_OK && rl > rem))
		return true;
	return all_zero(p, rem);
}

typedef struct seg_reader {
	offpass_verifier_t *v;
	const char *path;
	ofp_segment_t *seg;
	uint8_t *chain; /* in: the hash the first record links to; out: the last */
} seg_reader_t;

static offpass_status_t record_fail(seg_reader_t *r, const char *what)
{
	return ofp_v_fail(r->v, OFFPASS_STATUS_CORRUPT, "%s: record %u: %s", r->path, r->seg->count, what);
}

/* One complete record: decode, chain, replay state. */
static offpass_status_t take_record(seg_reader_t *r, const uint8_t *raw, size_t len)
{
	ofp_journal_t *j = &r->v->journal;
	ofp_journal_record_t rec;
	ofp_fmt_error_t ferr;
	ofp_segment_t *s = r->seg;
	char what[200];

	if (ofp_journal_record_decode(raw, len, &rec, &ferr) != OFP_FMT_OK) {
		snprintf(what, sizeof(what), "%s", ferr.reason);
		return record_fail(r, what);
	}
	if (memcmp(rec.verifier_id, r->v->cfg.verifier_id, OFP_ID_LEN) != 0)
		return record_fail(r, "written by another verifier");
	if (memcmp(rec.prev_hash, r->chain, OFP_HASH_LEN) != 0)
		return record_fail(r, s->count == 0 && s->seq == j->done + 1
					      ? "prev_hash does not link to the last confirmed record "
						"(hash chain broken)"
					      : "prev_hash is not the hash of the record before it (hash chain broken)");
	if (s->count >= OFP_BATCH_MAX_RECORDS)
		return record_fail(r, "more records than a batch holds");
	if (s->seq > j->snap_seq || (s->seq == j->snap_seq && s->count >= j->snap_count)) {
		int rc = ofp_replay_apply(&r->v->replay, &rec);

		if (rc > 0)
			return record_fail(r, "its operation does not fit in replay_capacity beside the live entries "
					      "(open with a larger capacity)");
		if (rc < 0)
			return ofp_v_fail(r->v, OFFPASS_STATUS_NO_MEMORY, "out of memory (replay state)");
	}
	if (!ofp_sha256(raw, len, r->chain))
		return ofp_v_fail(r->v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	if (s->count == 0 || rec.time < s->time_min)
		s->time_min = rec.time;
	if (s->count == 0 || rec.time > s->time_max)
		s->time_max = rec.time;
	memcpy(s->last_hash, r->chain, OFP_HASH_LEN);
	s->count++;
	return OFFPASS_STATUS_OK;
}

static offpass_status_t walk_records(seg_reader_t *r, const uint8_t *buf, size_t len, bool current, size_t *keep)
{
	ofp_fmt_error_t ferr;
	size_t off = 0, rl;
	offpass_status_t st;
	char what[200];

	while (off < len) {
		if (is_torn_tail(buf + off, len - off)) {
			if (!current)
				return record_fail(r, "cut short in a closed segment");
			break;
		}
		if (ofp_journal_record_peek_len(buf + off, len - off, &rl, &ferr) != OFP_FMT_OK) {
			snprintf(what, sizeof(what), "%s", ferr.reason);
			return record_fail(r, what);
		}
		st = take_record(r, buf + off, rl);
		if (st != OFFPASS_STATUS_OK)
			return st;
		off += rl;
	}
	*keep = off;
	return OFFPASS_STATUS_OK;
}

/* Read segment seg->seq, check it, apply it; the current one may be
 * missing (no record yet) or end in a torn tail, which is cut. */
static offpass_status_t read_segment(offpass_verifier_t *v, ofp_segment_t *seg, bool current, uint8_t chain[32])
{
	char path[4096];
	unsigned char *buf = NULL;
	size_t len = 0, keep = 0;
	seg_reader_t r = { v, path, seg, chain };
	offpass_status_t st;
	int rc;

	if (!segment_path(v, seg->seq, path, sizeof(path)))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, SEGMENT_MAX, &buf, &len);
	if (rc == -ENOENT && current && v->journal.created < seg->seq)
		return OFFPASS_STATUS_OK; /* no record written yet */
	if (rc == -ENOENT && current)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT,
				  "%s: missing: the current journal segment was created and has been removed "
				  "(its decisions would never reach the issuer)", path);
	if (rc != 0)
		return ofp_v_fail(v, rc == -EFBIG || rc == -ENOENT ? OFFPASS_STATUS_CORRUPT : OFFPASS_STATUS_IO,
				  "%s: %s", path,
				  rc == -ENOENT	 ? "missing (records of a batch not yet confirmed)"
				  : rc == -EFBIG ? "larger than a batch"
						 : strerror(-rc));
	st = walk_records(&r, buf, len, current, &keep);
	free(buf);
	if (st == OFFPASS_STATUS_OK && keep < len)
		st = cut_tail(v, path, keep);
	if (st == OFFPASS_STATUS_OK && !current && seg->count == 0)
		st = ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: empty, but a sealed batch is made of it", path);
	if (st == OFFPASS_STATUS_OK && seg->seq == v->journal.snap_seq && v->journal.snap_count > seg->count)
		st = ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: %u records, but replay.state counted %u", path,
				seg->count, v->journal.snap_count);
	if (st == OFFPASS_STATUS_OK && current)
		v->journal.size = (off_t)keep;
	return st;
}

/* The replay snapshot must cover every record that is no longer in the
 * journal (segments up to done), and cannot be ahead of the journal. */
static offpass_status_t check_snapshot_position(offpass_verifier_t *v)
{
	const ofp_journal_t *j = &v->journal;

	if (j->done > 0 && j->snap_seq < j->done)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT,
				  "%s/%s: missing or older than the confirmed batches (up to %llu): replay state lost",
				  v->state_dir, OFP_V_REPLAY_FILE, (unsigned long long)j->done);
	if (j->snap_seq > j->frozen + 1)
		return ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s/%s: ahead of the journal", v->state_dir,
				  OFP_V_REPLAY_FILE);
	return OFFPASS_STATUS_OK;
}

offpass_status_t ofp_journal_open(offpass_verifier_t *v)
{
	ofp_journal_t *j = &v->journal;
	uint8_t chain[OFP_HASH_LEN];
	offpass_status_t st;

	j->fd = -1;
	j->max_records = OFP_BATCH_MAX_RECORDS;
	st = check_snapshot_position(v);
	if (st == OFFPASS_STATUS_OK)
		st = sweep_segments(v);
	if (st != OFFPASS_STATUS_OK)
		return st;
	j->nsegs = (size_t)(j->frozen + 1 - j->done);
	j->segs = calloc(j->nsegs, sizeof(*j->segs));
	if (j->segs == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (journal)");
	memcpy(chain, j->done_hash, OFP_HASH_LEN);
	for (size_t i = 0; i < j->nsegs && st == OFFPASS_STATUS_OK; i++) {
		j->segs[i].seq = j->done + 1 + i;
		st = read_segment(v, &j->segs[i], i + 1 == j->nsegs, chain);
		j->records += j->segs[i].count;
	}
	memcpy(j->last_hash, chain, OFP_HASH_LEN);
	return st;
}

void ofp_journal_close(ofp_journal_t *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	free(j->segs);
	j->segs = NULL;
	j->nsegs = 0;
}

const ofp_segment_t *ofp_journal_segment(const ofp_journal_t *j, uint64_t seq)
{
	if (j->segs == NULL || seq <= j->done || seq - j->done > j->nsegs)
		return NULL;
	return &j->segs[seq - j->done - 1];
}

/* --- appending ------------------------------------------------------------ */

/* journal.state records that the current segment exists before its
 * first record is written, so that removing it (and with it decisions
 * not sealed yet) is caught at open, as a removed closed segment is. */
static offpass_status_t note_created(offpass_verifier_t *v)
{
	ofp_journal_t *j = &v->journal;
	uint64_t old = j->created;
	offpass_status_t st;

	j->created = j->segs[j->nsegs - 1].seq;
	st = ofp_journal_save_state(v);
	if (st != OFFPASS_STATUS_OK) {
		j->created = old;
		close(j->fd);
		j->fd = -1;
	}
	return st;
}

/* A new segment's directory entry must be durable too, or a crash could
 * lose the file with its fdatasync'ed records. */
static offpass_status_t open_current(offpass_verifier_t *v)
{
	ofp_journal_t *j = &v->journal;
	char path[4096];
	int rc;

	if (!segment_path(v, j->segs[j->nsegs - 1].seq, path, sizeof(path)))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	j->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (j->fd >= 0) /* a state file of an older release may not know it */
		return j->created < j->segs[j->nsegs - 1].seq ? note_created(v) : OFFPASS_STATUS_OK;
	if (errno != ENOENT)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(errno));
	j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(errno));
	rc = fsync_parent_dir(path);
	if (rc != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: fsync of the directory: %s", path, strerror(-rc));
	j->size = 0;
	return note_created(v);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Take back a record that may be partly written: a torn record must not
 * stay in the middle of the journal. If even that fails, the journal
 * refuses appends until the next open, which cuts the tail. */
static void undo_append(ofp_journal_t *j)
{
	if (ftruncate(j->fd, j->size) != 0 || fdatasync(j->fd) != 0)
		j->broken = true;
}

offpass_status_t ofp_journal_append(offpass_verifier_t *v, ofp_journal_record_t *r)
{
	ofp_journal_t *j = &v->journal;
	uint8_t buf[OFP_JOURNAL_RECORD_MAX];
	ofp_fmt_error_t ferr;
	ofp_segment_t *s;
	size_t len;
	offpass_status_t st = OFFPASS_STATUS_OK;
	int rc;

	if (j->broken)
		return ofp_v_fail(v, OFFPASS_STATUS_IO,
				  "journal: a failed write could not be undone; reopen the verifier");
	if (j->segs[j->nsegs - 1].count >= j->max_records)
		st = ofp_journal_freeze(v); /* a batch holds at most this many */
	if (st == OFFPASS_STATUS_OK && j->fd < 0)
		st = open_current(v);
	if (st != OFFPASS_STATUS_OK)
		return st;
	s = &j->segs[j->nsegs - 1];
	memcpy(r->prev_hash, j->last_hash, OFP_HASH_LEN);
	if (ofp_journal_record_encode(r, buf, sizeof(buf), &len, &ferr) != OFP_FMT_OK)
		return ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "journal record: %s", ferr.reason);
	rc = write_all(j->fd, buf, len);
	if (rc == 0 && fdatasync(j->fd) != 0)
		rc = -errno;
	if (rc != 0) {
		undo_append(j);
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "journal segment %llu: %s", (unsigned long long)s->seq,
				  strerror(-rc));
	}
	j->size += (off_t)len;
	if (!ofp_sha256(buf, len, j->last_hash))
		memset(j->last_hash, 0, OFP_HASH_LEN); /* cannot happen without OpenSSL failing; open recomputes */
	if (s->count == 0 || r->time < s->time_min)
		s->time_min = r->time;
	if (s->count == 0 || r->time > s->time_max)
		s->time_max = r->time;
	memcpy(s->last_hash, j->last_hash, OFP_HASH_LEN);
	s->count++;
	j->records++;
	return OFFPASS_STATUS_OK;
}

offpass_status_t ofp_journal_freeze(offpass_verifier_t *v)
{
	ofp_journal_t *j = &v->journal;
	ofp_segment_t *segs, *cur = &j->segs[j->nsegs - 1];
	uint64_t old = j->frozen;
	offpass_status_t st;

	if (cur->count == 0)
		return OFFPASS_STATUS_OK;
	segs = realloc(j->segs, (j->nsegs + 1) * sizeof(*segs));
	if (segs == NULL)
		return ofp_v_fail(v, OFFPASS_STATUS_NO_MEMORY, "out of memory (journal)");
	j->segs = segs;
	cur = &j->segs[j->nsegs - 1];
	st = ofp_replay_save(v);
	if (st != OFFPASS_STATUS_OK)
		return st;
	j->frozen = cur->seq;
	st = ofp_journal_save_state(v);
	if (st != OFFPASS_STATUS_OK) {
		j->frozen = old;
		return st;
	}
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	j->size = 0;
	memset(&j->segs[j->nsegs], 0, sizeof(*segs));
	j->segs[j->nsegs].seq = cur->seq + 1;
	j->nsegs++;
	return OFFPASS_STATUS_OK;
}

offpass_status_t ofp_journal_read_segment(offpass_verifier_t *v, uint64_t seq, uint8_t **buf, size_t *len)
{
	char path[4096];
	int rc;

	*buf = NULL;
	*len = 0;
	if (!segment_path(v, seq, path, sizeof(path)))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, SEGMENT_MAX, buf, len);
	if (rc != 0)
		return ofp_v_fail(v, rc == -ENOENT || rc == -EFBIG ? OFFPASS_STATUS_CORRUPT : OFFPASS_STATUS_IO,
				  "%s: %s", path, rc == -EFBIG ? "larger than a batch" : strerror(-rc));
	return OFFPASS_STATUS_OK;
}

/* --- trimming ---------------------------------------------------------------- */

offpass_status_t ofp_journal_trim(offpass_verifier_t *v, uint64_t seq)
{
	ofp_journal_t *j = &v->journal;
	const ofp_segment_t *last = ofp_journal_segment(j, seq);
	uint64_t old_done = j->done, dropped = 0;
	uint8_t old_hash[OFP_HASH_LEN];
	size_t n = (size_t)(seq - old_done);
	char path[4096];
	offpass_status_t st = OFFPASS_STATUS_OK;

	if (last == NULL || seq >= j->frozen + 1)
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "batch %llu: not a closed segment",
				  (unsigned long long)seq);
	/* The snapshot must hold what the dropped records taught us. */
	if (j->snap_seq < seq || (j->snap_seq == seq && j->snap_count < last->count))
		st = ofp_replay_save(v);
	if (st != OFFPASS_STATUS_OK)
		return st;
	memcpy(old_hash, j->done_hash, OFP_HASH_LEN);
	memcpy(j->done_hash, last->last_hash, OFP_HASH_LEN);
	j->done = seq;
	st = ofp_journal_save_state(v);
	if (st != OFFPASS_STATUS_OK) {
		j->done = old_done;
		memcpy(j->done_hash, old_hash, OFP_HASH_LEN);
		return st;
	}
	/* From here the state says "dropped": a file left behind by a crash
	 * is removed by the next open. */
	for (size_t i = 0; i < n; i++) {
		dropped += j->segs[i].count;
		if (segment_path(v, j->segs[i].seq, path, sizeof(path)))
			(void)unlink(path);
	}
	if (segment_path(v, seq, path, sizeof(path)) && fsync_parent_dir(path) != 0)
		ofp_v_clear_error(v); /* the next open removes what is left */
	memmove(j->segs, j->segs + n, (j->nsegs - n) * sizeof(*j->segs));
	j->nsegs -= n;
	j->records -= dropped;
	return OFFPASS_STATUS_OK;
}
