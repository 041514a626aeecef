/* policy.h - which attribute may be set when, one declarative table per
 * object class (data, certificate, public key, private key, secret key)
 * plus the key-type specific attributes (EC, EC_EDWARDS, RSA, generic
 * secret). Every function that creates or changes an object goes through
 * here, so the rules of PKCS#11 v2.40 section 4 live in one place. */
#ifndef OFFPASS_P11_POLICY_H
#define OFFPASS_P11_POLICY_H

#include "p11/object/attrs.h"

/* A klass or key_type argument of policy_build meaning "the template names
 * it": CKA_CLASS / CKA_KEY_TYPE must then be in the template
 * (CKR_TEMPLATE_INCOMPLETE otherwise). Equal to CK_UNAVAILABLE_INFORMATION. */
#define POLICY_FROM_TEMPLATE ((CK_ULONG)-1)

/* v3.0 (p11-kit 0.24 predates it). In the tables as a token-set attribute:
 * no template may give it; the module may set it with attr_list_set. */
#ifndef CKA_UNIQUE_ID
#define CKA_UNIQUE_ID 0x4UL
#endif

typedef enum policy_op {
	POLICY_CREATE,   /* C_CreateObject */
	POLICY_GENERATE, /* C_GenerateKey / C_GenerateKeyPair templates */
	POLICY_DERIVE,   /* C_DeriveKey template */
	POLICY_UNWRAP,   /* C_UnwrapKey template: a secret or private key, no material */
	POLICY_COPY,     /* C_CopyObject template */
	POLICY_SET,      /* C_SetAttributeValue template */
} policy_op_t;

/* Build the attribute list of a new object from an application template.
 *   klass    - the object class (the template's CKA_CLASS, when present, must
 *              agree), or POLICY_FROM_TEMPLATE (C_CreateObject)
 *   key_type - CKK_* for keys, POLICY_FROM_TEMPLATE when the template must
 *              name it; ignored for classes that are not keys
 *   out      - output only: initialised here, empty on error
 * Classes: CKO_DATA, CKO_CERTIFICATE (CKC_X_509 only), CKO_PUBLIC_KEY and
 * CKO_PRIVATE_KEY (CKK_EC, CKK_EC_EDWARDS, CKK_RSA), CKO_SECRET_KEY
 * (CKK_GENERIC_SECRET, CKK_AES, CKK_DES3, CKK_SHA_1/224/256/384/512_HMAC). Another class, key type or certificate type is
 * CKR_ATTRIBUTE_VALUE_INVALID; a key type of the wrong class, or a class
 * that op cannot make (GENERATE: keys; DERIVE: secret keys; UNWRAP: secret
 * and private keys), is
 * CKR_TEMPLATE_INCONSISTENT. A key pair is two calls: the public template
 * with CKO_PUBLIC_KEY, the private one with CKO_PRIVATE_KEY (CKA_EC_PARAMS
 * belongs to the public template; the crypto layer copies it).
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
 * FALSE, and the derived sizes are filled in (RSA public CKA_MODULUS_BITS
 * from CKA_MODULUS, secret CKA_VALUE_LEN from CKA_VALUE). For GENERATE and
 * DERIVE the caller finishes with policy_finish_generated /
 * policy_finish_derived once key material exists.
 * Token rules beyond the spec's: private and secret keys are always
 * CKA_PRIVATE TRUE (FALSE is CKR_ATTRIBUTE_VALUE_INVALID: their material is
 * only ever stored encrypted), and CKA_TRUSTED TRUE, which only the SO may
 * set, is CKR_ATTRIBUTE_READ_ONLY in every template (an SO path in the module
 * may set it afterwards with attr_list_set_bool). Values are kept in their
 * PKCS#11 in-memory form (CK_ULONG native; CK_BBOOL normalised to 0/1;
 * CKA_*_TEMPLATE as an attr_list_serialize blob, empty when empty). */
CK_RV policy_build(policy_op_t op, CK_OBJECT_CLASS klass, CK_KEY_TYPE key_type,
		   const CK_ATTRIBUTE *tmpl, CK_ULONG count, attr_list_t *out) OFP_WUR;

/* After generation: CKA_LOCAL TRUE, CKA_KEY_GEN_MECHANISM mech,
 * CKA_ALWAYS_SENSITIVE = CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE = !CKA_EXTRACTABLE
 * (those two for private and secret keys), CKA_VALUE_LEN of a secret key from
 * its CKA_VALUE. obj is unchanged when an error is returned. */
