/* test-object.c - attribute lists, their encoding, and the attribute policy. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "p11/object/attrs.h"
#include "p11/object/policy.h"
#include "secmem.h"

#define A_BOOL(t, v) { (t), &(CK_BBOOL){ (v) }, sizeof(CK_BBOOL) }
#define A_ULONG(t, v) { (t), &(CK_ULONG){ (v) }, sizeof(CK_ULONG) }
#define A_STR(t, s) { (t), (void *)(s), sizeof(s) - 1 }
#define N(tmpl) ((CK_ULONG)(sizeof(tmpl) / sizeof((tmpl)[0])))

static const CK_BYTE p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

static CK_ULONG ulong_of(const attr_list_t *l, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0xdeadbeef;

	ck_assert_msg(attr_list_get_ulong(l, type, &v), "attribute 0x%lx missing", type);
	return v;
}

static bool bool_of(const attr_list_t *l, CK_ATTRIBUTE_TYPE type)
{
	const attr_t *a = attr_list_find(l, type);

	ck_assert_msg(a != NULL, "attribute 0x%lx missing", type);
	ck_assert_uint_eq(a->len, 1);
	return a->value[0] == CK_TRUE;
}

static void assert_empty(const attr_list_t *l, CK_ATTRIBUTE_TYPE type)
{
	const attr_t *a = attr_list_find(l, type);

	ck_assert_msg(a != NULL, "attribute 0x%lx missing", type);
	ck_assert_uint_eq(a->len, 0);
	ck_assert_ptr_null(a->value);
}

/* ==== attrs ============================================================ */

START_TEST(test_set_sorted_unique)
{
	attr_list_t l;
	CK_ATTRIBUTE_TYPE order[] = { 0x102, 0x3, 0x80000001UL, 0x0, 0x11 };

	attr_list_init(&l);
	for (size_t i = 0; i < 5; i++)
		ck_assert_int_eq(attr_list_set(&l, order[i], "x", 1), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, 0x3, "abc", 3), CKR_OK); /* replace */
	ck_assert_uint_eq(l.count, 5);
	for (size_t i = 1; i < l.count; i++)
		ck_assert(l.items[i - 1].type < l.items[i].type);
	ck_assert_uint_eq(attr_list_find(&l, 0x3)->len, 3);
	ck_assert_mem_eq(attr_list_find(&l, 0x3)->value, "abc", 3);
	ck_assert_ptr_null(attr_list_find(&l, 0x4));

	attr_list_remove(&l, 0x11);
	attr_list_remove(&l, 0x11); /* absent: no-op */
	attr_list_remove(&l, 0x4242);
	ck_assert_uint_eq(l.count, 4);
	ck_assert_ptr_null(attr_list_find(&l, 0x11));
	ck_assert_ptr_nonnull(attr_list_find(&l, 0x102));
	ck_assert_ptr_nonnull(attr_list_find(&l, 0x0));

	ck_assert_int_eq(attr_list_set(&l, 0x7, NULL, 0), CKR_OK);
	ck_assert_ptr_null(attr_list_find(&l, 0x7)->value);
	ck_assert_int_eq(attr_list_set(&l, 0x8, NULL, 3), CKR_ARGUMENTS_BAD);
	ck_assert_ptr_null(attr_list_find(&l, 0x8));

	attr_list_clear(&l);
	ck_assert_uint_eq(l.count, 0);
	ck_assert_int_eq(attr_list_set(&l, 0x1, "y", 1), CKR_OK); /* reusable */
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_set_bounds)
{
	attr_list_t l;
	unsigned char *big = calloc(1, ATTR_VALUE_MAX + 1);
	CK_RV rv = CKR_OK;
	size_t i;

	ck_assert_ptr_nonnull(big);
	attr_list_init(&l);
	ck_assert_int_eq(attr_list_set(&l, 1, big, ATTR_VALUE_MAX + 1), CKR_ATTRIBUTE_VALUE_INVALID);
	ck_assert_int_eq(attr_list_set(&l, 1, big, ATTR_VALUE_MAX), CKR_OK);
	attr_list_clear(&l);

	for (i = 0; i < ATTR_LIST_MAX_COUNT; i++)
		ck_assert_int_eq(attr_list_set_ulong(&l, i, i), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&l, i, i), CKR_DEVICE_MEMORY);
	ck_assert_int_eq(attr_list_set_ulong(&l, 5, 55), CKR_OK); /* replacing is fine */
	ck_assert_uint_eq(ulong_of(&l, 5), 55);
	ck_assert_uint_eq(l.count, ATTR_LIST_MAX_COUNT);
	attr_list_clear(&l);

	/* The encoded list must stay within ATTR_BLOB_MAX. */
	for (i = 0; rv == CKR_OK && i < 32; i++)
		rv = attr_list_set(&l, i, big, ATTR_VALUE_MAX);
	ck_assert_int_eq(rv, CKR_DEVICE_MEMORY);
	ck_assert_uint_eq(l.count, i - 1);
	ck_assert_uint_lt(l.count, ATTR_BLOB_MAX / ATTR_VALUE_MAX);
	{
		unsigned char *blob;
		size_t blob_len;

		ck_assert_int_eq(attr_list_serialize(&l, &blob, &blob_len), CKR_OK);
		ck_assert_uint_le(blob_len, ATTR_BLOB_MAX);
		secmem_free(blob, blob_len);
	}
	attr_list_clear(&l);
	free(big);
}
END_TEST

START_TEST(test_get_helpers)
{
	attr_list_t l;
	CK_ULONG v = 7;

	attr_list_init(&l);
	ck_assert_int_eq(attr_list_set_bool(&l, CKA_TOKEN, true), CKR_OK);
	ck_assert_int_eq(attr_list_set_bool(&l, CKA_PRIVATE, false), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_SIGN, "\x01\x00", 2), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_CLASS, CKO_SECRET_KEY), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_KEY_TYPE, "abc", 3), CKR_OK);

	ck_assert(attr_list_get_bool(&l, CKA_TOKEN, false));
	ck_assert(!attr_list_get_bool(&l, CKA_PRIVATE, true));
	ck_assert(attr_list_get_bool(&l, CKA_SIGN, true)); /* wrong length: default */
	ck_assert(!attr_list_get_bool(&l, CKA_SIGN, false));
	ck_assert(attr_list_get_bool(&l, CKA_DECRYPT, true)); /* absent: default */
	ck_assert(attr_list_get_ulong(&l, CKA_CLASS, &v));
	ck_assert_uint_eq(v, CKO_SECRET_KEY);
	v = 7;
	ck_assert(!attr_list_get_ulong(&l, CKA_KEY_TYPE, &v));
	ck_assert(!attr_list_get_ulong(&l, CKA_VALUE_LEN, &v));
	ck_assert_uint_eq(v, 7);
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_copy)
{
	attr_list_t a, b;

	attr_list_init(&a);
	ck_assert_int_eq(attr_list_set(&a, 1, "one", 3), CKR_OK);
	ck_assert_int_eq(attr_list_set(&a, 2, NULL, 0), CKR_OK);
	ck_assert_int_eq(attr_list_copy(&b, &a), CKR_OK);
	ck_assert_uint_eq(b.count, 2);
	ck_assert_ptr_ne(b.items[0].value, a.items[0].value);
	ck_assert_mem_eq(b.items[0].value, "one", 3);
	ck_assert_int_eq(attr_list_set(&a, 1, "uno", 3), CKR_OK);
	ck_assert_mem_eq(attr_list_find(&b, 1)->value, "one", 3);
	attr_list_clear(&a);
	ck_assert_mem_eq(attr_list_find(&b, 1)->value, "one", 3);
	ck_assert_ptr_null(attr_list_find(&b, 2)->value);
	attr_list_clear(&b);
}
END_TEST

START_TEST(test_matches)
{
	attr_list_t l;
	CK_ATTRIBUTE same[] = { A_STR(CKA_ID, "\x01\x02"), A_ULONG(CKA_CLASS, CKO_DATA) };
	CK_ATTRIBUTE other_value[] = { A_STR(CKA_ID, "\x01\x03") };
	CK_ATTRIBUTE other_len[] = { A_STR(CKA_ID, "\x01") };
	CK_ATTRIBUTE absent[] = { A_STR(CKA_LABEL, "x") };
	CK_ATTRIBUTE empty_label[] = { { CKA_APPLICATION, NULL, 0 } };
	CK_ATTRIBUTE null_value[] = { { CKA_ID, NULL, 2 } };

	attr_list_init(&l);
	ck_assert_int_eq(attr_list_set(&l, CKA_ID, "\x01\x02", 2), CKR_OK);
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_CLASS, CKO_DATA), CKR_OK);
	ck_assert_int_eq(attr_list_set(&l, CKA_APPLICATION, NULL, 0), CKR_OK);

	ck_assert(attr_list_matches(&l, NULL, 0));
	ck_assert(attr_list_matches(&l, same, 2));
	ck_assert(attr_list_matches(&l, same, 1));
	ck_assert(!attr_list_matches(&l, other_value, 1));
	ck_assert(!attr_list_matches(&l, other_len, 1));
	ck_assert(!attr_list_matches(&l, absent, 1));
	ck_assert(attr_list_matches(&l, empty_label, 1));
	ck_assert(!attr_list_matches(&l, null_value, 1));
	ck_assert(!attr_list_matches(&l, NULL, 1));
	attr_list_clear(&l);
}
END_TEST

