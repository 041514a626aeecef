/* token.c - the registry of slots, tokens, sessions and login state (the
 * tokens' objects are in token_obj.c). Every exported function takes the
 * module lock, calls a static *_locked body and releases it at one exit. */
#include "config.h"
#include "p11/token.h"
#include "p11/session.h"
#include "p11/token_int.h"
#include "p11/module.h"
#include "p11/objcache.h"
#include "p11/object/policy.h"
#include "p11/store/store.h"
#include "p11/crypto/crypto.h"
#include "secmem.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_SUFFIX ".token"

static struct {
	char *dir;
	token_t **slots;        /* slot id = index; never shrinks while initialised */
	size_t count, cap;
} reg;

/* ---- slots ---------------------------------------------------------- */

static token_t *slot_token(CK_SLOT_ID id)
{
	return id < reg.count ? reg.slots[id] : NULL;
}

token_t *registry_slot_token(CK_SLOT_ID id)
{
	return slot_token(id);
}

static CK_RV slot_append(char *path, token_store_t *store)
{
	token_t *t = NULL;

	if (reg.count == reg.cap) {
		size_t cap = reg.cap ? reg.cap * 2 : 8;
		token_t **slots = realloc(reg.slots, cap * sizeof(*slots));
		if (slots == NULL)
			return CKR_HOST_MEMORY;
		reg.slots = slots;
		reg.cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return CKR_HOST_MEMORY;
	t->path = path;
	t->store = store;
	t->login = LOGIN_NONE;
	reg.slots[reg.count++] = t;
	return CKR_OK;
}

static bool slot_has_path(const char *path)
{
	for (size_t i = 0; i < reg.count; i++)
		if (reg.slots[i]->path != NULL && strcmp(reg.slots[i]->path, path) == 0)
			return true;
	return false;
}

static bool has_free_slot(void)
{
	for (size_t i = 0; i < reg.count; i++)
		if (reg.slots[i]->path == NULL)
			return true;
	return false;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The token files in the directory, sorted; a damaged file is logged by
 * the store when opened, not here. */
static CK_RV list_token_files(char ***out, size_t *count)
{
	DIR *d = opendir(reg.dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	CK_RV rv = CKR_OK;

	if (d == NULL) {
		module_log("token directory '%s': cannot read", reg.dir);
		return CKR_GENERAL_ERROR;
	}
	while (rv == CKR_OK && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len <= strlen(TOKEN_SUFFIX) ||
		    strcmp(e->d_name + len - strlen(TOKEN_SUFFIX), TOKEN_SUFFIX) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			char **more = realloc(names, cap * sizeof(*more));
			if (more == NULL) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			names = more;
		}
		if (asprintf(&names[n], "%s/%s", reg.dir, e->d_name) < 0)
			rv = CKR_HOST_MEMORY;
		else
			n++;
	}
	closedir(d);
	if (n > 1) /* names is NULL when there are none: qsort must not see it */
		qsort(names, n, sizeof(*names), by_name);
	*out = names;
	*count = n;
	return rv;
}

/* Give each token file not yet known a slot, and keep one free slot. */
static CK_RV slots_refresh(void)
{
	char **files = NULL;
	size_t n = 0;
	CK_RV rv = list_token_files(&files, &n);

	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		token_store_t *store = NULL;
		if (slot_has_path(files[i]))
			continue;
		if (token_store_open(files[i], &store) != CKR_OK) {
			module_log("skipping token: %s", token_store_error(NULL));
			continue;
		}
		if (token_store_read_only(store) != NULL)
			module_log("token '%s' is open read-only (%s): it is listed and its public objects"
				   " can be read, but logins and changes fail until it can be written (%s)",
				   files[i], token_store_read_only(store), token_store_error(store));
		rv = slot_append(files[i], store);
		if (rv == CKR_OK)
			files[i] = NULL;
		else
			token_store_close(store);
	}
	if (rv == CKR_OK && !has_free_slot())
		rv = slot_append(NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return rv;
}

CK_RV registry_open(const char *dir)
{
	CK_RV rv = CKR_HOST_MEMORY;

	module_lock();
	reg.dir = strdup(dir);
	if (reg.dir != NULL)
		rv = slots_refresh();
	module_unlock();
	if (rv != CKR_OK)
		registry_close();
	return rv;
}

static void token_free(token_t *t)
{
	objcache_clear(&t->objects);
	token_store_close(t->store);
	free(t->path);
	free(t);
}

void registry_close(void)
{
	for (size_t i = 0; i < reg.count; i++)
		token_free(reg.slots[i]);
	free(reg.slots);
	free(reg.dir);
	memset(&reg, 0, sizeof(reg));
}

void registry_after_fork(void)
{
	for (size_t i = 0; i < reg.count; i++) {
		token_t *t = reg.slots[i];
		if (t->store == NULL || token_store_reopen(t->store) == CKR_OK)
			continue;
		module_log("token '%s' is lost to this forked process: %s", t->path,
			   token_store_error(t->store));
		objcache_clear(&t->objects);
		token_store_close(t->store);
		t->store = NULL;
		t->login = LOGIN_NONE;
		t->loaded = t->loaded_unlocked = false;
	}
}

static CK_RV slot_list_locked(bool token_present, CK_SLOT_ID *list, CK_ULONG *count)
{
	CK_RV rv = CKR_OK;

	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	/* Tokens created by other processes appear when the list is asked for
	 * without a buffer, the first of the two calls. */
	if (list == NULL)
		rv = slots_refresh();
	if (rv != CKR_OK)
		return rv;
	/* Every slot holds a token (the free slot an uninitialised one), so
	 * token_present does not filter. */
	(void)token_present;
	if (list != NULL && *count < reg.count)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL)
		for (size_t i = 0; i < reg.count; i++)
			list[i] = i;
	*count = reg.count;
	return rv;
}

CK_RV registry_slot_list(bool token_present, CK_SLOT_ID *list, CK_ULONG *count)
{
	module_lock();
	CK_RV rv = slot_list_locked(token_present, list, count);
	module_unlock();
	return rv;
}

static void blank_copy(CK_UTF8CHAR *dst, size_t len, const char *src, size_t src_len)
{
	memset(dst, ' ', len);
	memcpy(dst, src, src_len < len ? src_len : len);
}

CK_RV registry_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
	CK_RV rv = CKR_OK;
	char desc[64];

	module_lock();
	if (slot_token(slot) == NULL) {
		rv = CKR_SLOT_ID_INVALID;
	} else {
		memset(info, 0, sizeof(*info));
		int n = snprintf(desc, sizeof(desc), "offpass soft token slot %lu", (unsigned long)slot);
		blank_copy(info->slotDescription, sizeof(info->slotDescription), desc, (size_t)n);
		blank_copy(info->manufacturerID, sizeof(info->manufacturerID), "offpass", 7);
		info->flags = CKF_TOKEN_PRESENT;
		info->hardwareVersion.major = 0;
		info->firmwareVersion.major = 0;
		info->firmwareVersion.minor = 1;
	}
	module_unlock();
	return rv;
}

