/* ledger_memo.c - reads a transaction repeats, answered once.
 *
 * A grouped issuance runs many units in one transaction, and each unit
 * reads the issuer keys, the gates' settled-through time and deny-list
 * entries again. Inside one transaction those reads cannot change except
 * by the transaction's own writes: PostgreSQL's SERIALIZABLE snapshot is
 * taken once, SQLite's writer holds the only write lock, and the writers
 * of these tables from other transactions wait for the issuances in
 * flight (docs/ISSUER.md 9). So the first answer is kept until the
 * transaction ends, rolls back to a savepoint, or writes the table
 * itself; outside a transaction nothing is kept. Each round trip saved is
 * two context switches between the service and the database server. */
#include "config.h"
#include "issuer/ledger_int.h"

#include <stdlib.h>
#include <string.h>

static bool memo_usable(const ofp_ledger_t *l)
{
	return l->db->drv->in_transaction(l->db);
}

void ldg_memo_clear(ofp_ledger_t *l)
{
	free(l->memo.keys);
	l->memo.keys = NULL;
	l->memo.nkeys = 0;
	l->memo.keys_valid = false;
	l->memo.through_valid = false;
	l->memo.ndeny = 0;
}

bool ldg_memo_keys(const ofp_ledger_t *l, ofp_ledger_key_t **out, size_t *n)
{
	if (!memo_usable(l) || !l->memo.keys_valid)
		return false;
	*out = NULL;
	*n = l->memo.nkeys;
	if (*n == 0)
		return true;
	*out = calloc(*n, sizeof(**out));
	if (*out == NULL)
		return false; /* read them again */
	memcpy(*out, l->memo.keys, *n * sizeof(**out));
	return true;
}

void ldg_memo_keys_set(ofp_ledger_t *l, const ofp_ledger_key_t *keys, size_t n)
{
	ofp_ledger_key_t *copy = NULL;

	if (!memo_usable(l))
		return;
	if (n > 0) {
		copy = calloc(n, sizeof(*copy));
		if (copy == NULL)
			return;
		memcpy(copy, keys, n * sizeof(*copy));
	}
	free(l->memo.keys);
	l->memo.keys = copy;
	l->memo.nkeys = n;
	l->memo.keys_valid = true;
}

bool ldg_memo_through(const ofp_ledger_t *l, uint32_t *through, size_t *gates)
{
	if (!memo_usable(l) || !l->memo.through_valid)
		return false;
	*through = l->memo.through;
	if (gates != NULL)
		*gates = l->memo.gates;
	return true;
}

void ldg_memo_through_set(ofp_ledger_t *l, uint32_t through, size_t gates)
{
	if (!memo_usable(l))
		return;
	l->memo.through = through;
	l->memo.gates = gates;
	l->memo.through_valid = true;
}

int ldg_memo_denied(const ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN])
{
	if (!memo_usable(l))
		return -1;
	for (unsigned i = 0; i < l->memo.ndeny; i++)
		if (memcmp(l->memo.deny[i].entry, entry, OFP_DENY_ENTRY_LEN) == 0)
			return l->memo.deny[i].denied ? 1 : 0;
	return -1;
}

void ldg_memo_denied_set(ofp_ledger_t *l, const uint8_t entry[OFP_DENY_ENTRY_LEN], bool denied)
{
	unsigned i;

	if (!memo_usable(l) || ldg_memo_denied(l, entry) >= 0)
		return;
	/* The oldest makes room: a unit looks up a few entries, the next
	 * unit others. */
	if (l->memo.ndeny == LDG_MEMO_DENY) {
		memmove(&l->memo.deny[0], &l->memo.deny[1], sizeof(l->memo.deny[0]) * (LDG_MEMO_DENY - 1));
		l->memo.ndeny--;
	}
	i = l->memo.ndeny++;
	memcpy(l->memo.deny[i].entry, entry, OFP_DENY_ENTRY_LEN);
	l->memo.deny[i].denied = denied;
}
