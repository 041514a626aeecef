/* test-make-request.c - a software holder and gate for
 * tests/integration/issuer.sh: OpenSSL keys in PEM files, and the wire
 * format for what they make. Not installed.
 *
 *   test-make-request keygen [--ed25519] -o KEY.pem
 *   test-make-request pubkey --key KEY.pem -o PUB          (65 raw bytes)
 *   test-make-request request --key KEY.pem --holder-id HEX [--code-file F] [--time T] [--ed25519] -o REQ
 *   test-make-request batch --gate-key KEY.pem --gate-id HEX --trust TRUST.bin
 *       [--sequence N] [--time T] [--forge]
 *       --record CRED:HOLDER-KEY.pem:COUNTER:AMOUNT... -o BATCH
 *
 * batch journals one operate decision per --record (a presentation of
 * CRED signed by HOLDER-KEY; --forge spoils each holder signature) and
 * seals them as batch N of the gate to the trust list's sealing key. */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "issuer/test-kit.h"

#define MAX_RECORDS 64

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "test-make-request: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

static int write_file(const char *path, const uint8_t *data, size_t len)
{
	int rc = atomic_file_write(path, data, len, 0644);
	return rc == 0 ? 0 : fail("%s: write failed", path);
}

typedef struct opts {
	const char *out, *key, *holder_id, *gate_key, *gate_id, *trust, *code_file;
	const char *records[MAX_RECORDS];
	size_t n_records;
	uint64_t time, sequence;
	bool ed25519, forge;
} opts_t;

