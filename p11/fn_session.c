/* fn_session.c - opening, closing and describing sessions. */
#include "config.h"
#include "p11/module.h"
#include "p11/session.h"
#include "p11/token.h"

#include <stdlib.h>
#include <string.h>

static CK_RV open_session_impl(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out)
{
	CK_RV rv;

	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	/* The registry's count and the table change together, as fork() sees them. */
	session_gate_enter();
	rv = registry_session_opening(slot, flags);
	if (rv == CKR_OK) {
		rv = session_open(slot, flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION), out);
		if (rv != CKR_OK)
			registry_session_closed(slot, 0, flags);
	}
	session_gate_leave();
	return rv;
}

/* Notification callbacks are accepted and never called: the token has no
 * long-running operations to report. */
CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
		    CK_SESSION_HANDLE_PTR out)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = open_session_impl(slot, flags, out);
	return rv;
}

static CK_RV close_session_impl(CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	CK_RV rv;

	session_gate_enter();
	rv = session_close(h, &slot, &flags);
	if (rv == CKR_OK)
		registry_session_closed(slot, h, flags);
	session_gate_leave();
	return rv;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = close_session_impl(h);
	return rv;
}

static CK_RV close_all_impl(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE *list = NULL;
	CK_ULONG n = 0;
	CK_SLOT_INFO info;
	CK_RV rv = registry_slot_info(slot, &info);

	if (rv == CKR_OK)
		rv = session_list(slot, &list, &n);
	for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
		CK_RV one = close_session_impl(list[i]);
		if (one != CKR_OK && one != CKR_SESSION_HANDLE_INVALID)
			rv = one; /* another thread closing it first is fine */
	}
	free(list);
	return rv;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slot)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = close_all_impl(slot);
	return rv;
}

static CK_RV session_info_impl(session_t *s, CK_SESSION_INFO_PTR info)
{
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->slotID = s->slot;
	info->state = registry_session_state(s->slot, s->flags);
	info->flags = s->flags;
	info->ulDeviceError = 0;
	return CKR_OK;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = session_info_impl(s, info);
		session_leave(s);
	}
	return rv;
}
