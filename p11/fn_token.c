/* fn_token.c - slots, tokens, mechanisms, PINs and login. */
#include "config.h"
#include "p11/module.h"
#include "p11/session.h"
#include "p11/token.h"
#include "p11/crypto/crypto.h"

CK_RV C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = registry_slot_list(token_present, list, count);
	return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK && info == NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK)
		rv = registry_slot_info(slot, info);
	return rv;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = registry_token_info(slot, info);
	return rv;
}

/* Mechanisms are the same for every slot, but the slot must exist. */
static CK_RV check_slot(CK_SLOT_ID slot)
{
	CK_SLOT_INFO info;
	return registry_slot_info(slot, &info);
}

CK_RV C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = check_slot(slot);
	if (rv == CKR_OK && count == NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK)
		rv = crypto_mechanism_list(list, count);
	return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = check_slot(slot);
	if (rv == CKR_OK && info == NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK)
		rv = crypto_mechanism_info(type, info);
	return rv;
}

CK_RV C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len, CK_UTF8CHAR_PTR label)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		rv = registry_init_token(slot, pin, pin_len, label);
	return rv;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = registry_init_pin(s->slot, s->flags, pin, pin_len);
		session_leave(s);
	}
	return rv;
}

CK_RV C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,
	       CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = registry_set_pin(s->slot, s->flags, old_pin, old_len, new_pin, new_len);
		session_leave(s);
	}
	return rv;
}

/* CKU_CONTEXT_SPECIFIC answers an operation on a CKA_ALWAYS_AUTHENTICATE key. */
static CK_RV login_impl(session_t *s, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	CK_RV rv;

	if (pin == NULL)
		return CKR_ARGUMENTS_BAD; /* no protected authentication path */
	if (who != CKU_CONTEXT_SPECIFIC)
		return registry_login(s->slot, who, pin, len);
	session_op_t *op = &s->ops[OP_SIGN];
	if (!op->needs_login)
		op = &s->ops[OP_DECRYPT];
	if (op->op == NULL || !op->needs_login)
		return CKR_OPERATION_NOT_INITIALIZED;
	rv = registry_check_user_pin(s->slot, pin, len);
	if (rv == CKR_OK)
		op->needs_login = false;
	return rv;
}

CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE who, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = login_impl(s, who, pin, len);
		session_leave(s);
	}
	return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE h)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);
	if (rv == CKR_OK) {
		rv = registry_logout(s->slot);
		session_leave(s);
	}
	return rv;
}
