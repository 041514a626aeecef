/* policy_tables.c - the attribute rules of PKCS#11 v2.40 section 4 (with
 * the v3.0 additions the token knows), as data, and the look-ups over them.
 *
 * One flat table per object class says, for every attribute of that class,
 * its kind, its default and when it may be given; a small table per key
 * type adds the key material. SoftHSM2 (P11Objects.cpp) and the spec's
 * footnotes are the model; where the token is stricter it says so. */
#include "config.h"
#include "p11/object/policy_int.h"

#include <string.h>

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
	/* Computed by the token (crypto_complete_secret); checked when given. */
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

/* 2.8 (generic secret), and the same shape for AES (2.9) and the v3.0 HMAC
 * key types. CKA_VALUE_LEN is computed on create, optional on derive and
 * unwrap. */
static const attr_rule_t generic_secret_rules[] = {
	{ CKA_VALUE, AK_BYTES, F_REQ_CREATE | F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_VALUE_LEN, AK_ULONG, F_GEN_PARAM, 0 },
};

/* 2.14 (DES3): the length is fixed (24 bytes); CKA_VALUE_LEN, which
 * pkcs11-tool and others send anyway, is accepted on generation only. */
static const attr_rule_t des3_rules[] = {
	{ CKA_VALUE, AK_BYTES, F_REQ_CREATE | F_MATERIAL | F_SENSITIVE, 0 },
	{ CKA_VALUE_LEN, AK_ULONG, F_NO_CREATE, 0 },
};

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
	{ CKO_PUBLIC_KEY, CKK_EC_MONTGOMERY, TABLE(ec_public_rules) },
	{ CKO_PRIVATE_KEY, CKK_EC_MONTGOMERY, TABLE(ec_private_rules) },
	{ CKO_PUBLIC_KEY, CKK_RSA, TABLE(rsa_public_rules) },
	{ CKO_PRIVATE_KEY, CKK_RSA, TABLE(rsa_private_rules) },
	{ CKO_SECRET_KEY, CKK_GENERIC_SECRET, TABLE(generic_secret_rules) },
	{ CKO_SECRET_KEY, CKK_AES, TABLE(generic_secret_rules) },
	{ CKO_SECRET_KEY, CKK_SHA_1_HMAC, TABLE(generic_secret_rules) },
	{ CKO_SECRET_KEY, CKK_SHA224_HMAC, TABLE(generic_secret_rules) },
	{ CKO_SECRET_KEY, CKK_SHA256_HMAC, TABLE(generic_secret_rules) },
	{ CKO_SECRET_KEY, CKK_SHA384_HMAC, TABLE(generic_secret_rules) },
	{ CKO_SECRET_KEY, CKK_SHA512_HMAC, TABLE(generic_secret_rules) },
	{ CKO_SECRET_KEY, CKK_DES3, TABLE(des3_rules) },
};

/* ---- Looking rules up -------------------------------------------------- */

bool policy_is_key_class(CK_OBJECT_CLASS klass)
{
	return klass == CKO_PUBLIC_KEY || klass == CKO_PRIVATE_KEY || klass == CKO_SECRET_KEY;
}

const rule_table_t *policy_class_table(CK_OBJECT_CLASS klass)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(class_tables); i++)
		if (class_tables[i].klass == klass)
			return &class_tables[i].table;
	return NULL;
}

/* NULL, and *known_type whether any class has that key type. */
const rule_table_t *policy_key_table(CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type, bool *known_type)
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

const attr_rule_t *policy_schema_rule(const schema_t *s, CK_ATTRIBUTE_TYPE type)
{
	SCHEMA_FOR_EACH(s, r)
		if (r->type == type)
			return r;
	return NULL;
}

/* The schema of an existing object; false when its class is not one of ours. */
bool policy_schema_of(const attr_list_t *obj, schema_t *s)
{
	const rule_table_t *ct;
	bool known;

	memset(s, 0, sizeof(*s));
	s->klass = policy_object_class(obj);
	s->key_type = CK_UNAVAILABLE_INFORMATION;
	ct = policy_class_table(s->klass);
	if (ct == NULL)
		return false;
	s->part[0] = *ct;
	if (policy_is_key_class(s->klass)) {
		const rule_table_t *kt;

		s->key_type = policy_key_type(obj);
		kt = policy_key_table(s->klass, s->key_type, &known);
		if (kt != NULL)
			s->part[1] = *kt;
	}
	return true;
}

/* The kind of an attribute in any table (for the entries of a nested template). */
const attr_rule_t *policy_any_rule(CK_ATTRIBUTE_TYPE type)
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
