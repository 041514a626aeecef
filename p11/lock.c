/* lock.c - the three locking models of PKCS#11 v2.40 section 5.4. */
#include "config.h"
#include "p11/lock.h"

#include <pthread.h>
#include <stdlib.h>

typedef enum { LOCK_OS, LOCK_APP } lock_model_t;

static struct {
	lock_model_t model;
	CK_C_INITIALIZE_ARGS app; /* the callbacks, for LOCK_APP */
} lock_cfg;

struct p11_mutex {
	pthread_mutex_t os;
	void *app;
};

CK_RV lock_configure(const CK_C_INITIALIZE_ARGS *args)
{
	lock_cfg.model = LOCK_OS;
	if (args == NULL)
		return CKR_OK; /* single-threaded promise; OS locks are harmless */
	if (args->pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	int given = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL) +
		    (args->LockMutex != NULL) + (args->UnlockMutex != NULL);
	if (given != 0 && given != 4)
		return CKR_ARGUMENTS_BAD;
	/* With OS locking allowed we prefer it; otherwise the application's
	 * callbacks; with neither, the application uses no threads. Every
	 * combination is therefore satisfiable and CKR_CANT_LOCK never arises. */
	if (!(args->flags & CKF_OS_LOCKING_OK) && given == 4) {
		lock_cfg.model = LOCK_APP;
		lock_cfg.app = *args;
	}
	return CKR_OK;
}

CK_RV lock_new(p11_mutex_t **out)
{
	p11_mutex_t *m = calloc(1, sizeof(*m));
	CK_RV rv = CKR_HOST_MEMORY;

	if (m == NULL)
		goto out;
	if (lock_cfg.model == LOCK_APP) {
		rv = lock_cfg.app.CreateMutex(&m->app);
	} else {
		rv = pthread_mutex_init(&m->os, NULL) == 0 ? CKR_OK : CKR_CANT_LOCK;
	}
out:
	if (rv != CKR_OK) {
		free(m);
		m = NULL;
	}
	*out = m;
	return rv;
}

void lock_free(p11_mutex_t *m)
{
	if (m == NULL)
		return;
	if (lock_cfg.model == LOCK_APP)
		(void)lock_cfg.app.DestroyMutex(m->app);
	else
		pthread_mutex_destroy(&m->os);
	free(m);
}

void lock_acquire(p11_mutex_t *m)
{
	if (lock_cfg.model == LOCK_APP)
		(void)lock_cfg.app.LockMutex(m->app);
	else
		pthread_mutex_lock(&m->os);
}

void lock_release(p11_mutex_t *m)
{
	if (lock_cfg.model == LOCK_APP)
		(void)lock_cfg.app.UnlockMutex(m->app);
	else
		pthread_mutex_unlock(&m->os);
}
