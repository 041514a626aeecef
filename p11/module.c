/* module.c - the module's one state, its life cycle (C_Initialize,
 * C_Finalize, fork), and the function tables it exports. */
#include "config.h"
#include "p11/module.h"
#include "p11/lock.h"
#include "p11/session.h"
#include "p11/token.h"
#include "p11/crypto/crypto.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODULE_DIR_ENV "OFFPASS_P11_DIR"

static struct {
	bool initialized;    /* C_Initialize has run (in this process or a parent) */
	p11_mutex_t *lock;
	CK_ULONG next_handle;
} module;

/* Fork (the v3.0 fork-tolerant semantics that CKF_INTERFACE_FORK_SAFE
 * promises): a forked child keeps its own copy of the sessions, the login
 * state, the operations in progress and the object handles, and goes on
 * using them without calling C_Initialize. For that copy to be consistent,
 * the prepare handler takes the session gate (so no session is half-way
 * opened or closed), every session's mutex and the module lock before
 * fork() (so no other thread is half-way through a change), and the
 * parent and child handlers release them; the child, which has only the
 * forking thread, can then take them again. A SQLite connection must not
 * be used across fork(), so the child marks its token stores for reopening,
 * done at its first module call (reopen_pending). A child that calls
 * C_Initialize anyway (as v2.40 tells it to) gets a fresh module: the
 * inherited state is freed and the call succeeds. Registered once per load
 * of the module (glibc drops a dlclose'd object's handlers, and a new load
 * runs the pthread_once again); a child's children inherit the handlers. */
static bool inherited;      /* this process is a fork of the one that initialised */
static bool reopen_pending; /* the child's token stores still use the parent's connections */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static bool atfork_registered;

static void on_fork_prepare(void)
{
	if (module.initialized)
		session_fork_hold();
}

static void on_fork_parent(void)
{
	if (module.initialized)
		session_fork_release();
}

static void on_fork_child(void)
{
	if (!module.initialized)
		return;
	session_fork_release();
	session_keys_forked();
	inherited = true;
	reopen_pending = true;
}

static void register_atfork(void)
{
	atfork_registered = pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child) == 0;
}

CK_RV module_check(void)
{
	return module.initialized ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;
}

CK_RV module_enter(void)
{
	CK_RV rv = module_check();
	if (rv == CKR_OK)
		module_lock();
	return rv;
}

void module_leave(void)
{
	lock_release(module.lock);
}

void module_lock(void)
{
	lock_acquire(module.lock);
	/* The first call in a forked child that reaches the registry or the
	 * session table gives the child its own SQLite connections. */
	if (reopen_pending) {
		reopen_pending = false;
		registry_after_fork();
	}
}

void module_unlock(void)
{
	lock_release(module.lock);
}

CK_ULONG module_next_handle(void)
{
	return ++module.next_handle;
}

void module_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("offpass-p11: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The token directory: $OFFPASS_P11_DIR, which must exist, or
 * $XDG_DATA_HOME/offpass/tokens (~/.local/share/offpass/tokens), created
 * with mode 0700 when missing. */
static CK_RV token_dir(char *buf, size_t len)
{
	const char *env = getenv(MODULE_DIR_ENV);
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;

	if (env != NULL && env[0] != '\0') {
		n = snprintf(buf, len, "%s", env);
		return n > 0 && (size_t)n < len ? CKR_OK : CKR_GENERAL_ERROR;
	}
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, len, "%s/offpass", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, len, "%s/.local/share/offpass", home);
	else {
		module_log("no token directory: set %s (or HOME or XDG_DATA_HOME)", MODULE_DIR_ENV);
		return CKR_GENERAL_ERROR;
	}
	if (n <= 0 || (size_t)n + sizeof("/tokens") > len)
		return CKR_GENERAL_ERROR;
	/* Create the default path level by level (parents of XDG_DATA_HOME exist). */
	if (xdg == NULL || xdg[0] != '/') {
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s/.local", home);
		(void)mkdir(parent, 0700);
		snprintf(parent, sizeof(parent), "%s/.local/share", home);
		(void)mkdir(parent, 0700);
	}
	(void)mkdir(buf, 0700);
	strcat(buf, "/tokens");
	(void)mkdir(buf, 0700);
	return CKR_OK;
}

