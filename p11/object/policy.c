/* policy.c - the attribute rules of PKCS#11 v2.40 section 4 (with the v3.0
 * additions the token knows), as data.
 *
 * One flat table per object class says, for every attribute of that class,
 * its kind, its default and when it may be given; a small table per key
 * type adds the key material. The code below only interprets the tables,
 * so a rule is changed in one row, and C_CreateObject, C_GenerateKey(Pair),
 * C_DeriveKey, C_CopyObject, C_SetAttributeValue and C_GetAttributeValue
 * cannot disagree about it. SoftHSM2 (P11Objects.cpp) and the spec's
 * footnotes are the model; where the token is stricter it says so. */
#include "config.h"
#include "p11/object/policy.h"

#include <string.h>

#include "secmem.h"

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

/* ---- The tables ------------------------------------------------------ */

/* Every object (v2.40 table 10, v3.0 CKA_UNIQUE_ID). */
#define STORAGE_RULES(private_dflt, private_flags)                                   \
	{ CKA_CLASS, AK_ULONG, F_FIXED, 0 },                                         \
	{ CKA_TOKEN, AK_BOOL, F_DEF | F_COPY, CK_FALSE },                            \
	{ CKA_PRIVATE, AK_BOOL, F_DEF | F_COPY | (private_flags), (private_dflt) },   \
	{ CKA_MODIFIABLE, AK_BOOL, F_DEF | F_COPY, CK_TRUE },                        \
	{ CKA_LABEL, AK_BYTES, F_DEF | F_MOD, 0 },                                   \
	{ CKA_COPYABLE, AK_BOOL, F_DEF | F_COPY | F_ONLY_FALSE, CK_TRUE },           \
	{ CKA_DESTROYABLE, AK_BOOL, F_DEF | F_COPY, CK_TRUE },                       \
	{ CKA_UNIQUE_ID, AK_BYTES, F_TOKEN_SET, 0 }

/* Every key (table 25). */
#define KEY_RULES                                                                    \
	{ CKA_KEY_TYPE, AK_ULONG, F_FIXED, 0 },                                      \
	{ CKA_ID, AK_BYTES, F_DEF | F_MOD, 0 },                                      \
	{ CKA_START_DATE, AK_DATE, F_DEF | F_MOD, 0 },                               \
	{ CKA_END_DATE, AK_DATE, F_DEF | F_MOD, 0 },                                 \
	{ CKA_DERIVE, AK_BOOL, F_DEF | F_MOD, CK_FALSE },                            \
	{ CKA_LOCAL, AK_BOOL, F_DEF | F_TOKEN_SET, CK_FALSE },                       \
	{ CKA_KEY_GEN_MECHANISM, AK_ULONG, F_DEF | F_TOKEN_SET, CK_UNAVAILABLE_INFORMATION }, \
	{ CKA_ALLOWED_MECHANISMS, AK_MECHS, F_DEF, 0 }

/* Private and secret keys: what keeps their material in. Keys never leave
 * this token, so SENSITIVE defaults TRUE and EXTRACTABLE FALSE. */
#define HIDDEN_KEY_RULES                                                             \
	{ CKA_SENSITIVE, AK_BOOL, F_DEF | F_MOD | F_ONLY_TRUE, CK_TRUE },            \
	{ CKA_EXTRACTABLE, AK_BOOL, F_DEF | F_MOD | F_ONLY_FALSE, CK_FALSE },        \
	{ CKA_ALWAYS_SENSITIVE, AK_BOOL, F_DEF | F_TOKEN_SET, CK_FALSE },            \
	{ CKA_NEVER_EXTRACTABLE, AK_BOOL, F_DEF | F_TOKEN_SET, CK_FALSE },           \
	{ CKA_WRAP_WITH_TRUSTED, AK_BOOL, F_DEF | F_MOD | F_ONLY_TRUE, CK_FALSE },   \
	{ CKA_UNWRAP_TEMPLATE, AK_ATTRS, F_DEF, 0 },                                 \
	{ CKA_DERIVE_TEMPLATE, AK_ATTRS, F_DEF, 0 }

/* 4.5: data objects. Data objects may be private. The value is modifiable
 * (as SoftHSM2 allows) so that a credential can be refreshed in place. */
static const attr_rule_t data_rules[] = {
	STORAGE_RULES(CK_FALSE, 0),
	{ CKA_APPLICATION, AK_BYTES, F_DEF, 0 },
	{ CKA_OBJECT_ID, AK_BYTES, F_DEF, 0 },
	{ CKA_VALUE, AK_BYTES, F_DEF | F_MOD, 0 },
};