/* A fixed list and its exact encoding. */
static const unsigned char golden[] = {
	0x01, 0x00, 0x00, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x11, 0x00, 0x00, 0x00, 0x02, 'a', 'b',
};

static void golden_list(attr_list_t *l)
{
	attr_list_init(l);
	ck_assert_int_eq(attr_list_set(l, 0x80000111UL, "ab", 2), CKR_OK);
	ck_assert_int_eq(attr_list_set(l, 0x3, NULL, 0), CKR_OK);
}

START_TEST(test_serialize_golden)
{
	attr_list_t l, back;
	unsigned char *blob;
	size_t len;

	golden_list(&l);
	ck_assert_int_eq(attr_list_serialize(&l, &blob, &len), CKR_OK);
	ck_assert_uint_eq(len, sizeof(golden));
	ck_assert_mem_eq(blob, golden, sizeof(golden));
	ck_assert_int_eq(attr_list_parse(blob, len, &back), CKR_OK);
	ck_assert_uint_eq(back.count, 2);
	ck_assert_uint_eq(back.items[0].type, 0x3);
	ck_assert_uint_eq(back.items[0].len, 0);
	ck_assert_ptr_null(back.items[0].value);
	ck_assert_uint_eq(back.items[1].type, 0x80000111UL);
	ck_assert_mem_eq(back.items[1].value, "ab", 2);
	secmem_free(blob, len);
	attr_list_clear(&l);
	attr_list_clear(&back);
}
END_TEST

START_TEST(test_serialize_round_trip)
{
	attr_list_t l, back;
	unsigned char *blob, *blob2;
	size_t len, len2;

	attr_list_init(&l);
	ck_assert_int_eq(attr_list_serialize(&l, &blob, &len), CKR_OK); /* empty list */
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(attr_list_parse(blob, len, &back), CKR_OK);
	ck_assert_uint_eq(back.count, 0);
	secmem_free(blob, len);

	for (CK_ULONG i = 0; i < 40; i++) {
		unsigned char v[64];

		memset(v, (int)i, sizeof(v));
		ck_assert_int_eq(attr_list_set(&l, i * 977 % 1000, v, i), CKR_OK);
	}
	ck_assert_int_eq(attr_list_set_ulong(&l, CKA_CLASS, CKO_PRIVATE_KEY), CKR_OK);
	ck_assert_int_eq(attr_list_serialize(&l, &blob, &len), CKR_OK);
	ck_assert_int_eq(attr_list_parse(blob, len, &back), CKR_OK);
	ck_assert_uint_eq(back.count, l.count);
	for (size_t i = 0; i < l.count; i++) {
		ck_assert_uint_eq(back.items[i].type, l.items[i].type);
		ck_assert_uint_eq(back.items[i].len, l.items[i].len);
		if (l.items[i].len)
			ck_assert_mem_eq(back.items[i].value, l.items[i].value, l.items[i].len);
	}
	ck_assert_int_eq(attr_list_serialize(&back, &blob2, &len2), CKR_OK);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(blob2, blob, len);
	secmem_free(blob, len);
	secmem_free(blob2, len2);
	attr_list_clear(&l);
	attr_list_clear(&back);
}
END_TEST

static void assert_rejected(const unsigned char *in, size_t len)
{
	attr_list_t out;

	ck_assert_int_eq(attr_list_parse(in, len, &out), CKR_DATA_INVALID);
	ck_assert_uint_eq(out.count, 0);
	ck_assert_ptr_null(out.items);
}

START_TEST(test_parse_truncated)
{
	for (size_t len = 0; len < sizeof(golden); len++)
		assert_rejected(golden, len);
	assert_rejected(NULL, 0);
}
END_TEST

START_TEST(test_parse_rejects)
{
	unsigned char buf[sizeof(golden) + 1];

	memcpy(buf, golden, sizeof(golden));
	buf[sizeof(golden)] = 0;
	assert_rejected(buf, sizeof(golden) + 1); /* trailing byte */

	memcpy(buf, golden, sizeof(golden));
	buf[0] = 0;
	assert_rejected(buf, sizeof(golden)); /* version */
	buf[0] = 2;
	assert_rejected(buf, sizeof(golden));

	memcpy(buf, golden, sizeof(golden));
	buf[4] = 1; /* count says one: the second item is trailing */
	assert_rejected(buf, sizeof(golden));
	buf[4] = 3; /* count says three: truncated */
	assert_rejected(buf, sizeof(golden));

	memcpy(buf, golden, sizeof(golden));
	buf[24] = 0x02; /* second type 0x80000102 ... still > 3: fine */
	{
		attr_list_t out;
		ck_assert_int_eq(attr_list_parse(buf, sizeof(golden), &out), CKR_OK);
		attr_list_clear(&out);
	}
	/* second type made equal to the first: a duplicate */
	memset(buf + 17, 0, 8);
	buf[24] = 0x03;
	assert_rejected(buf, sizeof(golden));
	/* second type below the first: unsorted */
	buf[24] = 0x02;
	assert_rejected(buf, sizeof(golden));

	/* value length larger than what is left */
	memcpy(buf, golden, sizeof(golden));
	buf[28] = 3;
	assert_rejected(buf, sizeof(golden));
	memcpy(buf, golden, sizeof(golden));
	buf[25] = 0xff; /* length 0xff000002 */
	assert_rejected(buf, sizeof(golden));
}
END_TEST

static unsigned char *build_blob(uint32_t count, uint32_t vlen, size_t *len)
{
	size_t n = 5 + (size_t)count * (12 + vlen);
	unsigned char *b = calloc(1, n), *p = b + 5;

	ck_assert_ptr_nonnull(b);
	b[0] = 1;
	b[1] = (unsigned char)(count >> 24);
	b[2] = (unsigned char)(count >> 16);
	b[3] = (unsigned char)(count >> 8);
	b[4] = (unsigned char)count;
	for (uint32_t i = 0; i < count; i++) {
		p[6] = (unsigned char)(i >> 8);
		p[7] = (unsigned char)i;
		p[8] = (unsigned char)(vlen >> 24);
		p[9] = (unsigned char)(vlen >> 16);
		p[10] = (unsigned char)(vlen >> 8);
		p[11] = (unsigned char)vlen;
		p += 12 + vlen;
	}
	*len = n;
	return b;
}

START_TEST(test_parse_bounds)
{
	attr_list_t out;
	unsigned char *b;
	size_t len;

	b = build_blob(ATTR_LIST_MAX_COUNT, 1, &len);
	ck_assert_int_eq(attr_list_parse(b, len, &out), CKR_OK);
	ck_assert_uint_eq(out.count, ATTR_LIST_MAX_COUNT);
	attr_list_clear(&out);
	free(b);

	b = build_blob(ATTR_LIST_MAX_COUNT + 1, 1, &len);
	assert_rejected(b, len);
	free(b);

	b = build_blob(1, ATTR_VALUE_MAX, &len);
	ck_assert_int_eq(attr_list_parse(b, len, &out), CKR_OK);
	attr_list_clear(&out);
	free(b);

	b = build_blob(1, ATTR_VALUE_MAX + 1, &len);
	assert_rejected(b, len);
	free(b);

	/* A well-formed list longer than ATTR_BLOB_MAX. */
	b = build_blob(17, ATTR_VALUE_MAX, &len);
	ck_assert_uint_gt(len, ATTR_BLOB_MAX);
	assert_rejected(b, len);
	free(b);

	/* A huge count with no items behind it. */
	{
		unsigned char h[] = { 1, 0xff, 0xff, 0xff, 0xff };
		assert_rejected(h, sizeof(h));
	}
}
END_TEST

/* ==== policy: building ================================================ */

static attr_list_t build_ok(policy_op_t op, CK_OBJECT_CLASS klass, CK_KEY_TYPE kt,
			    const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	attr_list_t l;

	ck_assert_int_eq(policy_build(op, klass, kt, tmpl, n, &l), CKR_OK);
	return l;
}

static void build_fails(policy_op_t op, CK_OBJECT_CLASS klass, CK_KEY_TYPE kt,
			const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_RV want)
{
	attr_list_t l;

	ck_assert_int_eq(policy_build(op, klass, kt, tmpl, n, &l), want);
	ck_assert_uint_eq(l.count, 0);
}

