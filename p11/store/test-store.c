/* test-store.c - the token store: files, PINs, objects, several processes. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "p11/store/store.h"

#define SO_PIN "so-secret"
#define USER_PIN "user-1234"
#define PIN(s) (const CK_UTF8CHAR *)(s), (CK_ULONG)strlen(s)

static const char secret_value[] = "TOPSECRET-KEY-MATERIAL-0123456789";
static const char public_value[] = "PUBLIC-LABEL-VISIBLE-AT-REST-42";

static char dir[64];
static char path[128];

static const CK_UTF8CHAR *label(const char *text)
{
	static CK_UTF8CHAR buf[32];

	memset(buf, ' ', sizeof(buf));
	memcpy(buf, text, strlen(text) < 32 ? strlen(text) : 32);
	return buf;
}

static void rm_rf(const char *d)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token.db", dir);
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 1);
	unsetenv("OFFPASS_P11_MAX_PIN_FAILS");
	/* The TPM has its own suite (test-tpm): none here, whatever the machine has. */
	setenv("OFFPASS_P11_TPM", "off", 1);
}

static void teardown(void)
{
	rm_rf(dir);
}

static token_store_t *create_token(void)
{
	token_store_t *s = NULL;
	CK_RV rv = token_store_create(path, PIN(SO_PIN), label("test token"), &s);

	ck_assert_msg(rv == CKR_OK, "create: %lu %s", rv, token_store_error(NULL));
	ck_assert_ptr_nonnull(s);
	return s;
}

static token_store_t *open_token(void)
{
	token_store_t *s = NULL;
	CK_RV rv = token_store_open(path, &s);

	ck_assert_msg(rv == CKR_OK, "open: %lu %s", rv, token_store_error(NULL));
	return s;
}

/* A token with an initialised user PIN, logged in as the user. */
static token_store_t *user_token(void)
{
	token_store_t *s = create_token();

	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ck_assert_uint_eq(token_store_init_user_pin(s, PIN(USER_PIN)), CKR_OK);
	token_store_logout(s);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	return s;
}

static token_meta_t meta_of(token_store_t *s)
{
	token_meta_t m;

	ck_assert_uint_eq(token_store_meta(s, &m), CKR_OK);
	return m;
}

/* ---- Object helpers ----------------------------------------------------- */

#define MAX_SEEN 512
typedef struct seen {
	size_t n;
	uint64_t uid[MAX_SEEN];
	bool priv[MAX_SEEN];
	char label[MAX_SEEN][48];
	char value[MAX_SEEN][48];
	CK_RV stop_with; /* returned by the callback when != CKR_OK */
} seen_t;

static void copy_attr(const attr_list_t *a, CK_ATTRIBUTE_TYPE t, char out[48])
{
	const attr_t *x = attr_list_find(a, t);

	out[0] = '\0';
	if (x != NULL && x->len < 48) {
		memcpy(out, x->value, x->len);
		out[x->len] = '\0';
	}
}

static CK_RV collect(uint64_t uid, bool is_private, const attr_list_t *attrs, void *ctx)
{
	seen_t *s = ctx;

	if (s->stop_with != CKR_OK)
		return s->stop_with;
	ck_assert_uint_lt(s->n, MAX_SEEN);
	s->uid[s->n] = uid;
	s->priv[s->n] = is_private;
	copy_attr(attrs, CKA_LABEL, s->label[s->n]);
	copy_attr(attrs, CKA_VALUE, s->value[s->n]);
	s->n++;
	return CKR_OK;
}

static seen_t *load_all(token_store_t *s)
{
	static seen_t seen;
	CK_RV rv;

	memset(&seen, 0, sizeof(seen));
	rv = token_store_load(s, collect, &seen);
	ck_assert_msg(rv == CKR_OK, "load: %lu %s", rv, token_store_error(s));
	return &seen;
}

static ssize_t find_uid(const seen_t *seen, uint64_t uid)
{
	for (size_t i = 0; i < seen->n; i++)
		if (seen->uid[i] == uid)
			return (ssize_t)i;
	return -1;
}

static uint64_t put_obj(token_store_t *s, bool priv, const char *lab, const char *value)
{
	attr_list_t a;
	uint64_t uid = 0;
	CK_RV rv;

	attr_list_init(&a);
	ck_assert_uint_eq(attr_list_set(&a, CKA_LABEL, lab, strlen(lab)), CKR_OK);
	if (value != NULL)
		ck_assert_uint_eq(attr_list_set(&a, CKA_VALUE, value, strlen(value)), CKR_OK);
	ck_assert_uint_eq(attr_list_set_bool(&a, CKA_PRIVATE, priv), CKR_OK);
	rv = token_store_put(s, &uid, priv, &a);
	ck_assert_msg(rv == CKR_OK, "put: %lu %s", rv, token_store_error(s));
	ck_assert_uint_ne(uid, 0);
	ck_assert_uint_le(uid, (uint64_t)INT64_MAX);
	attr_list_clear(&a);
	return uid;
}

