/* p11-stress.c - drive a PKCS#11 module the way the integration scripts
 * need to and nothing more: it dlopens the module by path, so it tests the
 * shipped .so (its exports, its C_Initialize) exactly as a client sees it.
 *
 *   p11-stress MODULE LABEL PIN stress N   N rounds (0: until killed) of: a
 *       P-256 key pair as token objects, sign and verify with it, relabel
 *       the private key, a self-checking data object (every other one
 *       destroyed again). Used for two writers at once and for SIGKILL.
 *   p11-stress MODULE LABEL PIN check      every object readable; every
 *       private key signs, its public key verifies and refuses a damaged
 *       signature; sensitive values refused; stress data objects intact.
 *       Prints "keypairs=K data=D orphans=O objects=N".
 *   p11-stress MODULE LABEL PIN wait       log in, print "ready", wait for
 *       a line on stdin, then check as above in the session opened before:
 *       changes other processes made meanwhile must be visible to it.
 *   p11-stress MODULE LABEL PIN fork       a forked child goes on with the
 *       parent's logged-in session without C_Initialize (fork-tolerant,
 *       CKF_INTERFACE_FORK_SAFE); C_Initialize then starts it afresh.
 *
 * Any unexpected return value ends the program with exit 1 and one line
 * naming the call and the CK_RV. */
#include "config.h"
#include "common/pkcs11.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DATA_PREFIX "stress-data-"
#define SEED_LEN 32
#define DIGEST_LEN 32

