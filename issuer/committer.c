/* committer.c - grouped commits over one issuer handle (committer.h). */
#include "config.h"
#include "issuer/committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GROUP_TRIES 5

struct ofp_committer {
	ofp_issuer_t *iss;
	unsigned group_max;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work; /* a unit was queued, or stop */
	ofp_commit_unit_t *head, *tail;
	bool stop;
	ofp_committer_stats_t stats;   /* under lock */
	ofp_committer_stats_t pending; /* the committer thread's, added to stats under lock */
};

static void unit_fail(ofp_commit_unit_t *u, ofp_issuer_rc_t rc, const char *why)
{
	u->rc = rc;
	snprintf(u->err, sizeof(u->err), "%s", why);
}

static void group_fail(ofp_commit_unit_t *g, ofp_issuer_rc_t rc, const char *why)
{
	for (ofp_commit_unit_t *u = g; u != NULL; u = u->next)
		unit_fail(u, rc, why);
}

/* One unit in its savepoint: kept (released) when it succeeded, undone
 * alone when it failed. -1 when the savepoint itself failed (the
 * transaction is then in an unknown state: the group is abandoned). */
static int run_unit(ofp_committer_t *c, ofp_commit_unit_t *u)
{
	ofp_ledger_t *l = ofp_issuer_ledger(c->iss);

	if (ofp_ledger_savepoint(l) != OFP_LEDGER_OK)
		return -1;
	ofp_issuer_set_now(c->iss, u->now);
	u->rc = u->fn(c->iss, u->arg);
	c->pending.units++;
	if (u->rc == OFP_ISSUER_OK) {
		u->err[0] = '\0';
		return ofp_ledger_release(l) == OFP_LEDGER_OK ? 0 : -1;
	}
	/* PostgreSQL refused it for a concurrent transaction: that dooms the
	 * whole transaction, not the unit: the group runs again. */
	if (ofp_ledger_retryable(l))
		return -1;
	unit_fail(u, u->rc, ofp_issuer_error(c->iss));
	c->pending.failed++;
	return ofp_ledger_rollback_to(l) == OFP_LEDGER_OK ? 0 : -1;
}

/* 0: committed (each unit's rc says how it went); 1: try the group
 * again; -1: failed (every unit failed). begun: the transaction is open
 * already (committer_main began it before taking the group). */
static int run_group_once(ofp_committer_t *c, ofp_commit_unit_t *g, bool begun)
{
	ofp_ledger_t *l = ofp_issuer_ledger(c->iss);
	char why[OFP_COMMITTER_ERR_LEN];

	if (!begun && ofp_ledger_begin_queued(l, OFP_LEDGER_QUEUE_ISSUANCE) != OFP_LEDGER_OK) {
		if (ofp_ledger_retryable(l))
			return 1;
		snprintf(why, sizeof(why), "the ledger could not begin: %s", ofp_ledger_error(l));
		group_fail(g, OFP_ISSUER_ERROR, why);
		return -1;
	}
	for (ofp_commit_unit_t *u = g; u != NULL; u = u->next) {
		if (run_unit(c, u) != 0) {
			bool again = ofp_ledger_retryable(l);
			snprintf(why, sizeof(why), "the ledger failed in a grouped commit: %s", ofp_ledger_error(l));
			ofp_ledger_rollback(l);
			if (again)
				return 1;
			group_fail(g, OFP_ISSUER_ERROR, why);
			return -1;
		}
	}
	if (ofp_ledger_commit(l) != OFP_LEDGER_OK) {
		bool again = ofp_ledger_retryable(l);
		snprintf(why, sizeof(why), "the ledger could not commit: %s; nothing issued", ofp_ledger_error(l));
		ofp_ledger_rollback(l);
		if (again)
			return 1;
		group_fail(g, OFP_ISSUER_ERROR, why);
		return -1;
	}
	c->pending.groups++;
	return 0;
}

/* A unit that makes its own transaction. */
static void run_alone(ofp_committer_t *c, ofp_commit_unit_t *u)
{
	ofp_issuer_set_now(c->iss, u->now);
	u->rc = u->fn(c->iss, u->arg);
	c->pending.units++;
	if (u->rc != OFP_ISSUER_OK) {
		unit_fail(u, u->rc, ofp_issuer_error(c->iss));
		c->pending.failed++;
	}
}

static void run_group(ofp_committer_t *c, ofp_commit_unit_t *g, bool begun)
{
	struct timespec pause = { 0, 2000000 };

	if (g->alone) {
		run_alone(c, g);
		return;
	}
	for (int tries = 0; tries < GROUP_TRIES; tries++) {
		if (tries > 0) {
			c->pending.retries++;
			nanosleep(&pause, NULL);
			pause.tv_nsec *= 2;
		}
		if (run_group_once(c, g, begun && tries == 0) <= 0)
			return;
	}
	group_fail(g, OFP_ISSUER_ERROR, "the ledger stayed busy: nothing issued, try again");
}