static attr_list_t ec_private(bool sensitive, bool extractable)
{
	CK_ATTRIBUTE t[] = {
		A_ULONG(CKA_CLASS, CKO_PRIVATE_KEY), A_ULONG(CKA_KEY_TYPE, CKK_EC),
		{ CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
		A_STR(CKA_VALUE, "\x11\x22\x33"),
		A_BOOL(CKA_SENSITIVE, sensitive), A_BOOL(CKA_EXTRACTABLE, extractable),
		A_STR(CKA_LABEL, "k"),
	};

	return build_ok(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, t, N(t));
}

START_TEST(test_defaults_data)
{
	CK_ATTRIBUTE t[] = { A_ULONG(CKA_CLASS, CKO_DATA), A_STR(CKA_VALUE, "cred") };
	attr_list_t l = build_ok(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, t, N(t));

	ck_assert_uint_eq(policy_object_class(&l), CKO_DATA);
	ck_assert_uint_eq(policy_key_type(&l), CK_UNAVAILABLE_INFORMATION);
	ck_assert(!bool_of(&l, CKA_TOKEN));
	ck_assert(!bool_of(&l, CKA_PRIVATE));
	ck_assert(bool_of(&l, CKA_MODIFIABLE));
	ck_assert(bool_of(&l, CKA_COPYABLE));
	ck_assert(bool_of(&l, CKA_DESTROYABLE));
	assert_empty(&l, CKA_LABEL);
	assert_empty(&l, CKA_APPLICATION);
	assert_empty(&l, CKA_OBJECT_ID);
	ck_assert_mem_eq(attr_list_find(&l, CKA_VALUE)->value, "cred", 4);
	ck_assert_ptr_null(attr_list_find(&l, CKA_KEY_TYPE));
	ck_assert_ptr_null(attr_list_find(&l, CKA_UNIQUE_ID));
	attr_list_clear(&l);

	/* Private data objects are allowed; klass passed as argument. */
	{
		CK_ATTRIBUTE p[] = { A_BOOL(CKA_PRIVATE, CK_TRUE), A_BOOL(CKA_TOKEN, CK_TRUE) };
		l = build_ok(POLICY_CREATE, CKO_DATA, POLICY_FROM_TEMPLATE, p, N(p));
		ck_assert(bool_of(&l, CKA_PRIVATE));
		ck_assert(bool_of(&l, CKA_TOKEN));
		ck_assert_uint_eq(ulong_of(&l, CKA_CLASS), CKO_DATA);
		assert_empty(&l, CKA_VALUE);
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_defaults_certificate)
{
	CK_ATTRIBUTE t[] = {
		A_ULONG(CKA_CLASS, CKO_CERTIFICATE), A_ULONG(CKA_CERTIFICATE_TYPE, CKC_X_509),
		A_STR(CKA_SUBJECT, "subj"), A_STR(CKA_VALUE, "der"),
		A_BOOL(CKA_TRUSTED, CK_FALSE),
	};
	attr_list_t l = build_ok(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, t, N(t));

	ck_assert(!bool_of(&l, CKA_PRIVATE));
	ck_assert(!bool_of(&l, CKA_TRUSTED));
	ck_assert_uint_eq(ulong_of(&l, CKA_CERTIFICATE_CATEGORY), 0);
	ck_assert_uint_eq(ulong_of(&l, CKA_JAVA_MIDP_SECURITY_DOMAIN), 0);
	ck_assert_uint_eq(ulong_of(&l, CKA_NAME_HASH_ALGORITHM), CKM_SHA_1);
	ck_assert_uint_eq(ulong_of(&l, CKA_CERTIFICATE_TYPE), CKC_X_509);
	assert_empty(&l, CKA_ID);
	assert_empty(&l, CKA_ISSUER);
	assert_empty(&l, CKA_SERIAL_NUMBER);
	assert_empty(&l, CKA_START_DATE);
	ck_assert_ptr_null(attr_list_find(&l, CKA_KEY_TYPE));
	attr_list_clear(&l);

	/* Each required attribute missing. */
	for (size_t skip = 1; skip < 4; skip++) {
		CK_ATTRIBUTE part[4];
		CK_ULONG n = 0;

		for (size_t i = 0; i < 4; i++)
			if (i != skip)
				part[n++] = t[i];
		build_fails(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, part, n,
			    CKR_TEMPLATE_INCOMPLETE);
	}
	{
		CK_ATTRIBUTE wtls[] = { A_ULONG(CKA_CERTIFICATE_TYPE, CKC_WTLS),
					A_STR(CKA_SUBJECT, "s"), A_STR(CKA_VALUE, "v") };
		CK_ATTRIBUTE trusted[] = { A_ULONG(CKA_CERTIFICATE_TYPE, CKC_X_509),
					   A_STR(CKA_SUBJECT, "s"), A_STR(CKA_VALUE, "v"),
					   A_BOOL(CKA_TRUSTED, CK_TRUE) };
		CK_ATTRIBUTE category[] = { A_ULONG(CKA_CERTIFICATE_TYPE, CKC_X_509),
					    A_STR(CKA_SUBJECT, "s"), A_STR(CKA_VALUE, "v"),
					    A_ULONG(CKA_CERTIFICATE_CATEGORY, 4) };

		build_fails(POLICY_CREATE, CKO_CERTIFICATE, 0, wtls, N(wtls), CKR_ATTRIBUTE_VALUE_INVALID);
		build_fails(POLICY_CREATE, CKO_CERTIFICATE, 0, trusted, N(trusted), CKR_ATTRIBUTE_READ_ONLY);
		build_fails(POLICY_CREATE, CKO_CERTIFICATE, 0, category, N(category),
			    CKR_ATTRIBUTE_VALUE_INVALID);
		category[3] = (CK_ATTRIBUTE)A_ULONG(CKA_CERTIFICATE_CATEGORY, 2);
		l = build_ok(POLICY_CREATE, CKO_CERTIFICATE, 0, category, N(category));
		ck_assert_uint_eq(ulong_of(&l, CKA_CERTIFICATE_CATEGORY), 2);
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_defaults_public_key)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
		A_STR(CKA_EC_POINT, "\x04\x03\x04\x01\x02"),
	};
	attr_list_t l = build_ok(POLICY_CREATE, CKO_PUBLIC_KEY, CKK_EC, t, N(t));
	CK_ATTRIBUTE_TYPE on[] = { CKA_VERIFY, CKA_ENCRYPT, CKA_WRAP, CKA_VERIFY_RECOVER };
	CK_ATTRIBUTE_TYPE off[] = { CKA_DERIVE, CKA_TOKEN, CKA_PRIVATE, CKA_TRUSTED, CKA_LOCAL };

	for (size_t i = 0; i < OFP_ARRAY_LEN(on); i++)
		ck_assert(bool_of(&l, on[i]));
	for (size_t i = 0; i < OFP_ARRAY_LEN(off); i++)
		ck_assert(!bool_of(&l, off[i]));
	ck_assert_uint_eq(ulong_of(&l, CKA_KEY_TYPE), CKK_EC);
	ck_assert_uint_eq(ulong_of(&l, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
	assert_empty(&l, CKA_ALLOWED_MECHANISMS);
	assert_empty(&l, CKA_WRAP_TEMPLATE);
	assert_empty(&l, CKA_SUBJECT);
	ck_assert_ptr_null(attr_list_find(&l, CKA_SENSITIVE));
	ck_assert_ptr_null(attr_list_find(&l, CKA_SIGN));
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_defaults_private_key)
{
	attr_list_t l = ec_private(true, false);
	CK_ATTRIBUTE_TYPE on[] = { CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP, CKA_SIGN_RECOVER,
				   CKA_SENSITIVE, CKA_PRIVATE, CKA_MODIFIABLE };
	CK_ATTRIBUTE_TYPE off[] = { CKA_DERIVE, CKA_EXTRACTABLE, CKA_TOKEN, CKA_LOCAL,
				    CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
				    CKA_ALWAYS_AUTHENTICATE, CKA_WRAP_WITH_TRUSTED };

	for (size_t i = 0; i < OFP_ARRAY_LEN(on); i++)
		ck_assert(bool_of(&l, on[i]));
	/* Created, not generated: never "always sensitive" nor "local". */
	for (size_t i = 0; i < OFP_ARRAY_LEN(off); i++)
		ck_assert(!bool_of(&l, off[i]));
	ck_assert_uint_eq(ulong_of(&l, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
	ck_assert_ptr_null(attr_list_find(&l, CKA_VERIFY));
	ck_assert_ptr_null(attr_list_find(&l, CKA_EC_POINT));
	attr_list_clear(&l);

	/* Generation template: no material at all, all defaults. */
	l = build_ok(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_EC_EDWARDS, NULL, 0);
	ck_assert(bool_of(&l, CKA_SENSITIVE));
	ck_assert(!bool_of(&l, CKA_EXTRACTABLE));
	ck_assert(bool_of(&l, CKA_PRIVATE));
	ck_assert_uint_eq(ulong_of(&l, CKA_KEY_TYPE), CKK_EC_EDWARDS);
	ck_assert_ptr_null(attr_list_find(&l, CKA_VALUE));
	ck_assert_ptr_null(attr_list_find(&l, CKA_EC_PARAMS));
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_defaults_secret_key)
{
	CK_ATTRIBUTE t[] = { A_ULONG(CKA_CLASS, CKO_SECRET_KEY),
			     A_ULONG(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
			     A_STR(CKA_VALUE, "0123456789") };
	attr_list_t l = build_ok(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, t, N(t));
	CK_ATTRIBUTE_TYPE on[] = { CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP,
				   CKA_UNWRAP, CKA_SENSITIVE, CKA_PRIVATE };

	for (size_t i = 0; i < OFP_ARRAY_LEN(on); i++)
		ck_assert(bool_of(&l, on[i]));
	ck_assert(!bool_of(&l, CKA_EXTRACTABLE));
	ck_assert(!bool_of(&l, CKA_TRUSTED));
	ck_assert(!bool_of(&l, CKA_DERIVE));
	ck_assert_uint_eq(ulong_of(&l, CKA_VALUE_LEN), 10);
	assert_empty(&l, CKA_CHECK_VALUE);
	attr_list_clear(&l);

	/* Derive: VALUE_LEN optional and kept. */
	{
		CK_ATTRIBUTE d[] = { A_ULONG(CKA_VALUE_LEN, 16), A_BOOL(CKA_DERIVE, CK_TRUE) };
		l = build_ok(POLICY_DERIVE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, d, N(d));
		ck_assert_uint_eq(ulong_of(&l, CKA_VALUE_LEN), 16);
		ck_assert(bool_of(&l, CKA_DERIVE));
		attr_list_clear(&l);
		l = build_ok(POLICY_DERIVE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, NULL, 0);
		ck_assert_ptr_null(attr_list_find(&l, CKA_VALUE_LEN));
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_rsa_create)
{
	/* 0x00 0x01 0x00...: leading zero and a top byte of one bit. */
	CK_ATTRIBUTE pub[] = { A_STR(CKA_MODULUS, "\x00\x01\x00\x00"),
			       A_STR(CKA_PUBLIC_EXPONENT, "\x01\x00\x01") };
	CK_ATTRIBUTE priv[] = { A_STR(CKA_MODULUS, "\xc0\x00"),
				A_STR(CKA_PRIVATE_EXPONENT, "\x05"),
				A_STR(CKA_PRIME_1, "\x07") };
	CK_ATTRIBUTE bits[] = { A_STR(CKA_MODULUS, "\xc0\x00"), A_STR(CKA_PUBLIC_EXPONENT, "\x03"),
				A_ULONG(CKA_MODULUS_BITS, 16) };
	attr_list_t l = build_ok(POLICY_CREATE, CKO_PUBLIC_KEY, CKK_RSA, pub, N(pub));

	ck_assert_uint_eq(ulong_of(&l, CKA_MODULUS_BITS), 17);
	attr_list_clear(&l);
	l = build_ok(POLICY_CREATE, CKO_PRIVATE_KEY, CKK_RSA, priv, N(priv));
	ck_assert_ptr_null(attr_list_find(&l, CKA_MODULUS_BITS));
	ck_assert_ptr_null(attr_list_find(&l, CKA_PRIME_2));
	attr_list_clear(&l);
	build_fails(POLICY_CREATE, CKO_PUBLIC_KEY, CKK_RSA, bits, N(bits), CKR_ATTRIBUTE_READ_ONLY);
	build_fails(POLICY_CREATE, CKO_PUBLIC_KEY, CKK_RSA, pub, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_CREATE, CKO_PRIVATE_KEY, CKK_RSA, priv, 1, CKR_TEMPLATE_INCOMPLETE);
}
END_TEST

START_TEST(test_required_incomplete)
{
	CK_ATTRIBUTE ec_pub_no_point[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) } };
	CK_ATTRIBUTE ec_priv_no_value[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) } };
	CK_ATTRIBUTE label[] = { A_STR(CKA_LABEL, "x") };
	CK_ATTRIBUTE rsa_gen[] = { A_STR(CKA_PUBLIC_EXPONENT, "\x01\x00\x01") };
	CK_ATTRIBUTE no_class[] = { A_STR(CKA_VALUE, "v") };
	CK_ATTRIBUTE no_type[] = { A_ULONG(CKA_CLASS, CKO_PUBLIC_KEY) };

	build_fails(POLICY_CREATE, CKO_PUBLIC_KEY, CKK_EC, ec_pub_no_point, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_CREATE, CKO_PRIVATE_KEY, CKK_EC, ec_priv_no_value, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_CREATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, label, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC, label, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC_EDWARDS, label, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, rsa_gen, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, label, 1, CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, no_class, 1,
		    CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, no_type, 1,
		    CKR_TEMPLATE_INCOMPLETE);
	build_fails(POLICY_GENERATE, CKO_PRIVATE_KEY, POLICY_FROM_TEMPLATE, label, 1,
		    CKR_TEMPLATE_INCOMPLETE);

	/* The same templates, completed, pass. */
	{
		CK_ATTRIBUTE g[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) } };
		CK_ATTRIBUTE r[] = { A_ULONG(CKA_MODULUS_BITS, 2048), A_STR(CKA_PUBLIC_EXPONENT, "\x03") };
		CK_ATTRIBUTE s[] = { A_ULONG(CKA_VALUE_LEN, 32) };
		attr_list_t l = build_ok(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC, g, 1);

		attr_list_clear(&l);
		l = build_ok(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, r, 2);
		ck_assert_uint_eq(ulong_of(&l, CKA_MODULUS_BITS), 2048);
		attr_list_clear(&l);
		l = build_ok(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, s, 1);
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_read_only)
{
	CK_ATTRIBUTE_TYPE token_set[] = { CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE };
	policy_op_t ops[] = { POLICY_CREATE, POLICY_GENERATE };

	for (size_t o = 0; o < 2; o++) {
		for (size_t i = 0; i < OFP_ARRAY_LEN(token_set); i++) {
			CK_ATTRIBUTE t[] = { A_BOOL(token_set[i], CK_FALSE) };
			build_fails(ops[o], CKO_PRIVATE_KEY, CKK_EC, t, 1, CKR_ATTRIBUTE_READ_ONLY);
		}
		{
			CK_ATTRIBUTE t[] = { A_ULONG(CKA_KEY_GEN_MECHANISM, CKM_EC_KEY_PAIR_GEN) };
			CK_ATTRIBUTE u[] = { A_STR(CKA_UNIQUE_ID, "1") };
			build_fails(ops[o], CKO_SECRET_KEY, CKK_GENERIC_SECRET, t, 1, CKR_ATTRIBUTE_READ_ONLY);
			build_fails(ops[o], CKO_SECRET_KEY, CKK_GENERIC_SECRET, u, 1, CKR_ATTRIBUTE_READ_ONLY);
		}
	}
	{
		CK_ATTRIBUTE t[] = { A_STR(CKA_VALUE, "0123"), A_ULONG(CKA_VALUE_LEN, 4) };
		CK_ATTRIBUTE tr[] = { A_ULONG(CKA_VALUE_LEN, 4), A_BOOL(CKA_TRUSTED, CK_TRUE) };
		build_fails(POLICY_CREATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, t, 2, CKR_ATTRIBUTE_READ_ONLY);
		build_fails(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, tr, 2, CKR_ATTRIBUTE_READ_ONLY);
	}
}
END_TEST

START_TEST(test_material_in_generate)
{
	CK_ATTRIBUTE pub_point[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
				     A_STR(CKA_EC_POINT, "\x04\x01\x04") };
	CK_ATTRIBUTE priv_value[] = { A_STR(CKA_VALUE, "\x01") };
	CK_ATTRIBUTE priv_params[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) } };
	CK_ATTRIBUTE rsa_prime[] = { A_STR(CKA_PRIME_1, "\x07") };
	CK_ATTRIBUTE rsa_mod[] = { A_ULONG(CKA_MODULUS_BITS, 2048), A_STR(CKA_MODULUS, "\x07") };
	CK_ATTRIBUTE spki[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
				A_STR(CKA_PUBLIC_KEY_INFO, "\x30\x00") };
	CK_ATTRIBUTE secret[] = { A_ULONG(CKA_VALUE_LEN, 1), A_STR(CKA_VALUE, "\x01") };

	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC, pub_point, 2, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_EC, priv_value, 1, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_EC, priv_params, 1, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_RSA, rsa_prime, 1, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, rsa_mod, 2, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC, spki, 2, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, secret, 2,
		    CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_DERIVE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, secret, 2,
		    CKR_TEMPLATE_INCONSISTENT);
}
END_TEST

