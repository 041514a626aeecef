/* p11client.c - load a module through p11-kit, choose the token, open the
 * session, log in. */
#include "config.h"
#include "p11client_int.h"
#include "secmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>

#ifndef OFFPASS_DEFAULT_MODULE
#error "OFFPASS_DEFAULT_MODULE must name the installed offpass-p11.so (see common/Makefile.am)"
#endif

#define MODULE_ENV "OFFPASS_PKCS11_MODULE"
#define LIST_LEN 400

/* ---- accessors ------------------------------------------------------------ */

const char *ofp_p11_error(const ofp_p11_t *p)
{
	return p != NULL ? p->err : "no PKCS#11 handle";
}

CK_FUNCTION_LIST *ofp_p11_functions(const ofp_p11_t *p)
{
	return p->fn;
}

CK_SESSION_HANDLE ofp_p11_session(const ofp_p11_t *p)
{
	return p->session;
}

const char *ofp_p11_token_label(const ofp_p11_t *p)
{
	return p->label;
}

const char *ofp_p11_token_serial(const ofp_p11_t *p)
{
	return p->serial;
}

const char *ofp_p11_module_path(const ofp_p11_t *p)
{
	return p->module;
}

/* ---- module ----------------------------------------------------------------- */

static int parse_uri(ofp_p11_t *p, const char *text)
{
	int r;

	p->uri = p11_kit_uri_new();
	if (p->uri == NULL) {
		snprintf(p->err, sizeof(p->err), "out of memory");
		return -1;
	}
	/* The URI is never echoed: it may carry pin-value. */
	r = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, p->uri);
	if (r != P11_KIT_URI_OK) {
		snprintf(p->err, sizeof(p->err), "bad PKCS#11 URI: %s", p11_kit_uri_message(r));
		return -1;
	}
	/* p11-kit would then match nothing: say why instead. */
	if (p11_kit_uri_any_unrecognized(p->uri)) {
		snprintf(p->err, sizeof(p->err), "bad PKCS#11 URI: an attribute that RFC 7512 "
			 "does not define");
		return -1;
	}
	return 0;
}

int ofp_p11_uri_argument_check(const char *uri, const char *option, char *err, size_t err_len)
{
	P11KitUri *u;
	bool has_pin;

	if (uri == NULL)
		return 0;
	u = p11_kit_uri_new();
	if (u == NULL) {
		snprintf(err, err_len, "%s: out of memory", option);
		return -1;
	}
	has_pin = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u) == P11_KIT_URI_OK &&
		  p11_kit_uri_get_pin_value(u) != NULL;
	p11_kit_uri_free(u);
	if (has_pin)
		snprintf(err, err_len,
			 "%s: the URI holds a PIN (pin-value=), which every user of this machine can read "
			 "in /proc/PID/cmdline; refused. Give the PIN with --pin-file FILE, --pin-env VAR, "
			 "the URI's pin-source=file:/path, or at the prompt",
			 option);
	return has_pin ? -1 : 0;
}

/* The module path: the argument, the URI's module-path, the environment,
 * the installed offpass-p11.so. (A URI's module-name is not resolved: that
 * needs p11-kit's whole registry loaded.) */
static int pick_module(ofp_p11_t *p, const char *arg)
{
	const char *path = arg;
	const char *env = getenv(MODULE_ENV);
	int n;

	if (path == NULL && p->uri != NULL)
		path = p11_kit_uri_get_module_path(p->uri);
	if (path == NULL && env != NULL && env[0] != '\0')
		path = env;
	if (path == NULL)
		path = OFFPASS_DEFAULT_MODULE;
	n = snprintf(p->module, sizeof(p->module), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(p->module)) {
		snprintf(p->err, sizeof(p->err), "PKCS#11 module path too long");
		return -1;
	}
	return 0;
}

static int check_module_info(ofp_p11_t *p)
{
	CK_INFO info;
	CK_RV rv;

	if (p->uri == NULL)
		return 0;
	rv = p->fn->C_GetInfo(&info);
	if (rv != CKR_OK)
		return p11c_fail(p, rv, "C_GetInfo", NULL);
	if (!p11_kit_uri_match_module_info(p->uri, &info)) {
		p11c_error(p, "the module does not match the URI's library-manufacturer, "
			      "library-description or library-version");
		return -1;
	}
	return 0;
}