/* 4.6: certificates; X.509 public key certificates only (4.6.3). */
static const attr_rule_t certificate_rules[] = {
	STORAGE_RULES(CK_FALSE, 0),
	{ CKA_CERTIFICATE_TYPE, AK_ULONG, F_FIXED | F_REQ_CREATE, 0 },
	{ CKA_TRUSTED, AK_BOOL, F_DEF | F_SO_TRUE, CK_FALSE },
	{ CKA_CERTIFICATE_CATEGORY, AK_ULONG, F_DEF, 0 /* unspecified */ },
	{ CKA_CHECK_VALUE, AK_BYTES, F_DEF, 0 },
	{ CKA_START_DATE, AK_DATE, F_DEF | F_MOD, 0 },
	{ CKA_END_DATE, AK_DATE, F_DEF | F_MOD, 0 },
	{ CKA_PUBLIC_KEY_INFO, AK_BYTES, F_DEF, 0 },
	{ CKA_SUBJECT, AK_BYTES, F_REQ_CREATE, 0 },
	{ CKA_ID, AK_BYTES, F_DEF | F_MOD, 0 },
	{ CKA_ISSUER, AK_BYTES, F_DEF | F_MOD, 0 },
	{ CKA_SERIAL_NUMBER, AK_BYTES, F_DEF | F_MOD, 0 },
	{ CKA_VALUE, AK_BYTES, F_REQ_CREATE, 0 },
	{ CKA_URL, AK_BYTES, F_DEF, 0 },
	{ CKA_HASH_OF_SUBJECT_PUBLIC_KEY, AK_BYTES, F_DEF, 0 },
	{ CKA_HASH_OF_ISSUER_PUBLIC_KEY, AK_BYTES, F_DEF, 0 },
	{ CKA_JAVA_MIDP_SECURITY_DOMAIN, AK_ULONG, F_DEF, 0 /* unspecified */ },
	{ CKA_NAME_HASH_ALGORITHM, AK_ULONG, F_DEF, CKM_SHA_1 },
};

/* 4.8: public keys. Usage defaults TRUE as in SoftHSM2. */
static const attr_rule_t public_key_rules[] = {
	STORAGE_RULES(CK_FALSE, 0),
	KEY_RULES,
	{ CKA_SUBJECT, AK_BYTES, F_DEF | F_MOD, 0 },
	{ CKA_ENCRYPT, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_VERIFY, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_VERIFY_RECOVER, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_WRAP, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_TRUSTED, AK_BOOL, F_DEF | F_SO_TRUE, CK_FALSE },
	{ CKA_WRAP_TEMPLATE, AK_ATTRS, F_DEF, 0 },
	{ CKA_PUBLIC_KEY_INFO, AK_BYTES, F_DEF | F_MATERIAL, 0 },
};

/* 4.9: private keys. */
static const attr_rule_t private_key_rules[] = {
	STORAGE_RULES(CK_TRUE, F_KEEP_TRUE),
	KEY_RULES,
	HIDDEN_KEY_RULES,
	{ CKA_SUBJECT, AK_BYTES, F_DEF | F_MOD, 0 },
	{ CKA_DECRYPT, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_SIGN, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_SIGN_RECOVER, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_UNWRAP, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_ALWAYS_AUTHENTICATE, AK_BOOL, F_DEF, CK_FALSE },
	{ CKA_PUBLIC_KEY_INFO, AK_BYTES, F_DEF | F_MATERIAL, 0 },
};

/* 4.10: secret keys. */
static const attr_rule_t secret_key_rules[] = {
	STORAGE_RULES(CK_TRUE, F_KEEP_TRUE),
	KEY_RULES,
	HIDDEN_KEY_RULES,
	{ CKA_ENCRYPT, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_DECRYPT, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_SIGN, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_VERIFY, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_WRAP, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_UNWRAP, AK_BOOL, F_DEF | F_MOD, CK_TRUE },
	{ CKA_TRUSTED, AK_BOOL, F_DEF | F_SO_TRUE, CK_FALSE },
	{ CKA_WRAP_TEMPLATE, AK_ATTRS, F_DEF, 0 },
	/* Stored as given: the token does not compute check values. */
	{ CKA_CHECK_VALUE, AK_BYTES, F_DEF | F_MATERIAL, 0 },
};

/* 2.3 (EC) and v3.0 2.3.5 (EdDSA keys share the EC attributes). */
static const attr_rule_t ec_public_rules[] = {
	{ CKA_EC_PARAMS, AK_BYTES, F_REQ_CREATE | F_REQ_GEN, 0 },
	{ CKA_EC_POINT, AK_BYTES, F_REQ_CREATE | F_MATERIAL, 0 },
};

