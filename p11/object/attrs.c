/* attrs.c - sorted attribute lists and their byte encoding.
 *
 * The item array (types and lengths) is ordinary memory: nothing secret is
 * in it. Every value lives in secmem and is wiped when replaced or freed.
 * Lists are bounded when they are built (attr_list_set) and not only when
 * they are parsed, so every list in memory can be serialised. */
#include "config.h"
#include "p11/object/attrs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secmem.h"

#define BLOB_VERSION 1u
#define BLOB_HEADER_LEN 5u /* version byte, u32 count */
#define ITEM_HEADER_LEN 12u /* u64 type, u32 length */

void attr_list_init(attr_list_t *l)
{
	l->items = NULL;
	l->count = 0;
	l->cap = 0;
}

void attr_list_clear(attr_list_t *l)
{
	for (size_t i = 0; i < l->count; i++)
		secmem_free(l->items[i].value, l->items[i].len);
	free(l->items);
	attr_list_init(l);
}

/* Index of type when present (*found true), else where it would go. */
static size_t attr_index(const attr_list_t *l, CK_ATTRIBUTE_TYPE type, bool *found)
{
	size_t lo = 0, hi = l->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->items[mid].type == type) {
			*found = true;
			return mid;
		}
		if (l->items[mid].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static size_t encoded_size(const attr_list_t *l)
{
	size_t n = BLOB_HEADER_LEN + l->count * ITEM_HEADER_LEN;

	for (size_t i = 0; i < l->count; i++)
		n += l->items[i].len;
	return n;
}

static CK_RV reserve(attr_list_t *l, size_t want)
{
	attr_t *items;

	if (want <= l->cap)
		return CKR_OK;
	if (want > ATTR_LIST_MAX_COUNT)
		return CKR_DEVICE_MEMORY;
	items = realloc(l->items, want * sizeof(*items));
	if (items == NULL)
		return CKR_HOST_MEMORY;
	l->items = items;
	l->cap = want;
	return CKR_OK;
}

CK_RV attr_list_set(attr_list_t *l, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
	CK_BYTE *copy = NULL;
	bool found;
	size_t idx, size;
	CK_RV rv;

	if (len > 0 && value == NULL)
		return CKR_ARGUMENTS_BAD;
	if (len > ATTR_VALUE_MAX)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	idx = attr_index(l, type, &found);
	/* The list must stay serialisable: that is the storage limit. */
	size = encoded_size(l) + len;
	size = found ? size - l->items[idx].len : size + ITEM_HEADER_LEN;
	if (size > ATTR_BLOB_MAX)
		return CKR_DEVICE_MEMORY;
	if (!found && l->count >= ATTR_LIST_MAX_COUNT)
		return CKR_DEVICE_MEMORY;
	if (!found && l->count == l->cap) {
		size_t want = l->cap ? l->cap * 2 : 16;
		rv = reserve(l, want < ATTR_LIST_MAX_COUNT ? want : ATTR_LIST_MAX_COUNT);
		if (rv != CKR_OK)
			return rv;
	}
	if (len > 0) {
		copy = secmem_dup(value, len);
		if (copy == NULL)
			return CKR_HOST_MEMORY;
	}
	if (found) {
		secmem_free(l->items[idx].value, l->items[idx].len);
	} else {
		memmove(&l->items[idx + 1], &l->items[idx], (l->count - idx) * sizeof(attr_t));
		l->count++;
		l->items[idx].type = type;
	}
	l->items[idx].value = copy;
	l->items[idx].len = len;
	return CKR_OK;
}

CK_RV attr_list_set_bool(attr_list_t *l, CK_ATTRIBUTE_TYPE type, bool v)
{
	CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

	return attr_list_set(l, type, &b, sizeof(b));
}

CK_RV attr_list_set_ulong(attr_list_t *l, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	return attr_list_set(l, type, &v, sizeof(v));
}

void attr_list_remove(attr_list_t *l, CK_ATTRIBUTE_TYPE type)
{
	bool found;
	size_t idx = attr_index(l, type, &found);

	if (!found)
		return;
	secmem_free(l->items[idx].value, l->items[idx].len);
	memmove(&l->items[idx], &l->items[idx + 1], (l->count - idx - 1) * sizeof(attr_t));
	l->count--;
}

const attr_t *attr_list_find(const attr_list_t *l, CK_ATTRIBUTE_TYPE type)
{
	bool found;
	size_t idx = attr_index(l, type, &found);

	return found ? &l->items[idx] : NULL;
}

bool attr_list_get_bool(const attr_list_t *l, CK_ATTRIBUTE_TYPE type, bool dflt)
{
	const attr_t *a = attr_list_find(l, type);

	if (a == NULL || a->len != sizeof(CK_BBOOL))
		return dflt;
	return a->value[0] != CK_FALSE;
}

bool attr_list_get_ulong(const attr_list_t *l, CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
	const attr_t *a = attr_list_find(l, type);

	if (a == NULL || a->len != sizeof(CK_ULONG))
		return false;
	memcpy(out, a->value, sizeof(CK_ULONG));
	return true;
}

/* Append an attribute known to sort after every present one. */
static CK_RV append(attr_list_t *l, CK_ATTRIBUTE_TYPE type, const CK_BYTE *value, CK_ULONG len)
{
	attr_t *a;
	CK_RV rv = reserve(l, l->count + 1);

	if (rv != CKR_OK)
		return rv;
	a = &l->items[l->count];
	a->type = type;
	a->len = len;
	a->value = NULL;
	if (len > 0) {
		a->value = secmem_dup(value, len);
		if (a->value == NULL)
			return CKR_HOST_MEMORY;
	}
	l->count++;
	return CKR_OK;
}

CK_RV attr_list_copy(attr_list_t *dst, const attr_list_t *src)
{
	CK_RV rv;

	attr_list_init(dst);
	rv = reserve(dst, src->count);
	for (size_t i = 0; rv == CKR_OK && i < src->count; i++)
		rv = append(dst, src->items[i].type, src->items[i].value, src->items[i].len);
	if (rv != CKR_OK)
		attr_list_clear(dst);
	return rv;
}

bool attr_list_matches(const attr_list_t *l, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	if (count > 0 && tmpl == NULL)
		return false;
	for (CK_ULONG i = 0; i < count; i++) {
		const attr_t *a = attr_list_find(l, tmpl[i].type);

		if (a == NULL || a->len != tmpl[i].ulValueLen)
			return false;
		if (a->len == 0)
			continue;
		if (tmpl[i].pValue == NULL || !secmem_equal(a->value, tmpl[i].pValue, a->len))
			return false;
	}
	return true;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

CK_RV attr_list_serialize(const attr_list_t *l, unsigned char **out, size_t *out_len)
{
	size_t size = encoded_size(l), pos = BLOB_HEADER_LEN;
	unsigned char *buf;

	/* attr_list_set keeps lists within bounds; a list built by hand may not be. */
	if (l->count > ATTR_LIST_MAX_COUNT || size > ATTR_BLOB_MAX)
		return CKR_DEVICE_MEMORY;
	buf = secmem_alloc(size);
	if (buf == NULL)
		return CKR_HOST_MEMORY;
	buf[0] = BLOB_VERSION;
	put_u32(buf + 1, (uint32_t)l->count);
	for (size_t i = 0; i < l->count; i++) {
		const attr_t *a = &l->items[i];

		put_u64(buf + pos, (uint64_t)a->type);
		put_u32(buf + pos + 8, (uint32_t)a->len);
		pos += ITEM_HEADER_LEN;
		if (a->len > 0)
			memcpy(buf + pos, a->value, a->len);
		pos += a->len;
	}
	*out = buf;
	*out_len = size;
	return CKR_OK;
}

CK_RV attr_list_parse(const unsigned char *in, size_t len, attr_list_t *out)
{
	CK_RV rv = CKR_DATA_INVALID;
	size_t pos = BLOB_HEADER_LEN;
	uint32_t count;

	attr_list_init(out);
	if (in == NULL || len < BLOB_HEADER_LEN || len > ATTR_BLOB_MAX || in[0] != BLOB_VERSION)
		goto out;
	count = get_u32(in + 1);
	if (count > ATTR_LIST_MAX_COUNT)
		goto out;
	rv = reserve(out, count);
	if (rv != CKR_OK)
		goto out;
	rv = CKR_DATA_INVALID;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t type;
		uint32_t vlen;

		if (len - pos < ITEM_HEADER_LEN)
			goto out;
		type = get_u64(in + pos);
		vlen = get_u32(in + pos + 8);
		pos += ITEM_HEADER_LEN;
		/* Strictly increasing types: sorted, no duplicates, one encoding per list. */
		if (type > (uint64_t)(CK_ULONG)-1 ||
		    (i > 0 && (CK_ATTRIBUTE_TYPE)type <= out->items[i - 1].type))
			goto out;
		if (vlen > ATTR_VALUE_MAX || vlen > len - pos)
			goto out;
		rv = append(out, (CK_ATTRIBUTE_TYPE)type, in + pos, vlen);
		if (rv != CKR_OK)
			goto out;
		rv = CKR_DATA_INVALID;
		pos += vlen;
	}
	if (pos == len)
		rv = CKR_OK;
out:
	if (rv != CKR_OK)
		attr_list_clear(out);
	return rv;
}