START_TEST(test_value_invalid)
{
	CK_BYTE two[2] = { 1, 0 };
	CK_ULONG four = 0;
	CK_ATTRIBUTE bad[][1] = {
		{ { CKA_TOKEN, two, 2 } },
		{ { CKA_TOKEN, two, 0 } },
		{ { CKA_TOKEN, &four, sizeof(four) } },
		{ { CKA_TOKEN, NULL, 1 } },
		{ { CKA_CLASS, two, 2 } },
		{ { CKA_START_DATE, "2024-1-1", 8 } },
		{ { CKA_START_DATE, "2024010", 7 } },
		{ { CKA_ALLOWED_MECHANISMS, two, 2 } },
		{ { CKA_LABEL, two, ATTR_VALUE_MAX + 1 } },
		{ { CKA_KEY_TYPE, &(CK_ULONG){ CKK_DES }, sizeof(CK_ULONG) } }, /* single DES: not offered */
	};

	for (size_t i = 0; i < OFP_ARRAY_LEN(bad); i++) {
		CK_ATTRIBUTE t[2] = { A_ULONG(CKA_KEY_TYPE, CKK_GENERIC_SECRET), bad[i][0] };
		bool names_kind = bad[i][0].type == CKA_KEY_TYPE || bad[i][0].type == CKA_CLASS;
		attr_list_t l;
		CK_RV rv;

		/* A secret key whose template names its type, plus the bad attribute. */
		if (names_kind)
			rv = policy_build(POLICY_CREATE, CKO_SECRET_KEY, POLICY_FROM_TEMPLATE, bad[i], 1, &l);
		else
			rv = policy_build(POLICY_GENERATE, CKO_SECRET_KEY, POLICY_FROM_TEMPLATE, t, 2, &l);
		ck_assert_msg(rv == CKR_ATTRIBUTE_VALUE_INVALID, "case %zu: rv 0x%lx", i, rv);
		ck_assert_uint_eq(l.count, 0);
	}
	/* Keys stay private: a valid value this token does not support is a
	 * template inconsistency (v3.0 4.1.1), for every way a key is made. */
	{
		CK_ATTRIBUTE pub_secret[] = { A_ULONG(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
					      A_BOOL(CKA_PRIVATE, CK_FALSE) };
		policy_op_t ops[] = { POLICY_CREATE, POLICY_GENERATE, POLICY_DERIVE };

		for (size_t i = 0; i < OFP_ARRAY_LEN(ops); i++)
			build_fails(ops[i], CKO_SECRET_KEY, POLICY_FROM_TEMPLATE, pub_secret, 2,
				    CKR_TEMPLATE_INCONSISTENT);
		build_fails(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_EC, pub_secret + 1, 1,
			    CKR_TEMPLATE_INCONSISTENT);
	}
	{
		CK_ATTRIBUTE hw[] = { A_ULONG(CKA_CLASS, CKO_HW_FEATURE) };
		CK_ATTRIBUTE date[] = { A_ULONG(CKA_VALUE_LEN, 1), A_STR(CKA_END_DATE, "20301231"),
					{ CKA_START_DATE, NULL, 0 } };
		attr_list_t l;

		build_fails(POLICY_CREATE, POLICY_FROM_TEMPLATE, 0, hw, 1, CKR_ATTRIBUTE_VALUE_INVALID);
		l = build_ok(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, date, N(date));
		ck_assert_mem_eq(attr_list_find(&l, CKA_END_DATE)->value, "20301231", 8);
		attr_list_clear(&l);
	}
	/* Any nonzero CK_BBOOL is TRUE, stored canonically. */
	{
		CK_ATTRIBUTE t[] = { A_BOOL(CKA_TOKEN, 0x7f) };
		attr_list_t l = build_ok(POLICY_CREATE, CKO_DATA, 0, t, 1);
		ck_assert_uint_eq(attr_list_find(&l, CKA_TOKEN)->value[0], CK_TRUE);
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_type_invalid)
{
	CK_ATTRIBUTE sign_on_data[] = { A_BOOL(CKA_SIGN, CK_TRUE) };
	CK_ATTRIBUTE keytype_on_data[] = { A_ULONG(CKA_KEY_TYPE, CKK_EC) };
	CK_ATTRIBUTE point_on_rsa[] = { A_ULONG(CKA_MODULUS_BITS, 2048), A_STR(CKA_EC_POINT, "\x04") };
	CK_ATTRIBUTE modulus_on_ec[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
					 A_STR(CKA_EC_POINT, "\x04"), A_STR(CKA_MODULUS, "\x01") };
	CK_ATTRIBUTE vendor[] = { A_STR(CKA_VENDOR_DEFINED | 1, "\x01") };
	CK_ATTRIBUTE sign_on_public[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
					  A_BOOL(CKA_SIGN, CK_TRUE) };

	build_fails(POLICY_CREATE, CKO_DATA, 0, sign_on_data, 1, CKR_ATTRIBUTE_TYPE_INVALID);
	build_fails(POLICY_CREATE, CKO_DATA, 0, keytype_on_data, 1, CKR_ATTRIBUTE_TYPE_INVALID);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_RSA, point_on_rsa, 2, CKR_ATTRIBUTE_TYPE_INVALID);
	build_fails(POLICY_CREATE, CKO_PUBLIC_KEY, CKK_EC, modulus_on_ec, 3, CKR_ATTRIBUTE_TYPE_INVALID);
	build_fails(POLICY_CREATE, CKO_DATA, 0, vendor, 1, CKR_ATTRIBUTE_TYPE_INVALID);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC, sign_on_public, 2, CKR_ATTRIBUTE_TYPE_INVALID);
}
END_TEST