/* Raw SQL on the token file, as an attacker with the disk would. */
static void sql(const char *file, const char *stmt)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	ck_assert_int_eq(sqlite3_open(file, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	ck_assert_msg(sqlite3_exec(db, stmt, NULL, NULL, &err) == SQLITE_OK, "%s: %s", stmt, err);
	sqlite3_close(db);
}

static int64_t sql_int(const char *file, const char *query)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	ck_assert_int_eq(sqlite3_open(file, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The hex of a blob column, for searching the file's bytes. */
static size_t sql_blob(const char *file, const char *query, unsigned char *out, size_t max)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t n;

	ck_assert_int_eq(sqlite3_open(file, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = (size_t)sqlite3_column_bytes(st, 0);
	ck_assert_uint_le(n, max);
	memcpy(out, sqlite3_column_blob(st, 0), n);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static unsigned char *read_file(const char *file, size_t *len)
{
	FILE *f = fopen(file, "rb");
	unsigned char *buf;
	long n;

	if (f == NULL) {
		*len = 0;
		return NULL;
	}
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static bool file_contains_bytes(const char *file, const void *needle, size_t nlen)
{
	size_t len;
	unsigned char *buf = read_file(file, &len);
	bool found = false;

	for (size_t i = 0; buf != NULL && i + nlen <= len && !found; i++)
		found = memcmp(buf + i, needle, nlen) == 0;
	free(buf);
	return found;
}

static bool file_contains(const char *file, const char *needle)
{
	return file_contains_bytes(file, needle, strlen(needle));
}

static void write_file(const char *file, const void *data, size_t len)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* ---- KDF cost ------------------------------------------------------------ */

START_TEST(test_kdf_params_env)
{
	static const char *bad[] = { "1000", "512", "abc", "", "-1024", "2097152", "1024x", "0" };
	kdf_params_t kp;

	unsetenv("OFFPASS_P11_SCRYPT_N");
	kdf_params_default(&kp);
	ck_assert_uint_eq(kp.n, 32768);
	ck_assert_uint_eq(kp.r, 8);
	ck_assert_uint_eq(kp.p, 1);
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 1);
	kdf_params_default(&kp);
	ck_assert_uint_eq(kp.n, 1024);
	setenv("OFFPASS_P11_SCRYPT_N", "65536", 1);
	kdf_params_default(&kp);
	ck_assert_uint_eq(kp.n, 65536);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("OFFPASS_P11_SCRYPT_N", bad[i], 1);
		kdf_params_default(&kp);
		ck_assert_msg(kp.n == 32768, "'%s' gave N=%llu", bad[i], (unsigned long long)kp.n);
	}
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 1);
}
END_TEST

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The production cost really is used: 32 MiB of scrypt per guess. */
START_TEST(test_default_cost)
{
	token_store_t *s;
	double t0, ms;

	unsetenv("OFFPASS_P11_SCRYPT_N");
	s = create_token();
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 1);
	ck_assert_int_eq(sql_int(path, "SELECT kdf_n FROM wrapped_key WHERE who = 0"), 32768);
	ck_assert_int_eq(sql_int(path, "SELECT kdf_r FROM wrapped_key WHERE who = 0"), 8);
	ck_assert_int_eq(sql_int(path, "SELECT kdf_p FROM wrapped_key WHERE who = 0"), 1);
	t0 = now_ms();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ms = now_ms() - t0;
	ck_assert_msg(ms >= 30.0, "a default-cost PIN check took only %.1f ms", ms);
	/* Wrong PINs cost the same: the check is the KDF, not a shortcut. */
	t0 = now_ms();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_msg(now_ms() - t0 >= 30.0, "a wrong PIN was rejected too fast");
	/* The user key made by the SO gets the token's cost, not the env's. */
	ck_assert_uint_eq(token_store_init_user_pin(s, PIN(USER_PIN)), CKR_OK);
	ck_assert_int_eq(sql_int(path, "SELECT kdf_n FROM wrapped_key WHERE who = 1"), 32768);
	token_store_close(s);
}
END_TEST

/* ---- Creation and opening ----------------------------------------------- */

START_TEST(test_create_open_close)
{
	token_store_t *s = create_token(), *s2 = NULL;
	token_meta_t m = meta_of(s), m2;
	struct stat st;
	size_t before, after;
	unsigned char *b1, *b2;

	ck_assert_int_eq(memcmp(m.label, label("test token"), 32), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_msg(strchr("0123456789abcdef", m.serial[i]) != NULL, "serial %.16s", m.serial);
	ck_assert(!m.user_pin_initialized);
	ck_assert_uint_eq(m.user_fails, 0);
	ck_assert_uint_eq(m.so_fails, 0);
	ck_assert_uint_eq(m.max_fails, TOKEN_MAX_FAILS_DEFAULT);
	ck_assert(!token_store_unlocked(s));
	ck_assert_str_eq(token_store_error(s), "");
	token_store_close(s);

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	/* Born in WAL mode: header bytes 18 and 19 are 2. */
	{
		size_t len;
		unsigned char *b = read_file(path, &len);

		ck_assert_uint_gt(len, 20);
		ck_assert_uint_eq(b[18], 2);
		ck_assert_uint_eq(b[19], 2);
		free(b);
	}

	s = open_token();
	m2 = meta_of(s);
	ck_assert_int_eq(memcmp(m.serial, m2.serial, 16), 0);
	ck_assert_int_eq(memcmp(m.label, m2.label, 32), 0);

	/* A second token elsewhere has another serial. */
	{
		char other[160];

		snprintf(other, sizeof(other), "%s/other.db", dir);
		ck_assert_uint_eq(token_store_create(other, PIN(SO_PIN), label("x"), &s2), CKR_OK);
		m2 = meta_of(s2);
		ck_assert_int_ne(memcmp(m.serial, m2.serial, 16), 0);
		token_store_close(s2);
		s2 = NULL;
	}

	/* Creating over an existing file fails and leaves it as it was. */
	token_store_close(s);
	b1 = read_file(path, &before);
	ck_assert_uint_eq(token_store_create(path, PIN(SO_PIN), label("again"), &s2), CKR_DEVICE_ERROR);
	ck_assert_ptr_null(s2);
	ck_assert_ptr_nonnull(strstr(token_store_error(NULL), path));
	ck_assert_ptr_nonnull(strstr(token_store_error(NULL), "exists"));
	b2 = read_file(path, &after);
	ck_assert_uint_eq(before, after);
	ck_assert_int_eq(memcmp(b1, b2, before), 0);
	free(b1);
	free(b2);
}
END_TEST

START_TEST(test_create_no_leftovers)
{
	char cmd[256];
	token_store_t *s = create_token();

	token_store_close(s);
	/* Exactly one file: the token (the WAL goes away on last close). */
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = token.db", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_create_bad_args)
{
	token_store_t *s = NULL;
	char long_pin[300];
	struct stat st;

	memset(long_pin, 'x', sizeof(long_pin));
	ck_assert_uint_eq(token_store_create(path, PIN("abc"), label("t"), &s), CKR_PIN_LEN_RANGE);
	ck_assert_uint_eq(token_store_create(path, (const CK_UTF8CHAR *)long_pin, 256, label("t"), &s),
			  CKR_PIN_LEN_RANGE);
	ck_assert_ptr_null(s);
	ck_assert_int_ne(stat(path, &st), 0);
	ck_assert_uint_eq(token_store_create(NULL, PIN(SO_PIN), label("t"), &s), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(token_store_create(path, PIN(SO_PIN), NULL, &s), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(token_store_create(path, NULL, 8, label("t"), &s), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(token_store_create(path, PIN(SO_PIN), label("t"), NULL), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(token_store_open(NULL, &s), CKR_ARGUMENTS_BAD);
	ck_assert_int_ne(stat(path, &st), 0);
	/* A directory that does not exist. */
	{
		char bad[200];

		snprintf(bad, sizeof(bad), "%s/missing/token.db", dir);
		ck_assert_uint_eq(token_store_create(bad, PIN(SO_PIN), label("t"), &s), CKR_DEVICE_ERROR);
		ck_assert_ptr_nonnull(strstr(token_store_error(NULL), bad));
	}
	/* The largest PIN is accepted. */
	ck_assert_uint_eq(token_store_create(path, (const CK_UTF8CHAR *)long_pin, TOKEN_PIN_MAX,
					     label("t"), &s), CKR_OK);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, (const CK_UTF8CHAR *)long_pin, TOKEN_PIN_MAX),
			  CKR_OK);
	token_store_close(s);
}
END_TEST

/* ---- PINs ---------------------------------------------------------------- */

START_TEST(test_wrong_pin_counted)
{
	token_store_t *s = create_token();

	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN("not-the-pin")), CKR_PIN_INCORRECT);
	ck_assert_ptr_nonnull(strstr(token_store_error(s), path));
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN("not-the-pin2")), CKR_PIN_INCORRECT);
	ck_assert(!token_store_unlocked(s));
	token_store_close(s);

	/* The count is on disk, not in the handle. */
	s = open_token();
	ck_assert_uint_eq(meta_of(s).so_fails, 2);
	ck_assert_uint_eq(meta_of(s).user_fails, 0);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ck_assert(token_store_unlocked(s));
	token_store_close(s);

	s = open_token();
	ck_assert_uint_eq(meta_of(s).so_fails, 0);
	ck_assert(!token_store_unlocked(s));
	token_store_close(s);
}
END_TEST

/* A PIN of a length no PIN can have is a wrong PIN, and costs a guess. */
START_TEST(test_wrong_length_counted)
{
	token_store_t *s = create_token();
	char long_pin[300];

	memset(long_pin, 'x', sizeof(long_pin));
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN("abc")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, NULL, 0), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, (const CK_UTF8CHAR *)long_pin, 256),
			  CKR_PIN_INCORRECT);
	ck_assert_uint_eq(meta_of(s).so_fails, 3);
	/* Bad arguments and user types are not guesses. */
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, NULL, 5), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_CONTEXT_SPECIFIC, PIN(SO_PIN)), CKR_USER_TYPE_INVALID);
	ck_assert_uint_eq(token_store_check_pin(s, 7, PIN(SO_PIN)), CKR_USER_TYPE_INVALID);
	ck_assert_uint_eq(meta_of(s).so_fails, 3);
	token_store_close(s);
}
END_TEST