/* ---- tokens ---------------------------------------------------------- */

static CK_FLAGS pin_flags(CK_ULONG fails, CK_ULONG max, CK_FLAGS low, CK_FLAGS final, CK_FLAGS locked)
{
	if (fails >= max)
		return locked;
	if (fails + 1 == max)
		return low | final;
	return fails > 0 ? low : 0;
}

/* The model says what protects the token at rest (docs/TOKEN.md). */
static void token_model(CK_TOKEN_INFO *info, token_protection_t p)
{
	const char *model = p == TOKEN_PROT_TPM ? "offpass tpm2" :
			    p == TOKEN_PROT_MIXED ? "offpass tpm2 mix" : "offpass soft";

	blank_copy(info->model, sizeof(info->model), model, strlen(model));
}

/* A PIN operation that failed for another reason than the PIN (no TPM, a
 * damaged file), or succeeded with something to say (a TPM migration
 * that did not happen), leaves its reason in the log. */
static CK_RV pin_op_logged(token_t *t, CK_RV rv)
{
	const char *why = token_store_error(t->store);

	if (why[0] != '\0' && rv != CKR_PIN_INCORRECT && rv != CKR_PIN_LEN_RANGE &&
	    rv != CKR_USER_PIN_NOT_INITIALIZED)
		module_log("%s", why);
	return rv;
}

