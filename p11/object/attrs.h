/* attrs.h - an object's attributes: a list of (type, value) pairs.
 *
 * This is the only representation of an object's content: the store
 * serialises it, the policy table validates it, the crypto layer reads key
 * material from it. Values are kept in wiped-on-free memory since private
 * and secret keys keep their key material here. */
#ifndef OFFPASS_P11_ATTRS_H
#define OFFPASS_P11_ATTRS_H

#include <stdbool.h>
#include <stddef.h>
#include "common/pkcs11.h"
#include "compiler.h"

typedef struct attr {
	CK_ATTRIBUTE_TYPE type;
	CK_ULONG len;
	CK_BYTE *value; /* secmem; NULL iff len == 0 */
} attr_t;

typedef struct attr_list {
	attr_t *items; /* kept sorted by type, types unique */
	size_t count;
	size_t cap;
} attr_list_t;

/* Largest attribute value and largest serialised list accepted anywhere:
 * bounds every parser and every template. */
#define ATTR_VALUE_MAX (64u * 1024u)
#define ATTR_LIST_MAX_COUNT 128u
#define ATTR_BLOB_MAX (1024u * 1024u)

void attr_list_init(attr_list_t *l);
/* Wipe and free every value. The list is empty (and reusable) afterwards. */
void attr_list_clear(attr_list_t *l);

/* Set (add or replace) one attribute; the value is copied. Bounded so that
 * every list can be serialised: a value over ATTR_VALUE_MAX is
 * CKR_ATTRIBUTE_VALUE_INVALID, a list beyond ATTR_LIST_MAX_COUNT attributes
 * or ATTR_BLOB_MAX encoded bytes CKR_DEVICE_MEMORY. l is unchanged on error. */
CK_RV attr_list_set(attr_list_t *l, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len) OFP_WUR;
CK_RV attr_list_set_bool(attr_list_t *l, CK_ATTRIBUTE_TYPE type, bool v) OFP_WUR;
CK_RV attr_list_set_ulong(attr_list_t *l, CK_ATTRIBUTE_TYPE type, CK_ULONG v) OFP_WUR;
void attr_list_remove(attr_list_t *l, CK_ATTRIBUTE_TYPE type);

const attr_t *attr_list_find(const attr_list_t *l, CK_ATTRIBUTE_TYPE type);
/* The CK_BBOOL at type, or dflt when absent or not one byte long. */
bool attr_list_get_bool(const attr_list_t *l, CK_ATTRIBUTE_TYPE type, bool dflt);
/* True and *out set when a CK_ULONG-sized value is present. */
bool attr_list_get_ulong(const attr_list_t *l, CK_ATTRIBUTE_TYPE type, CK_ULONG *out);

/* dst is output only: initialised here, empty on error. */
CK_RV attr_list_copy(attr_list_t *dst, const attr_list_t *src) OFP_WUR;

/* True when every attribute of the template is present with an equal value
 * (C_FindObjects semantics; an empty template matches everything). Bytes
 * are compared as stored: attribute-array attributes never match. */
bool attr_list_matches(const attr_list_t *l, const CK_ATTRIBUTE *tmpl, CK_ULONG count);

/* A stable, bounded byte encoding (version byte, count, then per attribute
 * a u64 type, a u32 length and the value; big-endian). *out is secmem of
 * *out_len bytes: release with secmem_free(*out, *out_len). */
CK_RV attr_list_serialize(const attr_list_t *l, unsigned char **out, size_t *out_len) OFP_WUR;
/* Strict inverse: rejects truncation, trailing bytes, unsorted or duplicate
 * types, oversize values and counts (CKR_DATA_INVALID). out is output only:
 * initialised here, empty on error. */
CK_RV attr_list_parse(const unsigned char *in, size_t len, attr_list_t *out) OFP_WUR;

#endif
