/* p11client_int.h - what the p11client files share and nobody else sees:
 * the handle's layout, error formatting, and small PKCS#11 call helpers. */
#ifndef OFFPASS_P11CLIENT_INT_H
#define OFFPASS_P11CLIENT_INT_H

#include <p11-kit/uri.h>
#include "p11client.h"

#define P11C_ERR_LEN 1024
/* Ids longer than ofp_p11_key_t.id are refused; labels are bounded so that
 * error messages stay readable. */
#define P11C_LABEL_MAX 128

struct ofp_p11 {
	CK_FUNCTION_LIST *fn;
	bool initialized;
	CK_SESSION_HANDLE session; /* CK_INVALID_HANDLE until open */
	CK_SLOT_ID slot;
	CK_FLAGS token_flags;
	P11KitUri *uri; /* NULL without a URI; may hold pin-value */
	char *pin;      /* secmem; the user PIN for context-specific logins */
	size_t pin_len;
	char module[512];
	char label[33];  /* blank-trimmed; "" until a token is chosen */
	char serial[17];
	char err[P11C_ERR_LEN];
};

/* An object to look for: label and/or id (either may be absent). */
typedef struct p11c_query {
	const char *label;
	size_t label_len;
	const uint8_t *id;
	size_t id_len;
} p11c_query_t;

/* Set the error: "<module>: token '<label>': " + the formatted text. */
void p11c_error(ofp_p11_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the error for a failed call: "...: <what>: <call>: CKR_x (message)".
 * what may be NULL. Always returns -1. */
int p11c_fail(ofp_p11_t *p, CK_RV rv, const char *call, const char *what);

/* A readable name for an object, for messages: "key 'label'",
 * "key id 0a0b", "key 'label' (id 0a0b)", or "the only key". */
void p11c_name(char *buf, size_t len, const char *kind, const p11c_query_t *q);

/* Up to max handles of objects of class klass matching q (may be NULL),
 * and the attributes extra (at most 5), into out; the count in *n. These
 * three set the error, naming what, when they fail. */
int p11c_find(ofp_p11_t *p, CK_OBJECT_CLASS klass, const p11c_query_t *q,
	      const CK_ATTRIBUTE *extra, CK_ULONG n_extra, CK_OBJECT_HANDLE *out, CK_ULONG max,
	      CK_ULONG *n, const char *what) OFP_WUR;
/* An attribute's value into a malloc'ed buffer (at most max bytes; one
 * spare byte, so an empty value is still a buffer). */
int p11c_get_bytes(ofp_p11_t *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, size_t max,
		   uint8_t **val, size_t *len, const char *what) OFP_WUR;
int p11c_get_ulong(ofp_p11_t *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *val,
		   const char *what) OFP_WUR;
/* A CK_BBOOL attribute; def when the token does not have it. */
bool p11c_get_bool(ofp_p11_t *p, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, bool def);

/* The session is logged in as the user (private objects are visible). */
bool p11c_logged_in(ofp_p11_t *p);

/* Lowercase hex of data into buf (truncated with "..." when long). */
void p11c_hex(char *buf, size_t len, const uint8_t *data, size_t n);

#endif
