/* store_tpm.c - sealing the token secret to the TPM 2.0 (tpm2-tss ESAPI).
 *
 * Per operation: connect (tctildr), recreate the owner hierarchy's storage
 * key from the TCG SRK template (ECC P-256; deterministic, so the same key
 * every time on the same TPM, and nothing to persist in NV or to
 * provision with the owner's authorisation), start an HMAC session salted
 * to that key with AES-128-CFB parameter encryption, and Create or
 * Load+Unseal the sealed object through it. The session keeps the
 * authValue off the bus (HMAC, never the value) and encrypts the sealed
 * data both ways. The storage key's name is stored with the object and
 * compared before the PIN is tried, so a token copied to another machine
 * says so instead of "wrong PIN", and a substituted storage key (an
 * interposer answering CreatePrimary) is refused before any authorisation
 * is sent.
 *
 * The sealed object has fixedTPM, fixedParent and userWithAuth, and not
 * noDA: every wrong authValue counts towards the TPM's lockout. */
#include "config.h"
#include "p11/store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>
#include "secmem.h"

#define TPM_SECRET_LEN 32

static const char auth_info[] = "offpass-p11 tpm2 auth v1";
static const char kek_info[] = "offpass-p11 tpm2 kek v1";

typedef struct tpm_ctx {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR primary;
	ESYS_TR session;
	TPM2B_NAME *primary_name;
} tpm_ctx_t;

/* ---- Configuration ------------------------------------------------------ */

store_tpm_mode_t store_tpm_mode(void)
{
	const char *env = getenv("OFFPASS_P11_TPM");

	if (env != NULL && strcmp(env, "off") == 0)
		return STORE_TPM_OFF;
	if (env != NULL && strcmp(env, "on") == 0)
		return STORE_TPM_ON;
	return STORE_TPM_AUTO;
}

static const char *tcti_conf(void)
{
	const char *env = getenv("OFFPASS_P11_TCTI");

	return env != NULL && *env != '\0' ? env : NULL;
}

/* ---- Errors --------------------------------------------------------------- */

/* The TPM's own response code without the handle/session/parameter number. */
static TSS2_RC rc_base(TSS2_RC rc)
{
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
		return rc;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3fu);
	return rc & 0xfffu;
}

static bool rc_is(TSS2_RC rc, TSS2_RC base)
{
	return rc_base(rc) == base;
}

static CK_RV tpm_fail(token_store_t *s, const char *what, TSS2_RC rc)
{
	return store_fail(s, CKR_DEVICE_ERROR, "TPM: %s: %s", what, Tss2_RC_Decode(rc));
}

/* ---- One operation at a time ---------------------------------------------- */

/* Without a resource manager (a simulator's socket, /dev/tpm0) two
 * processes' operations would interleave on a TPM with room for only a few
 * objects, or find the device busy: this user's processes take turns
 * through an advisory lock, $XDG_RUNTIME_DIR/offpass-tpm.lock or else
 * /tmp/offpass-tpm-UID.lock (refused when another user owns it: then
 * without the lock). A lock that stays taken for TPM_LOCK_WAIT_MS (a hung
 * peer) is given up on, not waited for forever. The kernel drops it when
 * a holder dies. */
#define TPM_LOCK_WAIT_MS 10000

static int tpm_lock(void)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	char path[256];
	struct stat st;
	int fd, n;

	if (run != NULL && run[0] == '/')
		n = snprintf(path, sizeof(path), "%s/offpass-tpm.lock", run);
	else
		n = snprintf(path, sizeof(path), "/tmp/offpass-tpm-%lu.lock", (unsigned long)getuid());
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_uid != getuid() || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 5) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= TPM_LOCK_WAIT_MS) {
			close(fd);
			return -1;
		}
		usleep(5000);
	}
	return fd;
}

static void tpm_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* ---- Connection ----------------------------------------------------------- */

static void tpm_close(tpm_ctx_t *c)
{
	if (c->esys != NULL) {
		if (c->session != ESYS_TR_NONE)
			(void)Esys_FlushContext(c->esys, c->session);
		if (c->primary != ESYS_TR_NONE)
			(void)Esys_FlushContext(c->esys, c->primary);
		Esys_Finalize(&c->esys);
	}
	Esys_Free(c->primary_name);
	if (c->tcti != NULL)
		Tss2_TctiLdr_Finalize(&c->tcti);
	c->primary_name = NULL;
	c->primary = c->session = ESYS_TR_NONE;
}