START_TEST(test_lockout)
{
	token_store_t *s;

	setenv("OFFPASS_P11_MAX_PIN_FAILS", "3", 1);
	s = user_token();
	unsetenv("OFFPASS_P11_MAX_PIN_FAILS");
	ck_assert_uint_eq(meta_of(s).max_fails, 3);
	token_store_logout(s);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(meta_of(s).user_fails, 3);
	/* Locked: even the right PIN is not tried, and nothing more is counted. */
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_PIN_LOCKED);
	ck_assert(!token_store_unlocked(s));
	ck_assert_uint_eq(meta_of(s).user_fails, 3);
	ck_assert_uint_eq(token_store_set_pin(s, CKU_USER, PIN(USER_PIN), PIN("new-user-pin")),
			  CKR_PIN_LOCKED);
	token_store_close(s);

	/* Still locked after reopening; the SO is not affected. */
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_PIN_LOCKED);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	/* The SO unlocks by setting a new user PIN. */
	ck_assert_uint_eq(token_store_init_user_pin(s, PIN("fresh-user-pin")), CKR_OK);
	ck_assert_uint_eq(meta_of(s).user_fails, 0);
	token_store_logout(s);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("fresh-user-pin")), CKR_OK);
	ck_assert_uint_eq(meta_of(s).user_fails, 0);

	/* The SO PIN locks the same way, and then nothing needs it works. */
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_PIN_LOCKED);
	ck_assert_uint_eq(token_store_reinit(s, PIN(SO_PIN), label("t")), CKR_PIN_LOCKED);
	ck_assert_uint_eq(meta_of(s).so_fails, 3);
	token_store_close(s);
}
END_TEST

START_TEST(test_reset_on_success)
{
	token_store_t *s = user_token();

	token_store_logout(s);
	for (int i = 0; i < 9; i++)
		ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(meta_of(s).user_fails, 9);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	ck_assert_uint_eq(meta_of(s).user_fails, 0);
	/* Ten more are allowed again before the lock. */
	for (int i = 0; i < 9; i++)
		ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	token_store_close(s);
}
END_TEST

START_TEST(test_user_pin_not_initialized)
{
	token_store_t *s = create_token();

	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_USER_PIN_NOT_INITIALIZED);
	ck_assert_uint_eq(token_store_set_pin(s, CKU_USER, PIN(USER_PIN), PIN("other-pin")),
			  CKR_USER_PIN_NOT_INITIALIZED);
	ck_assert_uint_eq(meta_of(s).user_fails, 0);
	/* C_InitPIN needs the token key in memory. */
	ck_assert_uint_eq(token_store_init_user_pin(s, PIN(USER_PIN)), CKR_USER_NOT_LOGGED_IN);
	ck_assert(!meta_of(s).user_pin_initialized);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ck_assert_uint_eq(token_store_init_user_pin(s, PIN("abc")), CKR_PIN_LEN_RANGE);
	ck_assert_uint_eq(token_store_init_user_pin(s, NULL, 3), CKR_ARGUMENTS_BAD);
	ck_assert(!meta_of(s).user_pin_initialized);
	ck_assert_uint_eq(token_store_init_user_pin(s, PIN(USER_PIN)), CKR_OK);
	ck_assert(meta_of(s).user_pin_initialized);
	token_store_close(s);
}
END_TEST

/* Locked memory of this process, in kB, as the kernel counts it. */
static long vm_locked_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	ck_assert_int_ge(kb, 0);
	return kb;
}

/* Whether a page locked here shows in VmLck (not under AddressSanitizer,
 * whose mlock does nothing, nor beyond RLIMIT_MEMLOCK). */
static bool lock_observable(void)
{
	long page = sysconf(_SC_PAGESIZE), before = vm_locked_kb();
	void *p = NULL;
	bool seen;

	ck_assert_int_eq(posix_memalign(&p, (size_t)page, (size_t)page), 0);
	memset(p, 1, (size_t)page);
	seen = mlock(p, (size_t)page) == 0 && vm_locked_kb() == before + page / 1024;
	(void)munlock(p, (size_t)page);
	free(p);
	return seen;
}

/* The token key lives in locked memory while the token is unlocked, and
 * no derived key stays behind: one page from login to logout, none after a
 * wrong PIN. */
START_TEST(test_token_key_locked)
{
	token_store_t *s = user_token();
	long page_kb = sysconf(_SC_PAGESIZE) / 1024, before;

	token_store_logout(s);
	if (!lock_observable()) {
		fprintf(stderr, "test_token_key_locked: locked memory not observable here\n");
		token_store_close(s);
		return;
	}
	before = vm_locked_kb();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	ck_assert(token_store_unlocked(s));
	ck_assert_int_eq(vm_locked_kb(), before + page_kb);
	token_store_logout(s);
	ck_assert_int_eq(vm_locked_kb(), before);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert_int_eq(vm_locked_kb(), before);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ck_assert_uint_eq(token_store_set_pin(s, CKU_SO, PIN(SO_PIN), PIN("new-so-pin")), CKR_OK);
	ck_assert_int_eq(vm_locked_kb(), before + page_kb);
	token_store_close(s);
}
END_TEST

START_TEST(test_so_vs_user)
{
	token_store_t *s = user_token();
	uint64_t uid;

	token_store_logout(s);
	/* Each PIN opens only its own door, and is counted against it. */
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(USER_PIN)), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(SO_PIN)), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(meta_of(s).so_fails, 1);
	ck_assert_uint_eq(meta_of(s).user_fails, 1);
	/* Both unwrap the same token key: what one writes, the other reads. */
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	uid = put_obj(s, true, "by-so", secret_value);
	token_store_logout(s);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	{
		seen_t *seen = load_all(s);
		ssize_t i = find_uid(seen, uid);

		ck_assert_int_ge(i, 0);
		ck_assert_str_eq(seen->value[i], secret_value);
	}
	/* A wrapped key moved to the other user type no longer opens. */
	token_store_close(s);
	sql(path, "UPDATE wrapped_key SET salt = (SELECT salt FROM wrapped_key WHERE who = 0),"
		  " iv = (SELECT iv FROM wrapped_key WHERE who = 0),"
		  " ct = (SELECT ct FROM wrapped_key WHERE who = 0) WHERE who = 1");
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(SO_PIN)), CKR_PIN_INCORRECT);
	token_store_close(s);
}
END_TEST