/* The directory with every symbolic link resolved (SQLite is told never
 * to follow one, so a token under a linked directory would not open). */
static CK_RV resolve_dir(char *dir, size_t len)
{
	char real[PATH_MAX];

	if (realpath(dir, real) == NULL) {
		module_log("token directory '%s': %s", dir, strerror(errno));
		return CKR_GENERAL_ERROR;
	}
	if (strlen(real) >= len)
		return CKR_GENERAL_ERROR;
	strcpy(dir, real);
	return CKR_OK;
}

static CK_RV check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		module_log("token directory '%s': %s", dir, strerror(errno));
		return CKR_GENERAL_ERROR;
	}
	if (!S_ISDIR(st.st_mode)) {
		module_log("token directory '%s': not a directory", dir);
		return CKR_GENERAL_ERROR;
	}
	if (access(dir, R_OK | W_OK | X_OK) != 0) {
		module_log("token directory '%s': %s", dir, strerror(errno));
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

static CK_RV initialize_impl(const CK_C_INITIALIZE_ARGS *args)
{
	char dir[PATH_MAX];
	CK_RV rv;

	/* Without the handler a child could not tell the state is not its
	 * own; pthread_atfork fails only for want of memory. */
	if (pthread_once(&atfork_once, register_atfork) != 0 || !atfork_registered) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = lock_configure(args);
	if (rv != CKR_OK)
		goto out;
	rv = token_dir(dir, sizeof(dir));
	if (rv != CKR_OK)
		goto out;
	rv = check_dir(dir);
	if (rv == CKR_OK)
		rv = resolve_dir(dir, sizeof(dir));
	if (rv != CKR_OK)
		goto out;
	rv = lock_new(&module.lock);
	if (rv != CKR_OK)
		goto out;
	rv = session_gate_init();
	if (rv == CKR_OK)
		rv = registry_open(dir);
	if (rv != CKR_OK) {
		session_gate_free();
		lock_free(module.lock);
		module.lock = NULL;
		goto out;
	}
	module.initialized = true;
out:
	return rv;
}

/* Free everything C_Initialize built. No other thread may be inside the
 * module (C_Finalize's rule; in a forked child there is no other thread). */
static void finalize_state(void)
{
	session_table_clear();
	registry_close();
	crypto_release();
	session_gate_free();
	lock_free(module.lock);
	memset(&module, 0, sizeof(module));
	inherited = false;
	reopen_pending = false;
}

CK_RV C_Initialize(CK_VOID_PTR init_args)
{
	/* A forked child that initialises starts over (v2.40 5.4: "each
	 * process must call C_Initialize"); the inherited state is its own
	 * copy, consistent (see on_fork_prepare), so it is freed, not leaked. */
	if (module.initialized && inherited)
		finalize_state();
	if (module.initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	memset(&module, 0, sizeof(module));
	return initialize_impl(init_args);
}

CK_RV C_Finalize(CK_VOID_PTR reserved)
{
	CK_RV rv = module_check();

	if (rv == CKR_OK && reserved != NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK)
		finalize_state();
	return rv;
}

static void blank_copy(CK_UTF8CHAR *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	memset(dst, ' ', len);
	memcpy(dst, src, n < len ? n : len);
}

CK_RV C_GetInfo(CK_INFO_PTR info)
{
	CK_RV rv = module_check();

	if (rv == CKR_OK && info == NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK) {
		memset(info, 0, sizeof(*info));
		info->cryptokiVersion.major = 2;
		info->cryptokiVersion.minor = 40;
		blank_copy(info->manufacturerID, sizeof(info->manufacturerID), "offpass");
		blank_copy(info->libraryDescription, sizeof(info->libraryDescription),
			   "offpass PKCS#11 soft token");
		info->libraryVersion.major = 0;
		info->libraryVersion.minor = 1;
	}
	return rv;
}