static CK_RV tpm_connect(token_store_t *s, tpm_ctx_t *c)
{
	const char *conf = tcti_conf();
	TSS2_RC rc;

	memset(c, 0, sizeof(*c));
	c->primary = c->session = ESYS_TR_NONE;
	rc = Tss2_TctiLdr_Initialize(conf, &c->tcti);
	if (rc != TSS2_RC_SUCCESS)
		return store_fail(s, CKR_DEVICE_ERROR, "no TPM reachable (TCTI %s): %s",
				  conf != NULL ? conf : "default", Tss2_RC_Decode(rc));
	rc = Esys_Initialize(&c->esys, c->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		c->esys = NULL;
		tpm_close(c);
		return tpm_fail(s, "cannot initialise ESAPI", rc);
	}
	return CKR_OK;
}

/* Without a resource manager (a simulator's socket, /dev/tpm0) a process
 * killed mid-operation leaves its objects and sessions loaded, and the TPM
 * has room for only a few. When the TPM says it is full, flush what is
 * loaded of kind first (transient objects or sessions), except keep, and
 * let the caller try once more. Under the kernel's resource manager
 * (/dev/tpmrm0) the TPM is never full of another process's handles, and a
 * process sees only its own. */
static void flush_stale(tpm_ctx_t *c, TPM2_HANDLE first, ESYS_TR keep)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_SYS_CONTEXT *sys = NULL;
	TPM2_HANDLE keep_handle = 0;
	TPMI_YES_NO more;

	if (keep != ESYS_TR_NONE && Esys_TR_GetTpmHandle(c->esys, keep, &keep_handle) != TSS2_RC_SUCCESS)
		return;
	if (Esys_GetCapability(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
			       first, TPM2_MAX_CAP_HANDLES, &more, &cap) != TSS2_RC_SUCCESS ||
	    Esys_GetSysContext(c->esys, &sys) != TSS2_RC_SUCCESS)
		goto out;
	for (UINT32 i = 0; i < cap->data.handles.count; i++) {
		TPM2_HANDLE h = cap->data.handles.handle[i];

		if (h != keep_handle && (h >> TPM2_HR_SHIFT) == (first >> TPM2_HR_SHIFT))
			(void)Tss2_Sys_FlushContext(sys, h);
	}
out:
	Esys_Free(cap);
}

static bool rc_full(TSS2_RC rc)
{
	return rc_is(rc, TPM2_RC_OBJECT_MEMORY) || rc_is(rc, TPM2_RC_SESSION_MEMORY) ||
	       rc_is(rc, TPM2_RC_OBJECT_HANDLES) || rc_is(rc, TPM2_RC_SESSION_HANDLES);
}

/* A TPM command that needs a free object or session slot. */
typedef TSS2_RC (*tpm_op_fn)(tpm_ctx_t *c, void *arg);

/* Without a resource manager, a full TPM may be another user's process in
 * the middle of its operation (this user's are kept out by the TPM lock),
 * which frees its slots within milliseconds: wait for it (about 0.3 s in
 * all, backing off) before deciding that what fills the TPM was left by a
 * killed process and flushing it. */
#define ROOM_WAITS 6
static TSS2_RC with_room(tpm_ctx_t *c, tpm_op_fn op, void *arg, bool sessions, ESYS_TR keep)
{
	TSS2_RC rc = op(c, arg);

	for (unsigned i = 0; rc_full(rc) && i < ROOM_WAITS; i++) {
		usleep(10000u << (i < 4 ? i : 4));
		rc = op(c, arg);
	}
	if (!rc_full(rc))
		return rc;
	if (sessions) {
		flush_stale(c, TPM2_LOADED_SESSION_FIRST, ESYS_TR_NONE);
		flush_stale(c, TPM2_ACTIVE_SESSION_FIRST, ESYS_TR_NONE);
	} else {
		flush_stale(c, TPM2_TRANSIENT_FIRST, keep);
	}
	return op(c, arg);
}

/* The TCG storage root key template, ECC NIST P-256 with AES-128-CFB (TCG
 * TPM v2.0 Provisioning Guidance, 7.5; the template systemd and
 * tpm2-pkcs11 recreate), with an empty authValue and unique field. */
static const TPM2B_PUBLIC srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
				    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				    TPMA_OBJECT_NODA,
		.parameters.eccDetail = {
			.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				       .mode.aes = TPM2_ALG_CFB },
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

static TSS2_RC create_primary(tpm_ctx_t *c, void *unused)
{
	const TPM2B_SENSITIVE_CREATE in = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };

	return Esys_CreatePrimary(c->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				  &in, &srk_template, &outside, &pcrs, &c->primary, NULL, NULL, NULL, NULL);
}

