/* committer.h - grouped commits: one thread owns an issuer handle (its
 * ledger connection and token session) and runs the ledger units that
 * many requests queue in ONE transaction, each unit inside a savepoint,
 * with one COMMIT (one fsync) for the group.
 *
 * A unit that fails is rolled back to its savepoint alone; the others of
 * the group keep their changes. A unit's caller is woken only once the
 * COMMIT of its group has returned (durable: synchronous=FULL), never
 * before; when the COMMIT fails every unit of the group fails, or the
 * whole group runs again when the ledger says the failure was a
 * concurrent transaction's (ofp_ledger_retryable). */
#ifndef OFFPASS_ISSUER_COMMITTER_H
#define OFFPASS_ISSUER_COMMITTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "compiler.h"
#include "issuer/issuer.h"

#define OFP_COMMITTER_GROUP_MAX 64
#define OFP_COMMITTER_ERR_LEN 512

typedef struct ofp_committer ofp_committer_t;

/* A unit's work, inside the group's transaction on the committer's
 * handle (whose clock is set to the unit's now): the issuer functions
 * with opts->in_transaction. It may run more than once (a retried
 * group): it must write only into its own arg. */
typedef ofp_issuer_rc_t (*ofp_commit_fn)(ofp_issuer_t *iss, void *arg);

typedef struct ofp_commit_unit {
	ofp_commit_fn fn;
	void *arg;
	uint32_t now;
	/* Run fn alone, between two groups and outside any transaction: fn
	 * makes its own (a settlement, ofp_issuer_settle). The process's
	 * writes stay on one thread, so they never wait for one another in
	 * SQLite's busy handler (which sleeps). */
	bool alone;
	/* The units of a group run in ascending order of this key, the
	 * unit's holder id (zero: none): an issuance locks its holder's
	 * account (PostgreSQL), and transactions that lock accounts in one
	 * order cannot deadlock (docs/ISSUER.md 9). */
	uint8_t order[OFP_ID_LEN];
	/* Filled in once the group committed (or failed). */
	ofp_issuer_rc_t rc;
	char err[OFP_COMMITTER_ERR_LEN]; /* ofp_issuer_error() of a failed unit */
	/* The committer's. */
	struct ofp_commit_unit *next;
	bool done;
	pthread_cond_t wake; /* done was set: this unit's waiter alone */
} ofp_commit_unit_t;

typedef struct ofp_committer_stats {
	uint64_t groups;   /* transactions committed */
	uint64_t units;	   /* units run (a retried group counts again) */
	uint64_t failed;   /* units rolled back to their savepoint */
	uint64_t retries;  /* groups run again */
	uint32_t largest;  /* most units in one group */
} ofp_committer_stats_t;

/* Start the committer thread over iss (opened and unlocked; the
 * committer uses it alone from now on, the caller still owns it and
 * closes it after ofp_committer_free). group_max: 1..OFP_COMMITTER_GROUP_MAX
 * units per transaction. 0, or -errno. */
int ofp_committer_new(ofp_issuer_t *iss, unsigned group_max, ofp_committer_t **out) OFP_WUR;
/* Run every queued unit, then stop the thread and free. */
void ofp_committer_free(ofp_committer_t *c);
/* Queue u and wait until its group has committed: u->rc and u->err say
 * how it went (OK only when its changes are durable). */
ofp_issuer_rc_t ofp_committer_run(ofp_committer_t *c, ofp_commit_unit_t *u);
void ofp_committer_stats(ofp_committer_t *c, ofp_committer_stats_t *out);
/* Units waiting for the next group (not the one running). */
unsigned ofp_committer_queued(ofp_committer_t *c);

#endif