/* Managed loading (flags 0): p11-kit counts initialisations, so several
 * handles on one module in one process do not finalise each other. A bare
 * file name is looked up in p11-kit's module directory. */
static int load_module(ofp_p11_t *p)
{
	const char *msg;
	CK_RV rv;

	p->fn = p11_kit_module_load(p->module, 0);
	if (p->fn == NULL) {
		msg = p11_kit_message();
		p11c_error(p, "cannot load the PKCS#11 module: %s", msg ? msg : "unknown error");
		return -1;
	}
	rv = p11_kit_module_initialize(p->fn);
	if (rv != CKR_OK)
		return p11c_fail(p, rv, "C_Initialize", NULL);
	p->initialized = true;
	return check_module_info(p);
}

/* ---- token ------------------------------------------------------------------ */

static void trim32(char out[33], const CK_UTF8CHAR *in, size_t max)
{
	size_t n = max;

	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\0'))
		n--;
	memcpy(out, in, n);
	out[n] = '\0';
}

static void printable_copy(char *dst, const char *src)
{
	for (; *src != '\0'; src++)
		*dst++ = (unsigned char)*src < 0x20 || *src == 0x7f ? '?' : *src;
	*dst = '\0';
}

static void list_add(char *list, const char *label, const char *serial)
{
	size_t n = strlen(list);

	if (n + 8 >= LIST_LEN)
		return;
	snprintf(list + n, LIST_LEN - n, "%s'%s' (serial %s)", n ? ", " : "", label, serial);
	if (strlen(list) + 4 >= LIST_LEN - 1)
		strcpy(list + LIST_LEN - 5, "...");
}

static bool slot_matches(ofp_p11_t *p, CK_SLOT_ID slot)
{
	CK_SLOT_INFO si;
	CK_SLOT_ID want = p11_kit_uri_get_slot_id(p->uri);

	if (want != (CK_SLOT_ID)-1 && want != slot)
		return false;
	if (p->fn->C_GetSlotInfo(slot, &si) != CKR_OK)
		return false;
	return p11_kit_uri_match_slot_info(p->uri, &si) != 0;
}

static bool token_matches(ofp_p11_t *p, const char *label, CK_SLOT_ID slot,
			  const CK_TOKEN_INFO *ti)
{
	char have[33];

	if (p->uri != NULL)
		return slot_matches(p, slot) && p11_kit_uri_match_token_info(p->uri, ti) != 0;
	if (label == NULL)
		return true;
	trim32(have, ti->label, sizeof(ti->label));
	return strcmp(have, label) == 0;
}

static int slot_list(ofp_p11_t *p, CK_SLOT_ID **slots, CK_ULONG *n)
{
	CK_RV rv;

	*slots = NULL;
	do {
		free(*slots);
		*slots = NULL;
		rv = p->fn->C_GetSlotList(CK_TRUE, NULL, n);
		if (rv != CKR_OK)
			break;
		*slots = calloc(*n + 1, sizeof(**slots));
		if (*slots == NULL)
			return p11c_fail(p, CKR_HOST_MEMORY, "calloc", NULL);
		rv = p->fn->C_GetSlotList(CK_TRUE, *slots, n);
	} while (rv == CKR_BUFFER_TOO_SMALL); /* a token arrived in between */
	if (rv != CKR_OK) {
		free(*slots);
		*slots = NULL;
		return p11c_fail(p, rv, "C_GetSlotList", NULL);
	}
	return 0;
}

/* The token's label and serial, blank-trimmed and printable. */
static void token_name(const CK_TOKEN_INFO *ti, char label[33], char serial[17])
{
	char raw[33];

	trim32(raw, ti->label, sizeof(ti->label));
	printable_copy(label, raw);
	trim32(raw, ti->serialNumber, sizeof(ti->serialNumber));
	printable_copy(serial, raw);
}

/* What the caller asked for, for messages: "the URI (token=x)", "label 'x'"
 * or "no label". Only the URI's token= is shown: the rest may hold the PIN. */
