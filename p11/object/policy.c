/* policy.c - building and changing objects by the rule tables of
 * policy_tables.c. The code only interprets the tables, so a rule is
 * changed in one row, and C_CreateObject, C_GenerateKey(Pair),
 * C_DeriveKey, C_CopyObject, C_SetAttributeValue and C_GetAttributeValue
 * cannot disagree about it. SoftHSM2 (P11Objects.cpp) and the spec's
 * footnotes are the model; where the token is stricter it says so. */
#include "config.h"
#include "p11/object/policy_int.h"

#include <string.h>

#include "secmem.h"

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
	/* A value valid in itself that this token does not support: v3.0
	 * 4.1.1 (token-specific requirements) makes that a template
	 * inconsistency, not an invalid value. */
	if ((r->flags & F_KEEP_TRUE) && !template_bool(a))
		return CKR_TEMPLATE_INCONSISTENT;
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
		const attr_rule_t *r = policy_any_rule(el[i].type);

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
	const attr_rule_t *r = policy_schema_rule(s, a->type);

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
	ct = policy_class_table(klass);
	if (ct == NULL)
		return CKR_ATTRIBUTE_VALUE_INVALID;
	if ((op == POLICY_GENERATE && !policy_is_key_class(klass)) ||
	    (op == POLICY_DERIVE && klass != CKO_SECRET_KEY) ||
	    (op == POLICY_UNWRAP && klass != CKO_SECRET_KEY && klass != CKO_PRIVATE_KEY))
		return CKR_TEMPLATE_INCONSISTENT;
	s->klass = klass;
	s->key_type = CK_UNAVAILABLE_INFORMATION;
	s->part[0] = *ct;
	if (!policy_is_key_class(klass))
		return CKR_OK;
	rv = resolve_ulong(tmpl, count, CKA_KEY_TYPE, &key_type);
	if (rv != CKR_OK)
		return rv;
	kt = policy_key_table(klass, key_type, &known);
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
	if (a != NULL && policy_schema_rule(s, CKA_MODULUS_BITS) != NULL)
		rv = attr_list_set_ulong(l, CKA_MODULUS_BITS, bit_length(a->value, a->len));
	a = attr_list_find(l, CKA_VALUE);
	if (rv == CKR_OK && a != NULL && policy_schema_rule(s, CKA_VALUE_LEN) != NULL)
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
	if (op != POLICY_CREATE && op != POLICY_GENERATE && op != POLICY_DERIVE && op != POLICY_UNWRAP)
		return CKR_ARGUMENTS_BAD;
	rv = check_template(tmpl, count);
	if (rv == CKR_OK)
		rv = new_schema(op, klass, key_type, tmpl, count, &s);
	for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++)
		rv = accept_new(op, &s, &tmpl[i], &l);
	if (rv == CKR_OK)
		rv = attr_list_set_ulong(&l, CKA_CLASS, s.klass);
	if (rv == CKR_OK && policy_is_key_class(s.klass))
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

CK_RV policy_finish_unwrapped(attr_list_t *obj)
{
	attr_list_t t;
	CK_RV rv = attr_list_copy(&t, obj);

	if (rv == CKR_OK)
		rv = attr_list_set_bool(&t, CKA_LOCAL, false);
	if (rv == CKR_OK)
		rv = attr_list_set_ulong(&t, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
	/* The key was outside the token, in the clear or not: v3.0 4.9/4.10. */
	if (rv == CKR_OK)
		rv = attr_list_set_bool(&t, CKA_ALWAYS_SENSITIVE, false);
	if (rv == CKR_OK)
		rv = attr_list_set_bool(&t, CKA_NEVER_EXTRACTABLE, false);
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
		/* A copy keeps what the object is: repeating it is harmless,
		 * changing it is changing a read-only attribute (as for
		 * C_SetAttributeValue). */
		if (cur == NULL || cur->len != a->ulValueLen ||
		    (cur->len > 0 && memcmp(cur->value, a->pValue, cur->len) != 0))
			return CKR_ATTRIBUTE_READ_ONLY;
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
	if (!policy_schema_of(obj, &s))
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