START_TEST(test_inconsistent)
{
	CK_ATTRIBUTE cert_class[] = { A_ULONG(CKA_CLASS, CKO_CERTIFICATE) };
	CK_ATTRIBUTE rsa_type[] = { A_ULONG(CKA_KEY_TYPE, CKK_RSA) };
	CK_ATTRIBUTE dup_diff[] = { A_STR(CKA_LABEL, "a"), A_STR(CKA_LABEL, "b") };
	CK_ATTRIBUTE dup_len[] = { A_STR(CKA_LABEL, "a"), A_STR(CKA_LABEL, "ab") };
	CK_ATTRIBUTE dup_same[] = { A_STR(CKA_LABEL, "a"), A_STR(CKA_LABEL, "a") };
	CK_ATTRIBUTE secret_pub[] = { A_ULONG(CKA_CLASS, CKO_PUBLIC_KEY),
				      A_ULONG(CKA_KEY_TYPE, CKK_GENERIC_SECRET) };
	attr_list_t l;

	build_fails(POLICY_CREATE, CKO_DATA, 0, cert_class, 1, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC, rsa_type, 1, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_CREATE, CKO_DATA, 0, dup_diff, 2, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_CREATE, CKO_DATA, 0, dup_len, 2, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_CREATE, POLICY_FROM_TEMPLATE, POLICY_FROM_TEMPLATE, secret_pub, 2,
		    CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_GENERATE, CKO_DATA, 0, NULL, 0, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_DERIVE, CKO_PRIVATE_KEY, CKK_EC, NULL, 0, CKR_TEMPLATE_INCONSISTENT);
	build_fails(POLICY_CREATE, CKO_DATA, 0, NULL, 1, CKR_ARGUMENTS_BAD);
	build_fails(POLICY_SET, CKO_DATA, 0, NULL, 0, CKR_ARGUMENTS_BAD);
	l = build_ok(POLICY_CREATE, CKO_DATA, 0, dup_same, 2);
	ck_assert_mem_eq(attr_list_find(&l, CKA_LABEL)->value, "a", 1);
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_template_ulong)
{
	CK_ATTRIBUTE t[] = { A_STR(CKA_LABEL, "x"), A_ULONG(CKA_CLASS, CKO_CERTIFICATE),
			     A_STR(CKA_KEY_TYPE, "xy") };
	CK_ULONG v = 0;

	ck_assert(policy_template_ulong(t, 3, CKA_CLASS, &v));
	ck_assert_uint_eq(v, CKO_CERTIFICATE);
	ck_assert(!policy_template_ulong(t, 3, CKA_KEY_TYPE, &v));
	ck_assert(!policy_template_ulong(t, 3, CKA_VALUE, &v));
	ck_assert(!policy_template_ulong(NULL, 3, CKA_CLASS, &v));
}
END_TEST

/* ==== policy: generation and derivation =============================== */

START_TEST(test_finish_generated)
{
	CK_ATTRIBUTE soft[] = { A_BOOL(CKA_SENSITIVE, CK_FALSE), A_BOOL(CKA_EXTRACTABLE, CK_TRUE) };
	attr_list_t priv = build_ok(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_EC, NULL, 0);
	attr_list_t pub;

	ck_assert_int_eq(policy_finish_generated(&priv, CKM_EC_KEY_PAIR_GEN), CKR_OK);
	ck_assert(bool_of(&priv, CKA_LOCAL));
	ck_assert_uint_eq(ulong_of(&priv, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN);
	ck_assert(bool_of(&priv, CKA_ALWAYS_SENSITIVE));
	ck_assert(bool_of(&priv, CKA_NEVER_EXTRACTABLE));
	attr_list_clear(&priv);

	priv = build_ok(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_RSA, soft, 2);
	ck_assert_int_eq(policy_finish_generated(&priv, CKM_RSA_PKCS_KEY_PAIR_GEN), CKR_OK);
	ck_assert(bool_of(&priv, CKA_LOCAL));
	ck_assert(!bool_of(&priv, CKA_ALWAYS_SENSITIVE));
	ck_assert(!bool_of(&priv, CKA_NEVER_EXTRACTABLE));
	attr_list_clear(&priv);

	{
		CK_ATTRIBUTE g[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) } };
		pub = build_ok(POLICY_GENERATE, CKO_PUBLIC_KEY, CKK_EC, g, 1);
	}
	ck_assert_int_eq(policy_finish_generated(&pub, CKM_EC_KEY_PAIR_GEN), CKR_OK);
	ck_assert(bool_of(&pub, CKA_LOCAL));
	ck_assert_uint_eq(ulong_of(&pub, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN);
	ck_assert_ptr_null(attr_list_find(&pub, CKA_ALWAYS_SENSITIVE));
	attr_list_clear(&pub);

	{
		CK_ATTRIBUTE s[] = { A_ULONG(CKA_VALUE_LEN, 5) };
		attr_list_t sec = build_ok(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, s, 1);

		ck_assert_int_eq(attr_list_set(&sec, CKA_VALUE, "abc", 3), CKR_OK);
		ck_assert_int_eq(policy_finish_generated(&sec, CKM_GENERIC_SECRET_KEY_GEN), CKR_OK);
		ck_assert_uint_eq(ulong_of(&sec, CKA_VALUE_LEN), 3);
		ck_assert(bool_of(&sec, CKA_ALWAYS_SENSITIVE));
		attr_list_clear(&sec);
	}
}
END_TEST