START_TEST(test_set_pin)
{
	token_store_t *s = user_token();
	uint64_t uid = put_obj(s, true, "k", secret_value);
	unsigned char old_ct[64];
	size_t old_len;

	token_store_logout(s);
	/* The new PIN is checked before a guess is spent on the old one. */
	ck_assert_uint_eq(token_store_set_pin(s, CKU_USER, PIN(USER_PIN), PIN("abc")), CKR_PIN_LEN_RANGE);
	ck_assert_uint_eq(meta_of(s).user_fails, 0);
	ck_assert_uint_eq(token_store_set_pin(s, CKU_USER, PIN("wrong-pin"), PIN("new-user-pin")),
			  CKR_PIN_INCORRECT);
	ck_assert_uint_eq(meta_of(s).user_fails, 1);
	ck_assert_uint_eq(token_store_set_pin(s, CKU_USER, PIN(USER_PIN), PIN("new-user-pin")), CKR_OK);
	ck_assert_uint_eq(meta_of(s).user_fails, 0);
	/* Changing a PIN does not log in. */
	ck_assert(!token_store_unlocked(s));
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("new-user-pin")), CKR_OK);
	/* The token key is unchanged: old objects still open. */
	ck_assert_int_ge(find_uid(load_all(s), uid), 0);
	ck_assert_str_eq(load_all(s)->value[0], secret_value);

	token_store_close(s);
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("new-user-pin")), CKR_OK);
	old_len = sql_blob(path, "SELECT ct FROM wrapped_key WHERE who = 0", old_ct, sizeof(old_ct));
	ck_assert_uint_eq(old_len, 48);
	ck_assert(file_contains_bytes(path, old_ct, old_len));
	ck_assert_uint_eq(token_store_set_pin(s, CKU_SO, PIN(SO_PIN), PIN("new-so-pin")), CKR_OK);
	/* Logged in as the user, the handle stays logged in. */
	ck_assert(token_store_unlocked(s));
	token_store_close(s);
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN("new-so-pin")), CKR_OK);
	ck_assert_uint_eq(token_store_set_pin(s, CKU_CONTEXT_SPECIFIC, PIN("new-so-pin"), PIN("abcd")),
			  CKR_USER_TYPE_INVALID);
	token_store_close(s);
	/* The key wrapped under the old PIN is gone from the file
	 * (secure_delete), not left for an offline guesser. */
	ck_assert(!file_contains_bytes(path, old_ct, old_len));
}
END_TEST

START_TEST(test_reinit)
{
	token_store_t *s = user_token();
	token_meta_t m;
	seen_t *seen;
	unsigned char user_ct[64];
	size_t user_len;
	char wal[160];

	snprintf(wal, sizeof(wal), "%s-wal", path);

	put_obj(s, false, "public-obj", NULL);
	put_obj(s, true, "private-obj", secret_value);
	ck_assert_uint_eq(load_all(s)->n, 2);
	m = meta_of(s);

	ck_assert_uint_eq(token_store_reinit(s, PIN("wrong-pin"), label("new label")), CKR_PIN_INCORRECT);
	ck_assert_uint_eq(load_all(s)->n, 2);
	ck_assert_uint_eq(meta_of(s).so_fails, 1);
	ck_assert_uint_eq(token_store_reinit(s, PIN(SO_PIN), NULL), CKR_ARGUMENTS_BAD);

	user_len = sql_blob(path, "SELECT ct FROM wrapped_key WHERE who = 1", user_ct, sizeof(user_ct));
	ck_assert(file_contains_bytes(path, user_ct, user_len) ||
		  file_contains_bytes(wal, user_ct, user_len));
	ck_assert_uint_eq(token_store_reinit(s, PIN(SO_PIN), label("new label")), CKR_OK);
	ck_assert(token_store_changed(s));
	ck_assert(!token_store_unlocked(s));
	ck_assert_uint_eq(load_all(s)->n, 0);
	ck_assert(!meta_of(s).user_pin_initialized);
	ck_assert_uint_eq(meta_of(s).so_fails, 0);
	ck_assert_int_eq(memcmp(meta_of(s).label, label("new label"), 32), 0);
	ck_assert_int_eq(memcmp(meta_of(s).serial, m.serial, 16), 0);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_USER_PIN_NOT_INITIALIZED);
	ck_assert_int_eq(sql_int(path, "SELECT count(*) FROM wrapped_key WHERE who = 1"), 0);
	token_store_close(s);
	/* The forgotten user PIN's wrapped key is wiped, not left in a free page. */
	ck_assert(!file_contains_bytes(path, user_ct, user_len));

	/* The same SO PIN works; the token is usable afresh. */
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_OK);
	ck_assert_uint_eq(token_store_init_user_pin(s, PIN("second-user")), CKR_OK);
	token_store_logout(s);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("second-user")), CKR_OK);
	put_obj(s, true, "after", secret_value);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 1);
	ck_assert_str_eq(seen->label[0], "after");
	token_store_close(s);
}
END_TEST

/* Another process re-initialises the token: this handle's key is stale. */
START_TEST(test_reinit_elsewhere)
{
	token_store_t *a = user_token(), *b = open_token();
	attr_list_t l;
	uint64_t uid = 0;

	put_obj(a, true, "old", secret_value);
	ck_assert_uint_eq(token_store_reinit(b, PIN(SO_PIN), label("b")), CKR_OK);
	attr_list_init(&l);
	ck_assert_uint_eq(attr_list_set(&l, CKA_LABEL, "x", 1), CKR_OK);
	ck_assert_uint_eq(token_store_put(a, &uid, true, &l), CKR_USER_NOT_LOGGED_IN);
	ck_assert(!token_store_unlocked(a));
	attr_list_clear(&l);
	ck_assert(token_store_changed(a));
	ck_assert_uint_eq(load_all(a)->n, 0);
	token_store_close(a);
	token_store_close(b);
}
END_TEST

/* ---- Objects ------------------------------------------------------------- */

START_TEST(test_objects_roundtrip)
{
	token_store_t *s = user_token();
	uint64_t pub = put_obj(s, false, "pub", "public-bytes");
	uint64_t priv = put_obj(s, true, "priv", secret_value);
	seen_t *seen;
	attr_list_t l;
	uint64_t uid;
	ssize_t i;

	ck_assert_uint_ne(pub, priv);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 2);
	i = find_uid(seen, pub);
	ck_assert_int_ge(i, 0);
	ck_assert(!seen->priv[i]);
	ck_assert_str_eq(seen->label[i], "pub");
	ck_assert_str_eq(seen->value[i], "public-bytes");
	i = find_uid(seen, priv);
	ck_assert_int_ge(i, 0);
	ck_assert(seen->priv[i]);
	ck_assert_str_eq(seen->label[i], "priv");
	ck_assert_str_eq(seen->value[i], secret_value);

	/* Replace in place: same uid, new content, private flag may change. */
	attr_list_init(&l);
	ck_assert_uint_eq(attr_list_set(&l, CKA_LABEL, "priv2", 5), CKR_OK);
	uid = priv;
	ck_assert_uint_eq(token_store_put(s, &uid, true, &l), CKR_OK);
	ck_assert_uint_eq(uid, priv);
	uid = pub;
	ck_assert_uint_eq(token_store_put(s, &uid, true, &l), CKR_OK);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 2);
	ck_assert_str_eq(seen->label[find_uid(seen, priv)], "priv2");
	ck_assert_str_eq(seen->value[find_uid(seen, priv)], "");
	ck_assert(seen->priv[find_uid(seen, pub)]);

	/* Replacing an object that is not there is an error, not an insert. */
	uid = 12345;
	ck_assert_uint_eq(token_store_put(s, &uid, false, &l), CKR_OBJECT_HANDLE_INVALID);
	uid = (uint64_t)INT64_MAX + 1;
	ck_assert_uint_eq(token_store_put(s, &uid, false, &l), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(token_store_put(s, NULL, false, &l), CKR_ARGUMENTS_BAD);
	ck_assert_uint_eq(token_store_put(s, &uid, false, NULL), CKR_ARGUMENTS_BAD);

	ck_assert_uint_eq(token_store_delete(s, priv), CKR_OK);
	ck_assert_uint_eq(token_store_delete(s, priv), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(token_store_delete(s, 0), CKR_OBJECT_HANDLE_INVALID);
	ck_assert_uint_eq(token_store_delete(s, UINT64_MAX), CKR_OBJECT_HANDLE_INVALID);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 1);
	ck_assert_uint_eq(seen->uid[0], pub);

	/* Survives closing. */
	token_store_close(s);
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 1);
	ck_assert_str_eq(seen->label[0], "priv2");
	attr_list_clear(&l);
	token_store_close(s);
}
END_TEST

