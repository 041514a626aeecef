/* fuzz-piv-apdu.c - libFuzzer target for the PIV applet's card edge
 * (card/piv/piv.h): command APDUs from a reader that may send anything.
 *
 * Input: one options byte, then APDUs, each as a length byte and that
 * many bytes (a length byte FF is followed by a two-byte big-endian length,
 * for extended and long chained commands). Options: bits 0-2 choose the
 * caller's response buffer (2 bytes to a whole response), bit 3 makes the
 * save hook fail on every odd-numbered command.
 *
 * Each input starts from the same fresh card (piv_init, factory defaults)
 * with the OpenSSL crypto hooks and a deterministic rand hook, reset per
 * input, so that a seed can complete the management-key challenge with
 * the default key. Properties: no crash, leak or undefined behaviour; the
 * response fits the caller's buffer and holds at least SW1 SW2; a command
 * that does not call save leaves the persistent state as it was; a failed
 * save rolls the state back and answers 6581; a successful one stored the
 * state the card now has; and at the end the state survives a save, a
 * load into another card and a save again, byte for byte. Built by
 * tests/fuzz/run.sh. */
#include "fuzz.h"

#include "card/piv/piv-ossl.h"
#include "card/piv/piv.h"

static struct piv_card base, card, other;
static struct piv_host host;
static uint32_t rand_pos;

static struct {
	bool fail, called;
	size_t len;
	uint8_t image[PIV_STATE_MAX];
} saved;

static uint8_t resp[PIV_RESP_MAX + 2];
static uint8_t image[PIV_STATE_MAX], image2[PIV_STATE_MAX];

/* Predictable bytes: the fuzzer (and a seed) can answer a challenge. */
static int fake_rand(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(rand_pos++ * 37u + 11u);
	return 0;
}

static int fake_save(void *ctx, const uint8_t *state, size_t len)
{
	(void)ctx;
	saved.called = true;
	FUZZ_ASSERT(len > 0 && len <= sizeof(saved.image));
	if (saved.fail)
		return -1;
	memcpy(saved.image, state, len);
	saved.len = len;
	return 0;
}

static void setup(void)
{
	piv_ossl_host(&host);
	host.rand = fake_rand;
	host.save = fake_save;
	FUZZ_ASSERT(piv_init(&base, &host, 0x01020304u) == 0);
}

/* The state's image through piv_save, into out. */
static size_t save_image(struct piv_card *c, uint8_t *out)
{
	bool fail = saved.fail;

	saved.fail = false;
	saved.called = false;
	FUZZ_ASSERT(piv_save(c) == 0);
	FUZZ_ASSERT(saved.called);
	saved.fail = fail;
	memcpy(out, saved.image, saved.len);
	return saved.len;
}

static void one_apdu(const uint8_t *apdu, size_t len, size_t out_cap, bool fail)
{
	static struct piv_persist before;
	size_t n, ilen;

	memcpy(&before, &card.p, sizeof(before));
	saved.called = false;
	saved.fail = fail;
	n = piv_apdu(&card, apdu, len, resp, out_cap);
	FUZZ_ASSERT(n >= 2 && n <= out_cap);
	if (!saved.called || fail)
		FUZZ_ASSERT(memcmp(&before, &card.p, sizeof(before)) == 0);
	if (saved.called && fail)
		FUZZ_ASSERT(resp[n - 2] == 0x65 && resp[n - 1] == 0x81);
	if (saved.called && !fail) {
		ilen = saved.len;
		memcpy(image, saved.image, ilen);
		FUZZ_ASSERT(save_image(&card, image2) == ilen);
		FUZZ_ASSERT(memcmp(image, image2, ilen) == 0);
	}
}

static void round_trip(void)
{
	size_t len = save_image(&card, image), len2;

	FUZZ_ASSERT(len <= PIV_STATE_MAX);
	memcpy(&other, &base, sizeof(other));
	FUZZ_ASSERT(piv_load(&other, image, len) == 0);
	len2 = save_image(&other, image2);
	FUZZ_ASSERT(len2 == len && memcmp(image2, image, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[8] = { 2, 3, 9, 64, 256, 258, 1024, sizeof(resp) };
	size_t out_cap, i = 1;
	unsigned count = 0;
	bool fail_odd;

	if (host.save == NULL)
		setup();
	if (size < 1)
		return 0;
	out_cap = caps[data[0] & 7];
	fail_odd = (data[0] & 8) != 0;
	memcpy(&card, &base, sizeof(card));
	rand_pos = 0;
	while (i < size) {
		size_t len = data[i++];

		if (len == 0xff) {
			if (size - i < 2)
				break;
			len = (size_t)data[i] << 8 | data[i + 1];
			i += 2;
		}
		if (len > size - i)
			len = size - i;
		one_apdu(data + i, len, out_cap, fail_odd && (count & 1));
		i += len;
		count++;
	}
	round_trip();
	piv_wipe_card(&card);
	return 0;
}
