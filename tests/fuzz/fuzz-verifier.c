/* fuzz-verifier.c - libFuzzer target for the verifier library's public
 * API on arbitrary bytes: offpass_verifier_check, as a gate calls it for
 * every QR code held up to it, on a verifier that holds the test trust
 * list and deny list of tests/vectors/ (so the signature, deny, freshness,
 * replay and grant steps all run on inputs that get that far).
 *
 * One verifier per process, on a state directory made under $TMPDIR and
 * removed at exit. Inputs whose header byte is a trust or deny list's are
 * offered to the install calls instead (nothing unsigned may install).
 *
 * Properties: no crash or leak; every check decides (status OK), with a
 * known reason that agrees with the decision and with the reason text;
 * what does not decode is refused as malformed with nothing learnt, and
 * what decodes is reported with its own holder, serial, counter and
 * amount; the error text is empty after operate and says why after a
 * refusal; a presentation that operated is refused as a replay when shown
 * again. Built by tests/fuzz/run.sh (OFP_VECTORS_DIR: tests/vectors). */
#include "fuzz.h"

#include "verifier/offpass-verifier.h"

#ifndef OFP_VECTORS_DIR
#error "OFP_VECTORS_DIR must name tests/vectors"
#endif

/* 30 s after the vectors' authorizations (1767229200): inside the
 * credentials' validity, and fresh for a QR code (60 s), so the valid
 * vectors operate once and are replays after that. */
#define NOW 1767229230u

static const uint8_t challenge[16] = { 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
				       0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf };

static offpass_verifier_t *verifier;

static void close_verifier(void)
{
	offpass_verifier_close(verifier);
	verifier = NULL;
}

static void install(const char *name, bool trust)
{
	static uint8_t list[1 << 16];
	char path[PATH_MAX];
	size_t len;
	offpass_status_t st;

	fuzz_path(path, OFP_VECTORS_DIR, name);
	len = fuzz_read_hex(path, list, sizeof(list));
	st = trust ? offpass_verifier_install_trust_list(verifier, list, len, NOW)
		   : offpass_verifier_install_deny_list(verifier, list, len, NOW);
	if (st != OFFPASS_STATUS_OK) {
		fprintf(stderr, "fuzz: installing %s: %s\n", path, offpass_verifier_error(verifier));
		abort();
	}
}

static offpass_verifier_t *get_verifier(void)
{
	offpass_verifier_config_t cfg;
	char dir[PATH_MAX], err[512];

	if (verifier != NULL)
		return verifier;
	fuzz_path(dir, fuzz_tmpdir(), "state");
	offpass_verifier_config_init(&cfg);
	/* A till that allows 0: check(amount 0) takes codes of amount 0. */
	cfg.fare_mode = OFFPASS_FARE_TILL;
	cfg.flags = OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT;
	cfg.state_dir = dir;
	memcpy(cfg.verifier_id, "GATE0001", 8);
	if (offpass_verifier_open(&cfg, &verifier, err, sizeof(err)) != OFFPASS_STATUS_OK) {
		fprintf(stderr, "fuzz: offpass_verifier_open: %s\n", err);
		abort();
	}
	atexit(close_verifier);
	install("trust-list.hex", true);
	install("deny-list.hex", false);
	return verifier;
}

/* Lists: only a signed, newer list installs, and none can be made here. */
static void offer_list(offpass_verifier_t *v, const uint8_t *data, size_t size, bool trust)
{
	uint64_t before = trust ? offpass_verifier_trust_version(v) : offpass_verifier_deny_version(v);
	offpass_status_t st = trust ? offpass_verifier_install_trust_list(v, data, size, NOW)
				    : offpass_verifier_install_deny_list(v, data, size, NOW);

	FUZZ_ASSERT(st != OFFPASS_STATUS_OK);
	fuzz_check_message(offpass_verifier_error(v), 4096);
	FUZZ_ASSERT(before == (trust ? offpass_verifier_trust_version(v) : offpass_verifier_deny_version(v)));
}

static void check_result(offpass_verifier_t *v, const offpass_result_t *r, const uint8_t *data, size_t size)
{
	static const uint8_t zero[8];
	ofp_presentation_t p;

	FUZZ_ASSERT(r->decision == OFFPASS_OPERATE || r->decision == OFFPASS_REFUSE);
	FUZZ_ASSERT((unsigned)r->reason <= OFP_REASON_LAST);
	FUZZ_ASSERT((r->decision == OFFPASS_OPERATE) == (r->reason == OFFPASS_REASON_OK));
	FUZZ_ASSERT(r->reason_text != NULL && strcmp(r->reason_text, offpass_reason_text(r->reason)) == 0);
	if (r->decision == OFFPASS_OPERATE)
		FUZZ_ASSERT(offpass_verifier_error(v)[0] == '\0');
	else
		fuzz_check_message(offpass_verifier_error(v), 4096);
	if (ofp_presentation_decode(data, size, &p, NULL) != OFP_FMT_OK) {
		FUZZ_ASSERT(r->reason == OFFPASS_REASON_MALFORMED);
		FUZZ_ASSERT(memcmp(r->holder_id, zero, 8) == 0 && r->serial == 0 && r->counter == 0 &&
			    r->amount == 0 && r->remaining == 0);
		return;
	}
	FUZZ_ASSERT(r->reason != OFFPASS_REASON_MALFORMED);
	FUZZ_ASSERT(memcmp(r->holder_id, p.cred.holder_id, 8) == 0 && r->serial == p.cred.serial);
	FUZZ_ASSERT(r->counter == p.auth.counter && r->amount == p.auth.amount);
	if (r->decision == OFFPASS_OPERATE)
		FUZZ_ASSERT(r->amount <= p.cred.grant.per_op_max && r->remaining <= p.cred.grant.offline_total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	offpass_verifier_t *v = get_verifier();
	const uint8_t *chal = NULL;
	size_t chal_len = 0;
	offpass_result_t r;
	offpass_status_t st;

	if (size > 0 && (data[0] == (OFP_TYPE_TRUST_LIST << 4 | OFP_FORMAT_VERSION) ||
			 data[0] == (OFP_TYPE_DENY_LIST << 4 | OFP_FORMAT_VERSION))) {
		offer_list(v, data, size, data[0] >> 4 == OFP_TYPE_TRUST_LIST);
		return 0;
	}
	/* A two-way presentation answers the vectors' challenge. */
	if (size > 0 && data[0] >> 4 == OFP_TYPE_PRESENTATION_CHALLENGE) {
		chal = challenge;
		chal_len = sizeof(challenge);
	}
	memset(&r, 0, sizeof(r));
	st = offpass_verifier_check(v, data, size, 0, chal, chal_len, NOW, &r);
	if (st != OFFPASS_STATUS_OK) {
		fprintf(stderr, "fuzz: offpass_verifier_check: status %d: %s\n", (int)st, offpass_verifier_error(v));
		abort();
	}
	check_result(v, &r, data, size);
	if (r.decision == OFFPASS_OPERATE) {
		memset(&r, 0, sizeof(r));
		FUZZ_ASSERT(offpass_verifier_check(v, data, size, 0, chal, chal_len, NOW, &r) == OFFPASS_STATUS_OK);
		FUZZ_ASSERT(r.decision == OFFPASS_REFUSE && r.reason == OFFPASS_REASON_REPLAY);
	}
	return 0;
}
