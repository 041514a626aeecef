/* fuzz-gate-input.c - libFuzzer target for gate_input_parse: what
 * `offpass-gate check` makes of a file or stdin, as raw bytes, as hex
 * text (--hex), or as an image holding a QR code.
 *
 * Properties: no crash, out-of-bounds access or leak; a refusal says why;
 * an image (by its magic bytes) is scanned whatever the mode, with the
 * same answer in both; raw input is taken as is up to GATE_PAYLOAD_MAX
 * bytes and refused beyond; hex input is accepted exactly when a plain
 * reference reading accepts it (blanks anywhere, an even number of hex
 * digits, at most GATE_PAYLOAD_MAX bytes) and gives the same bytes.
 * Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include "verifier/gate/gate.h"

static bool blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The reference reading of --hex text: true and out/len when acceptable. */
static bool ref_hex(const uint8_t *data, size_t size, uint8_t *out, size_t *len)
{
	int hi = -1;

	*len = 0;
	for (size_t i = 0; i < size; i++) {
		int d;

		if (blank(data[i]))
			continue;
		d = fuzz_hex_digit(data[i]);
		if (d < 0)
			return false;
		if (hi < 0) {
			hi = d;
			continue;
		}
		if (*len == GATE_PAYLOAD_MAX)
			return false;
		out[(*len)++] = (uint8_t)(hi << 4 | d);
		hi = -1;
	}
	return hi < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static gate_input_t in, again;
	static uint8_t want[GATE_PAYLOAD_MAX];
	char err[256];
	size_t want_len;
	int rc, rc2;

	memset(err, 0, sizeof(err));
	rc = gate_input_parse(data, size, false, &in, err, sizeof(err));
	if (rc != 0)
		fuzz_check_message(err, sizeof(err));
	if (gate_is_image(data, size)) {
		FUZZ_ASSERT(in.kind == GATE_INPUT_IMAGE);
		/* Scanning again in hex mode must give the same answer. */
		rc2 = gate_input_parse(data, size, true, &again, err, sizeof(err));
		FUZZ_ASSERT(rc2 == rc && again.kind == GATE_INPUT_IMAGE);
		FUZZ_ASSERT(rc != 0 || (again.len == in.len && memcmp(again.bytes, in.bytes, in.len) == 0));
		return 0;
	}
	FUZZ_ASSERT(in.kind == GATE_INPUT_RAW);
	FUZZ_ASSERT((rc == 0) == (size <= GATE_PAYLOAD_MAX));
	FUZZ_ASSERT(rc != 0 || (in.len == size && (size == 0 || memcmp(in.bytes, data, size) == 0)));

	memset(err, 0, sizeof(err));
	rc = gate_input_parse(data, size, true, &in, err, sizeof(err));
	FUZZ_ASSERT(in.kind == GATE_INPUT_HEX);
	if (!ref_hex(data, size, want, &want_len)) {
		FUZZ_ASSERT(rc != 0);
		fuzz_check_message(err, sizeof(err));
		return 0;
	}
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(in.len == want_len && (want_len == 0 || memcmp(in.bytes, want, want_len) == 0));
	return 0;
}
