/* fuzz-presentation.c - libFuzzer target for the presentation decoder, the
 * bytes a gate reads from any QR code held up to it.
 *
 * Properties: decoding never crashes or reads out of bounds; a refusal
 * always carries a reason; what decodes is canonical (re-encoding gives
 * the input back), has a signed message, and fits a journal record that
 * itself round-trips. Built by tests/fuzz/run.sh, in effect
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Icommon -I$BUILD \
 *     tests/fuzz/fuzz-presentation.c format/format_io.c format/format.c \
 *     format/format_journal.c format/format_lists.c common/hex.c -lcrypto */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip_record(const uint8_t *data, size_t size)
{
	static uint8_t buf[OFP_JOURNAL_RECORD_MAX];
	ofp_journal_record_t r, back;
	size_t len;

	memset(&r, 0, sizeof(r));
	r.decision = OFP_DECISION_OPERATE;
	r.reason = OFP_REASON_OK;
	if (ofp_journal_record_set_presentation(&r, data, size, NULL) != OFP_FMT_OK ||
	    ofp_journal_record_encode(&r, buf, sizeof(buf), &len, NULL) != OFP_FMT_OK ||
	    ofp_journal_record_decode(buf, len, &back, NULL) != OFP_FMT_OK || back.presentation_len != size ||
	    memcmp(back.presentation, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[OFP_PRESENTATION_MAX], tbs[OFP_TBS_MAX];
	ofp_fmt_error_t err;
	ofp_presentation_t p;
	size_t len;

	memset(&err, 0, sizeof(err));
	if (ofp_presentation_decode(data, size, &p, &err) != OFP_FMT_OK) {
		if (err.code == OFP_FMT_OK || err.reason[0] == '\0' || memchr(err.reason, '\0', sizeof(err.reason)) == NULL)
			abort();
		return 0;
	}
	if (size > OFP_PRESENTATION_MAX ||
	    ofp_presentation_encode(&p, out, sizeof(out), &len, NULL) != OFP_FMT_OK || len != size ||
	    memcmp(out, data, size) != 0)
		abort();
	if (ofp_authorization_tbs(&p.cred, &p.auth, tbs, sizeof(tbs), &len, NULL) != OFP_FMT_OK ||
	    ofp_credential_tbs(&p.cred, tbs, sizeof(tbs), &len, NULL) != OFP_FMT_OK)
		abort();
	round_trip_record(data, size);
	return 0;
}