static int parse(int argc, char **argv, opts_t *o)
{
	static const struct option longs[] = {
		{ "key", required_argument, NULL, 'k' },      { "holder-id", required_argument, NULL, 'H' },
		{ "time", required_argument, NULL, 't' },     { "ed25519", no_argument, NULL, 'E' },
		{ "gate-key", required_argument, NULL, 'g' }, { "gate-id", required_argument, NULL, 'G' },
		{ "trust", required_argument, NULL, 'T' },    { "sequence", required_argument, NULL, 's' },
		{ "record", required_argument, NULL, 'r' },   { "forge", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },   { "code-file", required_argument, NULL, 'C' },
		{ 0 }
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->time = 1700000000;
	while ((c = getopt_long(argc, argv, "o:", longs, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'k': o->key = optarg; break;
		case 'H': o->holder_id = optarg; break;
		case 'E': o->ed25519 = true; break;
		case 'g': o->gate_key = optarg; break;
		case 'G': o->gate_id = optarg; break;
		case 'T': o->trust = optarg; break;
		case 'F': o->forge = true; break;
		case 'C': o->code_file = optarg; break;
		case 't':
			if (ofp_parse_u64(optarg, UINT32_MAX, &o->time) != 0)
				return fail("--time %s: not a time", optarg);
			break;
		case 's':
			if (ofp_parse_u64(optarg, UINT64_MAX, &o->sequence) != 0 || o->sequence == 0)
				return fail("--sequence %s: not a sequence number", optarg);
			break;
		case 'r':
			if (o->n_records == MAX_RECORDS)
				return fail("%s", "too many --record");
			o->records[o->n_records++] = optarg;
			break;
		default: return 2;
		}
	}
	if (o->out == NULL)
		return fail("%s", "-o FILE is required");
	return 0;
}

static int cmd_keygen(const opts_t *o)
{
	EVP_PKEY *key = o->ed25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	int rc = key != NULL && tk_key_write(key, o->out) ? 0 : fail("%s: keygen failed", o->out);

	EVP_PKEY_free(key);
	return rc;
}

static int cmd_pubkey(const opts_t *o)
{
	tk_gate_t g;
	uint8_t id[OFP_ID_LEN] = { 0 };
	EVP_PKEY *key = o->key != NULL ? tk_key_read(o->key) : NULL;
	int rc;

	if (key == NULL || !tk_gate_new(&g, id, key))
		return fail("%s: not a P-256 private key", o->key != NULL ? o->key : "--key");
	rc = write_file(o->out, g.pub, sizeof(g.pub));
	tk_gate_free(&g);
	return rc;
}

/* The first line of path as an enrollment code. */
static int read_code(const char *path, uint8_t code[OFP_ENROLL_CODE_LEN])
{
	uint8_t *data = NULL;
	size_t len = 0;
	char text[128];
	int rc = -1;

	if (file_read_all(path, sizeof(text) - 1, &data, &len) == 0) {
		memcpy(text, data, len);
		text[len] = '\0';
		text[strcspn(text, "\r\n")] = '\0';
		rc = ofp_enroll_code_parse(text, code, NULL) == OFP_FMT_OK ? 0 : -1;
	}
	free(data);
	return rc;
}

static int cmd_request(const opts_t *o)
{
	tk_holder_t h;
	uint8_t id[OFP_ID_LEN], req[OFP_ENROLLMENT_MAX], code[OFP_ENROLL_CODE_LEN] = { 0 };
	size_t len = 0;
	EVP_PKEY *key = o->key != NULL ? tk_key_read(o->key) : NULL;
	int rc;

	if (key == NULL)
		return fail("%s: cannot read the key", o->key != NULL ? o->key : "--key");
	if (o->holder_id == NULL || hex_decode(o->holder_id, id, sizeof(id)) != 0) {
		EVP_PKEY_free(key);
		return fail("%s", "--holder-id: 16 hex digits required");
	}
	if (o->code_file != NULL && read_code(o->code_file, code) != 0) {
		EVP_PKEY_free(key);
		return fail("%s: not an enrollment code", o->code_file);
	}
	if (tk_holder_new(&h, o->ed25519 ? OFP_ALG_ED25519 : OFP_ALG_P256, id, key)) {
		h.has_code = o->code_file != NULL;
		memcpy(h.code, code, sizeof(code));
	}
	if (h.key == NULL || !tk_enrollment(&h, (uint32_t)o->time, req, &len))
		rc = fail("%s: cannot make the request", o->out);
	else
		rc = write_file(o->out, req, len);
	tk_holder_free(&h);
	return rc;
}

/* CRED:KEY:COUNTER:AMOUNT -> one journal record. */
static int add_record(tk_gate_t *g, const char *spec, uint32_t t, bool forge)
{
	char buf[1024], *cred_path, *key_path, *counter_s, *amount_s;
	uint8_t *cred = NULL, pres[OFP_PRESENTATION_MAX];
	size_t cred_len = 0, pres_len = 0;
	uint32_t counter, amount;
	tk_holder_t h;
	EVP_PKEY *key;
	ofp_credential_t c;
	bool ok;

	snprintf(buf, sizeof(buf), "%s", spec);
	cred_path = strtok(buf, ":");
	key_path = strtok(NULL, ":");
	counter_s = strtok(NULL, ":");
	amount_s = strtok(NULL, ":");
	if (amount_s == NULL || ofp_parse_u32(counter_s, UINT32_MAX, &counter) != 0 ||
	    ofp_parse_u32(amount_s, UINT32_MAX, &amount) != 0)
		return fail("--record %s: expected CRED:KEY:COUNTER:AMOUNT", spec);
	key = tk_key_read(key_path);
	if (key == NULL || file_read_all(cred_path, OFP_CREDENTIAL_MAX, &cred, &cred_len) != 0 ||
	    ofp_credential_decode(cred, cred_len, &c, NULL) != OFP_FMT_OK) {
		EVP_PKEY_free(key);
		free(cred);
		return fail("--record %s: unreadable key or credential", spec);
	}
	ok = tk_holder_new(&h, c.holder_alg, c.holder_id, key) &&
	     tk_presentation(&h, cred, cred_len, t, counter, amount, pres, &pres_len);
	if (ok && forge)
		pres[pres_len - 1] ^= 0x01; /* the holder signature's last byte */
	ok = ok && tk_gate_record(g, true, 0, t, pres, pres_len);
	tk_holder_free(&h);
	free(cred);
	return ok ? 0 : fail("--record %s: cannot journal it", spec);
}

static int cmd_batch(const opts_t *o)
{
	uint8_t id[OFP_ID_LEN], seal_pub[OFP_P256_UNCOMPRESSED_LEN], *trust = NULL, *out = NULL;
	size_t trust_len = 0, out_len = 0;
	tk_gate_t g;
	EVP_PKEY *key = o->gate_key != NULL ? tk_key_read(o->gate_key) : NULL;
	int rc = 1;

	if (key == NULL || o->gate_id == NULL || hex_decode(o->gate_id, id, sizeof(id)) != 0 || o->trust == NULL) {
		EVP_PKEY_free(key);
		return fail("%s", "batch: --gate-key, --gate-id HEX and --trust are required");
	}
	if (!tk_gate_new(&g, id, key))
		return fail("%s: not a P-256 key", o->gate_key);
	if (file_read_all(o->trust, OFP_TRUST_LIST_MAX, &trust, &trust_len) != 0 ||
	    !tk_trust_sealing_key(trust, trust_len, seal_pub)) {
		rc = fail("%s: no sealing key in it", o->trust);
		goto out;
	}
	for (size_t i = 0; i < o->n_records; i++)
		if (add_record(&g, o->records[i], (uint32_t)o->time + (uint32_t)i, o->forge) != 0)
			goto out;
	if (!tk_gate_seal(&g, o->sequence != 0 ? o->sequence : 1, seal_pub, (uint32_t)o->time, &out, &out_len)) {
		rc = fail("%s: sealing failed", o->out);
		goto out;
	}
	rc = write_file(o->out, out, out_len);
out:
	free(trust);
	free(out);
	tk_gate_free(&g);
	return rc;
}

int main(int argc, char **argv)
{
	opts_t o;
	int rc;

	if (argc < 2)
		return fail("%s", "usage: test-make-request keygen|pubkey|request|batch ...");
	rc = parse(argc - 1, argv + 1, &o);
	if (rc != 0)
		return rc;
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(&o);
	if (strcmp(argv[1], "pubkey") == 0)
		return cmd_pubkey(&o);
	if (strcmp(argv[1], "request") == 0)
		return cmd_request(&o);
	if (strcmp(argv[1], "batch") == 0)
		return cmd_batch(&o);
	return fail("unknown command '%s'", argv[1]);
}