static const attr_rule_t ec_private_rules[] = {
	{ CKA_EC_PARAMS, AK_BYTES, F_REQ_CREATE | F_MATERIAL, 0 },
	{ CKA_VALUE, AK_BYTES, F_REQ_CREATE | F_MATERIAL | F_SENSITIVE, 0 },
};

/* 2.1 (RSA). CKA_MODULUS_BITS is computed on create. */
static const attr_rule_t rsa_public_rules[] = {
	{ CKA_MODULUS, AK_BYTES, F_REQ_CREATE | F_MATERIAL, 0 },
	{ CKA_MODULUS_BITS, AK_ULONG, F_GEN_PARAM, 0 },
	{ CKA_PUBLIC_EXPONENT, AK_BYTES, F_REQ_CREATE, 0 },
};

static const attr_rule_t rsa_private_rules[] = {
	{ CKA_MODULUS, AK_BYTES, F_REQ_CREATE | F_MATERIAL, 0 },
	{ CKA_PUBLIC_EXPONENT, AK_BYTES, F_MATERIAL, 0 },
	{ CKA_PRIVATE_EXPONENT, AK_BYTES, F_REQ_CREATE | F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_PRIME_1, AK_BYTES, F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_PRIME_2, AK_BYTES, F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_EXPONENT_1, AK_BYTES, F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_EXPONENT_2, AK_BYTES, F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_COEFFICIENT, AK_BYTES, F_MATERIAL | F_SENSITIVE, 0 },
};

/* 2.8 (generic secret). CKA_VALUE_LEN is computed on create, optional on derive. */
static const attr_rule_t generic_secret_rules[] = {
	{ CKA_VALUE, AK_BYTES, F_REQ_CREATE | F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_VALUE_LEN, AK_ULONG, F_GEN_PARAM, 0 },
};

typedef struct rule_table {
	const attr_rule_t *rules;
	size_t count;
} rule_table_t;

#define TABLE(t) { (t), OFP_ARRAY_LEN(t) }

static const struct {
	CK_OBJECT_CLASS klass;
	rule_table_t table;
} class_tables[] = {
	{ CKO_DATA, TABLE(data_rules) },
	{ CKO_CERTIFICATE, TABLE(certificate_rules) },
	{ CKO_PUBLIC_KEY, TABLE(public_key_rules) },
	{ CKO_PRIVATE_KEY, TABLE(private_key_rules) },
	{ CKO_SECRET_KEY, TABLE(secret_key_rules) },
};

static const struct {
	CK_OBJECT_CLASS klass;
	CK_KEY_TYPE key_type;
	rule_table_t table;
} key_tables[] = {
	{ CKO_PUBLIC_KEY, CKK_EC, TABLE(ec_public_rules) },
	{ CKO_PRIVATE_KEY, CKK_EC, TABLE(ec_private_rules) },
	{ CKO_PUBLIC_KEY, CKK_EC_EDWARDS, TABLE(ec_public_rules) },
	{ CKO_PRIVATE_KEY, CKK_EC_EDWARDS, TABLE(ec_private_rules) },
	{ CKO_PUBLIC_KEY, CKK_RSA, TABLE(rsa_public_rules) },
	{ CKO_PRIVATE_KEY, CKK_RSA, TABLE(rsa_private_rules) },
	{ CKO_SECRET_KEY, CKK_GENERIC_SECRET, TABLE(generic_secret_rules) },
};

/* ---- Interpreting them ----------------------------------------------- */

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

static bool is_key_class(CK_OBJECT_CLASS klass)
{
	return klass == CKO_PUBLIC_KEY || klass == CKO_PRIVATE_KEY || klass == CKO_SECRET_KEY;
}

static const rule_table_t *class_table(CK_OBJECT_CLASS klass)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(class_tables); i++)
		if (class_tables[i].klass == klass)
			return &class_tables[i].table;
	return NULL;
}

/* NULL, and *known_type whether any class has that key type. */
static const rule_table_t *key_table(CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type, bool *known_type)
{
	*known_type = false;
	for (size_t i = 0; i < OFP_ARRAY_LEN(key_tables); i++) {
		if (key_tables[i].key_type != key_type)
			continue;
		*known_type = true;
		if (key_tables[i].klass == klass)
			return &key_tables[i].table;
	}
	return NULL;
}

static const attr_rule_t *schema_rule(const schema_t *s, CK_ATTRIBUTE_TYPE type)
{
	SCHEMA_FOR_EACH(s, r)
		if (r->type == type)
			return r;
	return NULL;
}