static CK_RV token_info_locked(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	token_t *t = slot_token(slot);
	token_meta_t meta;
	CK_RV rv = CKR_OK;

	if (t == NULL)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	memset(&meta, 0, sizeof(meta));
	memset(meta.label, ' ', sizeof(meta.label));
	memset(meta.serial, ' ', sizeof(meta.serial));
	if (t->store != NULL && (rv = token_store_meta(t->store, &meta)) != CKR_OK)
		return rv;
	memcpy(info->label, meta.label, sizeof(info->label));
	memcpy(info->serialNumber, meta.serial, sizeof(info->serialNumber));
	blank_copy(info->manufacturerID, sizeof(info->manufacturerID), "offpass", 7);
	token_model(info, t->store != NULL ? meta.protection : TOKEN_PROT_PIN);
	info->flags = CKF_RNG | CKF_LOGIN_REQUIRED;
	if (t->store != NULL) {
		info->flags |= CKF_TOKEN_INITIALIZED;
		if (meta.user_pin_initialized)
			info->flags |= CKF_USER_PIN_INITIALIZED;
		info->flags |= pin_flags(meta.user_fails, meta.max_fails, CKF_USER_PIN_COUNT_LOW,
					 CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED);
		info->flags |= pin_flags(meta.so_fails, meta.max_fails, CKF_SO_PIN_COUNT_LOW,
					 CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED);
	}
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulSessionCount = t->sessions;
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulRwSessionCount = t->rw_sessions;
	info->ulMaxPinLen = TOKEN_PIN_MAX;
	/* The user PIN's minimum once there is a token; on the free slot the
	 * only PIN to give is the SO PIN of C_InitToken. */
	info->ulMinPinLen = t->store != NULL ? meta.min_user_pin_len : TOKEN_PIN_MIN;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->firmwareVersion.minor = 1;
	memset(info->utcTime, ' ', sizeof(info->utcTime));
	return rv;
}

CK_RV registry_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	module_lock();
	CK_RV rv = token_info_locked(slot, info);
	module_unlock();
	return rv;
}

static CK_RV new_token_path(char **out)
{
	unsigned char rnd[8];
	char hex[17];
	CK_RV rv = crypto_random(rnd, sizeof(rnd));

	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return asprintf(out, "%s/%s%s", reg.dir, hex, TOKEN_SUFFIX) < 0 ? CKR_HOST_MEMORY : CKR_OK;
}

static CK_RV init_free_slot(token_t *t, const CK_UTF8CHAR *pin, CK_ULONG pin_len,
			    const CK_UTF8CHAR *label)
{
	char *path = NULL;
	CK_RV rv = new_token_path(&path);

	if (rv == CKR_OK)
		rv = token_store_create(path, pin, pin_len, label, &t->store);
	if (rv != CKR_OK) {
		module_log("cannot create a token in '%s': %s", reg.dir, token_store_error(NULL));
		free(path);
		return rv;
	}
	t->path = path;
	return slot_append(NULL, NULL); /* a new free slot for the next token */
}

static CK_RV init_token_locked(CK_SLOT_ID slot, const CK_UTF8CHAR *pin, CK_ULONG pin_len,
			       const CK_UTF8CHAR *label)
{
	token_t *t = slot_token(slot);

	if (t == NULL)
		return CKR_SLOT_ID_INVALID;
	if (pin == NULL || label == NULL)
		return CKR_ARGUMENTS_BAD;
	if (t->sessions > 0)
		return CKR_SESSION_EXISTS;
	if (pin_len < TOKEN_PIN_MIN || pin_len > TOKEN_PIN_MAX)
		return CKR_PIN_LEN_RANGE;
	if (t->store == NULL)
		return init_free_slot(t, pin, pin_len, label);
	CK_RV rv = pin_op_logged(t, token_store_reinit(t->store, pin, pin_len, label));
	if (rv == CKR_OK) {
		objcache_clear(&t->objects);
		t->loaded = false;
		t->login = LOGIN_NONE;
	}
	return rv;
}

