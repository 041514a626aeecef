/* clock.c - the gate's clock high-water mark beyond the journal.
 *
 * replay.hw is the highest gate time journaled; a gate with no checks
 * since its deny list went stale has journaled nothing recent, so its
 * clock could be set back to a time when the list was fresh (or a
 * credential valid) and step_clock would not see it. Every other moment
 * the gate reads its clock for us (a list install, offpass_verifier_note_time
 * from a status screen or a sync) raises hw too, durably: clock.state
 * holds the highest such time (atomic write, checksummed), and open takes
 * the larger of it and the journal's. A time more than clock_skew behind
 * hw is refused, as step_clock refuses a check (VERIFIER.md 3.4). */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

#define CLOCK_MAGIC "OFPCLK01"
#define CLOCK_FILE_LEN (8 + 4 + OFP_HASH_LEN)

static void clock_encode(uint8_t out[CLOCK_FILE_LEN], uint32_t t)
{
	memcpy(out, CLOCK_MAGIC, 8);
	out[8] = (uint8_t)(t >> 24);
	out[9] = (uint8_t)(t >> 16);
	out[10] = (uint8_t)(t >> 8);
	out[11] = (uint8_t)t;
}

offpass_status_t ofp_clock_load(offpass_verifier_t *v)
{
	uint8_t sum[OFP_HASH_LEN];
	unsigned char *buf = NULL;
	char path[4096];
	size_t len = 0;
	offpass_status_t st = OFFPASS_STATUS_OK;
	int rc;

	if (!ofp_v_path(v, path, sizeof(path), OFP_V_CLOCK_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = file_read_all(path, CLOCK_FILE_LEN, &buf, &len);
	if (rc == -ENOENT)
		goto out; /* nothing noted beyond the journal yet */
	if (rc != 0)
		st = ofp_v_fail(v, rc == -EFBIG ? OFFPASS_STATUS_CORRUPT : OFFPASS_STATUS_IO, "%s: %s", path,
				rc == -EFBIG ? "too large" : strerror(-rc));
	else if (len != CLOCK_FILE_LEN || memcmp(buf, CLOCK_MAGIC, 8) != 0)
		st = ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: not a clock state file", path);
	else if (!ofp_sha256(buf, 12, sum))
		st = ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	/* A damaged file is not read as a smaller time: refused, like a
	 * damaged journal (the operator looks, nothing is forgotten). */
	else if (memcmp(sum, buf + 12, OFP_HASH_LEN) != 0)
		st = ofp_v_fail(v, OFFPASS_STATUS_CORRUPT, "%s: checksum mismatch", path);
	else
		ofp_replay_note_time(&v->replay, (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
							 (uint32_t)buf[10] << 8 | buf[11]);
out:
	free(buf);
	return st;
}

offpass_status_t ofp_clock_note(offpass_verifier_t *v, uint32_t now)
{
	uint8_t buf[CLOCK_FILE_LEN];
	char path[4096];
	uint32_t hw;
	int rc;

	pthread_mutex_lock(&v->lock);
	hw = v->replay.hw;
	pthread_mutex_unlock(&v->lock);
	if ((uint64_t)now + v->cfg.clock_skew < hw)
		return ofp_v_fail(v, OFFPASS_STATUS_REJECTED,
				  "gate clock: now (%u) is more than the skew (%u s) behind the latest time this gate "
				  "has seen (%u): the clock was set back; fix it (VERIFIER.md 3.4)",
				  now, v->cfg.clock_skew, hw);
	if (now <= hw)
		return OFFPASS_STATUS_OK; /* hw is durable already (journal or clock.state) */
	clock_encode(buf, now);
	if (!ofp_sha256(buf, 12, buf + 12))
		return ofp_v_fail(v, OFFPASS_STATUS_INTERNAL, "SHA-256 failed (OpenSSL)");
	if (!ofp_v_path(v, path, sizeof(path), OFP_V_CLOCK_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	rc = atomic_file_write(path, buf, sizeof(buf), 0600);
	if (rc != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(-rc));
	/* On disk first: the mark in memory is never ahead of what a
	 * restart would find (replay pruning counts from it). */
	pthread_mutex_lock(&v->lock);
	ofp_replay_note_time(&v->replay, now);
	pthread_mutex_unlock(&v->lock);
	return OFFPASS_STATUS_OK;
}

offpass_status_t offpass_verifier_note_time(offpass_verifier_t *v, uint32_t now)
{
	offpass_status_t st;

	if (v == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	ofp_v_clear_error(v);
	pthread_mutex_lock(&v->admin_lock);
	st = ofp_clock_note(v, now);
	pthread_mutex_unlock(&v->admin_lock);
	return st;
}