CK_RV policy_finish_generated(attr_list_t *obj, CK_MECHANISM_TYPE mech) OFP_WUR;
/* After derivation from base: CKA_LOCAL FALSE, CKA_KEY_GEN_MECHANISM
 * CK_UNAVAILABLE_INFORMATION, ALWAYS_SENSITIVE = base's AND new SENSITIVE,
 * NEVER_EXTRACTABLE = base's AND !new EXTRACTABLE, CKA_VALUE_LEN from
 * CKA_VALUE. obj is unchanged when an error is returned. */
CK_RV policy_finish_derived(attr_list_t *obj, const attr_list_t *base) OFP_WUR;

/* After unwrapping: CKA_LOCAL FALSE, CKA_KEY_GEN_MECHANISM
 * CK_UNAVAILABLE_INFORMATION, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE
 * FALSE (the key has been outside the token), CKA_VALUE_LEN from CKA_VALUE.
 * obj is unchanged when an error is returned. */
CK_RV policy_finish_unwrapped(attr_list_t *obj) OFP_WUR;

/* Check a C_SetAttributeValue or C_CopyObject template against an existing
 * object (op is POLICY_SET or POLICY_COPY): only modifiable attributes,
 * CKA_MODIFIABLE TRUE for SET (else CKR_ACTION_PROHIBITED), CKA_COPYABLE
 * TRUE for COPY (else CKR_ACTION_PROHIBITED), CKA_SENSITIVE only
 * FALSE->TRUE, CKA_EXTRACTABLE only TRUE->FALSE, CKA_WRAP_WITH_TRUSTED
 * only FALSE->TRUE (else CKR_ATTRIBUTE_READ_ONLY). Then applies the template
 * to obj. obj is unchanged when an error is returned.
 * For COPY, obj is the caller's copy of the source object. COPY may also
 * change CKA_TOKEN, CKA_PRIVATE (not of a key that must stay private),
 * CKA_MODIFIABLE, CKA_DESTROYABLE and CKA_COPYABLE (only to FALSE), and may
 * repeat CKA_CLASS / CKA_KEY_TYPE / CKA_CERTIFICATE_TYPE with the object's
 * own value (another value: CKR_TEMPLATE_INCONSISTENT). A certificate with
 * CKA_TRUSTED TRUE refuses SET (CKR_ATTRIBUTE_READ_ONLY). Per attribute:
 * CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID and
 * CKR_TEMPLATE_INCONSISTENT as for policy_build. */
CK_RV policy_apply_change(policy_op_t op, attr_list_t *obj,
			  const CK_ATTRIBUTE *tmpl, CK_ULONG count) OFP_WUR;

/* C_GetAttributeValue for one attribute, with the spec's per-attribute
 * outcome: CKR_OK (value copied, or size set when pValue is NULL),
 * CKR_ATTRIBUTE_SENSITIVE (sensitive or unextractable key material),
 * CKR_ATTRIBUTE_TYPE_INVALID (not an attribute of this object) or
 * CKR_BUFFER_TOO_SMALL; in the error cases ulValueLen is set to
 * CK_UNAVAILABLE_INFORMATION. Sensitivity is decided before presence, so an
 * absent sensitive attribute is CKR_ATTRIBUTE_SENSITIVE too. Attribute-array
 * attributes (CKA_WRAP_TEMPLATE ...) follow the spec's nested convention:
 * the size is count * sizeof(CK_ATTRIBUTE); given an array whose pValues
 * are all NULL, each element's type and ulValueLen are filled in; otherwise
 * each element with a buffer is filled by its type (the element's
 * ulValueLen becomes CK_UNAVAILABLE_INFORMATION, and the call returns
 * CKR_ATTRIBUTE_TYPE_INVALID or CKR_BUFFER_TOO_SMALL, when it cannot be). */
CK_RV policy_get_attribute(const attr_list_t *obj, CK_ATTRIBUTE *attr);

/* The class / key type of an object; CK_UNAVAILABLE_INFORMATION when absent. */
CK_OBJECT_CLASS policy_object_class(const attr_list_t *obj);
CK_KEY_TYPE policy_key_type(const attr_list_t *obj);

/* A CK_ULONG attribute of an application template (e.g. CKA_CLASS before
 * choosing what to do with it): true and *out set when type is present with
 * a CK_ULONG-sized value (the first occurrence). */
bool policy_template_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count,
			   CK_ATTRIBUTE_TYPE type, CK_ULONG *out);

#endif