/* A key pair's two halves are written in one transaction: both or neither. */
START_TEST(test_put_many_all_or_nothing)
{
	token_store_t *s = user_token();
	attr_list_t pub, priv;
	token_store_item_t items[2];

	attr_list_init(&pub);
	attr_list_init(&priv);
	ck_assert_uint_eq(attr_list_set(&pub, CKA_LABEL, "pub", 3), CKR_OK);
	ck_assert_uint_eq(attr_list_set(&priv, CKA_LABEL, "priv", 4), CKR_OK);
	items[0] = (token_store_item_t){ .uid = 0, .is_private = false, .attrs = &pub };
	items[1] = (token_store_item_t){ .uid = 0, .is_private = true, .attrs = &priv };
	ck_assert_uint_eq(token_store_put_many(s, items, 2), CKR_OK);
	ck_assert_uint_ne(items[0].uid, 0);
	ck_assert_uint_ne(items[1].uid, items[0].uid);
	seen_t *seen = load_all(s);
	ck_assert_uint_eq(seen->n, 2);
	ck_assert_int_ge(find_uid(seen, items[0].uid), 0);
	ck_assert_int_ge(find_uid(seen, items[1].uid), 0);

	/* The second item replaces an object that does not exist: the first,
	 * new one, must not be stored either. */
	items[0] = (token_store_item_t){ .uid = 0, .is_private = false, .attrs = &pub };
	items[1] = (token_store_item_t){ .uid = 12345, .is_private = true, .attrs = &priv };
	ck_assert_uint_ne(token_store_put_many(s, items, 2), CKR_OK);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 2);
	attr_list_clear(&pub);
	attr_list_clear(&priv);
	token_store_close(s);
}
END_TEST

START_TEST(test_large_object)
{
	token_store_t *s = user_token();
	attr_list_t l;
	unsigned char *big = malloc(ATTR_VALUE_MAX);
	uint64_t uid = 0;
	size_t found = 0;

	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < ATTR_VALUE_MAX; i++)
		big[i] = (unsigned char)(i * 7);
	attr_list_init(&l);
	for (CK_ATTRIBUTE_TYPE t = 0x80000001; t < 0x80000009; t++)
		ck_assert_uint_eq(attr_list_set(&l, t, big, ATTR_VALUE_MAX), CKR_OK);
	ck_assert_uint_eq(token_store_put(s, &uid, true, &l), CKR_OK);
	attr_list_clear(&l);
	{
		seen_t *seen = load_all(s);

		found = seen->n;
	}
	ck_assert_uint_eq(found, 1);
	free(big);
	token_store_close(s);
}
END_TEST

static CK_RV check_big(uint64_t uid, bool is_private, const attr_list_t *attrs, void *ctx)
{
	const attr_t *a = attr_list_find(attrs, 0x80000003);

	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, ATTR_VALUE_MAX);
	for (size_t i = 0; i < a->len; i++)
		ck_assert_uint_eq(a->value[i], (unsigned char)(i * 7));
	(*(int *)ctx)++;
	return CKR_OK;
}

START_TEST(test_large_object_content)
{
	token_store_t *s = user_token();
	attr_list_t l;
	unsigned char *big = malloc(ATTR_VALUE_MAX);
	uint64_t uid = 0;
	int n = 0;

	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < ATTR_VALUE_MAX; i++)
		big[i] = (unsigned char)(i * 7);
	attr_list_init(&l);
	ck_assert_uint_eq(attr_list_set(&l, 0x80000003, big, ATTR_VALUE_MAX), CKR_OK);
	ck_assert_uint_eq(token_store_put(s, &uid, true, &l), CKR_OK);
	attr_list_clear(&l);
	ck_assert_uint_eq(token_store_load(s, check_big, &n), CKR_OK);
	ck_assert_int_eq(n, 1);
	free(big);
	token_store_close(s);
}
END_TEST

START_TEST(test_private_invisible)
{
	token_store_t *s = user_token();
	uint64_t pub = put_obj(s, false, "pub", NULL);
	attr_list_t l;
	uint64_t uid = 0;
	seen_t *seen;

	put_obj(s, true, "priv", secret_value);
	token_store_logout(s);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 1);
	ck_assert_uint_eq(seen->uid[0], pub);
	/* Nor can a private object be written without the key. */
	attr_list_init(&l);
	ck_assert_uint_eq(attr_list_set(&l, CKA_LABEL, "x", 1), CKR_OK);
	ck_assert_uint_eq(token_store_put(s, &uid, true, &l), CKR_USER_NOT_LOGGED_IN);
	ck_assert_uint_eq(token_store_put(s, &uid, false, &l), CKR_OK);
	attr_list_clear(&l);
	token_store_close(s);

	s = open_token();
	ck_assert_uint_eq(load_all(s)->n, 2);
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	ck_assert_uint_eq(load_all(s)->n, 3);
	/* A wrong PIN afterwards does not log out. */
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert(token_store_unlocked(s));
	ck_assert_uint_eq(load_all(s)->n, 3);
	token_store_close(s);
}
END_TEST

START_TEST(test_ciphertext_at_rest)
{
	token_store_t *s = user_token();
	char wal[160];

	put_obj(s, true, "secret", secret_value);
	put_obj(s, false, "public", public_value);
	/* While open, the data may sit in the WAL: check both files. */
	snprintf(wal, sizeof(wal), "%s-wal", path);
	ck_assert(!file_contains(path, secret_value) && !file_contains(wal, secret_value));
	ck_assert(file_contains(path, public_value) || file_contains(wal, public_value));
	/* The journal files SQLite makes beside the token are private too. */
	{
		struct stat st;

		ck_assert_int_eq(stat(wal, &st), 0);
		ck_assert_uint_eq(st.st_mode & 0777, 0600);
	}
	token_store_close(s);
	ck_assert(!file_contains(path, secret_value));
	ck_assert(file_contains(path, public_value)); /* the search itself works */
	/* Nor is the token key or a PIN there in the clear. */
	ck_assert(!file_contains(path, USER_PIN));
	ck_assert(!file_contains(path, SO_PIN));
}
END_TEST

/* The uid is bound into the ciphertext: a blob moved to another object,
 * or to the public side, does not open. */
