/* verifier.c - open, close, configuration and the per-thread error text
 * of liboffpass-verifier. The checks are in verify.c, the state in
 * lists.c, replay.c, cache.c and journal.c. */
#include "config.h"
#include "verifier/verifier_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"

/* One per thread that got an error from this verifier. */
struct ofp_err_slot {
	ofp_err_slot_t *prev, *next;
	offpass_verifier_t *v;
	char text[OFP_V_ERR_LEN];
};

/* Thread exit: the slot leaves the verifier's list. */
static void err_slot_release(void *p)
{
	ofp_err_slot_t *s = p;
	offpass_verifier_t *v = s->v;

	pthread_mutex_lock(&v->err_lock);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		v->err_slots = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&v->err_lock);
	free(s);
}

static ofp_err_slot_t *err_slot(offpass_verifier_t *v)
{
	ofp_err_slot_t *s = pthread_getspecific(v->err_key);

	if (s != NULL)
		return s;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->v = v;
	if (pthread_setspecific(v->err_key, s) != 0) {
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&v->err_lock);
	s->next = v->err_slots;
	if (s->next != NULL)
		s->next->prev = s;
	v->err_slots = s;
	pthread_mutex_unlock(&v->err_lock);
	return s;
}

offpass_status_t ofp_v_fail(offpass_verifier_t *v, offpass_status_t st, const char *fmt, ...)
{
	ofp_err_slot_t *s = err_slot(v);
	va_list ap;

	if (s == NULL)
		return st;
	va_start(ap, fmt);
	vsnprintf(s->text, sizeof(s->text), fmt, ap);
	va_end(ap);
	return st;
}

void ofp_v_clear_error(offpass_verifier_t *v)
{
	ofp_err_slot_t *s = pthread_getspecific(v->err_key);

	if (s != NULL)
		s->text[0] = '\0';
}

const char *offpass_verifier_error(const offpass_verifier_t *v)
{
	const ofp_err_slot_t *s;

	if (v == NULL)
		return "no verifier";
	s = pthread_getspecific(v->err_key);
	return s == NULL ? "" : s->text;
}

bool ofp_v_path(const offpass_verifier_t *v, char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", v->state_dir, name);

	return n > 0 && (size_t)n < cap;
}

bool ofp_v_within(const offpass_verifier_t *v, uint32_t not_before, uint32_t not_after, uint32_t now)
{
	uint64_t skew = v->cfg.clock_skew;

	return (uint64_t)now + skew >= not_before && (uint64_t)now <= (uint64_t)not_after + skew;
}

void offpass_verifier_config_init(offpass_verifier_config_t *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->resource_class = 1;
	cfg->clock_skew = 120;
	cfg->freshness = 60;
	cfg->replay_capacity = OFP_V_DEFAULT_CAPACITY;
	cfg->deny_max_age = OFFPASS_DEFAULT_DENY_MAX_AGE;
}

unsigned offpass_verifier_version(void)
{
	return OFFPASS_VERIFIER_VERSION;
}

const char *offpass_reason_text(offpass_reason_t reason)
{
	return ofp_reason_name((unsigned)reason);
}

const char *offpass_status_text(offpass_status_t status)
{
	static const char *const texts[] = {
		[OFFPASS_STATUS_OK] = "ok",
		[OFFPASS_STATUS_INVALID_ARGUMENT] = "invalid argument",
		[OFFPASS_STATUS_IO] = "i/o error",
		[OFFPASS_STATUS_CORRUPT] = "corrupt state",
		[OFFPASS_STATUS_REJECTED] = "rejected",
		[OFFPASS_STATUS_NOTHING] = "nothing to do",
		[OFFPASS_STATUS_NO_MEMORY] = "out of memory",
		[OFFPASS_STATUS_INTERNAL] = "internal error",
	};

	if ((unsigned)status < OFP_ARRAY_LEN(texts) && texts[status] != NULL)
		return texts[status];
	return "unknown status";
}

void offpass_free(void *p)
{
	free(p);
}