static CK_FUNCTION_LIST_PTR p11;
static const char *prog = "p11-stress";

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
	{ CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY" },
	{ CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID" },
	{ CKR_SIGNATURE_LEN_RANGE, "CKR_SIGNATURE_LEN_RANGE" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED" },
};

static const char *rv_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	return "CKR_?";
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s[%ld]: ", prog, (long)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* Every call that must succeed goes through this. */
static void ok(const char *call, CK_RV rv)
{
	if (rv != CKR_OK)
		die("%s returned %s (0x%lx)", call, rv_name(rv), (unsigned long)rv);
}

static void expect(const char *call, CK_RV rv, CK_RV want)
{
	if (rv != want)
		die("%s returned %s (0x%lx), expected %s", call, rv_name(rv), (unsigned long)rv,
		    rv_name(want));
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

static void load(const char *path)
{
	CK_C_GetFunctionList get;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL), *sym;

	if (h == NULL)
		die("dlopen %s: %s", path, dlerror());
	sym = dlsym(h, "C_GetFunctionList");
	if (sym == NULL)
		die("%s exports no C_GetFunctionList", path);
	/* ISO C has no cast from object to function pointer; POSIX allows the copy. */
	memcpy(&get, &sym, sizeof(get));
	ok("C_GetFunctionList", get(&p11));
}

static void initialize(void)
{
	CK_C_INITIALIZE_ARGS args;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	ok("C_Initialize", p11->C_Initialize(&args));
}

/* The slot whose token has this label (blank padded to 32). */
static CK_SLOT_ID find_slot(const char *label)
{
	CK_SLOT_ID *slots, found = 0;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR want[32];
	CK_ULONG n = 0, i;
	size_t len = strlen(label);
	int hit = 0;

	if (len > sizeof(want))
		die("label too long");
	memset(want, ' ', sizeof(want));
	memcpy(want, label, len);
	ok("C_GetSlotList(NULL)", p11->C_GetSlotList(CK_TRUE, NULL, &n));
	slots = xmalloc(n * sizeof(*slots));
	ok("C_GetSlotList", p11->C_GetSlotList(CK_TRUE, slots, &n));
	for (i = 0; i < n && !hit; i++) {
		ok("C_GetTokenInfo", p11->C_GetTokenInfo(slots[i], &ti));
		if ((ti.flags & CKF_TOKEN_INITIALIZED) && memcmp(ti.label, want, sizeof(want)) == 0) {
			found = slots[i];
			hit = 1;
		}
	}
	free(slots);
	if (!hit)
		die("no token labelled '%s'", label);
	return found;
}

static CK_SESSION_HANDLE open_login(const char *label, const char *pin)
{
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot = find_slot(label);

	ok("C_OpenSession", p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
	ok("C_Login", p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
	return s;
}

/* One attribute as a fresh buffer, after the NULL-buffer size query. */
static CK_RV get_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t,
		      unsigned char **out, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { t, NULL, 0 };
	CK_RV rv = p11->C_GetAttributeValue(s, o, &a, 1);

	*out = NULL;
	*len = 0;
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		die("C_GetAttributeValue(0x%lx) size query: CK_UNAVAILABLE_INFORMATION with CKR_OK",
		    (unsigned long)t);
	a.pValue = xmalloc(a.ulValueLen);
	rv = p11->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

static CK_ULONG get_ulong(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t)
{
	CK_ULONG v = 0;
	CK_ATTRIBUTE a = { t, &v, sizeof(v) };

	ok("C_GetAttributeValue(ulong)", p11->C_GetAttributeValue(s, o, &a, 1));
	return v;
}

static CK_BBOOL get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = { t, &v, sizeof(v) };

	ok("C_GetAttributeValue(bool)", p11->C_GetAttributeValue(s, o, &a, 1));
	return v;
}

static void sha256(CK_SESSION_HANDLE s, const unsigned char *in, CK_ULONG len,
		   unsigned char out[DIGEST_LEN])
{
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_ULONG n = DIGEST_LEN;

	ok("C_DigestInit(CKM_SHA256)", p11->C_DigestInit(s, &m));
	ok("C_Digest", p11->C_Digest(s, (CK_BYTE_PTR)in, len, out, &n));
	if (n != DIGEST_LEN)
		die("C_Digest(CKM_SHA256) gave %lu bytes", (unsigned long)n);
}

/* Sign 32 random bytes with priv, verify with pub, and check that pub
 * refuses the signature with one bit flipped. */
static void sign_verify(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE priv,
			CK_OBJECT_HANDLE pub)
{
	CK_MECHANISM m = { mech, NULL, 0 };
	unsigned char data[32], *sig;
	CK_ULONG len = 0;

	ok("C_GenerateRandom", p11->C_GenerateRandom(s, data, sizeof(data)));
	ok("C_SignInit", p11->C_SignInit(s, &m, priv));
	ok("C_Sign(NULL)", p11->C_Sign(s, data, sizeof(data), NULL, &len));
	sig = xmalloc(len);
	ok("C_Sign", p11->C_Sign(s, data, sizeof(data), sig, &len));
	ok("C_VerifyInit", p11->C_VerifyInit(s, &m, pub));
	ok("C_Verify", p11->C_Verify(s, data, sizeof(data), sig, len));
	sig[len / 2] ^= 0x01;
	ok("C_VerifyInit", p11->C_VerifyInit(s, &m, pub));
	expect("C_Verify(damaged signature)", p11->C_Verify(s, data, sizeof(data), sig, len),
	       CKR_SIGNATURE_INVALID);
	free(sig);
}

/* ---- stress ---- */

static void gen_pair(CK_SESSION_HANDLE s, unsigned long round, CK_OBJECT_HANDLE *pub,
		     CK_OBJECT_HANDLE *priv)
{
	static CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE;
	char label[64];
	unsigned char id[16];
	int n = snprintf(label, sizeof(label), "stress-%ld-%lu", (long)getpid(), round);
	CK_ATTRIBUTE pub_t[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_EC_PARAMS, p256, sizeof(p256) },
		{ CKA_LABEL, label, (CK_ULONG)n },
		{ CKA_ID, id, sizeof(id) },
	};
	CK_ATTRIBUTE priv_t[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, label, (CK_ULONG)n },
		{ CKA_ID, id, sizeof(id) },
	};

	/* A random ID: pairs from any process and any run never collide. */
	ok("C_GenerateRandom", p11->C_GenerateRandom(s, id, sizeof(id)));
	ok("C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN)",
	   p11->C_GenerateKeyPair(s, &m, pub_t, sizeof(pub_t) / sizeof(pub_t[0]), priv_t,
				  sizeof(priv_t) / sizeof(priv_t[0]), pub, priv));
}

/* A data object whose value is a seed followed by SHA-256(seed): a torn or
 * mixed-up value shows. Private and public ones alternate, so both the
 * encrypted and the plain path are written. */
static CK_OBJECT_HANDLE make_data(CK_SESSION_HANDLE s, unsigned long round)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, priv = round % 4 < 2 ? CK_TRUE : CK_FALSE;
	unsigned char value[SEED_LEN + DIGEST_LEN];
	char label[64];
	int n = snprintf(label, sizeof(label), DATA_PREFIX "%ld-%lu", (long)getpid(), round);
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &priv, sizeof(priv) },
		{ CKA_LABEL, label, (CK_ULONG)n },
		{ CKA_VALUE, value, sizeof(value) },
	};
	CK_OBJECT_HANDLE o;

	ok("C_GenerateRandom", p11->C_GenerateRandom(s, value, SEED_LEN));
	sha256(s, value, SEED_LEN, value + SEED_LEN);
	ok("C_CreateObject(CKO_DATA)", p11->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]), &o));
	return o;
}

