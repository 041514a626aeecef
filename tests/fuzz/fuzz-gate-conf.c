/* fuzz-gate-conf.c - libFuzzer target for gate_conf_parse: STATE/gate.conf,
 * which every gate command reads and an operator may have edited.
 *
 * Properties: no crash, out-of-bounds access or leak; a refusal says why;
 * what parses passes gate_conf_check, and formatting it and parsing the
 * text again gives the same configuration and the same text. Built by
 * tests/fuzz/run.sh. */
#include "fuzz.h"

#include "verifier/gate/gate.h"

static bool same(const gate_conf_t *a, const gate_conf_t *b)
{
	return memcmp(a->verifier_id, b->verifier_id, sizeof(a->verifier_id)) == 0 &&
	       a->resource_class == b->resource_class && a->fare == b->fare && a->clock_skew == b->clock_skew &&
	       a->freshness == b->freshness && a->deny_max_age == b->deny_max_age &&
	       a->stale_operation_max == b->stale_operation_max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[GATE_CONF_MAX], text2[GATE_CONF_MAX];
	gate_conf_t c, back;
	char err[256];
	size_t len, len2;

	memset(err, 0, sizeof(err));
	if (gate_conf_parse((const char *)data, size, &c, err, sizeof(err)) != 0) {
		fuzz_check_message(err, sizeof(err));
		return 0;
	}
	FUZZ_ASSERT(gate_conf_check(&c, err, sizeof(err)) == 0);
	len = gate_conf_format(&c, text, sizeof(text));
	FUZZ_ASSERT(len > 0 && len < sizeof(text) && strlen(text) == len);
	memset(err, 0, sizeof(err));
	if (gate_conf_parse(text, len, &back, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz: formatted gate.conf refused (%s):\n%s", err, text);
		abort();
	}
	FUZZ_ASSERT(same(&c, &back));
	len2 = gate_conf_format(&back, text2, sizeof(text2));
	FUZZ_ASSERT(len2 == len && memcmp(text, text2, len) == 0);
	return 0;
}
