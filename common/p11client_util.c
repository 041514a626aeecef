/* p11client_util.c - error messages and the small PKCS#11 call helpers the
 * other p11client files share (object search, attribute reads). */
#include "config.h"
#include "p11client_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>

#define RV(name) { name, #name }

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
	RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
	RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
	RV(CKR_NO_EVENT), RV(CKR_NEED_TO_CREATE_THREADS), RV(CKR_CANT_LOCK),
	RV(CKR_ATTRIBUTE_READ_ONLY), RV(CKR_ATTRIBUTE_SENSITIVE),
	RV(CKR_ATTRIBUTE_TYPE_INVALID), RV(CKR_ATTRIBUTE_VALUE_INVALID),
	RV(CKR_ACTION_PROHIBITED), RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE),
	RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED),
	RV(CKR_ENCRYPTED_DATA_INVALID), RV(CKR_ENCRYPTED_DATA_LEN_RANGE),
	RV(CKR_FUNCTION_CANCELED), RV(CKR_FUNCTION_NOT_PARALLEL),
	RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID), RV(CKR_KEY_SIZE_RANGE),
	RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_NOT_NEEDED), RV(CKR_KEY_CHANGED),
	RV(CKR_KEY_NEEDED), RV(CKR_KEY_INDIGESTIBLE), RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
	RV(CKR_KEY_NOT_WRAPPABLE), RV(CKR_KEY_UNEXTRACTABLE), RV(CKR_MECHANISM_INVALID),
	RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
	RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT),
	RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE), RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED),
	RV(CKR_SESSION_CLOSED), RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
	RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED), RV(CKR_SESSION_READ_ONLY),
	RV(CKR_SESSION_EXISTS), RV(CKR_SESSION_READ_ONLY_EXISTS),
	RV(CKR_SESSION_READ_WRITE_SO_EXISTS), RV(CKR_SIGNATURE_INVALID),
	RV(CKR_SIGNATURE_LEN_RANGE), RV(CKR_TEMPLATE_INCOMPLETE),
	RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT), RV(CKR_TOKEN_NOT_RECOGNIZED),
	RV(CKR_TOKEN_WRITE_PROTECTED), RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
	RV(CKR_USER_ALREADY_LOGGED_IN), RV(CKR_USER_NOT_LOGGED_IN),
	RV(CKR_USER_PIN_NOT_INITIALIZED), RV(CKR_USER_TYPE_INVALID),
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN), RV(CKR_USER_TOO_MANY_TYPES),
	RV(CKR_WRAPPED_KEY_INVALID), RV(CKR_WRAPPED_KEY_LEN_RANGE), RV(CKR_RANDOM_NO_RNG),
	RV(CKR_DOMAIN_PARAMS_INVALID), RV(CKR_CURVE_NOT_SUPPORTED), RV(CKR_BUFFER_TOO_SMALL),
	RV(CKR_SAVED_STATE_INVALID), RV(CKR_INFORMATION_SENSITIVE), RV(CKR_STATE_UNSAVEABLE),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	RV(CKR_MUTEX_BAD), RV(CKR_MUTEX_NOT_LOCKED), RV(CKR_FUNCTION_REJECTED),
	RV(CKR_PIN_TOO_WEAK),
};

const char *ofp_p11_rv_name(CK_RV rv)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(rv_names); i++)
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	return rv >= CKR_VENDOR_DEFINED ? "CKR_VENDOR_DEFINED" : "CKR_(unknown)";
}

static size_t prefix(const ofp_p11_t *p, char *buf, size_t len)
{
	int n;

	if (p->label[0] != '\0')
		n = snprintf(buf, len, "%s: token '%s': ", p->module, p->label);
	else
		n = snprintf(buf, len, "%s: ", p->module);
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

void p11c_error(ofp_p11_t *p, const char *fmt, ...)
{
	size_t n = prefix(p, p->err, sizeof(p->err));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof(p->err) - n, fmt, ap);
	va_end(ap);
}

int p11c_fail(ofp_p11_t *p, CK_RV rv, const char *call, const char *what)
{
	const char *name = ofp_p11_rv_name(rv);
	char code[32] = "";

	if (strcmp(name, "CKR_(unknown)") == 0 || strcmp(name, "CKR_VENDOR_DEFINED") == 0)
		snprintf(code, sizeof(code), " 0x%08lx", (unsigned long)rv);
	p11c_error(p, "%s%s%s: %s%s (%s)", what ? what : "", what ? ": " : "", call, name, code,
		   p11_kit_strerror(rv));
	return -1;
}

void p11c_hex(char *buf, size_t len, const uint8_t *data, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t o = 0;

	if (len == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (o + 2 + 4 > len) {
			snprintf(buf + o, len - o, "...");
			return;
		}
		buf[o++] = digits[data[i] >> 4];
		buf[o++] = digits[data[i] & 15];
	}
	buf[o] = '\0';
}