static TSS2_RC start_session(tpm_ctx_t *c, void *unused)
{
	const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };

	return Esys_StartAuthSession(c->esys, c->primary, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				     ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &c->session);
}

/* Connect, recreate the storage key and start the salted session. */
static CK_RV tpm_open(token_store_t *s, tpm_ctx_t *c)
{
	CK_RV rv = tpm_connect(s, c);
	TSS2_RC rc;

	if (rv != CKR_OK)
		return rv;
	rc = with_room(c, create_primary, NULL, false, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		c->primary = ESYS_TR_NONE;
		rv = tpm_fail(s, rc_is(rc, TPM2_RC_BAD_AUTH) || rc_is(rc, TPM2_RC_AUTH_FAIL)
			      ? "cannot create the storage key (the owner hierarchy has a password)"
			      : "cannot create the storage key", rc);
		goto out;
	}
	rc = Esys_TR_GetName(c->esys, c->primary, &c->primary_name);
	if (rc != TSS2_RC_SUCCESS) {
		rv = tpm_fail(s, "cannot name the storage key", rc);
		goto out;
	}
	rc = with_room(c, start_session, NULL, true, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		c->session = ESYS_TR_NONE;
		rv = tpm_fail(s, "cannot start a session", rc);
	}
out:
	if (rv != CKR_OK)
		tpm_close(c);
	return rv;
}

static TSS2_RC session_attrs(tpm_ctx_t *c, TPMA_SESSION attrs)
{
	return Esys_TRSess_SetAttributes(c->esys, c->session, attrs | TPMA_SESSION_CONTINUESESSION, 0xff);
}

/* ---- Key derivation ------------------------------------------------------- */

static CK_RV hkdf(const unsigned char *ikm, size_t ikm_len, const char *info, unsigned char *out, size_t len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
		OSSL_PARAM_construct_end(),
	};
	CK_RV rv = kctx != NULL && EVP_KDF_derive(kctx, out, len, params) == 1 ? CKR_OK : CKR_GENERAL_ERROR;

	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rv;
}

/* The sealed object's authValue: a one-way function of scrypt(PIN), so the
 * TPM (and the bus) never see the PIN or the scrypt output itself. */
static CK_RV derive_auth(const unsigned char *kek, TPM2B_AUTH *auth)
{
	auth->size = 32;
	return hkdf(kek, STORE_KEY_LEN, auth_info, auth->buffer, auth->size);
}

/* kek = HKDF(kek || secret): neither the PIN nor the chip alone suffices. */
static CK_RV derive_kek(unsigned char *kek, const unsigned char *secret)
{
	unsigned char *ikm = secmem_alloc(STORE_KEY_LEN + TPM_SECRET_LEN);
	CK_RV rv = CKR_HOST_MEMORY;

	if (ikm == NULL)
		return rv;
	memcpy(ikm, kek, STORE_KEY_LEN);
	memcpy(ikm + STORE_KEY_LEN, secret, TPM_SECRET_LEN);
	rv = hkdf(ikm, STORE_KEY_LEN + TPM_SECRET_LEN, kek_info, kek, STORE_KEY_LEN);
	secmem_free(ikm, STORE_KEY_LEN + TPM_SECRET_LEN);
	return rv;
}

/* ---- The blob ------------------------------------------------------------- */

static CK_RV blob_pack(token_store_t *s, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		       const TPM2B_NAME *parent, tpm_blob_t *blob)
{
	size_t off = 0;

	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, blob->data, sizeof(blob->data), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Marshal(priv, blob->data, sizeof(blob->data), &off) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_NAME_Marshal(parent, blob->data, sizeof(blob->data), &off) != TSS2_RC_SUCCESS)
		return store_fail(s, CKR_DEVICE_ERROR, "TPM: the sealed object does not fit");
	blob->len = off;
	return CKR_OK;
}

static CK_RV blob_unpack(token_store_t *s, const tpm_blob_t *blob, TPM2B_PUBLIC *pub,
			 TPM2B_PRIVATE *priv, TPM2B_NAME *parent)
{
	size_t off = 0;

	memset(pub, 0, sizeof(*pub));
	memset(priv, 0, sizeof(*priv));
	memset(parent, 0, sizeof(*parent));
	if (blob->len > sizeof(blob->data) ||
	    Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob->data, blob->len, &off, pub) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob->data, blob->len, &off, priv) != TSS2_RC_SUCCESS ||
	    Tss2_MU_TPM2B_NAME_Unmarshal(blob->data, blob->len, &off, parent) != TSS2_RC_SUCCESS ||
	    off != blob->len)
		return store_fail(s, CKR_DEVICE_ERROR, "damaged token file: invalid TPM sealed object");
	return CKR_OK;
}

