/* policy_int.h - what the policy files share and nobody else sees: the
 * shape of a rule table and the look-ups over the tables. policy_tables.c
 * holds the tables, policy.c builds and changes objects with them,
 * policy_read.c answers C_GetAttributeValue. */
#ifndef OFFPASS_P11_POLICY_INT_H
#define OFFPASS_P11_POLICY_INT_H

#include <stdbool.h>
#include "p11/object/policy.h"

typedef enum attr_kind {
	AK_BOOL,  /* CK_BBOOL */
	AK_ULONG, /* CK_ULONG: classes, types, mechanisms, sizes */
	AK_BYTES, /* a byte array */
	AK_DATE,  /* CK_DATE ("YYYYMMDD") or empty */
	AK_MECHS, /* CK_MECHANISM_TYPE array */
	AK_ATTRS, /* CK_ATTRIBUTE array: the wrap / unwrap / derive templates */
} attr_kind_t;

/* Rule flags. The numbers are the footnotes of the spec's attribute tables. */
enum {
	F_DEF = 1u << 0,        /* has a default: dflt for bool/ulong, else empty */
	F_REQ_CREATE = 1u << 1, /* 1: C_CreateObject must give it */
	F_NO_CREATE = 1u << 2,  /* 2: C_CreateObject must not (READ_ONLY) */
	F_REQ_GEN = 1u << 3,    /* 3: a generate call must give it */
	F_MATERIAL = 1u << 4,   /* 4: key material, produced by generate or derive:
				 * giving it there is TEMPLATE_INCONSISTENT */
	F_TOKEN_SET = 1u << 5,  /* only the token sets it: READ_ONLY in any template */
	F_SENSITIVE = 1u << 6,  /* 7: unreadable if SENSITIVE or not EXTRACTABLE */
	F_MOD = 1u << 7,        /* 8: SET and COPY may change it */
	F_COPY = 1u << 8,       /* 17: COPY may change it */
	F_ONLY_TRUE = 1u << 9,  /* 11: once TRUE, stays TRUE */
	F_ONLY_FALSE = 1u << 10, /* 12: once FALSE, stays FALSE */
	F_SO_TRUE = 1u << 11,   /* 10: only the SO sets TRUE: never from a template here */
	F_FIXED = 1u << 12,     /* names what the object is (class, key or cert type) */
	F_KEEP_TRUE = 1u << 13, /* token rule: must be TRUE (CKA_PRIVATE of keys) */
};

/* A generation parameter: given to generate, refused by create. */
#define F_GEN_PARAM (F_NO_CREATE | F_REQ_GEN)

typedef struct attr_rule {
	CK_ATTRIBUTE_TYPE type;
	attr_kind_t kind;
	unsigned flags;
	CK_ULONG dflt;
} attr_rule_t;

typedef struct rule_table {
	const attr_rule_t *rules;
	size_t count;
} rule_table_t;

#define TABLE(t) { (t), OFP_ARRAY_LEN(t) }

/* ---- Looking rules up -------------------------------------------------- */

/* The rules of one object: its class table and its key type table. */
typedef struct schema {
	CK_OBJECT_CLASS klass;
	CK_KEY_TYPE key_type; /* CK_UNAVAILABLE_INFORMATION when not a key */
	rule_table_t part[2];
} schema_t;

#define SCHEMA_FOR_EACH(s, r)                                                \
	for (size_t p_ = 0; p_ < OFP_ARRAY_LEN((s)->part); p_++)             \
		for (const attr_rule_t *r = (s)->part[p_].rules;             \
		     r != NULL && r < (s)->part[p_].rules + (s)->part[p_].count; r++)

bool policy_is_key_class(CK_OBJECT_CLASS klass);
const rule_table_t *policy_class_table(CK_OBJECT_CLASS klass);
/* NULL, and *known_type whether any class has that key type. */
const rule_table_t *policy_key_table(CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type, bool *known_type);
const attr_rule_t *policy_schema_rule(const schema_t *s, CK_ATTRIBUTE_TYPE type);
/* The schema of an existing object; false when its class is not one of ours. */
bool policy_schema_of(const attr_list_t *obj, schema_t *s);
/* The rule of an attribute in any table (for the entries of a nested template). */
const attr_rule_t *policy_any_rule(CK_ATTRIBUTE_TYPE type);

#endif