/* The state directory: created 0700 when missing (not its parents: a
 * typo in a path should not grow a tree). */
static offpass_status_t ensure_dir(offpass_verifier_t *v)
{
	struct stat st;

	if (mkdir(v->state_dir, 0700) != 0 && errno != EEXIST)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: cannot create the state directory: %s", v->state_dir,
				  strerror(errno));
	if (stat(v->state_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: not a directory", v->state_dir);
	return OFFPASS_STATUS_OK;
}

/* Two processes on one state directory would interleave journal
 * appends and break the chain: the second open fails instead. */
static offpass_status_t lock_dir(offpass_verifier_t *v)
{
	char path[4096];

	if (!ofp_v_path(v, path, sizeof(path), OFP_V_LOCK_FILE))
		return ofp_v_fail(v, OFFPASS_STATUS_INVALID_ARGUMENT, "%s: path too long", v->state_dir);
	v->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (v->lock_fd < 0)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path, strerror(errno));
	if (flock(v->lock_fd, LOCK_EX | LOCK_NB) != 0)
		return ofp_v_fail(v, OFFPASS_STATUS_IO, "%s: %s", path,
				  errno == EWOULDBLOCK ? "the state directory is in use by another verifier"
						       : strerror(errno));
	return OFFPASS_STATUS_OK;
}

/* The price rule: a mode must be chosen, and a charge of 0 only when
 * the gate says so (an amount-0 code is free passage). */
static const char *check_fare(const offpass_verifier_config_t *cfg)
{
	if (cfg->flags & ~(OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT | OFFPASS_CONFIG_NO_DENY_MAX_AGE))
		return "config.flags: unknown bits";
	if (cfg->fare_mode == OFFPASS_FARE_UNSET)
		return "config.fare_mode: not set (OFFPASS_FARE_FIXED with a fare, or OFFPASS_FARE_TILL)";
	if (cfg->fare_mode != OFFPASS_FARE_FIXED && cfg->fare_mode != OFFPASS_FARE_TILL)
		return "config.fare_mode: unknown mode";
	if (cfg->fare_mode == OFFPASS_FARE_TILL && cfg->fare != 0)
		return "config.fare: set in till mode (each check passes its amount)";
	if (cfg->fare_mode == OFFPASS_FARE_FIXED && cfg->fare == 0 && !(cfg->flags & OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT))
		return "config.fare: 0 (free passage needs OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT)";
	return NULL;
}

/* The caller's configuration at this library's size: a caller compiled
 * against 1.0 (the struct ended at deny_max_age) gets the defaults of the
 * fields added since; any other size is refused. */
static const char *upgrade_config(const offpass_verifier_config_t *in, offpass_verifier_config_t *out)
{
	if (in == NULL)
		return "no configuration";
	if (in->struct_size == sizeof(*in)) {
		*out = *in;
		return NULL;
	}
	if (in->struct_size != OFP_V_CONFIG_1_0_SIZE)
		return "config.struct_size: not this library's configuration (call offpass_verifier_config_init)";
	offpass_verifier_config_init(out);
	memcpy(out, in, OFP_V_CONFIG_1_0_SIZE);
	out->struct_size = sizeof(*out);
	return NULL;
}

/* The deny list's age rule: on with a maximum, or off by the flag. */
static const char *check_deny_age(const offpass_verifier_config_t *cfg)
{
	if (cfg->flags & OFFPASS_CONFIG_NO_DENY_MAX_AGE)
		return NULL;
	if (cfg->deny_max_age == 0)
		return "config.deny_max_age: 0 (turn the rule off with OFFPASS_CONFIG_NO_DENY_MAX_AGE)";
	return NULL;
}

