/* policy_read.c - C_GetAttributeValue by the policy tables: what is
 * sensitive, the nested-template convention, the class and key type. */
#include "config.h"
#include "p11/object/policy_int.h"

#include <string.h>

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
	if (!policy_schema_of(obj, &s) || (r = policy_schema_rule(&s, attr->type)) == NULL)
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
