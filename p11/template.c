/* template.c - single values out of application templates. */
#include "config.h"
#include "p11/template.h"

#include <string.h>

CK_RV template_get_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type, CK_ULONG *out)
{
	for (CK_ULONG i = 0; i < count; i++) {
		if (tmpl[i].type != type)
			continue;
		if (tmpl[i].pValue == NULL || tmpl[i].ulValueLen != sizeof(CK_ULONG))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		memcpy(out, tmpl[i].pValue, sizeof(CK_ULONG));
		return CKR_OK;
	}
	return CKR_TEMPLATE_INCOMPLETE;
}

session_view_t session_view(const session_t *s)
{
	session_view_t v = { .slot = s->slot, .handle = s->handle, .flags = s->flags };
	return v;
}