/* Labels come from the caller or from a token: show them printable. */
static void printable(char *buf, size_t len, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < len; i++)
		buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[o] = '\0';
}

void p11c_name(char *buf, size_t len, const char *kind, const p11c_query_t *q)
{
	char label[P11C_LABEL_MAX + 1] = "", id[64] = "";

	if (q->label != NULL)
		printable(label, sizeof(label), q->label, q->label_len);
	if (q->id != NULL)
		p11c_hex(id, sizeof(id), q->id, q->id_len);
	if (q->label != NULL && q->id != NULL)
		snprintf(buf, len, "%s '%s' (id %s)", kind, label, id);
	else if (q->label != NULL)
		snprintf(buf, len, "%s '%s'", kind, label);
	else if (q->id != NULL)
		snprintf(buf, len, "%s id %s", kind, id);
	else
		snprintf(buf, len, "the only %s", kind);
}

static const char *attr_call(CK_ATTRIBUTE_TYPE type)
{
	switch (type) {
	case CKA_ID: return "C_GetAttributeValue(CKA_ID)";
	case CKA_LABEL: return "C_GetAttributeValue(CKA_LABEL)";
	case CKA_VALUE: return "C_GetAttributeValue(CKA_VALUE)";
	case CKA_KEY_TYPE: return "C_GetAttributeValue(CKA_KEY_TYPE)";
	case CKA_EC_PARAMS: return "C_GetAttributeValue(CKA_EC_PARAMS)";
	case CKA_EC_POINT: return "C_GetAttributeValue(CKA_EC_POINT)";
	default: return "C_GetAttributeValue";
	}
}

int p11c_find(ofp_p11_t *p, CK_OBJECT_CLASS klass, const p11c_query_t *q,
	      const CK_ATTRIBUTE *extra, CK_ULONG n_extra, CK_OBJECT_HANDLE *out, CK_ULONG max,
	      CK_ULONG *n, const char *what)
{
	CK_ATTRIBUTE t[8] = { { CKA_CLASS, &klass, sizeof(klass) } };
	CK_ULONG k = 1, got = 0, step = 0;
	CK_RV rv;

	*n = 0;
	if (q != NULL && q->label != NULL)
		t[k++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)q->label, q->label_len };
	if (q != NULL && q->id != NULL)
		t[k++] = (CK_ATTRIBUTE){ CKA_ID, (void *)q->id, q->id_len };
	for (CK_ULONG i = 0; i < n_extra && k < OFP_ARRAY_LEN(t); i++)
		t[k++] = extra[i];
	rv = p->fn->C_FindObjectsInit(p->session, t, k);
	if (rv != CKR_OK)
		return p11c_fail(p, rv, "C_FindObjectsInit", what);
	do {
		rv = p->fn->C_FindObjects(p->session, out + got, max - got, &step);
		got += rv == CKR_OK ? step : 0;
	} while (rv == CKR_OK && step > 0 && got < max);
	(void)p->fn->C_FindObjectsFinal(p->session);
	if (rv != CKR_OK)
		return p11c_fail(p, rv, "C_FindObjects", what);
	*n = got;
	return 0;
}

int p11c_get_bytes(ofp_p11_t *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, size_t max,
		   uint8_t **val, size_t *len, const char *what)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv;

	*val = NULL;
	*len = 0;
	rv = p->fn->C_GetAttributeValue(p->session, o, &a, 1);
	if (rv != CKR_OK)
		return p11c_fail(p, rv, attr_call(type), what);
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > max) {
		p11c_error(p, "%s: %s: value of %lu bytes, more than %zu", what, attr_call(type),
			   (unsigned long)a.ulValueLen, max);
		return -1;
	}
	a.pValue = malloc(a.ulValueLen + 1);
	if (a.pValue == NULL)
		return p11c_fail(p, CKR_HOST_MEMORY, "malloc", what);
	rv = p->fn->C_GetAttributeValue(p->session, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return p11c_fail(p, rv, attr_call(type), what);
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

int p11c_get_ulong(ofp_p11_t *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *val,
		   const char *what)
{
	CK_ATTRIBUTE a = { type, val, sizeof(*val) };
	CK_RV rv = p->fn->C_GetAttributeValue(p->session, o, &a, 1);

	if (rv == CKR_OK && a.ulValueLen != sizeof(*val))
		rv = CKR_ATTRIBUTE_VALUE_INVALID;
	return rv == CKR_OK ? 0 : p11c_fail(p, rv, attr_call(type), what);
}

bool p11c_get_bool(ofp_p11_t *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, bool def)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { type, &b, sizeof(b) };

	if (p->fn->C_GetAttributeValue(p->session, o, &a, 1) != CKR_OK || a.ulValueLen != sizeof(b))
		return def;
	return b != CK_FALSE;
}

bool p11c_logged_in(ofp_p11_t *p)
{
	CK_SESSION_INFO si;

	if (p->fn->C_GetSessionInfo(p->session, &si) != CKR_OK)
		return false;
	return si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS;
}