CK_RV registry_init_token(CK_SLOT_ID slot, const CK_UTF8CHAR *pin, CK_ULONG pin_len,
			  const CK_UTF8CHAR *label)
{
	module_lock();
	CK_RV rv = init_token_locked(slot, pin, pin_len, label);
	module_unlock();
	return rv;
}

/* ---- sessions and login ----------------------------------------------- */

static CK_RV session_opening_locked(CK_SLOT_ID slot, CK_FLAGS flags)
{
	token_t *t = slot_token(slot);

	if (t == NULL)
		return CKR_SLOT_ID_INVALID;
	if (t->store == NULL)
		return CKR_TOKEN_NOT_RECOGNIZED;
	if (!(flags & CKF_RW_SESSION) && t->login == CKU_SO)
		return CKR_SESSION_READ_WRITE_SO_EXISTS;
	t->sessions++;
	if (flags & CKF_RW_SESSION)
		t->rw_sessions++;
	return CKR_OK;
}

CK_RV registry_session_opening(CK_SLOT_ID slot, CK_FLAGS flags)
{
	module_lock();
	CK_RV rv = session_opening_locked(slot, flags);
	module_unlock();
	return rv;
}

static void logout_locked(token_t *t)
{
	/* Keys kept keyed in sessions were checked for a logged-in user. */
	session_keys_retired();
	token_store_logout(t->store);
	t->login = LOGIN_NONE;
	/* Private objects and their key material leave memory with the login;
	 * public objects, session ones included, stay with their handles
	 * (v2.40 C_Logout). What is left mirrors the locked store. */
	objcache_drop_private(&t->objects);
	t->loaded_unlocked = false;
}

void registry_session_closed(CK_SLOT_ID slot, CK_SESSION_HANDLE h, CK_FLAGS flags)
{
	module_lock();
	token_t *t = slot_token(slot);
	if (t != NULL && t->sessions > 0) {
		objcache_drop_session(&t->objects, h);
		t->sessions--;
		if (flags & CKF_RW_SESSION)
			t->rw_sessions--;
		/* Closing an application's last session logs it out (v2.40 5.6). */
		if (t->sessions == 0 && t->login != LOGIN_NONE)
			logout_locked(t);
	}
	module_unlock();
}

CK_STATE registry_session_state(CK_SLOT_ID slot, CK_FLAGS flags)
{
	bool rw = (flags & CKF_RW_SESSION) != 0;
	CK_STATE state;

	module_lock();
	token_t *t = slot_token(slot);
	CK_USER_TYPE login = t != NULL ? t->login : LOGIN_NONE;
	if (login == CKU_SO)
		state = CKS_RW_SO_FUNCTIONS;
	else if (login == CKU_USER)
		state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	else
		state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
	module_unlock();
	return state;
}