static bool same_name(const TPM2B_NAME *a, const TPM2B_NAME *b)
{
	return a->size == b->size && a->size <= sizeof(a->name) && memcmp(a->name, b->name, a->size) == 0;
}

/* ---- Seal and unseal ------------------------------------------------------ */

/* The sealed data object: no noDA (wrong authValues count towards the
 * lockout), bound to this TPM and this parent, opened with its authValue
 * (no policy: the PIN is the only condition). */
static void sealed_template(TPM2B_PUBLIC *pub)
{
	memset(pub, 0, sizeof(*pub));
	pub->publicArea.type = TPM2_ALG_KEYEDHASH;
	pub->publicArea.nameAlg = TPM2_ALG_SHA256;
	pub->publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					   TPMA_OBJECT_USERWITHAUTH;
	pub->publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
}

static CK_RV seal_secret(token_store_t *s, tpm_ctx_t *c, const TPM2B_AUTH *auth,
			 const unsigned char *secret, tpm_blob_t *blob)
{
	TPM2B_SENSITIVE_CREATE *in = secmem_alloc(sizeof(*in));
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PUBLIC tmpl;
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TSS2_RC rc;
	CK_RV rv;

	if (in == NULL)
		return store_fail(s, CKR_HOST_MEMORY, "out of memory");
	in->sensitive.userAuth = *auth;
	in->sensitive.data.size = TPM_SECRET_LEN;
	memcpy(in->sensitive.data.buffer, secret, TPM_SECRET_LEN);
	sealed_template(&tmpl);
	/* decrypt: the sensitive part (authValue and secret) goes encrypted. */
	rc = session_attrs(c, TPMA_SESSION_DECRYPT);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Create(c->esys, c->primary, c->session, ESYS_TR_NONE, ESYS_TR_NONE, in, &tmpl,
				 &outside, &pcrs, &priv, &pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS)
		rv = tpm_fail(s, "cannot seal the token secret", rc);
	else
		rv = blob_pack(s, pub, priv, c->primary_name, blob);
	secmem_free(in, sizeof(*in));
	Esys_Free(priv);
	Esys_Free(pub);
	return rv;
}

typedef struct load_args {
	const TPM2B_PRIVATE *priv;
	const TPM2B_PUBLIC *pub;
	ESYS_TR *obj;
} load_args_t;

static TSS2_RC load_once(tpm_ctx_t *c, void *arg)
{
	const load_args_t *a = arg;

	return Esys_Load(c->esys, c->primary, c->session, ESYS_TR_NONE, ESYS_TR_NONE, a->priv, a->pub, a->obj);
}

static TSS2_RC load_sealed(tpm_ctx_t *c, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub, ESYS_TR *obj)
{
	load_args_t a = { priv, pub, obj };
	TSS2_RC rc = session_attrs(c, 0);

	return rc == TSS2_RC_SUCCESS ? with_room(c, load_once, &a, false, c->primary) : rc;
}

static CK_RV unseal_rv(token_store_t *s, TSS2_RC rc)
{
	if (rc_is(rc, TPM2_RC_AUTH_FAIL) || rc_is(rc, TPM2_RC_BAD_AUTH))
		return store_fail(s, CKR_PIN_INCORRECT, "incorrect PIN (the TPM counted it)");
	if (rc_is(rc, TPM2_RC_LOCKOUT))
		return store_fail(s, CKR_PIN_LOCKED,
				  "the TPM is in dictionary-attack lockout: wait for its recovery time");
	return tpm_fail(s, "cannot unseal the token secret", rc);
}

static CK_RV unseal_secret(token_store_t *s, tpm_ctx_t *c, const TPM2B_AUTH *auth,
			   const tpm_blob_t *blob, unsigned char *secret, bool *tried)
{
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
	TPM2B_NAME parent;
	TPM2B_SENSITIVE_DATA *out = NULL;
	ESYS_TR obj = ESYS_TR_NONE;
	CK_RV rv = blob_unpack(s, blob, &pub, &priv, &parent);
	TSS2_RC rc;

	if (rv != CKR_OK)
		return rv;
	if (!same_name(&parent, c->primary_name))
		return store_fail(s, CKR_DEVICE_ERROR, "the token is bound to another TPM"
				  " (this TPM's storage key is not the one it was sealed under)");
	rc = load_sealed(c, &priv, &pub, &obj);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(s, "cannot load the sealed token secret", rc);
	/* encrypt: the secret comes back encrypted. */
	rc = Esys_TR_SetAuth(c->esys, obj, auth);
	if (rc == TSS2_RC_SUCCESS)
		rc = session_attrs(c, TPMA_SESSION_ENCRYPT);
	if (rc == TSS2_RC_SUCCESS) {
		*tried = true;
		rc = Esys_Unseal(c->esys, obj, c->session, ESYS_TR_NONE, ESYS_TR_NONE, &out);
	}
	if (rc != TSS2_RC_SUCCESS)
		rv = unseal_rv(s, rc);
	else if (out->size != TPM_SECRET_LEN)
		rv = store_fail(s, CKR_DEVICE_ERROR, "TPM: the sealed token secret has the wrong size");
	else
		memcpy(secret, out->buffer, TPM_SECRET_LEN);
	if (out != NULL) {
		secmem_wipe(out, sizeof(*out));
		Esys_Free(out);
	}
	(void)Esys_FlushContext(c->esys, obj);
	return rv;
}

