/* functions.c - the function tables (v2.40 list and v3.0 interfaces), the
 * three exported entry points, and the functions the token does not have. */
#include "config.h"
#include "p11/module.h"
#include "p11/session.h"

#include <string.h>

/* What a function the token does not have answers for session h: the
 * checks every function makes come first, as in SoftHSM2, so that an
 * application learns of a dead session or an uninitialised module before
 * it learns that the function is missing. */
static CK_RV session_then(CK_SESSION_HANDLE h, CK_RV answer)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);

	if (rv != CKR_OK)
		return rv;
	session_leave(s);
	return answer;
}

/* Functions this token does not offer: parallel functions, operation
 * state, recover and dual-function operations, wrapping, slot events and
 * the v3.0 message API. Each takes the session handle h first. */
#define NOT_SUPPORTED(name, ...) \
	static CK_RV name(__VA_ARGS__) { return session_then(h, CKR_FUNCTION_NOT_SUPPORTED); }

NOT_SUPPORTED(get_operation_state, CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG_PTR l)
NOT_SUPPORTED(set_operation_state, CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG l,
	      CK_OBJECT_HANDLE e, CK_OBJECT_HANDLE a)
NOT_SUPPORTED(digest_key, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
NOT_SUPPORTED(sign_recover_init, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
NOT_SUPPORTED(sign_recover, CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG l, CK_BYTE_PTR s,
	      CK_ULONG_PTR sl)
NOT_SUPPORTED(verify_recover_init, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
NOT_SUPPORTED(verify_recover, CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sl, CK_BYTE_PTR d,
	      CK_ULONG_PTR l)
NOT_SUPPORTED(dual_update, CK_SESSION_HANDLE h, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o,
	      CK_ULONG_PTR ol)
NOT_SUPPORTED(login_user, CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG pl,
	      CK_UTF8CHAR_PTR n, CK_ULONG nl)
NOT_SUPPORTED(session_cancel, CK_SESSION_HANDLE h, CK_FLAGS f)
NOT_SUPPORTED(message_init, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
NOT_SUPPORTED(message_crypt, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a,
	      CK_ULONG al, CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol)
NOT_SUPPORTED(message_begin, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a,
	      CK_ULONG al)
NOT_SUPPORTED(message_next, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR i,
	      CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol, CK_FLAGS f)
NOT_SUPPORTED(message_final, CK_SESSION_HANDLE h)
NOT_SUPPORTED(sign_message, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
	      CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG_PTR sl)
NOT_SUPPORTED(sign_message_begin, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl)
NOT_SUPPORTED(sign_message_next, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
	      CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG_PTR sl)
NOT_SUPPORTED(verify_message, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d,
	      CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG sl)
NOT_SUPPORTED(verify_message_next, CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl,
	      CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR s, CK_ULONG sl)

static CK_RV wait_for_slot_event(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r)
{
	CK_RV rv = module_check();

	return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

/* Single-threaded token: no function runs in parallel with the caller. */
static CK_RV get_function_status(CK_SESSION_HANDLE h)
{
	return session_then(h, CKR_FUNCTION_NOT_PARALLEL);
}

static CK_RV cancel_function(CK_SESSION_HANDLE h)
{
	return session_then(h, CKR_FUNCTION_NOT_PARALLEL);
}

#define V240_FUNCTIONS \
	.C_Initialize = C_Initialize, .C_Finalize = C_Finalize, .C_GetInfo = C_GetInfo, \
	.C_GetFunctionList = C_GetFunctionList, .C_GetSlotList = C_GetSlotList, \
	.C_GetSlotInfo = C_GetSlotInfo, .C_GetTokenInfo = C_GetTokenInfo, \
	.C_GetMechanismList = C_GetMechanismList, .C_GetMechanismInfo = C_GetMechanismInfo, \
	.C_InitToken = C_InitToken, .C_InitPIN = C_InitPIN, .C_SetPIN = C_SetPIN, \
	.C_OpenSession = C_OpenSession, .C_CloseSession = C_CloseSession, \
	.C_CloseAllSessions = C_CloseAllSessions, .C_GetSessionInfo = C_GetSessionInfo, \
	.C_GetOperationState = get_operation_state, .C_SetOperationState = set_operation_state, \
	.C_Login = C_Login, .C_Logout = C_Logout, .C_CreateObject = C_CreateObject, \
	.C_CopyObject = C_CopyObject, .C_DestroyObject = C_DestroyObject, \
	.C_GetObjectSize = C_GetObjectSize, .C_GetAttributeValue = C_GetAttributeValue, \
	.C_SetAttributeValue = C_SetAttributeValue, .C_FindObjectsInit = C_FindObjectsInit, \
	.C_FindObjects = C_FindObjects, .C_FindObjectsFinal = C_FindObjectsFinal, \
	.C_EncryptInit = C_EncryptInit, .C_Encrypt = C_Encrypt, \
	.C_EncryptUpdate = C_EncryptUpdate, .C_EncryptFinal = C_EncryptFinal, \
	.C_DecryptInit = C_DecryptInit, .C_Decrypt = C_Decrypt, \
	.C_DecryptUpdate = C_DecryptUpdate, .C_DecryptFinal = C_DecryptFinal, \
	.C_DigestInit = C_DigestInit, .C_Digest = C_Digest, .C_DigestUpdate = C_DigestUpdate, \
	.C_DigestKey = digest_key, .C_DigestFinal = C_DigestFinal, \
	.C_SignInit = C_SignInit, .C_Sign = C_Sign, .C_SignUpdate = C_SignUpdate, \
	.C_SignFinal = C_SignFinal, .C_SignRecoverInit = sign_recover_init, \
	.C_SignRecover = sign_recover, .C_VerifyInit = C_VerifyInit, .C_Verify = C_Verify, \
	.C_VerifyUpdate = C_VerifyUpdate, .C_VerifyFinal = C_VerifyFinal, \
	.C_VerifyRecoverInit = verify_recover_init, .C_VerifyRecover = verify_recover, \
	.C_DigestEncryptUpdate = dual_update, .C_DecryptDigestUpdate = dual_update, \
	.C_SignEncryptUpdate = dual_update, .C_DecryptVerifyUpdate = dual_update, \
	.C_GenerateKey = C_GenerateKey, .C_GenerateKeyPair = C_GenerateKeyPair, \
	.C_WrapKey = C_WrapKey, .C_UnwrapKey = C_UnwrapKey, .C_DeriveKey = C_DeriveKey, \
	.C_SeedRandom = C_SeedRandom, .C_GenerateRandom = C_GenerateRandom, \
	.C_GetFunctionStatus = get_function_status, .C_CancelFunction = cancel_function, \
	.C_WaitForSlotEvent = wait_for_slot_event

CK_FUNCTION_LIST offpass_function_list = {
	.version = { 2, 40 },
	V240_FUNCTIONS
};

static CK_FUNCTION_LIST_3_0 function_list_3_0 = {
	.version = { 3, 0 },
	V240_FUNCTIONS,
	.C_GetInterfaceList = C_GetInterfaceList,
	.C_GetInterface = C_GetInterface,
	.C_LoginUser = login_user,
	.C_SessionCancel = session_cancel,
	.C_MessageEncryptInit = message_init,
	.C_EncryptMessage = message_crypt,
	.C_EncryptMessageBegin = message_begin,
	.C_EncryptMessageNext = message_next,
	.C_MessageEncryptFinal = message_final,
	.C_MessageDecryptInit = message_init,
	.C_DecryptMessage = message_crypt,
	.C_DecryptMessageBegin = message_begin,
	.C_DecryptMessageNext = message_next,
	.C_MessageDecryptFinal = message_final,
	.C_MessageSignInit = message_init,
	.C_SignMessage = sign_message,
	.C_SignMessageBegin = sign_message_begin,
	.C_SignMessageNext = sign_message_next,
	.C_MessageSignFinal = message_final,
	.C_MessageVerifyInit = message_init,
	.C_VerifyMessage = verify_message,
	.C_VerifyMessageBegin = sign_message_begin,
	.C_VerifyMessageNext = verify_message_next,
	.C_MessageVerifyFinal = message_final,
};

static CK_UTF8CHAR interface_name[] = "PKCS 11";

/* Newest first: an application asking for "PKCS 11" with no version gets 3.0. */
static CK_INTERFACE interfaces[] = {
	{ interface_name, &function_list_3_0, CKF_INTERFACE_FORK_SAFE },
	{ interface_name, &offpass_function_list, CKF_INTERFACE_FORK_SAFE },
};

OFP_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = &offpass_function_list;
	return CKR_OK;
}

OFP_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR list, CK_ULONG_PTR count)
{
	CK_ULONG n = OFP_ARRAY_LEN(interfaces);
	CK_RV rv = CKR_OK;

	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list != NULL && *count < n)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL)
		memcpy(list, interfaces, sizeof(interfaces));
	*count = n;
	return rv;
}

static const CK_VERSION *interface_version(const CK_INTERFACE *i)
{
	return (const CK_VERSION *)i->pFunctionList; /* every list starts with its version */
}

OFP_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR name, CK_VERSION_PTR version,
				CK_INTERFACE_PTR_PTR iface, CK_FLAGS flags)
{
	if (iface == NULL)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < OFP_ARRAY_LEN(interfaces); i++) {
		const CK_VERSION *v = interface_version(&interfaces[i]);
		if (name != NULL && strcmp((const char *)name, (const char *)interface_name) != 0)
			continue;
		if (version != NULL && (version->major != v->major || version->minor != v->minor))
			continue;
		if ((interfaces[i].flags & flags) != flags)
			continue;
		*iface = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
