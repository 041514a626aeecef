/* fuzz-token-store.c - libFuzzer target for token_store_open on a damaged
 * token file: the soft token's SQLite database as found on disk.
 *
 * The input is written as the token file in a scratch directory (with no
 * WAL or journal beside it) and opened. Properties: no crash or leak; a
 * refused file is reported (token_store_error(NULL) names it) and left as
 * it was, byte for byte; a file that opens gives its metadata, and loading
 * it (not logged in) hands out only public objects whose attribute lists
 * serialise; closing releases everything. Slow (SQLite on a real file,
 * fsync), so the runs are short. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include "p11/store/store.h"
#include "secmem.h"

static const char *const side_files[] = { "token-wal", "token-shm", "token-journal" };

static CK_RV on_object(uint64_t uid, bool is_private, const attr_list_t *attrs, void *ctx)
{
	unsigned char *blob = NULL;
	size_t len = 0;

	FUZZ_ASSERT(uid > 0 && !is_private);
	FUZZ_ASSERT(attr_list_serialize(attrs, &blob, &len) == CKR_OK);
	secmem_free(blob, len);
	++*(unsigned *)ctx;
	return CKR_OK;
}

static void check_unchanged(const char *path, const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size + 1);
	FILE *f = fopen(path, "rb");
	size_t n;

	FUZZ_ASSERT(buf != NULL && f != NULL);
	n = fread(buf, 1, size + 1, f);
	fclose(f);
	if (n != size || (size > 0 && memcmp(buf, data, size) != 0)) {
		fprintf(stderr, "fuzz: a refused token file was changed (%s)\n", token_store_error(NULL));
		abort();
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[PATH_MAX];
	const char *dir = fuzz_tmpdir();
	char side[PATH_MAX];
	token_store_t *s = NULL;
	token_meta_t meta;
	unsigned objects = 0;
	CK_RV rv;

	if (path[0] == '\0')
		fuzz_path(path, dir, "token");
	for (size_t i = 0; i < OFP_ARRAY_LEN(side_files); i++) {
		fuzz_path(side, dir, side_files[i]);
		(void)unlink(side);
	}
	fuzz_write_file(path, data, size);
	rv = token_store_open(path, &s);
	if (rv != CKR_OK) {
		FUZZ_ASSERT(s == NULL);
		FUZZ_ASSERT(strncmp(token_store_error(NULL), path, strlen(path)) == 0);
		check_unchanged(path, data, size);
		return 0;
	}
	FUZZ_ASSERT(s != NULL && !token_store_unlocked(s));
	if (token_store_meta(s, &meta) == CKR_OK)
		FUZZ_ASSERT(meta.max_fails >= 1);
	(void)token_store_changed(s);
	if (token_store_load(s, on_object, &objects) == CKR_OK)
		FUZZ_ASSERT(!token_store_changed(s));
	token_store_close(s);
	return 0;
}