START_TEST(test_aad_binds_uid)
{
	token_store_t *s = user_token();
	uint64_t a = put_obj(s, true, "a", "value-a");
	uint64_t b = put_obj(s, true, "b", "value-b");
	uint64_t c = put_obj(s, true, "c", "value-c");
	char q[256];
	seen_t *seen;

	token_store_close(s);
	snprintf(q, sizeof(q), "UPDATE object SET blob = (SELECT blob FROM object WHERE uid = %llu)"
		 " WHERE uid = %llu", (unsigned long long)a, (unsigned long long)b);
	sql(path, q);
	snprintf(q, sizeof(q), "UPDATE object SET private = 0 WHERE uid = %llu", (unsigned long long)c);
	sql(path, q);

	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 1);
	ck_assert_uint_eq(seen->uid[0], a);
	ck_assert_str_eq(seen->value[0], "value-a");
	ck_assert_ptr_nonnull(strstr(token_store_error(s), "2 damaged"));
	ck_assert_ptr_nonnull(strstr(token_store_error(s), path));
	token_store_close(s);
}
END_TEST

START_TEST(test_damaged_object_skipped)
{
	token_store_t *s = user_token();
	uint64_t ok_pub = put_obj(s, false, "fine-pub", NULL);
	uint64_t bad_pub = put_obj(s, false, "bad-pub", NULL);
	uint64_t ok_priv = put_obj(s, true, "fine-priv", secret_value);
	uint64_t bad_priv = put_obj(s, true, "bad-priv", secret_value);
	uint64_t short_priv = put_obj(s, true, "short-priv", secret_value);
	char q[512];
	seen_t *seen;

	token_store_close(s);
	/* A flipped ciphertext byte, a truncated public encoding, a private
	 * blob shorter than its iv and tag. */
	snprintf(q, sizeof(q),
		 "UPDATE object SET blob = substr(blob, 1, 20) || x'ff' || substr(blob, 22) WHERE uid = %llu;"
		 "UPDATE object SET blob = substr(blob, 1, length(blob) - 1) WHERE uid = %llu;"
		 "UPDATE object SET blob = x'01020304' WHERE uid = %llu;",
		 (unsigned long long)bad_priv, (unsigned long long)bad_pub, (unsigned long long)short_priv);
	sql(path, q);
	s = open_token();
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 1);
	ck_assert_uint_eq(seen->uid[0], ok_pub);
	ck_assert_ptr_nonnull(strstr(token_store_error(s), "damaged"));
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	seen = load_all(s);
	ck_assert_uint_eq(seen->n, 2);
	ck_assert_int_ge(find_uid(seen, ok_priv), 0);
	ck_assert_ptr_nonnull(strstr(token_store_error(s), "3 damaged"));
	/* A clean load clears the message. */
	ck_assert_uint_eq(token_store_delete(s, bad_pub), CKR_OK);
	ck_assert_uint_eq(token_store_delete(s, bad_priv), CKR_OK);
	ck_assert_uint_eq(token_store_delete(s, short_priv), CKR_OK);
	ck_assert_uint_eq(load_all(s)->n, 2);
	ck_assert_str_eq(token_store_error(s), "");
	token_store_close(s);
}
END_TEST

START_TEST(test_load_callback_stops)
{
	token_store_t *s = user_token();
	seen_t seen;

	put_obj(s, false, "one", NULL);
	put_obj(s, false, "two", NULL);
	memset(&seen, 0, sizeof(seen));
	seen.stop_with = CKR_HOST_MEMORY;
	ck_assert_uint_eq(token_store_load(s, collect, &seen), CKR_HOST_MEMORY);
	ck_assert_uint_eq(seen.n, 0);
	/* An interrupted load does not count as having seen the objects. */
	ck_assert(token_store_changed(s));
	ck_assert_uint_eq(token_store_load(s, NULL, NULL), CKR_ARGUMENTS_BAD);
	token_store_close(s);
}
END_TEST

/* ---- Change detection ------------------------------------------------------ */

START_TEST(test_changed_two_handles)
{
	token_store_t *a = user_token(), *b = open_token();
	uint64_t uid;

	ck_assert(token_store_changed(a)); /* nothing loaded yet */
	load_all(a);
	load_all(b);
	ck_assert(!token_store_changed(a));
	ck_assert(!token_store_changed(b));

	/* b's write is news to a, not to b. */
	uid = put_obj(b, false, "from-b", NULL);
	ck_assert(!token_store_changed(b));
	ck_assert(token_store_changed(a));
	ck_assert(token_store_changed(a)); /* until a reloads */
	ck_assert_uint_eq(load_all(a)->n, 1);
	ck_assert(!token_store_changed(a));

	/* A PIN failure elsewhere commits, but changes no object. */
	ck_assert_uint_eq(token_store_check_pin(b, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
	ck_assert(!token_store_changed(a));

	/* A delete is news too. */
	ck_assert_uint_eq(token_store_delete(b, uid), CKR_OK);
	ck_assert(token_store_changed(a));
	ck_assert_uint_eq(load_all(a)->n, 0);

	/* a writes after b did, without reloading: a's view is stale and stays so. */
	load_all(a);
	load_all(b);
	put_obj(b, false, "b2", NULL);
	put_obj(a, false, "a2", NULL);
	ck_assert(token_store_changed(a));
	ck_assert_uint_eq(load_all(a)->n, 2);
	ck_assert(!token_store_changed(a));
	ck_assert(token_store_changed(b));
	token_store_close(a);
	token_store_close(b);
}
END_TEST

/* ---- Damaged files -------------------------------------------------------- */

static void expect_refused(const char *what)
{
	token_store_t *s = (token_store_t *)1;
	CK_RV rv = token_store_open(path, &s);

	ck_assert_msg(rv == CKR_DEVICE_ERROR, "%s: open gave %lu", what, rv);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(token_store_error(NULL), path) != NULL, "%s: message '%s' lacks the file",
		      what, token_store_error(NULL));
}

START_TEST(test_damaged_random)
{
	unsigned char junk[8192];
	unsigned char *after;
	size_t len;

	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	write_file(path, junk, sizeof(junk));
	expect_refused("random bytes");
	/* Refusing a file leaves it untouched. */
	after = read_file(path, &len);
	ck_assert_uint_eq(len, sizeof(junk));
	ck_assert_int_eq(memcmp(after, junk, len), 0);
	free(after);
}
END_TEST

START_TEST(test_damaged_not_sqlite)
{
	static const char text[] = "[token]\nlabel = hello\n";
	size_t len;
	unsigned char *after;

	write_file(path, text, strlen(text));
	expect_refused("text file");
	write_file(path, "", 0);
	expect_refused("empty file");
	after = read_file(path, &len);
	ck_assert_uint_eq(len, 0);
	free(after);
	/* SQLite's magic followed by garbage. */
	{
		unsigned char hdr[4096];

		memset(hdr, 0xa5, sizeof(hdr));
		memcpy(hdr, "SQLite format 3", 16);
		write_file(path, hdr, sizeof(hdr));
		expect_refused("SQLite header, garbage body");
	}
}
END_TEST

START_TEST(test_damaged_other_sqlite)
{
	sql(path, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
	expect_refused("another application's database");
	ck_assert_ptr_nonnull(strstr(token_store_error(NULL), "not an offpass token"));
}
END_TEST

START_TEST(test_damaged_schema_version)
{
	token_store_t *s = create_token();

	token_store_close(s);
	sql(path, "UPDATE meta SET value = 99 WHERE name = 'schema_version'");
	expect_refused("future schema");
	ck_assert_ptr_nonnull(strstr(token_store_error(NULL), "schema version 99"));
	sql(path, "DELETE FROM meta WHERE name = 'schema_version'");
	expect_refused("no schema version");
	sql(path, "INSERT INTO meta VALUES ('schema_version', 1)");
	s = open_token();
	token_store_close(s);
	sql(path, "CREATE TRIGGER t AFTER INSERT ON object BEGIN DELETE FROM object; END");
	expect_refused("trigger");
}
END_TEST

START_TEST(test_damaged_rows)
{
	token_store_t *s = create_token();

	token_store_close(s);
	sql(path, "UPDATE token SET kdf_n = 3");
	expect_refused("bad kdf");
	sql(path, "UPDATE token SET kdf_n = 1024, serial = 'XYZ'");
	expect_refused("bad serial");
	sql(path, "UPDATE token SET serial = '0123456789abcdef', label = 'short'");
	expect_refused("bad label");
	sql(path, "UPDATE token SET label = zeroblob(32); DELETE FROM wrapped_key");
	expect_refused("no SO key");
	sql(path, "DELETE FROM token");
	expect_refused("no token row");
}
END_TEST

START_TEST(test_damaged_wrapped_key)
{
	token_store_t *s = create_token();

	token_store_close(s);
	/* A cost that would take gigabytes is refused, not attempted. */
	sql(path, "UPDATE wrapped_key SET kdf_n = 1 << 24");
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_DEVICE_ERROR);
	ck_assert_ptr_nonnull(strstr(token_store_error(s), "invalid SO key"));
	token_store_close(s);
	sql(path, "UPDATE wrapped_key SET kdf_n = 1024, ct = x'00'");
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_SO, PIN(SO_PIN)), CKR_DEVICE_ERROR);
	token_store_close(s);
}
END_TEST

