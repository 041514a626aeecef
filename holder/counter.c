/* counter.c - per-key authorization counters in the holder state directory
 * (see counter.h for why the file is written before the value is used). */
#include "config.h"
#include "holder/counter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "atomic_file.h"
#include "hex.h"
#include "format/format.h"
#include "holder/holder.h"

/* The whole file: one line, the last value handed out. */
#define COUNTER_MAGIC "offpass-holder-counter v1 "
#define COUNTER_FILE_MAX 64

int ofp_holder_state_dir(const char *dir, char *out, size_t cap, char *err, size_t err_len)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;

	if (dir != NULL && dir[0] != '\0')
		n = snprintf(out, cap, "%s", dir);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, cap, "%s/offpass/holder", xdg);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, cap, "%s/.local/share/offpass/holder", home);
	else {
		snprintf(err, err_len, "no state directory: set HOME or XDG_DATA_HOME, or give --dir");
		return -1;
	}
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, err_len, "state directory path too long");
		return -1;
	}
	return 0;
}

int ofp_counter_path(const char *dir, const uint8_t *key, size_t key_len, char *out, size_t cap, char *err,
		     size_t err_len)
{
	uint8_t digest[OFP_HASH_LEN];
	char hex[2 * 8 + 1];
	int n;

	if (key == NULL || key_len == 0 || key_len > OFP_TRUST_KEY_MAX) {
		snprintf(err, err_len, "counter: no holder key given");
		return -1;
	}
	if (!ofp_sha256(key, key_len, digest)) {
		snprintf(err, err_len, "counter: SHA-256 failed (OpenSSL)");
		return -1;
	}
	hex_encode(digest, 8, hex);
	n = snprintf(out, cap, "%s/counter-%s", dir, hex);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, err_len, "counter: path in '%s' too long", dir);
		return -1;
	}
	return 0;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int make_dirs(const char *dir, char *err, size_t err_len)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf)) {
		snprintf(err, err_len, "state directory '%s': bad path", dir);
		return -1;
	}
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
			snprintf(err, err_len, "state directory '%s': mkdir: %s", buf, strerror(errno));
			return -1;
		}
		buf[i] = saved;
	}
	return 0;
}