START_TEST(test_finish_derived)
{
	CK_ATTRIBUTE soft[] = { A_BOOL(CKA_EXTRACTABLE, CK_TRUE) };
	attr_list_t base = build_ok(POLICY_GENERATE, CKO_PRIVATE_KEY, CKK_EC, NULL, 0);
	attr_list_t d;

	ck_assert_int_eq(policy_finish_generated(&base, CKM_EC_KEY_PAIR_GEN), CKR_OK);

	d = build_ok(POLICY_DERIVE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, NULL, 0);
	ck_assert_int_eq(attr_list_set(&d, CKA_VALUE, "0123456789abcdef", 16), CKR_OK);
	ck_assert_int_eq(policy_finish_derived(&d, &base), CKR_OK);
	ck_assert(!bool_of(&d, CKA_LOCAL));
	ck_assert_uint_eq(ulong_of(&d, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
	ck_assert(bool_of(&d, CKA_ALWAYS_SENSITIVE));
	ck_assert(bool_of(&d, CKA_NEVER_EXTRACTABLE));
	ck_assert_uint_eq(ulong_of(&d, CKA_VALUE_LEN), 16);
	attr_list_clear(&d);

	/* An extractable derived key was never "never extractable". */
	d = build_ok(POLICY_DERIVE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, soft, 1);
	ck_assert_int_eq(policy_finish_derived(&d, &base), CKR_OK);
	ck_assert(bool_of(&d, CKA_ALWAYS_SENSITIVE));
	ck_assert(!bool_of(&d, CKA_NEVER_EXTRACTABLE));
	attr_list_clear(&d);
	attr_list_clear(&base);

	/* From an imported (not always sensitive) base. */
	base = ec_private(true, false);
	d = build_ok(POLICY_DERIVE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, NULL, 0);
	ck_assert_int_eq(policy_finish_derived(&d, &base), CKR_OK);
	ck_assert(!bool_of(&d, CKA_ALWAYS_SENSITIVE));
	ck_assert(!bool_of(&d, CKA_NEVER_EXTRACTABLE));
	attr_list_clear(&d);
	attr_list_clear(&base);
}
END_TEST

/* ==== policy: reading ================================================= */

static CK_RV get(const attr_list_t *obj, CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { type, buf, *len };
	CK_RV rv = policy_get_attribute(obj, &a);

	*len = a.ulValueLen;
	return rv;
}

START_TEST(test_get_two_call)
{
	CK_ATTRIBUTE t[] = { A_STR(CKA_LABEL, "holder key") };
	attr_list_t l = build_ok(POLICY_CREATE, CKO_DATA, 0, t, 1);
	char buf[32];
	CK_ULONG len = 0;
	CK_BBOOL b = 0xaa;

	ck_assert_int_eq(get(&l, CKA_LABEL, NULL, &len), CKR_OK);
	ck_assert_uint_eq(len, 10);
	len = 9;
	ck_assert_int_eq(get(&l, CKA_LABEL, buf, &len), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(len, CK_UNAVAILABLE_INFORMATION);
	len = sizeof(buf);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(get(&l, CKA_LABEL, buf, &len), CKR_OK);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(buf, "holder key");

	len = 1;
	ck_assert_int_eq(get(&l, CKA_TOKEN, &b, &len), CKR_OK);
	ck_assert_uint_eq(b, CK_FALSE);
	len = 0;
	ck_assert_int_eq(get(&l, CKA_APPLICATION, NULL, &len), CKR_OK);
	ck_assert_uint_eq(len, 0);
	len = 0;
	ck_assert_int_eq(get(&l, CKA_APPLICATION, buf, &len), CKR_OK);

	len = 4;
	ck_assert_int_eq(get(&l, CKA_SIGN, buf, &len), CKR_ATTRIBUTE_TYPE_INVALID);
	ck_assert_uint_eq(len, CK_UNAVAILABLE_INFORMATION);
	len = 4;
	ck_assert_int_eq(get(&l, CKA_UNIQUE_ID, NULL, &len), CKR_ATTRIBUTE_TYPE_INVALID);
	ck_assert_uint_eq(len, CK_UNAVAILABLE_INFORMATION);
	ck_assert_int_eq(policy_get_attribute(&l, NULL), CKR_ARGUMENTS_BAD);
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_sensitive_never_readable)
{
	attr_list_t l = ec_private(true, false);
	CK_BYTE buf[64];
	CK_ULONG len;

	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_VALUE, buf, &len), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(len, CK_UNAVAILABLE_INFORMATION);
	len = 0;
	ck_assert_int_eq(get(&l, CKA_VALUE, NULL, &len), CKR_ATTRIBUTE_SENSITIVE);
	ck_assert_uint_eq(len, CK_UNAVAILABLE_INFORMATION);
	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_EC_PARAMS, buf, &len), CKR_OK);
	ck_assert_uint_eq(len, sizeof(p256_oid));
	attr_list_clear(&l);

	/* Not sensitive but not extractable: still hidden. */
	l = ec_private(false, false);
	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_VALUE, buf, &len), CKR_ATTRIBUTE_SENSITIVE);
	attr_list_clear(&l);

	/* Sensitive and extractable: hidden. */
	l = ec_private(true, true);
	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_VALUE, buf, &len), CKR_ATTRIBUTE_SENSITIVE);
	attr_list_clear(&l);

	/* Only a key made readable on purpose shows its value. */
	l = ec_private(false, true);
	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_VALUE, buf, &len), CKR_OK);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(buf, "\x11\x22\x33", 3);
	{
		CK_ATTRIBUTE set[] = { A_BOOL(CKA_SENSITIVE, CK_TRUE) };
		ck_assert_int_eq(policy_apply_change(POLICY_SET, &l, set, 1), CKR_OK);
	}
	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_VALUE, buf, &len), CKR_ATTRIBUTE_SENSITIVE);
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_rsa_private_sensitive)
{
	CK_ATTRIBUTE t[] = {
		A_STR(CKA_MODULUS, "\xc1"), A_STR(CKA_PUBLIC_EXPONENT, "\x03"),
		A_STR(CKA_PRIVATE_EXPONENT, "\x05"), A_STR(CKA_PRIME_1, "\x07"),
		A_STR(CKA_PRIME_2, "\x0b"), A_STR(CKA_EXPONENT_1, "\x0d"),
		A_STR(CKA_EXPONENT_2, "\x11"), A_STR(CKA_COEFFICIENT, "\x13"),
	};
	CK_ATTRIBUTE_TYPE hidden[] = { CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
				       CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT };
	attr_list_t l = build_ok(POLICY_CREATE, CKO_PRIVATE_KEY, CKK_RSA, t, N(t));
	CK_BYTE buf[8];
	CK_ULONG len;

	for (size_t i = 0; i < OFP_ARRAY_LEN(hidden); i++) {
		len = sizeof(buf);
		ck_assert_int_eq(get(&l, hidden[i], buf, &len), CKR_ATTRIBUTE_SENSITIVE);
		ck_assert_uint_eq(len, CK_UNAVAILABLE_INFORMATION);
	}
	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_MODULUS, buf, &len), CKR_OK);
	len = sizeof(buf);
	ck_assert_int_eq(get(&l, CKA_PUBLIC_EXPONENT, buf, &len), CKR_OK);
	attr_list_clear(&l);

	{
		CK_ATTRIBUTE s[] = { A_ULONG(CKA_KEY_TYPE, CKK_GENERIC_SECRET), A_STR(CKA_VALUE, "k") };
		l = build_ok(POLICY_CREATE, CKO_SECRET_KEY, POLICY_FROM_TEMPLATE, s, 2);
		len = sizeof(buf);
		ck_assert_int_eq(get(&l, CKA_VALUE, buf, &len), CKR_ATTRIBUTE_SENSITIVE);
		len = sizeof(buf);
		ck_assert_int_eq(get(&l, CKA_VALUE_LEN, buf, &len), CKR_OK);
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_array_attributes)
{
	CK_MECHANISM_TYPE mechs[] = { CKM_ECDSA, CKM_ECDSA_SHA256 };
	CK_ATTRIBUTE inner[] = { A_BOOL(CKA_SIGN, CK_TRUE), A_STR(CKA_LABEL, "wrapped") };
	CK_ATTRIBUTE t[] = {
		{ CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) }, A_STR(CKA_VALUE, "\x01"),
		{ CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs) },
		{ CKA_UNWRAP_TEMPLATE, inner, sizeof(inner) },
	};
	attr_list_t l = build_ok(POLICY_CREATE, CKO_PRIVATE_KEY, CKK_EC, t, N(t));
	CK_MECHANISM_TYPE got[4];
	CK_ATTRIBUTE out[2];
	CK_BBOOL sign = 0;
	char label[16];
	CK_ULONG len = sizeof(got);

	ck_assert_int_eq(get(&l, CKA_ALLOWED_MECHANISMS, got, &len), CKR_OK);
	ck_assert_uint_eq(len, sizeof(mechs));
	ck_assert_uint_eq(got[1], CKM_ECDSA_SHA256);

	/* Nested: size, then types and sizes, then values. */
	len = 0;
	ck_assert_int_eq(get(&l, CKA_UNWRAP_TEMPLATE, NULL, &len), CKR_OK);
	ck_assert_uint_eq(len, 2 * sizeof(CK_ATTRIBUTE));
	len = sizeof(CK_ATTRIBUTE);
	ck_assert_int_eq(get(&l, CKA_UNWRAP_TEMPLATE, out, &len), CKR_BUFFER_TOO_SMALL);
	memset(out, 0, sizeof(out));
	len = sizeof(out);
	ck_assert_int_eq(get(&l, CKA_UNWRAP_TEMPLATE, out, &len), CKR_OK);
	ck_assert_uint_eq(out[0].type, CKA_LABEL);
	ck_assert_uint_eq(out[0].ulValueLen, 7);
	ck_assert_uint_eq(out[1].type, CKA_SIGN);
	ck_assert_uint_eq(out[1].ulValueLen, 1);
	out[0].pValue = label;
	out[0].ulValueLen = sizeof(label);
	out[1].pValue = &sign;
	ck_assert_int_eq(get(&l, CKA_UNWRAP_TEMPLATE, out, &len), CKR_OK);
	ck_assert_uint_eq(out[0].ulValueLen, 7);
	ck_assert_mem_eq(label, "wrapped", 7);
	ck_assert_uint_eq(sign, CK_TRUE);
	out[0].ulValueLen = 3;
	ck_assert_int_eq(get(&l, CKA_UNWRAP_TEMPLATE, out, &len), CKR_BUFFER_TOO_SMALL);
	ck_assert_uint_eq(out[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);

	len = 0;
	ck_assert_int_eq(get(&l, CKA_DERIVE_TEMPLATE, NULL, &len), CKR_OK);
	ck_assert_uint_eq(len, 0);
	attr_list_clear(&l);

	/* Malformed nested templates and mechanism arrays. */
	{
		CK_ATTRIBUTE bad_inner[] = { { CKA_SIGN, "\x01\x00", 2 } };
		CK_ATTRIBUTE nested_array[] = { { CKA_WRAP_TEMPLATE, NULL, 0 } };
		CK_ATTRIBUTE b1[] = { A_ULONG(CKA_VALUE_LEN, 1),
				      { CKA_UNWRAP_TEMPLATE, bad_inner, sizeof(bad_inner) } };
		CK_ATTRIBUTE b2[] = { A_ULONG(CKA_VALUE_LEN, 1),
				      { CKA_WRAP_TEMPLATE, nested_array, sizeof(nested_array) } };
		CK_ATTRIBUTE b3[] = { A_ULONG(CKA_VALUE_LEN, 1),
				      { CKA_WRAP_TEMPLATE, inner, sizeof(CK_ATTRIBUTE) + 1 } };

		build_fails(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, b1, 2,
			    CKR_ATTRIBUTE_VALUE_INVALID);
		build_fails(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, b2, 2,
			    CKR_ATTRIBUTE_VALUE_INVALID);
		build_fails(POLICY_GENERATE, CKO_SECRET_KEY, CKK_GENERIC_SECRET, b3, 2,
			    CKR_ATTRIBUTE_VALUE_INVALID);
	}
}
END_TEST