static offpass_status_t check_config(const offpass_verifier_config_t *cfg, char *err, size_t err_len)
{
	const char *why = NULL;

	if ((why = check_fare(cfg)) != NULL)
		;
	else if (cfg->state_dir == NULL || cfg->state_dir[0] == '\0')
		why = "config.state_dir: missing";
	else if (strlen(cfg->state_dir) > 3800)
		why = "config.state_dir: too long";
	else if (cfg->replay_capacity > OFP_V_MAX_CAPACITY)
		why = "config.replay_capacity: over 16777216";
	else if (cfg->clock_skew > OFFPASS_CLOCK_SKEW_MAX)
		why = "config.clock_skew: over 86400 s (OFFPASS_CLOCK_SKEW_MAX, one day): fix the gate's clock instead";
	else
		why = check_deny_age(cfg);
	if (why == NULL)
		return OFFPASS_STATUS_OK;
	if (err != NULL && err_len > 0)
		snprintf(err, err_len, "%s", why);
	return OFFPASS_STATUS_INVALID_ARGUMENT;
}

/* Allocation and the things close() must be able to undo. */
static offpass_verifier_t *verifier_new(const offpass_verifier_config_t *cfg)
{
	offpass_verifier_t *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->lock_fd = -1;
	v->journal.fd = -1;
	if (pthread_key_create(&v->err_key, err_slot_release) != 0) {
		free(v);
		return NULL;
	}
	pthread_mutex_init(&v->err_lock, NULL);
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->admin_lock, NULL);
	v->cfg = *cfg;
	if (v->cfg.replay_capacity == 0)
		v->cfg.replay_capacity = OFP_V_DEFAULT_CAPACITY;
	v->state_dir = strdup(cfg->state_dir);
	v->cfg.state_dir = v->state_dir;
	if (v->state_dir == NULL) {
		offpass_verifier_close(v);
		return NULL;
	}
	return v;
}