START_TEST(test_damaged_truncated)
{
	token_store_t *s = user_token();
	char big[2000];
	struct stat st;

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 40; i++)
		put_obj(s, i % 2 == 0, "filler", big);
	token_store_close(s);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_gt(st.st_size, 40000);
	ck_assert_int_eq(truncate(path, st.st_size / 2), 0);
	expect_refused("truncated");
	ck_assert_int_eq(truncate(path, 100), 0);
	expect_refused("truncated in the header");
}
END_TEST

START_TEST(test_damaged_not_a_file)
{
	token_store_t *s = NULL;

	expect_refused("missing file");
	ck_assert_int_eq(mkdir(path, 0700), 0);
	expect_refused("directory");
	ck_assert_int_eq(rmdir(path), 0);
	s = create_token();
	token_store_close(s);
	/* A symbolic link to a token is not followed. */
	{
		char link_path[160];

		snprintf(link_path, sizeof(link_path), "%s/link.db", dir);
		ck_assert_int_eq(symlink(path, link_path), 0);
		s = (token_store_t *)1;
		ck_assert_uint_eq(token_store_open(link_path, &s), CKR_DEVICE_ERROR);
		ck_assert_ptr_null(s);
		ck_assert_ptr_nonnull(strstr(token_store_error(NULL), "symbolic link"));
	}
	ck_assert_int_eq(chmod(path, 0400), 0);
	if (geteuid() != 0)
		expect_refused("read-only");
}
END_TEST

/* ---- Several processes ------------------------------------------------------ */

#define PUTS_PER_CHILD 60

static int child_puts(int id)
{
	token_store_t *s = NULL;
	attr_list_t l;
	char lab[32];
	CK_RV rv;

	if (token_store_open(path, &s) != CKR_OK)
		return 10;
	if (token_store_check_pin(s, CKU_USER, PIN(USER_PIN)) != CKR_OK)
		return 11;
	for (int i = 0; i < PUTS_PER_CHILD; i++) {
		uint64_t uid = 0;

		attr_list_init(&l);
		snprintf(lab, sizeof(lab), "child%d-%d", id, i);
		if (attr_list_set(&l, CKA_LABEL, lab, strlen(lab)) != CKR_OK)
			return 12;
		rv = token_store_put(s, &uid, i % 2 == 0, &l);
		attr_list_clear(&l);
		if (rv != CKR_OK) {
			fprintf(stderr, "child %d put %d: %lu %s\n", id, i, rv, token_store_error(s));
			return 13;
		}
		/* Interleave reads too, as the module does. */
		if (token_store_changed(s) && i % 10 == 0) {
			seen_t dummy;

			memset(&dummy, 0, sizeof(dummy));
			if (token_store_load(s, collect, &dummy) != CKR_OK)
				return 14;
		}
	}
	token_store_close(s);
	return 0;
}

START_TEST(test_two_processes)
{
	token_store_t *s = user_token();
	pid_t pid[2];
	seen_t *seen;
	char lab[32];

	token_store_close(s);
	for (int c = 0; c < 2; c++) {
		pid[c] = fork();
		ck_assert_int_ge(pid[c], 0);
		if (pid[c] == 0)
			_exit(child_puts(c));
	}
	for (int c = 0; c < 2; c++) {
		int status;

		ck_assert_int_eq(waitpid(pid[c], &status, 0), pid[c]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", c, status);
	}
	s = open_token();
	ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
	seen = load_all(s);
	ck_assert_str_eq(token_store_error(s), "");
	ck_assert_uint_eq(seen->n, 2 * PUTS_PER_CHILD);
	for (int c = 0; c < 2; c++)
		for (int i = 0; i < PUTS_PER_CHILD; i++) {
			bool found = false;

			snprintf(lab, sizeof(lab), "child%d-%d", c, i);
			for (size_t k = 0; k < seen->n && !found; k++)
				found = strcmp(seen->label[k], lab) == 0 && seen->priv[k] == (i % 2 == 0);
			ck_assert_msg(found, "%s missing", lab);
		}
	token_store_close(s);
}
END_TEST

/* Two processes spending PIN guesses at once: every guess is counted. */
START_TEST(test_two_processes_pin_count)
{
	token_store_t *s = user_token();
	pid_t pid[2];

	token_store_close(s);
	for (int c = 0; c < 2; c++) {
		pid[c] = fork();
		ck_assert_int_ge(pid[c], 0);
		if (pid[c] == 0) {
			token_store_t *t = NULL;
			int bad = 0;

			if (token_store_open(path, &t) != CKR_OK)
				_exit(10);
			for (int i = 0; i < 4; i++)
				bad += token_store_check_pin(t, CKU_SO, PIN("wrong-pin")) != CKR_PIN_INCORRECT;
			token_store_close(t);
			_exit(bad);
		}
	}
	for (int c = 0; c < 2; c++) {
		int status;

		ck_assert_int_eq(waitpid(pid[c], &status, 0), pid[c]);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", c, status);
	}
	s = open_token();
	ck_assert_uint_eq(meta_of(s).so_fails, 8);
	token_store_close(s);
}
END_TEST

/* The guess is spent before the KDF runs: a process killed while it
 * derives (with the right PIN, even) leaves the count raised. */
START_TEST(test_killed_during_check)
{
	token_store_t *s;
	int fds[2], status;
	pid_t pid;
	char c;

	/* A slow KDF (128 MiB) so that the kill surely lands inside it. */
	setenv("OFFPASS_P11_SCRYPT_N", "131072", 1);
	s = create_token();
	setenv("OFFPASS_P11_SCRYPT_N", "1024", 1);
	token_store_close(s);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		token_store_t *t = NULL;

		close(fds[0]);
		if (token_store_open(path, &t) != CKR_OK || write(fds[1], "r", 1) != 1)
			_exit(1);
		_exit(token_store_check_pin(t, CKU_SO, PIN(SO_PIN)) == CKR_OK ? 2 : 3);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	/* Kill as soon as the spent guess is on disk, mid-KDF (~0.4 s). A
	 * store that counted after trying would never show it: the right PIN
	 * resets the count. */
	for (int i = 0; i < 5000 && sql_int(path, "SELECT so_fails FROM token") == 0; i++)
		usleep(1000);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status), "the check finished before the kill: %d", status);
	close(fds[0]);
	s = open_token();
	ck_assert_uint_eq(meta_of(s).so_fails, 1);
	token_store_close(s);
}
END_TEST

