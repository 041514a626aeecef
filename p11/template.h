/* template.h - reading single values out of application templates, and
 * the session's view for the registry. */
#ifndef OFFPASS_P11_TEMPLATE_H
#define OFFPASS_P11_TEMPLATE_H

#include "common/pkcs11.h"
#include "p11/session.h"
#include "p11/token.h"

/* The CK_ULONG-valued attribute type in tmpl: CKR_TEMPLATE_INCOMPLETE when
 * absent, CKR_ATTRIBUTE_VALUE_INVALID when not CK_ULONG-sized. */
CK_RV template_get_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type,
			 CK_ULONG *out) OFP_WUR;

session_view_t session_view(const session_t *s);

#endif