/* The schema of an existing object; false when its class is not one of ours. */
static bool schema_of(const attr_list_t *obj, schema_t *s)
{
	const rule_table_t *ct;
	bool known;

	memset(s, 0, sizeof(*s));
	s->klass = policy_object_class(obj);
	s->key_type = CK_UNAVAILABLE_INFORMATION;
	ct = class_table(s->klass);
	if (ct == NULL)
		return false;
	s->part[0] = *ct;
	if (is_key_class(s->klass)) {
		const rule_table_t *kt;

		s->key_type = policy_key_type(obj);
		kt = key_table(s->klass, s->key_type, &known);
		if (kt != NULL)
			s->part[1] = *kt;
	}
	return true;
}

/* The kind of an attribute in any table (for the entries of a nested template). */
static const attr_rule_t *any_rule(CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(class_tables); i++)
		for (size_t j = 0; j < class_tables[i].table.count; j++)
			if (class_tables[i].table.rules[j].type == type)
				return &class_tables[i].table.rules[j];
	for (size_t i = 0; i < OFP_ARRAY_LEN(key_tables); i++)
		for (size_t j = 0; j < key_tables[i].table.count; j++)
			if (key_tables[i].table.rules[j].type == type)
				return &key_tables[i].table.rules[j];
	return NULL;
}

static bool template_bool(const CK_ATTRIBUTE *a)
{
	return ((const CK_BBOOL *)a->pValue)[0] != CK_FALSE;
}

static CK_ULONG template_ulong(const CK_ATTRIBUTE *a)
{
	CK_ULONG v;

	memcpy(&v, a->pValue, sizeof(v));
	return v;
}

bool policy_template_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
			   CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
	for (CK_ULONG i = 0; tmpl != NULL && i < count; i++) {
		if (tmpl[i].type != type)
			continue;
		if (tmpl[i].pValue == NULL || tmpl[i].ulValueLen != sizeof(CK_ULONG))
			return false;
		*out = template_ulong(&tmpl[i]);
		return true;
	}
	return false;
}

/* Bounds and pointers of a whole template, and no attribute twice with
 * different values. */
static CK_RV check_template(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	if (count > 0 && tmpl == NULL)
		return CKR_ARGUMENTS_BAD;
	if (count > ATTR_LIST_MAX_COUNT)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < count; i++) {
		if (tmpl[i].ulValueLen > ATTR_VALUE_MAX ||
		    (tmpl[i].ulValueLen > 0 && tmpl[i].pValue == NULL))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		for (CK_ULONG j = 0; j < i; j++) {
			if (tmpl[j].type != tmpl[i].type)
				continue;
			if (tmpl[j].ulValueLen != tmpl[i].ulValueLen ||
			    (tmpl[i].ulValueLen > 0 &&
			     memcmp(tmpl[j].pValue, tmpl[i].pValue, tmpl[i].ulValueLen) != 0))
				return CKR_TEMPLATE_INCONSISTENT;
		}
	}
	return CKR_OK;
}