static void relabel(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, unsigned long round)
{
	char label[64];
	int n = snprintf(label, sizeof(label), "stress-%ld-%lu-used", (long)getpid(), round);
	CK_ATTRIBUTE a = { CKA_LABEL, label, (CK_ULONG)n };

	ok("C_SetAttributeValue(CKA_LABEL)", p11->C_SetAttributeValue(s, o, &a, 1));
}

static void stress(CK_SESSION_HANDLE s, unsigned long rounds)
{
	CK_OBJECT_HANDLE pub, priv, data, prev = CK_INVALID_HANDLE;
	unsigned long i;

	for (i = 0; rounds == 0 || i < rounds; i++) {
		gen_pair(s, i, &pub, &priv);
		sign_verify(s, CKM_ECDSA, priv, pub);
		relabel(s, priv, i);
		data = make_data(s, i);
		if (prev != CK_INVALID_HANDLE) {
			ok("C_DestroyObject(CKO_DATA)", p11->C_DestroyObject(s, prev));
			prev = CK_INVALID_HANDLE;
		} else {
			prev = data;
		}
	}
}

/* ---- check ---- */

typedef struct tally {
	unsigned long objects, pairs, data, orphans;
} tally_t;

static CK_OBJECT_HANDLE *all_objects(CK_SESSION_HANDLE s, CK_ULONG *count)
{
	CK_OBJECT_HANDLE *h = NULL;
	CK_ULONG n = 0, cap = 0, got;

	ok("C_FindObjectsInit", p11->C_FindObjectsInit(s, NULL, 0));
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			h = realloc(h, cap * sizeof(*h));
			if (h == NULL)
				die("out of memory");
		}
		ok("C_FindObjects", p11->C_FindObjects(s, h + n, cap - n, &got));
		n += got;
	} while (got > 0);
	ok("C_FindObjectsFinal", p11->C_FindObjectsFinal(s));
	*count = n;
	return h;
}

/* The public key with this CKA_ID, or CK_INVALID_HANDLE. */
static CK_OBJECT_HANDLE find_public(CK_SESSION_HANDLE s, const unsigned char *id, CK_ULONG len)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, len },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;

	ok("C_FindObjectsInit(public by CKA_ID)", p11->C_FindObjectsInit(s, t, 2));
	ok("C_FindObjects", p11->C_FindObjects(s, h, 2, &n));
	ok("C_FindObjectsFinal", p11->C_FindObjectsFinal(s));
	if (n > 1)
		die("two public keys share one CKA_ID");
	return n == 1 ? h[0] : CK_INVALID_HANDLE;
}

static void check_private(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, tally_t *t)
{
	CK_KEY_TYPE kt = get_ulong(s, o, CKA_KEY_TYPE);
	CK_ATTRIBUTE_TYPE secret = kt == CKK_RSA ? CKA_PRIVATE_EXPONENT : CKA_VALUE;
	CK_MECHANISM_TYPE mech;
	CK_OBJECT_HANDLE pub;
	unsigned char *id, *v;
	CK_ULONG id_len, v_len;

	switch (kt) {
	case CKK_EC:
		mech = CKM_ECDSA;
		break;
	case CKK_EC_EDWARDS:
		mech = CKM_EDDSA;
		break;
	case CKK_RSA:
		mech = CKM_SHA256_RSA_PKCS;
		break;
	default:
		die("private key of unexpected type 0x%lx", (unsigned long)kt);
	}
	if (get_bool(s, o, CKA_SENSITIVE) || !get_bool(s, o, CKA_EXTRACTABLE))
		expect("C_GetAttributeValue(private key secret)", get_attr(s, o, secret, &v, &v_len),
		       CKR_ATTRIBUTE_SENSITIVE);
	ok("C_GetAttributeValue(CKA_ID)", get_attr(s, o, CKA_ID, &id, &id_len));
	pub = find_public(s, id, id_len);
	free(id);
	if (pub == CK_INVALID_HANDLE)
		die("private key %lu has no public key", (unsigned long)o);
	sign_verify(s, mech, o, pub);
	t->pairs++;
}