static void wanted(ofp_p11_t *p, const char *label, char *buf, size_t len)
{
	CK_TOKEN_INFO *uti = p->uri != NULL ? p11_kit_uri_get_token_info(p->uri) : NULL;
	char ulabel[33] = "";

	if (uti != NULL)
		trim32(ulabel, uti->label, sizeof(uti->label));
	if (p->uri != NULL && ulabel[0] != '\0')
		snprintf(buf, len, "the URI (token=%s)", ulabel);
	else if (p->uri != NULL)
		snprintf(buf, len, "the URI");
	else if (label != NULL)
		snprintf(buf, len, "label '%.32s'", label);
	else
		snprintf(buf, len, "no label");
}

static void no_token_error(ofp_p11_t *p, const char *label, unsigned found, const char *all,
			   const char *matched)
{
	char want[80];

	wanted(p, label, want, sizeof(want));
	if (found == 0)
		p11c_error(p, "no token for %s (tokens: %s)", want,
			   all[0] ? all : "none initialised");
	else
		p11c_error(p, "%u tokens for %s: %s; choose one by label, or by URI token= or "
			      "serial=", found, want, matched);
}

/* The one initialised token that the URI or label names. */
static int choose_token(ofp_p11_t *p, const char *label)
{
	char all[LIST_LEN] = "", matched[LIST_LEN] = "";
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	unsigned found = 0;
	int ret = -1;

	if (slot_list(p, &slots, &n) != 0)
		goto out;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char name[33], serial[17];
		if (p->fn->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue; /* removed meanwhile */
		if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0)
			continue;
		token_name(&ti, name, serial);
		list_add(all, name, serial);
		if (!token_matches(p, label, slots[i], &ti))
			continue;
		list_add(matched, name, serial);
		if (found++ == 0) {
			p->slot = slots[i];
			p->token_flags = ti.flags;
			token_name(&ti, p->label, p->serial);
		}
	}
	if (found != 1) {
		p->label[0] = '\0';
		no_token_error(p, label, found, all, matched);
		goto out;
	}
	ret = 0;
out:
	free(slots);
	return ret;
}

static int open_session(ofp_p11_t *p, bool rw, bool rw_if_writable)
{
	CK_FLAGS flags;
	CK_RV rv;

	/* A write-protected token (a PIV card through OpenSC) refuses a
	 * read/write session outright. */
	if (rw_if_writable && !(p->token_flags & CKF_WRITE_PROTECTED))
		rw = true;
	flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
	rv = p->fn->C_OpenSession(p->slot, flags, NULL, NULL, &p->session);
	if (rv == CKR_TOKEN_WRITE_PROTECTED && rw_if_writable)
		rv = p->fn->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, &p->session);

	if (rv != CKR_OK) {
		p->session = CK_INVALID_HANDLE;
		return p11c_fail(p, rv, "C_OpenSession", NULL);
	}
	return 0;
}

int ofp_p11_open(const ofp_p11_open_args_t *args, ofp_p11_t **out, char *err, size_t err_len)
{
	ofp_p11_t *p = calloc(1, sizeof(*p));
	int ret = -1;

	*out = NULL;
	if (p == NULL || args == NULL) {
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, p ? "no arguments" : "out of memory");
		free(p);
		return -1;
	}
	p->session = CK_INVALID_HANDLE;
	snprintf(p->module, sizeof(p->module), "PKCS#11");
	if (args->uri != NULL && parse_uri(p, args->uri) != 0)
		goto out;
	if (pick_module(p, args->module) != 0 || load_module(p) != 0)
		goto out;
	if (choose_token(p, args->uri != NULL ? NULL : args->token_label) != 0)
		goto out;
	if (open_session(p, args->read_write, args->read_write_if_writable) != 0)
		goto out;
	*out = p;
	p = NULL;
	ret = 0;
out:
	if (p != NULL && err != NULL && err_len > 0)
		snprintf(err, err_len, "%s", p->err);
	ofp_p11_close(p);
	return ret;
}

void ofp_p11_close(ofp_p11_t *p)
{
	if (p == NULL)
		return;
	if (p->session != CK_INVALID_HANDLE)
		(void)p->fn->C_CloseSession(p->session);
	if (p->initialized)
		(void)p11_kit_module_finalize(p->fn);
	if (p->fn != NULL)
		p11_kit_module_release(p->fn);
	if (p->uri != NULL) {
		/* Wipe a pin-value before the URI's memory goes back. */
		const char *pin = p11_kit_uri_get_pin_value(p->uri);
		if (pin != NULL)
			secmem_wipe((void *)pin, strlen(pin));
		p11_kit_uri_free(p->uri);
	}
	secmem_free(p->pin, p->pin_len);
	free(p);
}