/* ==== policy: changing ================================================ */

static void change_fails(policy_op_t op, attr_list_t *obj, const CK_ATTRIBUTE *t, CK_ULONG n,
			 CK_RV want)
{
	unsigned char *before, *after;
	size_t before_len, after_len;

	ck_assert_int_eq(attr_list_serialize(obj, &before, &before_len), CKR_OK);
	ck_assert_int_eq(policy_apply_change(op, obj, t, n), want);
	ck_assert_int_eq(attr_list_serialize(obj, &after, &after_len), CKR_OK);
	ck_assert_uint_eq(after_len, before_len);
	ck_assert_mem_eq(after, before, before_len);
	secmem_free(before, before_len);
	secmem_free(after, after_len);
}

START_TEST(test_set_allowed)
{
	attr_list_t l = ec_private(true, true);
	CK_ATTRIBUTE t[] = { A_STR(CKA_LABEL, "new"), A_STR(CKA_ID, "\x42"),
			     A_BOOL(CKA_SIGN, CK_FALSE), A_STR(CKA_START_DATE, "20250101"),
			     A_STR(CKA_SUBJECT, "cn"), A_BOOL(CKA_EXTRACTABLE, CK_FALSE),
			     A_BOOL(CKA_WRAP_WITH_TRUSTED, CK_TRUE), A_BOOL(CKA_DERIVE, CK_TRUE) };

	ck_assert_int_eq(policy_apply_change(POLICY_SET, &l, t, N(t)), CKR_OK);
	ck_assert_mem_eq(attr_list_find(&l, CKA_LABEL)->value, "new", 3);
	ck_assert_mem_eq(attr_list_find(&l, CKA_ID)->value, "\x42", 1);
	ck_assert(!bool_of(&l, CKA_SIGN));
	ck_assert(!bool_of(&l, CKA_EXTRACTABLE));
	ck_assert(bool_of(&l, CKA_WRAP_WITH_TRUSTED));
	ck_assert(bool_of(&l, CKA_DERIVE));
	ck_assert(!bool_of(&l, CKA_NEVER_EXTRACTABLE)); /* it was extractable */
	/* Setting what already is, is fine for one-way attributes. */
	{
		CK_ATTRIBUTE again[] = { A_BOOL(CKA_SENSITIVE, CK_TRUE), A_BOOL(CKA_EXTRACTABLE, CK_FALSE) };
		ck_assert_int_eq(policy_apply_change(POLICY_SET, &l, again, 2), CKR_OK);
		ck_assert_int_eq(policy_apply_change(POLICY_SET, &l, NULL, 0), CKR_OK);
	}
	attr_list_clear(&l);

	/* A data object's value may be refreshed. */
	{
		CK_ATTRIBUTE d[] = { A_STR(CKA_VALUE, "v1") };
		CK_ATTRIBUTE v2[] = { A_STR(CKA_VALUE, "v2-longer") };
		CK_ATTRIBUTE app[] = { A_STR(CKA_APPLICATION, "x") };
		l = build_ok(POLICY_CREATE, CKO_DATA, 0, d, 1);
		ck_assert_int_eq(policy_apply_change(POLICY_SET, &l, v2, 1), CKR_OK);
		ck_assert_uint_eq(attr_list_find(&l, CKA_VALUE)->len, 9);
		change_fails(POLICY_SET, &l, app, 1, CKR_ATTRIBUTE_READ_ONLY);
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_set_refused)
{
	attr_list_t l = ec_private(true, false);
	CK_ATTRIBUTE_TYPE fixed_bools[] = { CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_LOCAL,
					    CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE,
					    CKA_ALWAYS_AUTHENTICATE, CKA_COPYABLE, CKA_DESTROYABLE };
	CK_ATTRIBUTE cls[] = { A_ULONG(CKA_CLASS, CKO_PRIVATE_KEY) };
	CK_ATTRIBUTE kt[] = { A_ULONG(CKA_KEY_TYPE, CKK_EC) };
	CK_ATTRIBUTE value[] = { A_STR(CKA_VALUE, "\x01") };
	CK_ATTRIBUTE params[] = { { CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) } };
	CK_ATTRIBUTE insensitive[] = { A_BOOL(CKA_SENSITIVE, CK_FALSE) };
	CK_ATTRIBUTE extractable[] = { A_BOOL(CKA_EXTRACTABLE, CK_TRUE) };
	CK_ATTRIBUTE atomic[] = { A_STR(CKA_LABEL, "changed"), A_BOOL(CKA_SENSITIVE, CK_FALSE) };
	CK_ATTRIBUTE unknown[] = { A_STR(CKA_LABEL, "changed"), A_BOOL(CKA_VERIFY, CK_TRUE) };
	CK_ATTRIBUTE badlen[] = { A_STR(CKA_LABEL, "changed"), { CKA_SIGN, "\x01\x01", 2 } };
	CK_ATTRIBUTE mechs[] = { { CKA_ALLOWED_MECHANISMS, NULL, 0 } };

	for (size_t i = 0; i < OFP_ARRAY_LEN(fixed_bools); i++) {
		CK_ATTRIBUTE t[] = { A_BOOL(fixed_bools[i], CK_TRUE) };
		change_fails(POLICY_SET, &l, t, 1, CKR_ATTRIBUTE_READ_ONLY);
	}
	change_fails(POLICY_SET, &l, cls, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, kt, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, value, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, params, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, mechs, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, insensitive, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, extractable, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, atomic, 2, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, unknown, 2, CKR_ATTRIBUTE_TYPE_INVALID);
	change_fails(POLICY_SET, &l, badlen, 2, CKR_ATTRIBUTE_VALUE_INVALID);
	change_fails(POLICY_SET, &l, NULL, 1, CKR_ARGUMENTS_BAD);
	change_fails(POLICY_CREATE, &l, NULL, 0, CKR_ARGUMENTS_BAD);
	ck_assert_mem_eq(attr_list_find(&l, CKA_LABEL)->value, "k", 1);
	attr_list_clear(&l);

	/* WRAP_WITH_TRUSTED cannot go back. */
	{
		CK_ATTRIBUTE on[] = { A_BOOL(CKA_WRAP_WITH_TRUSTED, CK_TRUE) };
		CK_ATTRIBUTE off[] = { A_BOOL(CKA_WRAP_WITH_TRUSTED, CK_FALSE) };
		l = ec_private(true, false);
		ck_assert_int_eq(policy_apply_change(POLICY_SET, &l, on, 1), CKR_OK);
		change_fails(POLICY_SET, &l, off, 1, CKR_ATTRIBUTE_READ_ONLY);
		attr_list_clear(&l);
	}
}
END_TEST

