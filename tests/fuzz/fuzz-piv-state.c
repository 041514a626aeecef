/* fuzz-piv-state.c - libFuzzer target for the PIV applet's saved state
 * (card/piv/piv.h, piv_load): the state file offpass-vcard reads back,
 * which may be torn, damaged or edited.
 *
 * Input: one mode byte, then the image. With mode bit 0 the image's last
 * four bytes are replaced by the CRC-32 of the rest (the format's check),
 * so that the fuzzer gets past it to the field checks; otherwise the image
 * is loaded as is. The card it is loaded into has a session under way (the
 * PIN verified). Properties: no crash, leak or undefined behaviour; a
 * refused image changes nothing of the card but its scratch copy (state
 * and session as they were); an accepted one ends the session and saves
 * back to exactly the same bytes. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include <stddef.h>

#include "card/piv/piv-ossl.h"
#include "card/piv/piv.h"

static struct piv_card base, card;
static struct piv_host host;
static uint8_t image[PIV_STATE_MAX + 64];

static struct {
	bool called;
	size_t len;
	uint8_t image[PIV_STATE_MAX];
} saved;

static int fake_save(void *ctx, const uint8_t *state, size_t len)
{
	(void)ctx;
	FUZZ_ASSERT(len > 0 && len <= sizeof(saved.image));
	memcpy(saved.image, state, len);
	saved.len = len;
	saved.called = true;
	return 0;
}

/* The format's CRC-32 (IEEE, reflected), as card/piv/state.c computes it. */
static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;

	while (len-- > 0) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* A card with factory defaults and the PIN verified. */
static void setup(void)
{
	static const uint8_t verify[] = { 0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3',
					  '4',  '5',  '6',  0xff, 0xff };
	uint8_t out[16];
	size_t n;

	piv_ossl_host(&host);
	host.save = fake_save;
	FUZZ_ASSERT(piv_init(&base, &host, 0x01020304u) == 0);
	n = piv_apdu(&base, verify, sizeof(verify), out, sizeof(out));
	FUZZ_ASSERT(n == 2 && out[0] == 0x90 && out[1] == 0x00);
	FUZZ_ASSERT(base.pin_verified);
}

/* The card but its scratch copy (shadow) is as it was. */
static bool unchanged(void)
{
	size_t s = offsetof(struct piv_card, pin_verified);

	return card.host == base.host && memcmp(&card.p, &base.p, sizeof(card.p)) == 0 &&
	       memcmp((const uint8_t *)&card + s, (const uint8_t *)&base + s, sizeof(card) - s) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;

	if (host.save == NULL)
		setup();
	if (size < 1 || size - 1 > sizeof(image))
		return 0;
	len = size - 1;
	memcpy(image, data + 1, len);
	if ((data[0] & 1) && len >= 4) {
		uint32_t crc = crc32_ieee(image, len - 4);

		image[len - 4] = (uint8_t)(crc >> 24);
		image[len - 3] = (uint8_t)(crc >> 16);
		image[len - 2] = (uint8_t)(crc >> 8);
		image[len - 1] = (uint8_t)crc;
	}
	memcpy(&card, &base, sizeof(card));
	if (piv_load(&card, image, len) != 0) {
		FUZZ_ASSERT(unchanged());
		return 0;
	}
	FUZZ_ASSERT(!card.pin_verified && !card.mgm_authed && !card.chaining && card.resp_len == 0);
	saved.called = false;
	FUZZ_ASSERT(piv_save(&card) == 0 && saved.called);
	FUZZ_ASSERT(saved.len == len && memcmp(saved.image, image, len) == 0);
	return 0;
}
