/* fuzz-holder-counter.c - libFuzzer target for the holder's counter file
 * (holder/counter.h): the one line that keeps an authorization counter
 * from ever repeating, read back from a state directory that may have
 * been damaged or edited.
 *
 * The input is written as the key's counter file, then read through the
 * public calls. Properties: no crash or leak; the file is accepted exactly
 * when it is the canonical line "offpass-holder-counter v1 N\n" (N a
 * decimal u32 without leading zeros), with the value N; then the next
 * value is N + 1 and is read back as such, and a counter at UINT32_MAX is
 * refused; a refused file is reported, never replaced, and never yields a
 * value. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include "holder/counter.h"

#define MAGIC "offpass-holder-counter v1 "

static const uint8_t key[OFP_P256_COMPRESSED_LEN] = { 0x02, 0x6f, 0x66, 0x66, 0x70, 0x61, 0x73, 0x73 };

/* The reference reading: true and *value for the canonical line only. */
static bool ref_parse(const uint8_t *data, size_t size, uint32_t *value)
{
	size_t magic = strlen(MAGIC), digits;
	uint64_t v = 0;

	if (size < magic + 2 || memcmp(data, MAGIC, magic) != 0 || data[size - 1] != '\n')
		return false;
	digits = size - magic - 1;
	if (digits > 10 || (digits > 1 && data[magic] == '0'))
		return false;
	for (size_t i = magic; i < size - 1; i++) {
		if (data[i] < '0' || data[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(data[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*value = (uint32_t)v;
	return true;
}

static void check_file(const char *path, const uint8_t *want, size_t want_len)
{
	uint8_t buf[128];
	FILE *f = fopen(path, "rb");
	size_t n;

	FUZZ_ASSERT(f != NULL);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	FUZZ_ASSERT(n == want_len && memcmp(buf, want, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PATH_MAX];
	const char *dir = fuzz_tmpdir();
	uint32_t ref = 0, last = 0, next = 0;
	char err[1024], line[64];
	bool ok;
	int rc;

	if (size > 96)
		return 0; /* the file is at most 64 bytes; longer ones are all alike */
	if (path[0] == '\0')
		FUZZ_ASSERT(ofp_counter_path(dir, key, sizeof(key), path, sizeof(path), err, sizeof(err)) == 0);
	fuzz_write_file(path, data, size);
	ok = ref_parse(data, size, &ref);

	memset(err, 0, sizeof(err));
	rc = ofp_counter_last(dir, key, sizeof(key), &last, err, sizeof(err));
	FUZZ_ASSERT(rc == (ok ? 0 : -1));
	if (!ok) {
		fuzz_check_message(err, sizeof(err));
		FUZZ_ASSERT(ofp_counter_next(dir, key, sizeof(key), 1767225600u, &next, err, sizeof(err)) == -1);
		check_file(path, data, size);
		return 0;
	}
	FUZZ_ASSERT(last == ref);
	rc = ofp_counter_next(dir, key, sizeof(key), 1767225600u, &next, err, sizeof(err));
	if (ref == UINT32_MAX) {
		FUZZ_ASSERT(rc == -1);
		fuzz_check_message(err, sizeof(err));
		check_file(path, data, size);
		return 0;
	}
	FUZZ_ASSERT(rc == 0 && next == ref + 1);
	snprintf(line, sizeof(line), "%s%u\n", MAGIC, (unsigned)next);
	check_file(path, (const uint8_t *)line, strlen(line));
	FUZZ_ASSERT(ofp_counter_last(dir, key, sizeof(key), &last, err, sizeof(err)) == 0 && last == next);
	return 0;
}