/* Strict: exactly the magic, a canonical decimal u32, a newline. */
static bool parse_counter(const unsigned char *data, size_t len, uint32_t *value)
{
	size_t magic = strlen(COUNTER_MAGIC), i = magic;
	uint64_t v = 0;

	if (len < magic + 2 || memcmp(data, COUNTER_MAGIC, magic) != 0 || data[len - 1] != '\n')
		return false;
	if (data[i] == '0' && i + 2 != len) /* a leading zero */
		return false;
	for (; i < len - 1; i++) {
		if (data[i] < '0' || data[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(data[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*value = (uint32_t)v;
	return true;
}

/* 0 found, 1 no file, -1 error. */
static int read_counter(const char *path, uint32_t *value, char *err, size_t err_len)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int rv = file_read_all(path, COUNTER_FILE_MAX, &data, &len);

	if (rv == -ENOENT)
		return 1;
	if (rv == -EFBIG || (rv == 0 && !parse_counter(data, len, value))) {
		snprintf(err, err_len,
			 "counter file '%s' is corrupt (expected '%sN'): refusing to guess a value that could "
			 "repeat; restore the file or enroll a new key",
			 path, COUNTER_MAGIC);
		rv = -1;
	} else if (rv != 0) {
		snprintf(err, err_len, "counter file '%s': %s", path, strerror(-rv));
		rv = -1;
	}
	free(data);
	return rv;
}

int ofp_counter_last(const char *dir, const uint8_t *key, size_t key_len, uint32_t *value, char *err,
		     size_t err_len)
{
	char path[PATH_MAX];

	if (ofp_counter_path(dir, key, key_len, path, sizeof(path), err, err_len) != 0)
		return -1;
	return read_counter(path, value, err, err_len);
}

/* Open (creating) the lock file path with extra open flags and hold an
 * exclusive flock on it: the descriptor, or -1 with err set. */
static int lock_file(const char *path, int flags, char *err, size_t err_len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | flags, 0600);

	if (fd < 0) {
		snprintf(err, err_len, "counter lock '%s': %s", path, strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		snprintf(err, err_len, "counter lock '%s': flock: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The lock lives in its own file: the counter file is replaced by rename,
 * so a lock on it would be on an inode that is about to go away. */
static int lock_counter(const char *path, char *err, size_t err_len)
{
	char lock[PATH_MAX];

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock)) {
		snprintf(err, err_len, "counter: path '%s' too long", path);
		return -1;
	}
	return lock_file(lock, 0, err, err_len);
}

static int store_counter(const char *path, uint32_t value, char *err, size_t err_len)
{
	char text[COUNTER_FILE_MAX];
	int n = snprintf(text, sizeof(text), "%s%u\n", COUNTER_MAGIC, (unsigned)value);
	int rv = atomic_file_write(path, text, (size_t)n, 0600);

	if (rv != 0) {
		snprintf(err, err_len, "counter file '%s': write: %s", path, strerror(-rv));
		return -1;
	}
	return 0;
}

int ofp_counter_next(const char *dir, const uint8_t *key, size_t key_len, uint32_t now, uint32_t *value,
		     char *err, size_t err_len)
{
	char path[PATH_MAX];
	uint32_t last = 0, next;
	int fd = -1, rv = -1, found;

	if (ofp_counter_path(dir, key, key_len, path, sizeof(path), err, err_len) != 0 ||
	    make_dirs(dir, err, err_len) != 0)
		return -1;
	fd = lock_counter(path, err, err_len);
	if (fd < 0)
		return -1;
	found = read_counter(path, &last, err, err_len);
	if (found < 0)
		goto out;
	if (found == 0 && last == UINT32_MAX) {
		snprintf(err, err_len, "counter file '%s': counter exhausted (%u); enroll a new key", path,
			 (unsigned)last);
		goto out;
	}
	next = found == 1 ? (now > 0 ? now : 1) : last + 1;
	if (store_counter(path, next, err, err_len) != 0)
		goto out;
	*value = next;
	rv = 0;
out:
	close(fd); /* releases the lock, after the new value is durable */
	return rv;
}

/* ==== the counter beside the key on the token ====================================== */

/* Value of a counter object: magic, the key's fingerprint (first 8 bytes
 * of SHA-256 of its credential form), the counter (u32, big-endian). */
#define TOKEN_MAGIC "ofc1"
#define TOKEN_VALUE_LEN 16
#define TOKEN_OBJECTS_MAX 32
/* Tries of the compare-and-set loop before giving up (contention). */
#define CLAIM_TRIES 64
/* The derived counter (tokens without data objects): 2^PLACE_BITS classes. */
#define PLACE_BITS 6
#define PLACE_MAGIC "offpass-holder-place v1 "

typedef struct claim {
	ofp_p11_t *p;
	char label[OFP_P11_DATA_SMALL_MAX * 2];
	uint8_t fp[8];
	bool have_floor;
	uint32_t floor; /* the state file's last value, a lower bound */
	uint32_t now;
} claim_t;

/* The label ties the object to the key's CKA_ID (the one thing a key and
 * its objects share on every token); the fingerprint in the value says
 * which key the id belonged to. */
static void token_label(const ofp_p11_key_t *key, const uint8_t fp[8], char *out, size_t cap)
{
	char hex[2 * 48 + 1];

	if (key->id_len > 0 && key->id_len <= 48) {
		hex_encode(key->id, key->id_len, hex);
		snprintf(out, cap, "offpass counter id %s", hex);
	} else {
		hex_encode(fp, 8, hex);
		snprintf(out, cap, "offpass counter key %s", hex);
	}
}

static void encode_value(const claim_t *c, uint32_t v, uint8_t out[TOKEN_VALUE_LEN])
{
	memcpy(out, TOKEN_MAGIC, 4);
	memcpy(out + 4, c->fp, 8);
	out[12] = (uint8_t)(v >> 24);
	out[13] = (uint8_t)(v >> 16);
	out[14] = (uint8_t)(v >> 8);
	out[15] = (uint8_t)v;
}

/* The counter in an object's value; false when it is not one of ours for
 * this key (then nothing is guessed). */
static bool decode_value(const claim_t *c, const ofp_p11_data_t *d, uint32_t *v)
{
	if (d->len != TOKEN_VALUE_LEN || memcmp(d->value, TOKEN_MAGIC, 4) != 0 || memcmp(d->value + 4, c->fp, 8) != 0)
		return false;
	*v = (uint32_t)d->value[12] << 24 | (uint32_t)d->value[13] << 16 | (uint32_t)d->value[14] << 8 |
	     d->value[15];
	return true;
}

/* The highest counter on the token for this key, besides the object
 * `mine` (CK_INVALID_HANDLE: none); *any when there is one. *mine_seen
 * when `mine` is still there. */
static int token_max(claim_t *c, CK_OBJECT_HANDLE mine, ofp_p11_data_t *objs, size_t *n, uint32_t *max, bool *any,
		     bool *mine_seen, char *err, size_t err_len)
{
	*max = 0;
	*any = *mine_seen = false;
	if (ofp_p11_data_list(c->p, c->label, objs, TOKEN_OBJECTS_MAX, n) != 0) {
		snprintf(err, err_len, "counter on the token: %s", ofp_p11_error(c->p));
		return -1;
	}
	for (size_t i = 0; i < *n; i++) {
		uint32_t v;

		if (!decode_value(c, &objs[i], &v)) {
			snprintf(err, err_len,
				 "counter on the token: data object '%s' is not this key's counter (another key "
				 "had this CKA_ID?); refusing to guess a value that could repeat: delete the "
				 "object or use a key with another id",
				 c->label);
			return -1;
		}
		if (objs[i].handle == mine) {
			*mine_seen = true;
			continue;
		}
		*any = true;
		if (v > *max)
			*max = v;
	}
	return 0;
}

/* Whether a failed C_CreateObject means "this token keeps no data
 * objects of ours" (fall back on the derived counter) rather than an error. */
static bool create_unsupported(CK_RV rv)
{
	return rv == CKR_TOKEN_WRITE_PROTECTED || rv == CKR_SESSION_READ_ONLY || rv == CKR_FUNCTION_NOT_SUPPORTED ||
	       rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	       rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_READ_ONLY;
}

/* A short random pause before another try, so that two claimants that
 * saw each other do not meet again. */
static void backoff(unsigned attempt)
{
	uint8_t r = 0;
	struct timespec ts;

	(void)RAND_bytes(&r, 1);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(1 + r % 8) * (long)(attempt < 8 ? attempt + 1 : 8) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Destroy a counter object of ours. A failure leaves a stray object,
 * whose value then only looks taken: values may be skipped, never
 * repeated, so it is not an error. */
static void withdraw(ofp_p11_t *p, CK_OBJECT_HANDLE h)
{
	int rv = ofp_p11_data_remove(p, h);

	(void)rv;
}

/* One try: claim `next` by creating its object, then look. The claim
 * holds when no other object of this key has a value >= next; otherwise
 * the object is withdrawn and the caller tries again. 0 claimed, 1 lost,
 * 2 unsupported, -1 error. */
static int claim_once(claim_t *c, unsigned attempt, uint32_t *value, char *err, size_t err_len)
{
	static ofp_p11_data_t objs[TOKEN_OBJECTS_MAX];
	uint8_t val[TOKEN_VALUE_LEN];
	CK_OBJECT_HANDLE mine = CK_INVALID_HANDLE;
	uint32_t max, next, other;
	bool any, seen;
	size_t n;
	CK_RV ck;

	if (token_max(c, CK_INVALID_HANDLE, objs, &n, &max, &any, &seen, err, err_len) != 0)
		return -1;
	if (c->have_floor && (!any || c->floor > max))
		max = c->floor;
	any = any || c->have_floor;
	if (any && max == UINT32_MAX) {
		snprintf(err, err_len, "counter on the token: exhausted (%u); enroll a new key", (unsigned)max);
		return -1;
	}
	next = any ? max + 1 : (c->now > 0 ? c->now : 1);
	encode_value(c, next, val);
	if (ofp_p11_data_add(c->p, c->label, val, sizeof(val), &mine, &ck) != 0) {
		if (attempt == 0 && n == 0 && create_unsupported(ck))
			return 2;
		snprintf(err, err_len, "counter on the token: %s", ofp_p11_error(c->p));
		return -1;
	}
	if (token_max(c, mine, objs, &n, &other, &any, &seen, err, err_len) != 0)
		return -1;
	if (!seen || (any && other >= next)) {
		withdraw(c->p, mine);
		return 1;
	}
	/* Claimed: the lower values are history. An object that cannot be
	 * removed now is removed by a later claim. */
	for (size_t i = 0; i < n; i++)
		if (objs[i].handle != mine)
			withdraw(c->p, objs[i].handle);
	*value = next;
	return 0;
}

static int claim_loop(claim_t *c, uint32_t *value, char *err, size_t err_len);

/* The machine-wide lock of one key's counter objects: processes on this
 * machine claim one at a time, whatever their state directories. Needed
 * because a token may not create an object atomically for the other
 * processes that list it (SoftHSM2 writes a new object's file, then its
 * attributes: a listing in between misses its label); the claim loop
 * still guards processes on other machines that share a token store.
 * In $XDG_RUNTIME_DIR, else /tmp/offpass-<uid> (0700, ours). -1 on error. */
static int lock_machine(const claim_t *c, char *err, size_t err_len)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	char base[PATH_MAX], path[PATH_MAX], hex[2 * 8 + 1], who[256];
	uint8_t digest[OFP_HASH_LEN];
	struct stat st;
	int n;

	if (run != NULL && run[0] == '/')
		n = snprintf(base, sizeof(base), "%s/offpass", run);
	else
		n = snprintf(base, sizeof(base), "/tmp/offpass-%u", (unsigned)getuid());
	if (n < 0 || (size_t)n >= sizeof(base)) {
		snprintf(err, err_len, "counter lock: runtime directory path too long");
		return -1;
	}
	if (mkdir(base, 0700) != 0 && errno != EEXIST) {
		snprintf(err, err_len, "counter lock directory '%s': %s", base, strerror(errno));
		return -1;
	}
	if (lstat(base, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 0077) != 0) {
		snprintf(err, err_len, "counter lock directory '%s' is not a private directory of this user", base);
		return -1;
	}
	n = snprintf(who, sizeof(who), "%s\n%s\n%s", ofp_p11_token_serial(c->p), ofp_p11_token_label(c->p), c->label);
	if (n < 0 || (size_t)n >= sizeof(who) || !ofp_sha256((const uint8_t *)who, (size_t)n, digest)) {
		snprintf(err, err_len, "counter lock: cannot name the lock");
		return -1;
	}
	hex_encode(digest, 8, hex);
	if (snprintf(path, sizeof(path), "%s/counter-%s.lock", base, hex) >= (int)sizeof(path)) {
		snprintf(err, err_len, "counter lock: path too long");
		return -1;
	}
	return lock_file(path, O_NOFOLLOW, err, err_len);
}

/* 0 claimed, 2 the token keeps no counter objects, -1 error. */
static int claim_on_token(claim_t *c, uint32_t *value, char *err, size_t err_len)
{
	int fd = lock_machine(c, err, err_len), rv;

	if (fd < 0)
		return -1;
	rv = claim_loop(c, value, err, err_len);
	close(fd);
	return rv;
}

static int claim_loop(claim_t *c, uint32_t *value, char *err, size_t err_len)
{
	for (unsigned attempt = 0; attempt < CLAIM_TRIES; attempt++) {
		int rv = claim_once(c, attempt, value, err, err_len);

		if (rv != 1)
			return rv;
		backoff(attempt);
	}
	snprintf(err, err_len, "counter on the token: no value claimed after %d tries (other holders of this "
			       "key are presenting at the same time); try again", CLAIM_TRIES);
	return -1;
}

/* This place's class: DIR/place, a random number below 2^PLACE_BITS drawn
 * once. Called under the counter lock. */
static int place_class(const char *dir, uint32_t *place, char *err, size_t err_len)
{
	char path[PATH_MAX], text[64];
	unsigned char *data = NULL;
	size_t len = 0, magic = strlen(PLACE_MAGIC);
	uint8_t r[4];
	int rv, n;

	if (snprintf(path, sizeof(path), "%s/place", dir) >= (int)sizeof(path)) {
		snprintf(err, err_len, "state directory '%s': path too long", dir);
		return -1;
	}
	rv = file_read_all(path, sizeof(text), &data, &len);
	if (rv == 0) {
		unsigned v = 0;
		char c = 0;
		bool ok = len > magic && len < sizeof(text) && memcmp(data, PLACE_MAGIC, magic) == 0;
		if (ok) {
			memcpy(text, data + magic, len - magic);
			text[len - magic] = '\0';
			ok = sscanf(text, "%2u%c", &v, &c) == 2 && c == '\n' && v < (1u << PLACE_BITS);
		}
		free(data);
		if (!ok) {
			snprintf(err, err_len, "place file '%s' is corrupt: refusing to guess; restore it", path);
			return -1;
		}
		*place = v;
		return 0;
	}
	if (rv != -ENOENT) {
		snprintf(err, err_len, "place file '%s': %s", path, strerror(-rv));
		return -1;
	}
	if (RAND_bytes(r, sizeof(r)) != 1) {
		snprintf(err, err_len, "place file: no random bytes (OpenSSL)");
		return -1;
	}
	*place = r[0] & ((1u << PLACE_BITS) - 1);
	n = snprintf(text, sizeof(text), "%s%u\n", PLACE_MAGIC, (unsigned)*place);
	rv = atomic_file_write(path, text, (size_t)n, 0600);
	if (rv != 0) {
		snprintf(err, err_len, "place file '%s': %s", path, strerror(-rv));
		return -1;
	}
	return 0;
}

/* Tokens without data objects: the next value of this place's class
 * (counter mod 2^PLACE_BITS = place) above the last one and not below the
 * time. See counter.h for the argument. */
static int derived_next(const char *dir, bool found, uint32_t last, uint32_t now, uint32_t *value, char *err,
			size_t err_len)
{
	const uint32_t classes = 1u << PLACE_BITS;
	uint32_t place, base;

	if (place_class(dir, &place, err, err_len) != 0)
		return -1;
	base = found ? last + 1 : 1;
	if (found && last == UINT32_MAX)
		base = UINT32_MAX;
	if (now > base)
		base = now;
	if (base > UINT32_MAX - classes) {
		snprintf(err, err_len, "counter exhausted (%u); enroll a new key", (unsigned)last);
		return -1;
	}
	*value = base + ((place - base) & (classes - 1));
	return 0;
}

int ofp_counter_reserve(ofp_p11_t *p, const ofp_p11_key_t *key, const char *dir, uint32_t now, uint32_t *value,
			ofp_counter_kind_t *kind, char *err, size_t err_len)
{
	uint8_t form[OFP_HOLDER_KEY_MAX], digest[OFP_HASH_LEN];
	size_t form_len = 0;
	char path[PATH_MAX];
	claim_t c = { .p = p, .now = now };
	uint32_t last = 0;
	int fd, found, rv = -1;

	if (ofp_holder_key_form(key, form, &form_len, err, err_len) != OFP_HOLDER_OK)
		return -1;
	if (!ofp_sha256(form, form_len, digest)) {
		snprintf(err, err_len, "counter: SHA-256 failed (OpenSSL)");
		return -1;
	}
	memcpy(c.fp, digest, sizeof(c.fp));
	token_label(key, c.fp, c.label, sizeof(c.label));
	if (ofp_counter_path(dir, form, form_len, path, sizeof(path), err, err_len) != 0 ||
	    make_dirs(dir, err, err_len) != 0)
		return -1;
	fd = lock_counter(path, err, err_len);
	if (fd < 0)
		return -1;
	found = read_counter(path, &last, err, err_len);
	if (found < 0)
		goto out;
	c.have_floor = found == 0;
	c.floor = last;
	rv = claim_on_token(&c, value, err, err_len);
	*kind = OFP_COUNTER_ON_TOKEN;
	if (rv == 2) {
		*kind = OFP_COUNTER_DERIVED;
		rv = derived_next(dir, found == 0, last, now, value, err, err_len);
	}
	/* The file: the place's own record (derived) and a lower bound for
	 * the token's (should its objects be lost). Durable before use. */
	if (rv == 0)
		rv = store_counter(path, *value, err, err_len);
out:
	close(fd);
	return rv;
}
