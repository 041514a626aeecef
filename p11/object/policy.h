/* policy.h - which attribute may be set when, one declarative table per
 * object class (data, certificate, public key, private key, secret key)
 * plus the key-type specific attributes (EC, EC_EDWARDS, RSA, generic
 * secret). Every function that creates or changes an object goes through
 * here, so the rules of PKCS#11 v2.40 section 4 live in one place. */
#ifndef OFFPASS_P11_POLICY_H
#define OFFPASS_P11_POLICY_H

#include "p11/object/attrs.h"

typedef enum policy_op {
	POLICY_CREATE,   /* C_CreateObject */
	POLICY_GENERATE, /* C_GenerateKey / C_GenerateKeyPair templates */
	POLICY_DERIVE,   /* C_DeriveKey template */
	POLICY_COPY,     /* C_CopyObject template */
	POLICY_SET,      /* C_SetAttributeValue template */
} policy_op_t;

/* Build the attribute list of a new object from an application template.
 *   klass    - the object class (the template's CKA_CLASS, when present, must agree)
 *   key_type - CKK_* for keys, (CK_ULONG)-1 for others or when the template must name it
 * Checks every template attribute: known for the class (else
 * CKR_ATTRIBUTE_TYPE_INVALID), allowed for op (else CKR_ATTRIBUTE_READ_ONLY,
 * or CKR_TEMPLATE_INCONSISTENT for key material given to a generate call),
 * well-formed (CK_BBOOL is one byte, CK_ULONG its size, else
 * CKR_ATTRIBUTE_VALUE_INVALID), no duplicates with different values
 * (CKR_TEMPLATE_INCONSISTENT). Adds defaults for every attribute the
 * class has (CKA_TOKEN FALSE, CKA_PRIVATE TRUE for private/secret keys,
 * CKA_SENSITIVE TRUE and CKA_EXTRACTABLE FALSE for private/secret keys,
 * CKA_MODIFIABLE/COPYABLE/DESTROYABLE TRUE, CKA_LABEL/CKA_ID empty, usage
 * flags per class ...). Then checks that the attributes required for op
 * are present (else CKR_TEMPLATE_INCOMPLETE): for CREATE the key material,
 * for GENERATE of an EC key pair CKA_EC_PARAMS on the public template, for
 * RSA CKA_MODULUS_BITS, for a secret key CKA_VALUE_LEN.
 * For CREATE, CKA_LOCAL is set FALSE, CKA_KEY_GEN_MECHANISM
 * CK_UNAVAILABLE_INFORMATION, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE
 * FALSE. For GENERATE and DERIVE the caller finishes with
 * policy_finish_generated / policy_finish_derived once key material exists. */
CK_RV policy_build(policy_op_t op, CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type,
		   const CK_ATTRIBUTE *tmpl, CK_ULONG count, attr_list_t *out) OFP_WUR;

/* After generation: CKA_LOCAL TRUE, CKA_KEY_GEN_MECHANISM mech,
 * CKA_ALWAYS_SENSITIVE = CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE = !CKA_EXTRACTABLE. */
CK_RV policy_finish_generated(attr_list_t *obj, CK_MECHANISM_TYPE mech) OFP_WUR;
/* After derivation from base: CKA_LOCAL FALSE, CKA_KEY_GEN_MECHANISM
 * CK_UNAVAILABLE_INFORMATION, ALWAYS_SENSITIVE = base's AND new SENSITIVE,
 * NEVER_EXTRACTABLE = base's AND !new EXTRACTABLE. */
CK_RV policy_finish_derived(attr_list_t *obj, const attr_list_t *base) OFP_WUR;

/* Check a C_SetAttributeValue or C_CopyObject template against an existing
 * object (op is POLICY_SET or POLICY_COPY): only modifiable attributes,
 * CKA_MODIFIABLE TRUE for SET (else CKR_ACTION_PROHIBITED), CKA_COPYABLE
 * TRUE for COPY (else CKR_ACTION_PROHIBITED), CKA_SENSITIVE only
 * FALSE->TRUE, CKA_EXTRACTABLE only TRUE->FALSE, CKA_WRAP_WITH_TRUSTED
 * only FALSE->TRUE (else CKR_ATTRIBUTE_READ_ONLY). Then applies the template
 * to obj. obj is unchanged when an error is returned. */
CK_RV policy_apply_change(policy_op_t op, attr_list_t *obj,
			  const CK_ATTRIBUTE *tmpl, CK_ULONG count) OFP_WUR;

/* C_GetAttributeValue for one attribute, with the spec's per-attribute
 * outcome: CKR_OK (value copied, or size set when pValue is NULL),
 * CKR_ATTRIBUTE_SENSITIVE (sensitive or unextractable key material),
 * CKR_ATTRIBUTE_TYPE_INVALID (not an attribute of this object) or
 * CKR_BUFFER_TOO_SMALL; in the error cases ulValueLen is set to
 * CK_UNAVAILABLE_INFORMATION. */
CK_RV policy_get_attribute(const attr_list_t *obj, CK_ATTRIBUTE *attr);

/* The class / key type of an object; CK_UNAVAILABLE_INFORMATION when absent. */
CK_OBJECT_CLASS policy_object_class(const attr_list_t *obj);
CK_KEY_TYPE policy_key_type(const attr_list_t *obj);

#endif
