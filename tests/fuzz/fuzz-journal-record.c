/* fuzz-journal-record.c - libFuzzer target for the journal record decoder:
 * what a verifier reads back from its journal after a crash, and what the
 * issuer reads out of every opened batch.
 *
 * Properties: no crash or out-of-bounds read; a refusal carries its code
 * and a reason; what decodes is canonical (re-encoding gives the input
 * back, and that decodes to the same record); the length peeked from the
 * first bytes is the record's; the decision agrees with the reason; and
 * the copied fields are those of the presentation the record carries.
 * Built by tests/fuzz/run.sh. */
#include "fuzz.h"

static void check_copies(const ofp_journal_record_t *r)
{
	static ofp_journal_record_t again;

	memset(&again, 0, sizeof(again));
	if (r->reason == OFP_REASON_MALFORMED) {
		static const uint8_t zero[OFP_ID_LEN];

		FUZZ_ASSERT(memcmp(r->holder_id, zero, OFP_ID_LEN) == 0 && r->counter == 0 && r->amount == 0 &&
			    r->serial == 0);
		return;
	}
	FUZZ_ASSERT(ofp_journal_record_set_presentation(&again, r->presentation, r->presentation_len, NULL) ==
		    OFP_FMT_OK);
	FUZZ_ASSERT(memcmp(again.holder_id, r->holder_id, OFP_ID_LEN) == 0);
	FUZZ_ASSERT(again.counter == r->counter && again.amount == r->amount && again.serial == r->serial);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[OFP_JOURNAL_RECORD_MAX];
	static ofp_journal_record_t r, back;
	ofp_fmt_error_t err;
	ofp_fmt_rc_t rc;
	size_t len;

	memset(&err, 0, sizeof(err));
	rc = ofp_journal_record_decode(data, size, &r, &err);
	if (rc != OFP_FMT_OK) {
		fuzz_check_refusal(rc, &err);
		return 0;
	}
	FUZZ_ASSERT(size >= OFP_JOURNAL_RECORD_MIN && size <= OFP_JOURNAL_RECORD_MAX);
	FUZZ_ASSERT(ofp_journal_record_peek_len(data, 3, &len, NULL) == OFP_FMT_OK && len == size);
	FUZZ_ASSERT(r.decision == OFP_DECISION_OPERATE || r.decision == OFP_DECISION_REFUSE);
	FUZZ_ASSERT((r.decision == OFP_DECISION_OPERATE) == (r.reason == OFP_REASON_OK));
	FUZZ_ASSERT(r.reason <= OFP_REASON_LAST && strcmp(ofp_reason_name(r.reason), "unknown") != 0);
	FUZZ_ASSERT(ofp_journal_record_encode(&r, out, sizeof(out), &len, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(len == size && memcmp(out, data, size) == 0);
	FUZZ_ASSERT(ofp_journal_record_decode(out, len, &back, NULL) == OFP_FMT_OK);
	FUZZ_ASSERT(memcmp(&back, &r, sizeof(r)) == 0);
	check_copies(&r);
	return 0;
}
