/* fuzz-gate-image.c - libFuzzer target for the gate's image decoding and
 * QR scanning: PNG (libpng), binary PGM/PPM (our own header parser), then
 * zbar over the grey pixels. An image file is whatever was handed to the
 * gate.
 *
 * Properties: no crash, out-of-bounds access or leak; a refusal says why;
 * a decoded image is within the side bound and every one of its
 * width * height pixels is readable; gate_is_image agrees with what
 * decodes; a QR payload fits the caller's buffer (also a buffer too small
 * for it: refused, not overrun). Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include "verifier/gate/gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t payload[GATE_PAYLOAD_MAX];
	uint8_t small[16];
	char err[256];
	gate_grey_t g;
	size_t len, small_len;
	unsigned sum = 0;
	int rc;

	memset(err, 0, sizeof(err));
	if (gate_image_decode(data, size, &g, err, sizeof(err)) != 0) {
		fuzz_check_message(err, sizeof(err));
		FUZZ_ASSERT(g.pixels == NULL);
		return 0;
	}
	FUZZ_ASSERT(gate_is_image(data, size));
	FUZZ_ASSERT(g.pixels != NULL && g.width >= 1 && g.height >= 1);
	FUZZ_ASSERT(g.width <= GATE_IMAGE_SIDE_MAX && g.height <= GATE_IMAGE_SIDE_MAX);
	for (size_t i = 0; i < (size_t)g.width * g.height; i++)
		sum += g.pixels[i];
	(void)sum;
	memset(err, 0, sizeof(err));
	rc = gate_qr_scan_grey(&g, payload, sizeof(payload), &len, err, sizeof(err));
	if (rc != 0) {
		fuzz_check_message(err, sizeof(err));
	} else {
		FUZZ_ASSERT(len <= sizeof(payload));
		if (len > sizeof(small)) {
			rc = gate_qr_scan_grey(&g, small, sizeof(small), &small_len, err, sizeof(err));
			FUZZ_ASSERT(rc != 0);
			fuzz_check_message(err, sizeof(err));
		}
	}
	gate_grey_free(&g);
	FUZZ_ASSERT(g.pixels == NULL);
	return 0;
}