static void check_public(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, tally_t *t)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = get_ulong(s, o, CKA_KEY_TYPE);
	unsigned char *id, *v;
	CK_ULONG id_len, v_len, n = 0;
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE q[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_ID, NULL, 0 } };

	ok("C_GetAttributeValue(public value)",
	   get_attr(s, o, kt == CKK_RSA ? CKA_MODULUS : CKA_EC_POINT, &v, &v_len));
	free(v);
	ok("C_GetAttributeValue(CKA_ID)", get_attr(s, o, CKA_ID, &id, &id_len));
	q[1].pValue = id;
	q[1].ulValueLen = id_len;
	ok("C_FindObjectsInit(private by CKA_ID)", p11->C_FindObjectsInit(s, q, 2));
	ok("C_FindObjects", p11->C_FindObjects(s, &h, 1, &n));
	ok("C_FindObjectsFinal", p11->C_FindObjectsFinal(s));
	free(id);
	/* A kill between the two halves of C_GenerateKeyPair may leave a
	 * public key alone; it is whole, so it is counted, not fatal. */
	if (n == 0)
		t->orphans++;
}

static void check_data(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, const unsigned char *label,
		       CK_ULONG label_len, tally_t *t)
{
	unsigned char *v, digest[DIGEST_LEN];
	CK_ULONG len;

	ok("C_GetAttributeValue(CKA_VALUE of data)", get_attr(s, o, CKA_VALUE, &v, &len));
	if (label_len >= strlen(DATA_PREFIX) && memcmp(label, DATA_PREFIX, strlen(DATA_PREFIX)) == 0) {
		if (len != SEED_LEN + DIGEST_LEN)
			die("data object '%.*s': %lu bytes", (int)label_len, label, (unsigned long)len);
		sha256(s, v, SEED_LEN, digest);
		if (memcmp(digest, v + SEED_LEN, DIGEST_LEN) != 0)
			die("data object '%.*s': value damaged", (int)label_len, label);
	}
	free(v);
	t->data++;
}

static void check_one(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, tally_t *t)
{
	CK_OBJECT_CLASS cls = get_ulong(s, o, CKA_CLASS);
	unsigned char *label;
	CK_ULONG label_len;

	(void)get_bool(s, o, CKA_TOKEN);
	ok("C_GetAttributeValue(CKA_LABEL)", get_attr(s, o, CKA_LABEL, &label, &label_len));
	switch (cls) {
	case CKO_PRIVATE_KEY:
		check_private(s, o, t);
		break;
	case CKO_PUBLIC_KEY:
		check_public(s, o, t);
		break;
	case CKO_DATA:
		check_data(s, o, label, label_len, t);
		break;
	default:
		break;
	}
	free(label);
	t->objects++;
}

static void check(CK_SESSION_HANDLE s)
{
	tally_t t = { 0, 0, 0, 0 };
	CK_OBJECT_HANDLE *h;
	CK_ULONG n, i;

	h = all_objects(s, &n);
	for (i = 0; i < n; i++)
		check_one(s, h[i], &t);
	free(h);
	printf("keypairs=%lu data=%lu orphans=%lu objects=%lu\n", t.pairs, t.data, t.orphans,
	       t.objects);
}

static void wait_then_check(CK_SESSION_HANDLE s)
{
	char line[16];

	printf("ready\n");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		die("no go line on stdin");
	check(s);
}

/* ---- fork ---- */

static void fork_child(CK_SESSION_HANDLE parent, const char *label, const char *pin)
{
	CK_SESSION_HANDLE s;

	check(parent);
	initialize();
	s = open_login(label, pin);
	check(s);
	ok("C_Finalize", p11->C_Finalize(NULL));
}

static void fork_test(CK_SESSION_HANDLE parent, const char *label, const char *pin)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		fork_child(parent, label, pin);
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("forked child failed");
}

int main(int argc, char **argv)
{
	CK_SESSION_HANDLE s;
	const char *mode;

	if (argc < 5)
		die("usage: %s MODULE LABEL PIN stress N | check | wait | fork", argv[0]);
	mode = argv[4];
	load(argv[1]);
	initialize();
	s = open_login(argv[2], argv[3]);
	if (strcmp(mode, "stress") == 0 && argc == 6)
		stress(s, strtoul(argv[5], NULL, 10));
	else if (strcmp(mode, "check") == 0)
		check(s);
	else if (strcmp(mode, "wait") == 0)
		wait_then_check(s);
	else if (strcmp(mode, "fork") == 0)
		fork_test(s, argv[2], argv[3]);
	else
		die("unknown mode '%s'", mode);
	ok("C_Logout", p11->C_Logout(s));
	ok("C_CloseSession", p11->C_CloseSession(s));
	ok("C_Finalize", p11->C_Finalize(NULL));
	return 0;
}