START_TEST(test_not_modifiable)
{
	CK_ATTRIBUTE t[] = { A_BOOL(CKA_MODIFIABLE, CK_FALSE), A_STR(CKA_VALUE, "v") };
	CK_ATTRIBUTE label[] = { A_STR(CKA_LABEL, "x") };
	CK_ATTRIBUTE tok[] = { A_BOOL(CKA_TOKEN, CK_TRUE) };
	attr_list_t l = build_ok(POLICY_CREATE, CKO_DATA, 0, t, 2);

	change_fails(POLICY_SET, &l, label, 1, CKR_ACTION_PROHIBITED);
	change_fails(POLICY_SET, &l, NULL, 0, CKR_ACTION_PROHIBITED);
	/* A copy may still be made, and changed. */
	ck_assert_int_eq(policy_apply_change(POLICY_COPY, &l, tok, 1), CKR_OK);
	ck_assert(bool_of(&l, CKA_TOKEN));
	attr_list_clear(&l);
}
END_TEST

START_TEST(test_copy_rules)
{
	CK_ATTRIBUTE no_copy[] = { A_BOOL(CKA_COPYABLE, CK_FALSE), A_STR(CKA_VALUE, "v") };
	CK_ATTRIBUTE tok[] = { A_BOOL(CKA_TOKEN, CK_TRUE), A_BOOL(CKA_PRIVATE, CK_TRUE),
			       A_BOOL(CKA_MODIFIABLE, CK_FALSE), A_BOOL(CKA_DESTROYABLE, CK_FALSE),
			       A_BOOL(CKA_COPYABLE, CK_FALSE), A_STR(CKA_LABEL, "copy"),
			       A_ULONG(CKA_CLASS, CKO_DATA) };
	CK_ATTRIBUTE other_class[] = { A_ULONG(CKA_CLASS, CKO_CERTIFICATE) };
	CK_ATTRIBUTE recopy[] = { A_BOOL(CKA_COPYABLE, CK_TRUE) };
	attr_list_t l = build_ok(POLICY_CREATE, CKO_DATA, 0, no_copy, 2);

	change_fails(POLICY_COPY, &l, NULL, 0, CKR_ACTION_PROHIBITED);
	change_fails(POLICY_COPY, &l, tok, 1, CKR_ACTION_PROHIBITED);
	attr_list_clear(&l);

	l = build_ok(POLICY_CREATE, CKO_DATA, 0, no_copy + 1, 1);
	change_fails(POLICY_COPY, &l, other_class, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, tok, 1, CKR_ATTRIBUTE_READ_ONLY);
	ck_assert_int_eq(policy_apply_change(POLICY_COPY, &l, tok, N(tok)), CKR_OK);
	ck_assert(bool_of(&l, CKA_TOKEN));
	ck_assert(bool_of(&l, CKA_PRIVATE));
	ck_assert(!bool_of(&l, CKA_MODIFIABLE));
	ck_assert(!bool_of(&l, CKA_DESTROYABLE));
	ck_assert(!bool_of(&l, CKA_COPYABLE));
	/* Now not copyable: no further copies, and no way back. */
	change_fails(POLICY_COPY, &l, recopy, 1, CKR_ACTION_PROHIBITED);
	attr_list_clear(&l);

	/* Copies of keys keep the one-way rules and stay private. */
	{
		CK_ATTRIBUTE insensitive[] = { A_BOOL(CKA_SENSITIVE, CK_FALSE) };
		CK_ATTRIBUTE public[] = { A_BOOL(CKA_PRIVATE, CK_FALSE) };
		CK_ATTRIBUTE keep[] = { A_ULONG(CKA_KEY_TYPE, CKK_EC), A_BOOL(CKA_TOKEN, CK_TRUE),
					A_BOOL(CKA_EXTRACTABLE, CK_FALSE) };
		CK_ATTRIBUTE other_type[] = { A_ULONG(CKA_KEY_TYPE, CKK_RSA) };
		attr_list_t k = ec_private(true, true);

		change_fails(POLICY_COPY, &k, insensitive, 1, CKR_ATTRIBUTE_READ_ONLY);
		change_fails(POLICY_COPY, &k, public, 1, CKR_TEMPLATE_INCONSISTENT);
		change_fails(POLICY_COPY, &k, other_type, 1, CKR_ATTRIBUTE_READ_ONLY);
		ck_assert_int_eq(policy_apply_change(POLICY_COPY, &k, keep, N(keep)), CKR_OK);
		ck_assert(!bool_of(&k, CKA_EXTRACTABLE));
		attr_list_clear(&k);
	}
}
END_TEST

START_TEST(test_trusted_certificate)
{
	CK_ATTRIBUTE t[] = { A_ULONG(CKA_CERTIFICATE_TYPE, CKC_X_509), A_STR(CKA_SUBJECT, "s"),
			     A_STR(CKA_VALUE, "v") };
	CK_ATTRIBUTE id[] = { A_STR(CKA_ID, "\x01"), A_STR(CKA_ISSUER, "i"),
			      A_STR(CKA_SERIAL_NUMBER, "\x02") };
	CK_ATTRIBUTE subj[] = { A_STR(CKA_SUBJECT, "other") };
	CK_ATTRIBUTE trust[] = { A_BOOL(CKA_TRUSTED, CK_TRUE) };
	attr_list_t l = build_ok(POLICY_CREATE, CKO_CERTIFICATE, 0, t, N(t));

	ck_assert_int_eq(policy_apply_change(POLICY_SET, &l, id, N(id)), CKR_OK);
	change_fails(POLICY_SET, &l, subj, 1, CKR_ATTRIBUTE_READ_ONLY);
	change_fails(POLICY_SET, &l, trust, 1, CKR_ATTRIBUTE_READ_ONLY);
	/* Marked trusted by the SO (through the module): then fixed. */
	ck_assert_int_eq(attr_list_set_bool(&l, CKA_TRUSTED, true), CKR_OK);
	change_fails(POLICY_SET, &l, id, 1, CKR_ATTRIBUTE_READ_ONLY);
	attr_list_clear(&l);
}
END_TEST

static Suite *object_suite(void)
{
	Suite *s = suite_create("object");
	TCase *a = tcase_create("attrs");
	TCase *b = tcase_create("policy-build");
	TCase *g = tcase_create("policy-get");
	TCase *c = tcase_create("policy-change");

	tcase_add_test(a, test_set_sorted_unique);
	tcase_add_test(a, test_set_bounds);
	tcase_add_test(a, test_get_helpers);
	tcase_add_test(a, test_copy);
	tcase_add_test(a, test_matches);
	tcase_add_test(a, test_serialize_golden);
	tcase_add_test(a, test_serialize_round_trip);
	tcase_add_test(a, test_parse_truncated);
	tcase_add_test(a, test_parse_rejects);
	tcase_add_test(a, test_parse_bounds);
	suite_add_tcase(s, a);

	tcase_add_test(b, test_defaults_data);
	tcase_add_test(b, test_defaults_certificate);
	tcase_add_test(b, test_defaults_public_key);
	tcase_add_test(b, test_defaults_private_key);
	tcase_add_test(b, test_defaults_secret_key);
	tcase_add_test(b, test_rsa_create);
	tcase_add_test(b, test_required_incomplete);
	tcase_add_test(b, test_read_only);
	tcase_add_test(b, test_material_in_generate);
	tcase_add_test(b, test_value_invalid);
	tcase_add_test(b, test_type_invalid);
	tcase_add_test(b, test_inconsistent);
	tcase_add_test(b, test_template_ulong);
	tcase_add_test(b, test_finish_generated);
	tcase_add_test(b, test_finish_derived);
	suite_add_tcase(s, b);

	tcase_add_test(g, test_get_two_call);
	tcase_add_test(g, test_sensitive_never_readable);
	tcase_add_test(g, test_rsa_private_sensitive);
	tcase_add_test(g, test_array_attributes);
	suite_add_tcase(s, g);

	tcase_add_test(c, test_set_allowed);
	tcase_add_test(c, test_set_refused);
	tcase_add_test(c, test_not_modifiable);
	tcase_add_test(c, test_copy_rules);
	tcase_add_test(c, test_trusted_certificate);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(object_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
