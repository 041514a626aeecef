/* session.c - the session table: handles from the module counter, a table
 * kept sorted by handle (handles only grow, so appending keeps it sorted
 * and look-up is a binary search). */
#include "config.h"
#include "p11/session.h"
#include "p11/module.h"

#include <stdlib.h>
#include <string.h>

static struct {
	session_t **items;
	size_t count, cap;
} table;

static session_t **table_find(CK_SESSION_HANDLE h)
{
	size_t lo = 0, hi = table.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (table.items[mid]->handle == h)
			return &table.items[mid];
		if (table.items[mid]->handle < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void table_remove(session_t **slot)
{
	size_t i = (size_t)(slot - table.items);
	memmove(slot, slot + 1, (table.count - i - 1) * sizeof(*slot));
	table.count--;
}

static atomic_ulong key_epoch;

unsigned long session_key_epoch(void)
{
	return atomic_load(&key_epoch);
}

void session_keys_forked(void)
{
	atomic_fetch_add(&key_epoch, 1);
}

/* Free a spare taken out of its slot. */
static void spare_drop(session_t *s, op_slot_t which)
{
	crypto_op_free(atomic_exchange(&s->spare[which], NULL));
}

/* Keep op as the slot's spare. The epoch is read after publishing it, and
 * session_keys_retired bumps the epoch before it sweeps: so either the
 * sweep finds the spare, or this sees the new epoch and drops it itself. */
static void spare_keep(session_t *s, op_slot_t which, crypto_op_t *op, unsigned long epoch,
		       CK_OBJECT_HANDLE key)
{
	s->spare_of[which].epoch = epoch;
	s->spare_of[which].key = key;
	crypto_op_free(atomic_exchange(&s->spare[which], op));
	if (atomic_load(&key_epoch) != epoch)
		spare_drop(s, which);
}

crypto_op_t *session_spare_take(session_t *s, op_slot_t which, CK_OBJECT_HANDLE key, unsigned long *epoch)
{
	crypto_op_t *op;

	if (atomic_load_explicit(&s->spare[which], memory_order_relaxed) == NULL)
		return NULL;
	op = atomic_exchange(&s->spare[which], NULL);
	if (op != NULL && (s->spare_of[which].epoch != atomic_load(&key_epoch) || s->spare_of[which].key != key)) {
		crypto_op_free(op);
		op = NULL;
	}
	*epoch = s->spare_of[which].epoch;
	return op;
}

void session_keys_retired(void)
{
	atomic_fetch_add(&key_epoch, 1);
	for (size_t i = 0; i < table.count; i++)
		for (int k = 0; k < OP_COUNT; k++)
			spare_drop(table.items[i], (op_slot_t)k);
}

void session_op_end(session_t *s, op_slot_t which)
{
	crypto_op_t *op = s->ops[which].op;

	if (op != NULL && !s->ops[which].always_auth && crypto_op_keep(op))
		spare_keep(s, which, op, s->ops[which].key_epoch, s->ops[which].key);
	else
		crypto_op_free(op);
	memset(&s->ops[which], 0, sizeof(s->ops[which]));
}

/* End every operation and search, and drop the spares. */
static void session_ops_clear(session_t *s)
{
	for (int i = 0; i < OP_COUNT; i++) {
		session_op_end(s, (op_slot_t)i);
		spare_drop(s, (op_slot_t)i);
	}
	session_find_end(s);
}

void session_find_end(session_t *s)
{
	free(s->find.handles);
	memset(&s->find, 0, sizeof(s->find));
}

static void session_free(session_t *s)
{
	session_ops_clear(s);
	lock_free(s->mutex);
	free(s);
}

/* Drop one reference; the last one frees the session. The table holds a
 * reference until session_close removes the session from it, so the last
 * one goes only after that, when no one can reach the session any more:
 * no lock is needed to free it. acq_rel orders every thread's last use of
 * the session (its operations, its mutex) before the free. */
static void session_unref(session_t *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		session_free(s);
}

CK_RV session_enter(CK_SESSION_HANDLE h, session_t **out)
{
	session_t **slot = NULL;
	CK_RV rv = module_enter();

	if (rv != CKR_OK)
		return rv;
	slot = table_find(h);
	if (slot == NULL) {
		rv = CKR_SESSION_HANDLE_INVALID;
	} else {
		/* In the table, so the table's reference keeps it alive here. */
		atomic_fetch_add_explicit(&(*slot)->refs, 1, memory_order_relaxed);
		*out = *slot;
	}
	module_leave();
	if (rv == CKR_OK)
		lock_acquire((*out)->mutex);
	return rv;
}

void session_leave(session_t *s)
{
	lock_release(s->mutex);
	session_unref(s);
}

CK_RV session_open(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE *out)
{
	session_t *s = calloc(1, sizeof(*s));
	CK_RV rv = CKR_HOST_MEMORY;

	if (s == NULL)
		goto out;
	rv = lock_new(&s->mutex);
	if (rv != CKR_OK)
		goto out;
	module_lock();
	if (table.count == table.cap) {
		size_t cap = table.cap ? table.cap * 2 : 16;
		session_t **items = realloc(table.items, cap * sizeof(*items));
		if (items == NULL) {
			rv = CKR_HOST_MEMORY;
		} else {
			table.items = items;
			table.cap = cap;
		}
	}
	if (rv == CKR_OK) {
		s->handle = module_next_handle();
		s->slot = slot;
		s->flags = flags;
		atomic_init(&s->refs, 1); /* the table's reference */
		table.items[table.count++] = s;
		*out = s->handle;
		s = NULL;
	}
	module_unlock();
out:
	if (s != NULL) {
		lock_free(s->mutex);
		free(s);
	}
	return rv;
}

CK_RV session_close(CK_SESSION_HANDLE h, CK_SLOT_ID *slot, CK_FLAGS *flags)
{
	session_t *s = NULL;
	CK_RV rv = session_enter(h, &s);

	if (rv != CKR_OK)
		return rv;
	module_lock();
	session_t **entry = table_find(h);
	if (entry == NULL) {
		rv = CKR_SESSION_HANDLE_INVALID; /* closed by another thread meanwhile */
	} else {
		table_remove(entry);
		session_unref(s); /* the table's reference; ours keeps it alive */
	}
	module_unlock();
	if (rv == CKR_OK) {
		*slot = s->slot;
		*flags = s->flags;
		session_ops_clear(s);
	}
	session_leave(s);
	return rv;
}

CK_RV session_list(CK_SLOT_ID slot, CK_SESSION_HANDLE **out, CK_ULONG *count)
{
	CK_RV rv = CKR_OK;

	module_lock();
	CK_SESSION_HANDLE *list = calloc(table.count + 1, sizeof(*list));
	CK_ULONG n = 0;
	if (list == NULL) {
		rv = CKR_HOST_MEMORY;
	} else {
		for (size_t i = 0; i < table.count; i++)
			if (table.items[i]->slot == slot)
				list[n++] = table.items[i]->handle;
	}
	module_unlock();
	*out = list;
	*count = n;
	return rv;
}

void session_table_clear(void)
{
	for (size_t i = 0; i < table.count; i++)
		session_free(table.items[i]);
	free(table.items);
	memset(&table, 0, sizeof(table));
}

/* The gate: held by whoever adds a session to the table or removes one
 * (with the registry's count of it), and by fork()'s prepare handler. */
static p11_mutex_t *gate;

CK_RV session_gate_init(void)
{
	return lock_new(&gate);
}

void session_gate_free(void)
{
	lock_free(gate);
	gate = NULL;
}

void session_gate_enter(void)
{
	lock_acquire(gate);
}

void session_gate_leave(void)
{
	lock_release(gate);
}

/* What session_fork_hold took: written and read only by the thread that
 * holds the gate through the fork. */
static struct {
	session_t **held;
	size_t count;
} fork_hold;

/* The sessions in the table now, each with a reference (caller frees);
 * NULL (and *n 0) without memory. Module lock held. */
static session_t **table_snapshot(size_t *n)
{
	session_t **held = calloc(table.count + 1, sizeof(*held));

	*n = 0;
	for (size_t i = 0; held != NULL && i < table.count; i++) {
		atomic_fetch_add_explicit(&table.items[i]->refs, 1, memory_order_relaxed);
		held[(*n)++] = table.items[i];
	}
	return held;
}

static void release_held(session_t **held, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		lock_release(held[i]->mutex);
		session_unref(held[i]);
	}
	free(held);
}

/* The lock order (gate, session mutexes, module lock) taken whole: with
 * the gate held no session comes or goes, so the sessions listed under
 * the module lock are all there are until the release; they are locked
 * without it (in handle order), and the module lock is taken last. Without
 * memory for the list the table (and the registry) is still consistent,
 * but operations on other threads are not waited for. */
void session_fork_hold(void)
{
	size_t n = 0;

	lock_acquire(gate);
	module_lock();
	session_t **held = table_snapshot(&n);
	module_unlock();
	for (size_t i = 0; i < n; i++)
		lock_acquire(held[i]->mutex);
	module_lock();
	fork_hold.held = held;
	fork_hold.count = n;
}

void session_fork_release(void)
{
	session_t **held = fork_hold.held;
	size_t n = fork_hold.count;

	memset(&fork_hold, 0, sizeof(fork_hold));
	module_unlock();
	release_held(held, n);
	lock_release(gate);
}