static offpass_status_t open_state(offpass_verifier_t *v)
{
	offpass_status_t st = ensure_dir(v);

	if (st == OFFPASS_STATUS_OK)
		st = lock_dir(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_journal_load_state(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_gatekey_load(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_lists_load(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_cache_init(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_replay_init(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_replay_load(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_journal_open(v);
	if (st == OFFPASS_STATUS_OK)
		st = ofp_clock_load(v);
	return st;
}

offpass_status_t offpass_verifier_open(const offpass_verifier_config_t *cfg, offpass_verifier_t **out, char *err,
				       size_t err_len)
{
	offpass_verifier_config_t full;
	offpass_verifier_t *v;
	offpass_status_t st;
	const char *why;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (out == NULL) {
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, "no place for the verifier (out is NULL)");
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	}
	*out = NULL;
	if ((why = upgrade_config(cfg, &full)) != NULL) {
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, "%s", why);
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	}
	st = check_config(&full, err, err_len);
	if (st != OFFPASS_STATUS_OK)
		return st;
	v = verifier_new(&full);
	if (v == NULL) {
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, "out of memory");
		return OFFPASS_STATUS_NO_MEMORY;
	}
	st = open_state(v);
	if (st != OFFPASS_STATUS_OK) {
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, "%s", offpass_verifier_error(v));
		offpass_verifier_close(v);
		return st;
	}
	ofp_v_clear_error(v);
	v->opened = true;
	*out = v;
	return OFFPASS_STATUS_OK;
}

void offpass_verifier_close(offpass_verifier_t *v)
{
	ofp_err_slot_t *s;

	if (v == NULL)
		return;
	/* A snapshot at the end of the journal makes the next open quick;
	 * without it the journal is replayed, so a failure costs nothing. */
	if (v->opened) {
		pthread_mutex_lock(&v->lock);
		if (!v->journal.broken && ofp_replay_save(v) != OFFPASS_STATUS_OK)
			ofp_v_clear_error(v);
		pthread_mutex_unlock(&v->lock);
	}
	ofp_journal_close(&v->journal);
	ofp_replay_free(&v->replay);
	ofp_cache_free(&v->cache);
	ofp_lists_free(v);
	EVP_PKEY_free(v->gate_key);
	if (v->lock_fd >= 0)
		close(v->lock_fd);
	/* Slots of threads still alive are freed here; deleting the key
	 * first keeps their destructors from running on freed memory. */
	pthread_key_delete(v->err_key);
	while ((s = v->err_slots) != NULL) {
		v->err_slots = s->next;
		free(s);
	}
	pthread_mutex_destroy(&v->err_lock);
	pthread_mutex_destroy(&v->lock);
	pthread_mutex_destroy(&v->admin_lock);
	free(v->state_dir);
	free(v);
}

offpass_status_t offpass_verifier_id(const offpass_verifier_t *v, uint8_t out[8])
{
	if (v == NULL || out == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	memcpy(out, v->cfg.verifier_id, OFP_ID_LEN);
	return OFFPASS_STATUS_OK;
}

offpass_status_t offpass_verifier_public_key(const offpass_verifier_t *v, uint8_t out[65])
{
	if (v == NULL || out == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	memcpy(out, v->gate_pub, OFP_P256_UNCOMPRESSED_LEN);
	return OFFPASS_STATUS_OK;
}

/* The lock is state, not value: the versions are read under it even
 * through a const handle. */
static pthread_mutex_t *mutable_lock(const offpass_verifier_t *v)
{
	return (pthread_mutex_t *)&v->lock;
}

uint64_t offpass_verifier_trust_version(const offpass_verifier_t *v)
{
	uint64_t version;

	if (v == NULL)
		return 0;
	pthread_mutex_lock(mutable_lock(v));
	version = v->trust.loaded ? v->trust.list.version : 0;
	pthread_mutex_unlock(mutable_lock(v));
	return version;
}

uint64_t offpass_verifier_deny_version(const offpass_verifier_t *v)
{
	uint64_t version;

	if (v == NULL)
		return 0;
	pthread_mutex_lock(mutable_lock(v));
	version = v->deny.installed ? v->deny.list.version : 0;
	pthread_mutex_unlock(mutable_lock(v));
	return version;
}

uint32_t ofp_v_deny_since(const offpass_verifier_t *v)
{
	if (v->deny.installed)
		return v->deny.list.issued_at;
	return v->trust.loaded ? v->trust.list.issued_at : 0;
}

bool ofp_v_deny_stale(const offpass_verifier_t *v, uint32_t since, uint32_t now)
{
	if (v->cfg.flags & OFFPASS_CONFIG_NO_DENY_MAX_AGE)
		return false;
	/* A list issued after now (the gate's clock is behind the
	 * issuer's) is of age 0, not stale. */
	return now > since && now - since > v->cfg.deny_max_age;
}

offpass_status_t offpass_verifier_deny_age(const offpass_verifier_t *v, uint32_t now, uint32_t *since, int *stale)
{
	uint32_t t;

	if (v == NULL)
		return OFFPASS_STATUS_INVALID_ARGUMENT;
	pthread_mutex_lock(mutable_lock(v));
	t = ofp_v_deny_since(v);
	if (stale != NULL)
		*stale = ofp_v_deny_stale(v, t, now) ? 1 : 0;
	pthread_mutex_unlock(mutable_lock(v));
	if (since != NULL)
		*since = t;
	return OFFPASS_STATUS_OK;
}

void ofp_v_stats(offpass_verifier_t *v, ofp_v_stats_t *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&v->lock);
	s->replay_holders = ofp_lru_count(v->replay.holders);
	s->replay_capacity = ofp_lru_capacity(v->replay.holders);
	s->totals = ofp_lru_count(v->replay.totals);
	s->totals_capacity = ofp_lru_capacity(v->replay.totals);
	s->cache_entries = ofp_lru_count(v->cache.map);
	s->cache_hits = v->cache.hits;
	s->cache_misses = v->cache.misses;
	s->issuer_verifications = __atomic_load_n(&v->cache.issuer_verifications, __ATOMIC_RELAXED);
	s->holders_full = v->replay.holders_full;
	s->totals_full = v->replay.totals_full;
	s->clock_high_water = v->replay.hw;
	s->journal_records = v->journal.records;
	s->sealed = v->journal.sealed;
	s->done = v->journal.done;
	pthread_mutex_unlock(&v->lock);
}