static CK_RV login_locked(CK_SLOT_ID slot, CK_USER_TYPE who, const CK_UTF8CHAR *pin, CK_ULONG len)
{
	token_t *t = slot_token(slot);
	CK_RV rv;

	if (t == NULL || t->store == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (who != CKU_USER && who != CKU_SO)
		return CKR_USER_TYPE_INVALID;
	if (t->login == who)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (t->login != LOGIN_NONE)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if (who == CKU_SO && t->sessions > t->rw_sessions)
		return CKR_SESSION_READ_ONLY_EXISTS;
	rv = pin_op_logged(t, token_store_check_pin(t->store, who, pin, len));
	if (rv == CKR_OK)
		t->login = who;
	/* The count of wrong PINs could not be committed, so the PIN was not
	 * tried: say why (a full disk, most often), since CKR_DEVICE_MEMORY
	 * alone would not tell an administrator where to look. */
	if (rv == CKR_DEVICE_MEMORY || rv == CKR_DEVICE_ERROR)
		module_log("login refused, the PIN attempt cannot be recorded: %s", token_store_error(t->store));
	return rv;
}

CK_RV registry_login(CK_SLOT_ID slot, CK_USER_TYPE who, const CK_UTF8CHAR *pin, CK_ULONG len)
{
	module_lock();
	CK_RV rv = login_locked(slot, who, pin, len);
	module_unlock();
	return rv;
}

static CK_RV logout_checked_locked(CK_SLOT_ID slot)
{
	token_t *t = slot_token(slot);

	if (t == NULL || t->store == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (t->login == LOGIN_NONE)
		return CKR_USER_NOT_LOGGED_IN;
	logout_locked(t);
	return CKR_OK;
}

CK_RV registry_logout(CK_SLOT_ID slot)
{
	module_lock();
	CK_RV rv = logout_checked_locked(slot);
	module_unlock();
	return rv;
}

static CK_RV check_user_pin_locked(CK_SLOT_ID slot, const CK_UTF8CHAR *pin, CK_ULONG len)
{
	token_t *t = slot_token(slot);

	if (t == NULL || t->store == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (t->login != CKU_USER)
		return CKR_USER_NOT_LOGGED_IN;
	return token_store_check_pin(t->store, CKU_USER, pin, len);
}

CK_RV registry_check_user_pin(CK_SLOT_ID slot, const CK_UTF8CHAR *pin, CK_ULONG len)
{
	module_lock();
	CK_RV rv = check_user_pin_locked(slot, pin, len);
	module_unlock();
	return rv;
}

static CK_RV init_pin_locked(CK_SLOT_ID slot, CK_FLAGS sflags, const CK_UTF8CHAR *pin, CK_ULONG len)
{
	token_t *t = slot_token(slot);

	if (t == NULL || t->store == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (t->login != CKU_SO)
		return CKR_USER_NOT_LOGGED_IN;
	if (!(sflags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (pin == NULL)
		return CKR_ARGUMENTS_BAD;
	if (len < TOKEN_PIN_MIN || len > TOKEN_PIN_MAX)
		return CKR_PIN_LEN_RANGE;
	return pin_op_logged(t, token_store_init_user_pin(t->store, pin, len));
}

CK_RV registry_init_pin(CK_SLOT_ID slot, CK_FLAGS sflags, const CK_UTF8CHAR *pin, CK_ULONG len)
{
	module_lock();
	CK_RV rv = init_pin_locked(slot, sflags, pin, len);
	module_unlock();
	return rv;
}

static CK_RV set_pin_locked(CK_SLOT_ID slot, CK_FLAGS sflags, const CK_UTF8CHAR *old_pin,
			    CK_ULONG old_len, const CK_UTF8CHAR *new_pin, CK_ULONG new_len)
{
	token_t *t = slot_token(slot);

	if (t == NULL || t->store == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (!(sflags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (old_pin == NULL || new_pin == NULL)
		return CKR_ARGUMENTS_BAD;
	if (new_len < TOKEN_PIN_MIN || new_len > TOKEN_PIN_MAX)
		return CKR_PIN_LEN_RANGE;
	return pin_op_logged(t, token_store_set_pin(t->store, t->login == CKU_SO ? CKU_SO : CKU_USER,
						    old_pin, old_len, new_pin, new_len));
}

CK_RV registry_set_pin(CK_SLOT_ID slot, CK_FLAGS sflags, const CK_UTF8CHAR *old_pin, CK_ULONG old_len,
		       const CK_UTF8CHAR *new_pin, CK_ULONG new_len)
{
	module_lock();
	CK_RV rv = set_pin_locked(slot, sflags, old_pin, old_len, new_pin, new_len);
	module_unlock();
	return rv;
}