/* A child reopens the parent's handle on a connection of its own and keeps
 * its login (a private put needs the token key); the parent's handle keeps
 * working and sees the child's object. */
START_TEST(test_reopen_after_fork)
{
	token_store_t *s = user_token();
	int status;
	pid_t pid;

	put_obj(s, true, "parent-1", secret_value);
	load_all(s);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		attr_list_t l;
		uint64_t uid = 0;

		attr_list_init(&l);
		if (token_store_reopen(s) != CKR_OK || !token_store_unlocked(s) ||
		    attr_list_set(&l, CKA_LABEL, "child", 5) != CKR_OK ||
		    token_store_put(s, &uid, true, &l) != CKR_OK)
			_exit(1);
		attr_list_clear(&l);
		token_store_close(s);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(token_store_changed(s));
	ck_assert(token_store_unlocked(s));
	ck_assert_uint_eq(load_all(s)->n, 2);
	put_obj(s, true, "parent-2", secret_value);
	ck_assert_uint_eq(load_all(s)->n, 3);
	token_store_close(s);
	s = open_token(); /* not logged in: the three are private */
	ck_assert_uint_eq(load_all(s)->n, 0);
	token_store_close(s);
}
END_TEST

static void child_put_forever(int fd)
{
	token_store_t *s = NULL;
	char value[600];

	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	if (token_store_open(path, &s) != CKR_OK ||
	    token_store_check_pin(s, CKU_USER, PIN(USER_PIN)) != CKR_OK)
		_exit(1);
	for (unsigned i = 0;; i++) {
		attr_list_t l;
		uint64_t uid = 0;
		char lab[32];

		attr_list_init(&l);
		snprintf(lab, sizeof(lab), "k%u", i);
		if (attr_list_set(&l, CKA_LABEL, lab, strlen(lab)) != CKR_OK ||
		    attr_list_set(&l, CKA_VALUE, value, sizeof(value) - 1) != CKR_OK ||
		    token_store_put(s, &uid, i % 3 != 0, &l) != CKR_OK)
			_exit(2);
		attr_list_clear(&l);
		/* Some replaces and deletes too, so every kind of write is hit. */
		if (i % 5 == 4 && token_store_delete(s, uid) != CKR_OK)
			_exit(3);
		if (write(fd, "x", 1) != 1)
			_exit(4);
	}
}

static CK_RV check_whole(uint64_t uid, bool is_private, const attr_list_t *attrs, void *ctx)
{
	const attr_t *v = attr_list_find(attrs, CKA_VALUE);

	ck_assert_ptr_nonnull(attr_list_find(attrs, CKA_LABEL));
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->len, 599);
	(*(size_t *)ctx)++;
	return CKR_OK;
}

START_TEST(test_killed_writer)
{
	token_store_t *s = user_token();

	token_store_close(s);
	srand((unsigned)getpid());
	for (int round = 0; round < 6; round++) {
		int fds[2], status;
		pid_t pid;
		char buf[64];
		size_t total = 0, loaded = 0;
		int64_t rows;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			child_put_forever(fds[1]);
		}
		close(fds[1]);
		/* Let it get going, then kill it at a random moment. */
		while (total < 10) {
			ssize_t n = read(fds[0], buf, sizeof(buf));

			ck_assert_int_gt(n, 0);
			total += (size_t)n;
		}
		usleep((useconds_t)(rand() % 20000));
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFSIGNALED(status), "the writer stopped by itself: %d", status);
		close(fds[0]);

		s = open_token();
		ck_assert_uint_eq(token_store_check_pin(s, CKU_USER, PIN(USER_PIN)), CKR_OK);
		ck_assert_uint_eq(token_store_load(s, check_whole, &loaded), CKR_OK);
		ck_assert_msg(strcmp(token_store_error(s), "") == 0, "round %d: %s", round, token_store_error(s));
		token_store_close(s);
		rows = sql_int(path, "SELECT count(*) FROM object");
		ck_assert_uint_eq(loaded, (size_t)rows);
		ck_assert_uint_ge(loaded, 8);
	}
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("kdf");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_kdf_params_env);
	tcase_add_test(tc, test_default_cost);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create_open_close);
	tcase_add_test(tc, test_create_no_leftovers);
	tcase_add_test(tc, test_create_bad_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("pin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_wrong_pin_counted);
	tcase_add_test(tc, test_wrong_length_counted);
	tcase_add_test(tc, test_lockout);
	tcase_add_test(tc, test_reset_on_success);
	tcase_add_test(tc, test_user_pin_not_initialized);
	tcase_add_test(tc, test_so_vs_user);
	tcase_add_test(tc, test_token_key_locked);
	tcase_add_test(tc, test_set_pin);
	tcase_add_test(tc, test_reinit);
	tcase_add_test(tc, test_reinit_elsewhere);
	suite_add_tcase(s, tc);

	tc = tcase_create("objects");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_objects_roundtrip);
	tcase_add_test(tc, test_put_many_all_or_nothing);
	tcase_add_test(tc, test_large_object);
	tcase_add_test(tc, test_large_object_content);
	tcase_add_test(tc, test_private_invisible);
	tcase_add_test(tc, test_ciphertext_at_rest);
	tcase_add_test(tc, test_aad_binds_uid);
	tcase_add_test(tc, test_damaged_object_skipped);
	tcase_add_test(tc, test_load_callback_stops);
	tcase_add_test(tc, test_changed_two_handles);
	suite_add_tcase(s, tc);

	tc = tcase_create("damaged");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_damaged_random);
	tcase_add_test(tc, test_damaged_not_sqlite);
	tcase_add_test(tc, test_damaged_other_sqlite);
	tcase_add_test(tc, test_damaged_schema_version);
	tcase_add_test(tc, test_damaged_rows);
	tcase_add_test(tc, test_damaged_wrapped_key);
	tcase_add_test(tc, test_damaged_truncated);
	tcase_add_test(tc, test_damaged_not_a_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("processes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_two_processes);
	tcase_add_test(tc, test_two_processes_pin_count);
	tcase_add_test(tc, test_killed_writer);
	tcase_add_test(tc, test_killed_during_check);
	tcase_add_test(tc, test_reopen_after_fork);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