static bool is_date(const CK_BYTE *v, CK_ULONG len)
{
	if (len == 0)
		return true;
	if (len != sizeof(CK_DATE))
		return false;
	for (CK_ULONG i = 0; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

/* The value has the shape of its kind. */
static bool well_formed(attr_kind_t kind, const CK_ATTRIBUTE *a)
{
	switch (kind) {
	case AK_BOOL:
		return a->ulValueLen == sizeof(CK_BBOOL);
	case AK_ULONG:
		return a->ulValueLen == sizeof(CK_ULONG);
	case AK_DATE:
		return is_date(a->pValue, a->ulValueLen);
	case AK_MECHS:
		return a->ulValueLen % sizeof(CK_MECHANISM_TYPE) == 0;
	case AK_ATTRS:
		return a->ulValueLen % sizeof(CK_ATTRIBUTE) == 0;
	case AK_BYTES:
		return true;
	}
	return false;
}

/* Values the token accepts, beyond their shape. */
static CK_RV check_value(const attr_rule_t *r, const CK_ATTRIBUTE *a)
{
	if ((r->flags & F_SO_TRUE) && template_bool(a))
		return CKR_ATTRIBUTE_READ_ONLY;
	if ((r->flags & F_KEEP_TRUE) && !template_bool(a))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	switch (a->type) {
	case CKA_CERTIFICATE_TYPE:
		return template_ulong(a) == CKC_X_509 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	case CKA_CERTIFICATE_CATEGORY:
	case CKA_JAVA_MIDP_SECURITY_DOMAIN:
		/* 0..3: unspecified, token user / authority / other entity; MIDP domains likewise. */
		return template_ulong(a) <= 3 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	default:
		return CKR_OK;
	}
}

/* A CKA_*_TEMPLATE value: the elements, bounded and well formed, as a
 * serialised attribute list (empty when there are none). */
static CK_RV store_nested(attr_list_t *l, const CK_ATTRIBUTE *a)
{
	const CK_ATTRIBUTE *el = a->pValue;
	size_t n = a->ulValueLen / sizeof(CK_ATTRIBUTE);
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	attr_list_t nested;
	CK_RV rv;

	attr_list_init(&nested);
	if (n == 0)
		return attr_list_set(l, a->type, NULL, 0);
	rv = check_template(el, n);
	if (rv != CKR_OK) {
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const attr_rule_t *r = any_rule(el[i].type);

		rv = CKR_ATTRIBUTE_VALUE_INVALID;
		if (r == NULL || r->kind == AK_ATTRS || !well_formed(r->kind, &el[i]))
			goto out;
		rv = attr_list_set(&nested, el[i].type, el[i].pValue, el[i].ulValueLen);
		if (rv != CKR_OK)
			goto out;
	}
	rv = attr_list_serialize(&nested, &blob, &blob_len);
	if (rv == CKR_OK)
		rv = attr_list_set(l, a->type, blob, blob_len);
out:
	secmem_free(blob, blob_len);
	attr_list_clear(&nested);
	return rv;
}

/* Store a checked template attribute in its canonical form. */
static CK_RV store(attr_list_t *l, const attr_rule_t *r, const CK_ATTRIBUTE *a)
{
	if (r->kind == AK_BOOL)
		return attr_list_set_bool(l, a->type, template_bool(a));
	if (r->kind == AK_ATTRS)
		return store_nested(l, a);
	return attr_list_set(l, a->type, a->pValue, a->ulValueLen);
}

/* The rule for a template attribute, and its shape and value. */
static CK_RV checked_rule(const schema_t *s, const CK_ATTRIBUTE *a, const attr_rule_t **out)
{
	const attr_rule_t *r = schema_rule(s, a->type);

	if (r == NULL)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (!well_formed(r->kind, a))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	*out = r;
	return CKR_OK;
}

/* ---- Building new objects -------------------------------------------- */

/* Resolve one of CKA_CLASS / CKA_KEY_TYPE from the argument and the template. */
static CK_RV resolve_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type,
			   CK_ULONG *value)
{
	CK_ULONG given;
	bool has = policy_template_ulong(tmpl, count, type, &given);

	for (CK_ULONG i = 0; !has && i < count; i++)
		if (tmpl[i].type == type)
			return CKR_ATTRIBUTE_VALUE_INVALID; /* present, wrong size */
	if (*value == POLICY_FROM_TEMPLATE) {
		if (!has)
			return CKR_TEMPLATE_INCOMPLETE;
		*value = given;
	} else if (has && given != *value) {
		return CKR_TEMPLATE_INCONSISTENT;
	}
	return CKR_OK;
}

static CK_RV new_schema(policy_op_t op, CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type,
			const CK_ATTRIBUTE *tmpl, CK_ULONG count, schema_t *s)
{
	const rule_table_t *ct, *kt;
	bool known;
	CK_RV rv;

	memset(s, 0, sizeof(*s));
	rv = resolve_ulong(tmpl, count, CKA_CLASS, &klass);
	if (rv != CKR_OK)
		return rv;
	ct = class_table(klass);
	if (ct == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if ((op == POLICY_GENERATE && !is_key_class(klass)) ||
	    (op == POLICY_DERIVE && klass != CKO_SECRET_KEY))
		return CKR_TEMPLATE_INCONSISTENT;
	s->klass = klass;
	s->key_type = CK_UNAVAILABLE_INFORMATION;
	s->part[0] = *ct;
	if (!is_key_class(klass))
		return CKR_OK;
	rv = resolve_ulong(tmpl, count, CKA_KEY_TYPE, &key_type);
	if (rv != CKR_OK)
		return rv;
	kt = key_table(klass, key_type, &known);
	if (kt == NULL)
		return known ? CKR_TEMPLATE_INCONSISTENT : CKR_ATTRIBUTE_VALUE_INVALID;
	s->key_type = key_type;
	s->part[1] = *kt;
	return CKR_OK;
}

static CK_RV accept_new(policy_op_t op, const schema_t *s, const CK_ATTRIBUTE *a, attr_list_t *l)
{
	const attr_rule_t *r;
	CK_RV rv = checked_rule(s, a, &r);

	if (rv != CKR_OK)
		return rv;
	if ((r->flags & F_TOKEN_SET) || (op == POLICY_CREATE && (r->flags & F_NO_CREATE)))
		return CKR_ATTRIBUTE_READ_ONLY;
	/* Generation and derivation make the material; a template cannot supply it. */
	if (op != POLICY_CREATE && (r->flags & F_MATERIAL))
		return CKR_TEMPLATE_INCONSISTENT;
	rv = check_value(r, a);
	if (rv != CKR_OK)
		return rv;
	return store(l, r, a);
}

static CK_RV add_defaults(const schema_t *s, attr_list_t *l)
{
	CK_RV rv = CKR_OK;

	SCHEMA_FOR_EACH(s, r) {
		if (rv != CKR_OK || !(r->flags & F_DEF) || attr_list_find(l, r->type) != NULL)
			continue;
		if (r->kind == AK_BOOL)
			rv = attr_list_set_bool(l, r->type, r->dflt != CK_FALSE);
		else if (r->kind == AK_ULONG)
			rv = attr_list_set_ulong(l, r->type, r->dflt);
		else
			rv = attr_list_set(l, r->type, NULL, 0);
	}
	return rv;
}

static CK_RV check_required(policy_op_t op, const schema_t *s, const attr_list_t *l)
{
	unsigned need = op == POLICY_CREATE ? F_REQ_CREATE : op == POLICY_GENERATE ? F_REQ_GEN : 0;

	SCHEMA_FOR_EACH(s, r)
		if ((r->flags & need) && attr_list_find(l, r->type) == NULL)
			return CKR_TEMPLATE_INCOMPLETE;
	return CKR_OK;
}

/* Significant bits of a big-endian unsigned integer. */
static CK_ULONG bit_length(const CK_BYTE *v, CK_ULONG len)
{
	CK_ULONG i = 0;
	CK_ULONG bits;

	while (i < len && v[i] == 0)
		i++;
	if (i == len)
		return 0;
	bits = (len - i) * 8;
	for (CK_BYTE top = v[i]; !(top & 0x80); top <<= 1)
		bits--;
	return bits;
}

/* Sizes the spec derives from imported material (RSA modulus, secret value). */
static CK_RV fill_sizes(const schema_t *s, attr_list_t *l)
{
	const attr_t *a;
	CK_RV rv = CKR_OK;

	a = attr_list_find(l, CKA_MODULUS);
	if (a != NULL && schema_rule(s, CKA_MODULUS_BITS) != NULL)
		rv = attr_list_set_ulong(l, CKA_MODULUS_BITS, bit_length(a->value, a->len));
	a = attr_list_find(l, CKA_VALUE);
	if (rv == CKR_OK && a != NULL && schema_rule(s, CKA_VALUE_LEN) != NULL)
		rv = attr_list_set_ulong(l, CKA_VALUE_LEN, a->len);
	return rv;
}

CK_RV policy_build(policy_op_t op, CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type,
		   const CK_ATTRIBUTE *tmpl, CK_ULONG count, attr_list_t *out)
{
	attr_list_t l;
	schema_t s;
	CK_RV rv;

	attr_list_init(out);
	attr_list_init(&l);
	if (op != POLICY_CREATE && op != POLICY_GENERATE && op != POLICY_DERIVE)
		return CKR_ARGUMENTS_BAD;
	rv = check_template(tmpl, count);
	if (rv == CKR_OK)
		rv = new_schema(op, klass, key_type, tmpl, count, &s);
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++)
		rv = accept_new(op, &s, &tmpl[i], &l);
	if (rv == CKR_OK)
		rv = attr_list_set_ulong(&l, CKA_CLASS, s.klass);
	if (rv == CKR_OK && is_key_class(s.klass))
		rv = attr_list_set_ulong(&l, CKA_KEY_TYPE, s.key_type);
	/* Defaults include CREATE's LOCAL FALSE, KEY_GEN_MECHANISM unavailable,
	 * ALWAYS_SENSITIVE and NEVER_EXTRACTABLE FALSE: no template can set them. */
	if (rv == CKR_OK)
		rv = add_defaults(&s, &l);
	if (rv == CKR_OK)
		rv = check_required(op, &s, &l);
	if (rv == CKR_OK && op == POLICY_CREATE)
		rv = fill_sizes(&s, &l);
	if (rv == CKR_OK) {
		*out = l;
		attr_list_init(&l);
	}
	attr_list_clear(&l);
	return rv;
}

/* Replace obj by its edited copy. */
static void commit(attr_list_t *obj, attr_list_t *edited)
{
	attr_list_clear(obj);
	*obj = *edited;
	attr_list_init(edited);
}

static bool hides_material(CK_OBJECT_CLASS klass)
{
	return klass == CKO_PRIVATE_KEY || klass == CKO_SECRET_KEY;
}

static CK_RV set_value_len(attr_list_t *t)
{
	const attr_t *v = attr_list_find(t, CKA_VALUE);

	if (policy_object_class(t) != CKO_SECRET_KEY || v == NULL)
		return CKR_OK;
	return attr_list_set_ulong(t, CKA_VALUE_LEN, v->len);
}

CK_RV policy_finish_generated(attr_list_t *obj, CK_MECHANISM_TYPE mech)
{
	attr_list_t t;
	CK_RV rv = attr_list_copy(&t, obj);

	if (rv == CKR_OK)
		rv = attr_list_set_bool(&t, CKA_LOCAL, true);
	if (rv == CKR_OK)
		rv = attr_list_set_ulong(&t, CKA_KEY_GEN_MECHANISM, mech);
	if (rv == CKR_OK && hides_material(policy_object_class(&t))) {
		rv = attr_list_set_bool(&t, CKA_ALWAYS_SENSITIVE,
					attr_list_get_bool(&t, CKA_SENSITIVE, false));
		if (rv == CKR_OK)
			rv = attr_list_set_bool(&t, CKA_NEVER_EXTRACTABLE,
						!attr_list_get_bool(&t, CKA_EXTRACTABLE, true));
	}
	if (rv == CKR_OK)
		rv = set_value_len(&t);
	if (rv == CKR_OK)
		commit(obj, &t);
	attr_list_clear(&t);
	return rv;
}

CK_RV policy_finish_derived(attr_list_t *obj, const attr_list_t *base)
{
	attr_list_t t;
	CK_RV rv = attr_list_copy(&t, obj);

	if (rv == CKR_OK)
		rv = attr_list_set_bool(&t, CKA_LOCAL, false);
	if (rv == CKR_OK)
		rv = attr_list_set_ulong(&t, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
	if (rv == CKR_OK && hides_material(policy_object_class(&t))) {
		bool always = attr_list_get_bool(base, CKA_ALWAYS_SENSITIVE, false) &&
			      attr_list_get_bool(&t, CKA_SENSITIVE, false);
		bool never = attr_list_get_bool(base, CKA_NEVER_EXTRACTABLE, false) &&
			     !attr_list_get_bool(&t, CKA_EXTRACTABLE, true);

		rv = attr_list_set_bool(&t, CKA_ALWAYS_SENSITIVE, always);
		if (rv == CKR_OK)
			rv = attr_list_set_bool(&t, CKA_NEVER_EXTRACTABLE, never);
	}
	if (rv == CKR_OK)
		rv = set_value_len(&t);
	if (rv == CKR_OK)
		commit(obj, &t);
	attr_list_clear(&t);
	return rv;
}

/* ---- Changing existing objects --------------------------------------- */

static CK_RV accept_change(policy_op_t op, const schema_t *s, const attr_list_t *obj,
			   const CK_ATTRIBUTE *a, attr_list_t *t)
{
	const attr_rule_t *r;
	CK_RV rv = checked_rule(s, a, &r);
	bool now;

	if (rv != CKR_OK)
		return rv;
	if (r->flags & F_FIXED) {
		const attr_t *cur = attr_list_find(obj, a->type);

		if (op == POLICY_SET)
			return CKR_ATTRIBUTE_READ_ONLY;
		/* A copy keeps what the object is: repeating it is harmless. */
		if (cur == NULL || cur->len != a->ulValueLen ||
		    (cur->len > 0 && memcmp(cur->value, a->pValue, cur->len) != 0))
			return CKR_TEMPLATE_INCONSISTENT;
		return CKR_OK;
	}
	if (!(r->flags & F_MOD) && !(op == POLICY_COPY && (r->flags & F_COPY)))
		return CKR_ATTRIBUTE_READ_ONLY;
	rv = check_value(r, a);
	if (rv != CKR_OK)
		return rv;
	if (r->kind == AK_BOOL) {
		now = attr_list_get_bool(obj, a->type, r->dflt != CK_FALSE);
		if ((r->flags & F_ONLY_TRUE) && now && !template_bool(a))
			return CKR_ATTRIBUTE_READ_ONLY;
		if ((r->flags & F_ONLY_FALSE) && !now && template_bool(a))
			return CKR_ATTRIBUTE_READ_ONLY;
	}
	return store(t, r, a);
}

CK_RV policy_apply_change(policy_op_t op, attr_list_t *obj,
			  const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	attr_list_t t;
	schema_t s;
	CK_RV rv;

	attr_list_init(&t);
	if (op != POLICY_SET && op != POLICY_COPY)
		return CKR_ARGUMENTS_BAD;
	if (!schema_of(obj, &s))
		return CKR_GENERAL_ERROR; /* not an object this token made */
	if (op == POLICY_SET && !attr_list_get_bool(obj, CKA_MODIFIABLE, true))
		return CKR_ACTION_PROHIBITED;
	if (op == POLICY_COPY && !attr_list_get_bool(obj, CKA_COPYABLE, true))
		return CKR_ACTION_PROHIBITED;
	/* A trusted certificate is fixed (v2.40 4.6.1). */
	if (op == POLICY_SET && s.klass == CKO_CERTIFICATE &&
	    attr_list_get_bool(obj, CKA_TRUSTED, false))
		return CKR_ATTRIBUTE_READ_ONLY;
	rv = check_template(tmpl, count);
	if (rv == CKR_OK)
		rv = attr_list_copy(&t, obj);
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++)
		rv = accept_change(op, &s, obj, &tmpl[i], &t);
	if (rv == CKR_OK)
		commit(obj, &t);
	attr_list_clear(&t);
	return rv;
}

/* ---- Reading --------------------------------------------------------- */

static CK_RV unavailable(CK_ATTRIBUTE *attr, CK_RV rv)
{
	attr->ulValueLen = CK_UNAVAILABLE_INFORMATION;
	return rv;
}

/* One element of a caller's array for a nested template. */
static CK_RV get_element(const attr_list_t *nested, CK_ATTRIBUTE *el)
{
	const attr_t *a = attr_list_find(nested, el->type);

	if (a == NULL)
		return unavailable(el, CKR_ATTRIBUTE_TYPE_INVALID);
	if (el->ulValueLen < a->len)
		return unavailable(el, CKR_BUFFER_TOO_SMALL);
	if (a->len > 0)
		memcpy(el->pValue, a->value, a->len);
	el->ulValueLen = a->len;
	return CKR_OK;
}

static CK_RV get_nested(const attr_t *stored, CK_ATTRIBUTE *attr)
{
	attr_list_t nested;
	CK_ATTRIBUTE *el = attr->pValue;
	CK_RV rv = CKR_OK;
	bool sizes_only = true;
	size_t size;

	attr_list_init(&nested);
	if (stored->len > 0 && attr_list_parse(stored->value, stored->len, &nested) != CKR_OK)
		return unavailable(attr, CKR_GENERAL_ERROR);
	size = nested.count * sizeof(CK_ATTRIBUTE);
	if (attr->pValue == NULL) {
		attr->ulValueLen = size;
		goto out;
	}
	if (attr->ulValueLen < size) {
		rv = unavailable(attr, CKR_BUFFER_TOO_SMALL);
		goto out;
	}
	for (size_t i = 0; i < nested.count; i++)
		sizes_only = sizes_only && el[i].pValue == NULL;
	for (size_t i = 0; i < nested.count; i++) {
		CK_RV erv;

		if (sizes_only) {
			el[i].type = nested.items[i].type;
			el[i].ulValueLen = nested.items[i].len;
		} else if (el[i].pValue != NULL) {
			erv = get_element(&nested, &el[i]);
			rv = rv == CKR_OK ? erv : rv;
		}
	}
	attr->ulValueLen = size;
out:
	attr_list_clear(&nested);
	return rv;
}

CK_RV policy_get_attribute(const attr_list_t *obj, CK_ATTRIBUTE *attr)
{
	const attr_rule_t *r;
	const attr_t *a;
	schema_t s;

	if (attr == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!schema_of(obj, &s) || (r = schema_rule(&s, attr->type)) == NULL)
		return unavailable(attr, CKR_ATTRIBUTE_TYPE_INVALID);
	/* Missing SENSITIVE / EXTRACTABLE read as the safe values. */
	if ((r->flags & F_SENSITIVE) && (attr_list_get_bool(obj, CKA_SENSITIVE, true) ||
					 !attr_list_get_bool(obj, CKA_EXTRACTABLE, false)))
		return unavailable(attr, CKR_ATTRIBUTE_SENSITIVE);
	a = attr_list_find(obj, attr->type);
	if (a == NULL)
		return unavailable(attr, CKR_ATTRIBUTE_TYPE_INVALID);
	if (r->kind == AK_ATTRS)
		return get_nested(a, attr);
	if (attr->pValue == NULL) {
		attr->ulValueLen = a->len;
		return CKR_OK;
	}
	if (attr->ulValueLen < a->len)
		return unavailable(attr, CKR_BUFFER_TOO_SMALL);
	if (a->len > 0)
		memcpy(attr->pValue, a->value, a->len);
	attr->ulValueLen = a->len;
	return CKR_OK;
}

CK_OBJECT_CLASS policy_object_class(const attr_list_t *obj)
{
	CK_ULONG v;

	return attr_list_get_ulong(obj, CKA_CLASS, &v) ? v : CK_UNAVAILABLE_INFORMATION;
}

CK_KEY_TYPE policy_key_type(const attr_list_t *obj)
{
	CK_ULONG v;

	return attr_list_get_ulong(obj, CKA_KEY_TYPE, &v) ? v : CK_UNAVAILABLE_INFORMATION;
}
