/* test-gateconf.c - gate.conf: written and read back, and every way a
 * hand-edited file can be wrong is refused with the line and key. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gate.h"

static void expect_error(const char *text, const char *want);

static const char good[] = "# a gate\n"
			   "verifier_id = 0011223344aabbcc\n"
			   "\n"
			   "resource_class=7\n"
			   "mode = fixed\n"
			   "  fare =  250  \r\n"
			   "allow_zero = no\n"
			   "clock_skew = 30\n"
			   "freshness = 45"; /* no final newline */

START_TEST(test_parse_good)
{
	static const uint8_t id[8] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0xaa, 0xbb, 0xcc };
	gate_conf_t c;
	char err[160] = "";

	ck_assert_msg(gate_conf_parse(good, sizeof(good) - 1, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(c.verifier_id, id, 8);
	ck_assert_uint_eq(c.resource_class, 7);
	ck_assert_int_eq(c.mode, GATE_MODE_FIXED);
	ck_assert_uint_eq(c.fare, 250);
	ck_assert(!c.allow_zero);
	ck_assert_uint_eq(c.clock_skew, 30);
	ck_assert_uint_eq(c.freshness, 45);
	/* A gate.conf from before the deny list's age rule: the defaults. */
	ck_assert_uint_eq(c.deny_max_age, 172800);
	ck_assert_uint_eq(c.stale_operation_max, 0);
}
END_TEST

/* deny_max_age: seconds or "off", never 0 (which would read as a
 * maximum of nothing, or as off, depending on who reads it). */
START_TEST(test_deny_age_keys)
{
	char text[512], err[160] = "";
	gate_conf_t c;

	snprintf(text, sizeof(text), "%s\ndeny_max_age = off\nstale_operation_max = 300\n", good);
	ck_assert_msg(gate_conf_parse(text, strlen(text), &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.deny_max_age, 0);
	ck_assert_uint_eq(c.stale_operation_max, 300);
	snprintf(text, sizeof(text), "%s\ndeny_max_age = 3600\n", good);
	ck_assert_msg(gate_conf_parse(text, strlen(text), &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.deny_max_age, 3600);
	snprintf(text, sizeof(text), "%s\ndeny_max_age = 0\n", good);
	expect_error(text, "deny_max_age: bad value '0'");
	snprintf(text, sizeof(text), "%s\ndeny_max_age = never\n", good);
	expect_error(text, "deny_max_age: bad value 'never'");
	snprintf(text, sizeof(text), "%s\ndeny_max_age = 1\ndeny_max_age = 2\n", good);
	expect_error(text, "deny_max_age given twice");
	snprintf(text, sizeof(text), "%s\nstale_operation_max = -1\n", good);
	expect_error(text, "stale_operation_max: bad value");
}
END_TEST

START_TEST(test_format_roundtrip)
{
	gate_conf_t c, back;
	char text[GATE_CONF_MAX], err[160] = "";
	size_t len;

	gate_conf_defaults(&c);
	ck_assert_uint_eq(c.resource_class, 1);
	ck_assert_uint_eq(c.clock_skew, 120);
	ck_assert_uint_eq(c.freshness, 60);
	memcpy(c.verifier_id, "\xff\x00\x01\x02\x03\x04\x05\xfe", 8);
	c.resource_class = 65535;
	c.mode = GATE_MODE_FIXED;
	c.fare = 4294967295u;
	len = gate_conf_format(&c, text, sizeof(text));
	ck_assert_uint_gt(len, 0);
	ck_assert_msg(gate_conf_parse(text, len, &back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(&back, &c, sizeof(c));
	/* Till, with free passage allowed. */
	c.mode = GATE_MODE_TILL;
	c.fare = 0;
	c.allow_zero = true;
	c.deny_max_age = 0;
	c.stale_operation_max = 500;
	len = gate_conf_format(&c, text, sizeof(text));
	ck_assert_msg(gate_conf_parse(text, len, &back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(&back, &c, sizeof(c));
	ck_assert_ptr_nonnull(strstr(text, "mode = till\n"));
	ck_assert_ptr_nonnull(strstr(text, "deny_max_age = off\n"));
	ck_assert_uint_eq(gate_conf_format(&c, text, 20), 0);
}
END_TEST

/* Replace the line that starts with key by line (NULL: drop it). */
static void edit(char *out, size_t cap, const char *key, const char *line)
{
	const char *base = "verifier_id = 0011223344aabbcc\nresource_class = 1\nmode = fixed\nfare = 5\n"
			   "allow_zero = no\nclock_skew = 120\nfreshness = 60\n";
	const char *p = strstr(base, key), *nl = strchr(p, '\n');

	snprintf(out, cap, "%.*s%s%s", (int)(p - base), base, line != NULL ? line : "", nl + 1);
}

static void expect_error(const char *text, const char *want)
{
	gate_conf_t c;
	char err[160] = "";

	ck_assert_int_eq(gate_conf_parse(text, strlen(text), &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' does not say '%s'", err, want);
}

START_TEST(test_parse_errors)
{
	char text[512];

	edit(text, sizeof(text), "fare", NULL);
	expect_error(text, "fare missing");
	edit(text, sizeof(text), "fare", "fare = 1\nfare = 2\n");
	expect_error(text, "line 5: fare given twice");
	edit(text, sizeof(text), "fare", "fares = 1\n");
	expect_error(text, "line 4: unknown key 'fares'");
	edit(text, sizeof(text), "fare", "fare 1\n");
	expect_error(text, "line 4: expected 'key = value'");
	edit(text, sizeof(text), "fare", "fare = -1\n");
	expect_error(text, "line 4: fare: bad value '-1'");
	edit(text, sizeof(text), "fare", "fare = 4294967296\n");
	expect_error(text, "fare: bad value");
	edit(text, sizeof(text), "fare", "fare = 12abc\n");
	expect_error(text, "fare: bad value");
	edit(text, sizeof(text), "fare", "fare =\n");
	expect_error(text, "fare: bad value");
	edit(text, sizeof(text), "verifier_id", "verifier_id = 0011223344aabb\n");
	expect_error(text, "line 1: verifier_id: bad value");
	edit(text, sizeof(text), "verifier_id", "verifier_id = 0011223344aabbzz\n");
	expect_error(text, "verifier_id: bad value");
	edit(text, sizeof(text), "resource_class", "resource_class = 65536\n");
	expect_error(text, "resource_class: bad value");
	edit(text, sizeof(text), "freshness", "freshness = 0\n");
	expect_error(text, "freshness: 0 s is not in 1..86400 s");
	edit(text, sizeof(text), "clock_skew", "clock_skew = 86401\n");
	expect_error(text, "clock_skew: 86401 s is more than 86400 s");
	/* The price rule (issue 7.5): a mode, a fare of 0 only when free
	 * passage is allowed, no fare in till mode. */
	edit(text, sizeof(text), "mode", NULL);
	expect_error(text, "mode missing");
	edit(text, sizeof(text), "mode", "mode = free\n");
	expect_error(text, "line 3: mode: bad value 'free'");
	edit(text, sizeof(text), "fare", "fare = 0\n");
	expect_error(text, "free passage needs allow_zero");
	edit(text, sizeof(text), "mode", "mode = till\n");
	expect_error(text, "fare: 5 in till mode");
	edit(text, sizeof(text), "allow_zero", "allow_zero = maybe\n");
	expect_error(text, "allow_zero: bad value");
}
END_TEST

START_TEST(test_parse_not_text)
{
	static const char nul[] = "verifier_id = 00\0";
	char line[400];
	gate_conf_t c;
	char err[160] = "";

	ck_assert_int_eq(gate_conf_parse(nul, sizeof(nul) - 1, &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "not a text file (NUL byte)");
	memset(line, 'a', sizeof(line));
	line[sizeof(line) - 1] = '\0';
	expect_error(line, "line 1: too long");
	expect_error("", "verifier_id missing");
}
END_TEST

START_TEST(test_save_load)
{
	char dir[] = "/tmp/offpass-test-gateconf.XXXXXX", path[128], err[256] = "";
	gate_conf_t c, back;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert(!gate_conf_exists(dir));
	ck_assert_int_eq(gate_conf_load(dir, &back, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "gate.conf: not found") != NULL, "%s", err);
	gate_conf_defaults(&c);
	c.mode = GATE_MODE_FIXED;
	c.fare = 99;
	ck_assert_msg(gate_conf_save(dir, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert(gate_conf_exists(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, GATE_CONF_NAME);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_msg(gate_conf_load(dir, &back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(&back, &c, sizeof(c));
	/* An invalid configuration is not written. */
	c.freshness = 0;
	ck_assert_int_eq(gate_conf_save(dir, &c, err, sizeof(err)), -1);
	ck_assert_msg(gate_conf_load(dir, &back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(back.freshness, 60);
	/* A damaged file names itself. */
	{
		FILE *f = fopen(path, "a");
		ck_assert_ptr_nonnull(f);
		fputs("fare = 1\n", f);
		fclose(f);
	}
	ck_assert_int_eq(gate_conf_load(dir, &back, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL && strstr(err, "fare given twice") != NULL, "%s", err);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *gateconf_suite(void)
{
	Suite *s = suite_create("gate-conf");
	TCase *tc = tcase_create("conf");

	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_deny_age_keys);
	tcase_add_test(tc, test_format_roundtrip);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_not_text);
	tcase_add_test(tc, test_save_load);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(gateconf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
