/* fuzz-verifier-journal.c - libFuzzer target for the verifier's crash
 * recovery: the journal segment that offpass_verifier_open reads back,
 * whatever a crash, a full disk or a bad sector left in it.
 *
 * A template state directory (verifier GATE0001, the test trust list) is
 * made once per process under $TMPDIR; each input is written as the
 * current segment, journal-0000000000000001.bin, of a fresh copy of it,
 * without a replay snapshot, so that open replays every record.
 *
 * Properties: no crash or leak; open either succeeds or reports the
 * journal corrupt, with a reason; after a successful open the segment is
 * a prefix of the input (only a torn tail is cut), a check is journaled
 * after it, and the directory opens again. Built by tests/fuzz/run.sh. */
#include "fuzz.h"

#include "verifier/offpass-verifier.h"

#define NOW 1767229230u
#define SEGMENT "journal-0000000000000001.bin"

/* The files of the template directory, kept in memory. */
static const char *const kept[] = { "gate-key.pem", "trust.bin", "journal.state" };
static uint8_t *kept_data[3];
static size_t kept_len[3];
static char state[PATH_MAX];

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	FUZZ_ASSERT(f != NULL && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0);
	buf = malloc((size_t)n + 1);
	FUZZ_ASSERT(buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void free_template(void)
{
	for (size_t i = 0; i < OFP_ARRAY_LEN(kept); i++)
		free(kept_data[i]);
}

static void config(offpass_verifier_config_t *cfg)
{
	offpass_verifier_config_init(cfg);
	cfg->fare_mode = OFFPASS_FARE_TILL;
	cfg->flags = OFFPASS_CONFIG_ALLOW_ZERO_AMOUNT;
	cfg->state_dir = state;
	memcpy(cfg->verifier_id, "GATE0001", 8);
}

static offpass_status_t open_state(offpass_verifier_t **v, char *err, size_t err_len)
{
	offpass_verifier_config_t cfg;

	config(&cfg);
	return offpass_verifier_open(&cfg, v, err, err_len);
}

/* Open a new state directory once, install the trust list, keep its files. */
static void make_template(void)
{
	static uint8_t list[OFP_TRUST_LIST_MAX];
	char path[PATH_MAX], err[512];
	offpass_verifier_t *v;
	size_t len;

	fuzz_path(state, fuzz_tmpdir(), "state");
	if (open_state(&v, err, sizeof(err)) != OFFPASS_STATUS_OK) {
		fprintf(stderr, "fuzz: offpass_verifier_open: %s\n", err);
		abort();
	}
	fuzz_path(path, OFP_VECTORS_DIR, "trust-list.hex");
	len = fuzz_read_hex(path, list, sizeof(list));
	FUZZ_ASSERT(offpass_verifier_install_trust_list(v, list, len, NOW) == OFFPASS_STATUS_OK);
	offpass_verifier_close(v);
	for (size_t i = 0; i < OFP_ARRAY_LEN(kept); i++) {
		fuzz_path(path, state, kept[i]);
		kept_data[i] = read_file(path, &kept_len[i]);
	}
	atexit(free_template);
}

/* A fresh copy of the template with data as the current segment. */
static void lay_out(const uint8_t *data, size_t size)
{
	char path[PATH_MAX];

	fuzz_rmdir(state);
	FUZZ_ASSERT(mkdir(state, 0700) == 0);
	for (size_t i = 0; i < OFP_ARRAY_LEN(kept); i++) {
		fuzz_path(path, state, kept[i]);
		fuzz_write_file(path, kept_data[i], kept_len[i]);
	}
	fuzz_path(path, state, SEGMENT);
	fuzz_write_file(path, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX], err[512];
	offpass_verifier_t *v = NULL;
	offpass_result_t r;
	offpass_status_t st;
	uint8_t *seg;
	size_t len;

	if (state[0] == '\0')
		make_template();
	lay_out(data, size);
	memset(err, 0, sizeof(err));
	st = open_state(&v, err, sizeof(err));
	if (st != OFFPASS_STATUS_OK) {
		FUZZ_ASSERT(v == NULL);
		if (st != OFFPASS_STATUS_CORRUPT) {
			fprintf(stderr, "fuzz: open: status %d, not OK or CORRUPT: %s\n", (int)st, err);
			abort();
		}
		fuzz_check_message(err, sizeof(err));
		return 0;
	}
	fuzz_path(path, state, SEGMENT);
	seg = read_file(path, &len);
	FUZZ_ASSERT(len <= size && (len == 0 || memcmp(seg, data, len) == 0));
	free(seg);
	memset(&r, 0, sizeof(r));
	FUZZ_ASSERT(offpass_verifier_check(v, (const uint8_t *)"x", 1, 0, NULL, 0, NOW, &r) == OFFPASS_STATUS_OK);
	FUZZ_ASSERT(r.decision == OFFPASS_REFUSE && r.reason == OFFPASS_REASON_MALFORMED);
	offpass_verifier_close(v);
	st = open_state(&v, err, sizeof(err));
	if (st != OFFPASS_STATUS_OK) {
		fprintf(stderr, "fuzz: reopening after recovery and one check: status %d: %s\n", (int)st, err);
		abort();
	}
	offpass_verifier_close(v);
	return 0;
}