/* g in ascending order of the units' keys (insertion: a group is small;
 * stable, units of one holder keep their order). */
static ofp_commit_unit_t *sort_group(ofp_commit_unit_t *g)
{
	ofp_commit_unit_t *sorted = NULL, *next, **at;

	for (ofp_commit_unit_t *u = g; u != NULL; u = next) {
		next = u->next;
		at = &sorted;
		while (*at != NULL && memcmp((*at)->order, u->order, OFP_ID_LEN) <= 0)
			at = &(*at)->next;
		u->next = *at;
		*at = u;
	}
	return sorted;
}

/* Take up to group_max units off the queue (under the lock). */
static ofp_commit_unit_t *take_group(ofp_committer_t *c, unsigned *n)
{
	ofp_commit_unit_t *g = c->head, *last = NULL;

	/* A unit alone is a group of its own; a group ends before one. */
	*n = 0;
	for (ofp_commit_unit_t *u = g; u != NULL && *n < c->group_max; u = u->next) {
		if (*n > 0 && (u->alone || g->alone))
			break;
		last = u;
		(*n)++;
	}
	if (last != NULL) {
		c->head = last->next;
		if (c->head == NULL)
			c->tail = NULL;
		last->next = NULL;
	}
	return sort_group(g);
}

static void *committer_main(void *arg)
{
	ofp_committer_t *c = arg;
	ofp_commit_unit_t *g, *next;
	unsigned n;
	bool begun;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->head == NULL && !c->stop)
			pthread_cond_wait(&c->work, &c->lock);
		if (c->head == NULL)
			break;
		/* A group's transaction begins queued behind the other
		 * processes' groups (PostgreSQL); the units that arrive
		 * meanwhile join this group rather than wait for the next. */
		begun = false;
		if (!c->head->alone) {
			pthread_mutex_unlock(&c->lock);
			begun = ofp_ledger_begin_queued(ofp_issuer_ledger(c->iss), OFP_LEDGER_QUEUE_ISSUANCE) ==
				OFP_LEDGER_OK;
			pthread_mutex_lock(&c->lock);
		}
		g = take_group(c, &n);
		pthread_mutex_unlock(&c->lock);
		run_group(c, g, begun);
		pthread_mutex_lock(&c->lock);
		if (n > c->stats.largest)
			c->stats.largest = n;
		c->stats.groups += c->pending.groups;
		c->stats.units += c->pending.units;
		c->stats.failed += c->pending.failed;
		c->stats.retries += c->pending.retries;
		memset(&c->pending, 0, sizeof(c->pending));
		for (ofp_commit_unit_t *u = g; u != NULL; u = next) {
			next = u->next; /* u belongs to its waiter once done */
			u->next = NULL;
			u->done = true;
			pthread_cond_signal(&u->wake);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int ofp_committer_new(ofp_issuer_t *iss, unsigned group_max, ofp_committer_t **out)
{
	ofp_committer_t *c;
	int rc;

	*out = NULL;
	if (group_max == 0 || group_max > OFP_COMMITTER_GROUP_MAX)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->iss = iss;
	c->group_max = group_max;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->work, NULL);
	rc = pthread_create(&c->thread, NULL, committer_main, c);
	if (rc != 0) {
		pthread_cond_destroy(&c->work);
		pthread_mutex_destroy(&c->lock);
		free(c);
		return -rc;
	}
	*out = c;
	return 0;
}

void ofp_committer_free(ofp_committer_t *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->work);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->work);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

ofp_issuer_rc_t ofp_committer_run(ofp_committer_t *c, ofp_commit_unit_t *u)
{
	u->next = NULL;
	u->done = false;
	u->rc = OFP_ISSUER_ERROR;
	u->err[0] = '\0';
	pthread_mutex_lock(&c->lock);
	if (c->stop) {
		pthread_mutex_unlock(&c->lock);
		unit_fail(u, OFP_ISSUER_ERROR, "the issuer is stopping");
		return u->rc;
	}
	pthread_cond_init(&u->wake, NULL);
	if (c->tail != NULL)
		c->tail->next = u;
	else
		c->head = u;
	c->tail = u;
	pthread_cond_signal(&c->work);
	while (!u->done)
		pthread_cond_wait(&u->wake, &c->lock);
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&u->wake);
	return u->rc;
}

void ofp_committer_stats(ofp_committer_t *c, ofp_committer_stats_t *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}

unsigned ofp_committer_queued(ofp_committer_t *c)
{
	unsigned n = 0;

	pthread_mutex_lock(&c->lock);
	for (const ofp_commit_unit_t *u = c->head; u != NULL; u = u->next)
		n++;
	pthread_mutex_unlock(&c->lock);
	return n;
}
