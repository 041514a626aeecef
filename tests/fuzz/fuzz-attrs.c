/* fuzz-attrs.c - libFuzzer target for attr_list_parse: the object blob of
 * the soft token, read back from a token file that may be damaged.
 *
 * Properties: no crash, out-of-bounds read or leak; a refused blob leaves
 * an empty list; a parsed list is sorted with unique types and within its
 * bounds, serialises back to the input byte for byte, parses again to the
 * same list, and is rebuilt identically through attr_list_set; its copy
 * matches itself as a C_FindObjects template. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include "p11/object/attrs.h"
#include "secmem.h"

static void check_same(const attr_list_t *a, const attr_list_t *b)
{
	FUZZ_ASSERT(a->count == b->count);
	for (size_t i = 0; i < a->count; i++) {
		FUZZ_ASSERT(a->items[i].type == b->items[i].type && a->items[i].len == b->items[i].len);
		FUZZ_ASSERT(a->items[i].len == 0 || memcmp(a->items[i].value, b->items[i].value, a->items[i].len) == 0);
	}
}

static void check_serialize(const attr_list_t *l, const uint8_t *data, size_t size)
{
	unsigned char *out = NULL;
	size_t len = 0;
	attr_list_t back;

	FUZZ_ASSERT(attr_list_serialize(l, &out, &len) == CKR_OK);
	FUZZ_ASSERT(len == size && memcmp(out, data, size) == 0);
	FUZZ_ASSERT(attr_list_parse(out, len, &back) == CKR_OK);
	check_same(l, &back);
	attr_list_clear(&back);
	secmem_free(out, len);
}

static void check_rebuild(const attr_list_t *l)
{
	CK_ATTRIBUTE tmpl[ATTR_LIST_MAX_COUNT];
	attr_list_t copy, built;

	attr_list_init(&built);
	/* Backwards, so that every set inserts before what is there. */
	for (size_t i = l->count; i-- > 0;)
		FUZZ_ASSERT(attr_list_set(&built, l->items[i].type, l->items[i].value, l->items[i].len) == CKR_OK);
	check_same(l, &built);
	attr_list_clear(&built);

	FUZZ_ASSERT(attr_list_copy(&copy, l) == CKR_OK);
	check_same(l, &copy);
	for (size_t i = 0; i < l->count; i++) {
		const attr_t *a = attr_list_find(&copy, l->items[i].type);

		FUZZ_ASSERT(a != NULL && a->type == l->items[i].type);
		tmpl[i].type = l->items[i].type;
		tmpl[i].pValue = l->items[i].value;
		tmpl[i].ulValueLen = l->items[i].len;
		(void)attr_list_get_bool(&copy, tmpl[i].type, false);
	}
	FUZZ_ASSERT(attr_list_matches(&copy, tmpl, (CK_ULONG)l->count));
	attr_list_clear(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	attr_list_t l;
	CK_RV rv;

	rv = attr_list_parse(data, size, &l);
	if (rv != CKR_OK) {
		FUZZ_ASSERT(rv == CKR_DATA_INVALID || rv == CKR_DEVICE_MEMORY);
		FUZZ_ASSERT(l.count == 0 && l.items == NULL);
		return 0;
	}
	FUZZ_ASSERT(l.count <= ATTR_LIST_MAX_COUNT && size <= ATTR_BLOB_MAX);
	for (size_t i = 0; i < l.count; i++) {
		FUZZ_ASSERT(i == 0 || l.items[i - 1].type < l.items[i].type);
		FUZZ_ASSERT(l.items[i].len <= ATTR_VALUE_MAX);
		FUZZ_ASSERT((l.items[i].len == 0) == (l.items[i].value == NULL));
	}
	check_serialize(&l, data, size);
	check_rebuild(&l);
	attr_list_clear(&l);
	return 0;
}