/* ---- login -------------------------------------------------------------------- */

/* The URI's PIN, into a secmem buffer of OFP_PIN_MAX bytes: pin-value, or
 * the first line of the file pin-source names ("file:" URI or an absolute
 * path). *pin is NULL when the URI has none. */
static int uri_pin(ofp_p11_t *p, char **pin)
{
	const char *value = p->uri ? p11_kit_uri_get_pin_value(p->uri) : NULL;
	const char *source = p->uri ? p11_kit_uri_get_pin_source(p->uri) : NULL;
	char msg[512];
	int ret = -1;

	*pin = NULL;
	if (value == NULL && source == NULL)
		return 0;
	*pin = secmem_alloc(OFP_PIN_MAX);
	if (*pin == NULL)
		return p11c_fail(p, CKR_HOST_MEMORY, "PIN", NULL);
	if (value != NULL) {
		if (strlen(value) >= OFP_PIN_MAX) {
			p11c_error(p, "URI pin-value: longer than %d bytes", OFP_PIN_MAX - 1);
			goto out;
		}
		memcpy(*pin, value, strlen(value));
		return 0;
	}
	if (strncmp(source, "file://", 7) == 0)
		source += 7;
	else if (strncmp(source, "file:", 5) == 0)
		source += 5;
	if (source[0] != '/') {
		p11c_error(p, "URI pin-source: only a file is supported (file:/path or /path)");
		goto out;
	}
	if (ofp_pin_read(source, NULL, NULL, *pin, OFP_PIN_MAX, msg, sizeof(msg)) != 0) {
		p11c_error(p, "URI pin-source: %s", msg);
		goto out;
	}
	ret = 0;
out:
	if (ret != 0) {
		secmem_free(*pin, OFP_PIN_MAX);
		*pin = NULL;
	}
	return ret;
}

static const char *pin_hint(ofp_p11_t *p)
{
	CK_TOKEN_INFO ti;

	if (p->fn->C_GetTokenInfo(p->slot, &ti) != CKR_OK)
		return "";
	if (ti.flags & CKF_USER_PIN_LOCKED)
		return "; the PIN is now locked";
	if (ti.flags & CKF_USER_PIN_FINAL_TRY)
		return "; one try is left before the PIN locks";
	/* CKF_USER_PIN_COUNT_LOW only says that a wrong PIN was entered. */
	return "";
}

/* The PIN stays for the handle's life (context-specific logins): locked
 * into RAM where allowed, so that it never reaches swap; best effort, as a
 * process that may not lock still has wiped memory. */
static int keep_pin(ofp_p11_t *p, const char *pin)
{
	size_t len = strlen(pin) + 1;
	char *copy = secmem_alloc_locked(len, NULL);

	if (copy == NULL)
		return p11c_fail(p, CKR_HOST_MEMORY, "PIN", NULL);
	memcpy(copy, pin, len);
	secmem_free(p->pin, p->pin_len);
	p->pin = copy;
	p->pin_len = len;
	return 0;
}

static int do_login(ofp_p11_t *p, const char *pin)
{
	bool pinpad = (p->token_flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
	CK_RV rv;
	size_t n;

	if (pin == NULL && !pinpad) {
		p11c_error(p, "no PIN given to log in");
		return -1;
	}
	rv = p->fn->C_Login(p->session, CKU_USER, (CK_UTF8CHAR *)pin, pin ? strlen(pin) : 0);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		(void)p11c_fail(p, rv, "C_Login", NULL);
		if (rv == CKR_PIN_INCORRECT) {
			n = strlen(p->err);
			snprintf(p->err + n, sizeof(p->err) - n, "%s", pin_hint(p));
		}
		return -1;
	}
	return pin != NULL ? keep_pin(p, pin) : 0;
}

int ofp_p11_login(ofp_p11_t *p, const char *pin)
{
	char *from_uri = NULL;
	int ret;

	if (pin == NULL && uri_pin(p, &from_uri) != 0)
		return -1;
	ret = do_login(p, pin != NULL ? pin : from_uri);
	secmem_free(from_uri, OFP_PIN_MAX);
	return ret;
}