CK_RV store_tpm_seal_kek(token_store_t *s, unsigned char *kek, tpm_blob_t *blob)
{
	unsigned char *secret = secmem_alloc(TPM_SECRET_LEN);
	TPM2B_AUTH *auth = secmem_alloc(sizeof(*auth));
	tpm_ctx_t c;
	int lock;
	CK_RV rv = CKR_HOST_MEMORY;

	if (secret == NULL || auth == NULL)
		goto out;
	rv = CKR_GENERAL_ERROR;
	if (RAND_bytes(secret, TPM_SECRET_LEN) != 1 || derive_auth(kek, auth) != CKR_OK)
		goto out;
	lock = tpm_lock();
	rv = tpm_open(s, &c);
	if (rv == CKR_OK) {
		rv = seal_secret(s, &c, auth, secret, blob);
		tpm_close(&c);
	}
	tpm_unlock(lock);
	if (rv == CKR_OK)
		rv = derive_kek(kek, secret);
out:
	if (rv == CKR_HOST_MEMORY || rv == CKR_GENERAL_ERROR)
		(void)store_fail(s, rv, "cannot derive the TPM-bound key");
	secmem_free(secret, TPM_SECRET_LEN);
	secmem_free(auth, sizeof(*auth));
	return rv;
}

CK_RV store_tpm_unseal_kek(token_store_t *s, unsigned char *kek, const tpm_blob_t *blob, bool *tried)
{
	unsigned char *secret = secmem_alloc(TPM_SECRET_LEN);
	TPM2B_AUTH *auth = secmem_alloc(sizeof(*auth));
	tpm_ctx_t c;
	int lock;
	CK_RV rv = CKR_HOST_MEMORY;

	*tried = false;
	if (secret == NULL || auth == NULL)
		goto out;
	rv = derive_auth(kek, auth);
	if (rv != CKR_OK)
		goto out;
	lock = tpm_lock();
	rv = tpm_open(s, &c);
	if (rv == CKR_OK) {
		rv = unseal_secret(s, &c, auth, blob, secret, tried);
		tpm_close(&c);
	}
	tpm_unlock(lock);
	if (rv == CKR_OK)
		rv = derive_kek(kek, secret);
out:
	if (rv == CKR_HOST_MEMORY || rv == CKR_GENERAL_ERROR)
		(void)store_fail(s, rv, "cannot derive the TPM-bound key");
	secmem_free(secret, TPM_SECRET_LEN);
	secmem_free(auth, sizeof(*auth));
	return rv;
}

/* ---- Presence ------------------------------------------------------------- */

static bool tpm_answers(void)
{
	token_store_t probe = { 0 };
	TPM2B_DIGEST *rnd = NULL;
	tpm_ctx_t c;
	int lock;
	bool ok;

	probe.path = (char *)"TPM probe";
	lock = tpm_lock();
	ok = tpm_connect(&probe, &c) == CKR_OK;
	if (ok) {
		ok = Esys_GetRandom(c.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, 1, &rnd) ==
		     TSS2_RC_SUCCESS;
		Esys_Free(rnd);
		tpm_close(&c);
	}
	tpm_unlock(lock);
	return ok;
}

bool store_tpm_wanted_for_new(void)
{
	switch (store_tpm_mode()) {
	case STORE_TPM_OFF:
		return false;
	case STORE_TPM_ON:
		return true;
	case STORE_TPM_AUTO:
		break;
	}
	/* Only look for a TPM where one is configured or visible: tctildr's
	 * default search would otherwise log its failures on every token
	 * creation on machines without one. */
	if (tcti_conf() == NULL && access("/dev/tpmrm0", R_OK | W_OK) != 0 &&
	    access("/dev/tpm0", R_OK | W_OK) != 0)
		return false;
	return tpm_answers();
}
