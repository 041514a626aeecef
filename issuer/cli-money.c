/* cli-money.c - offpass-issuer issue, gate, settle and deny: the commands
 * that certify holders, register gates and charge accounts. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cli.h"
#include "hex.h"
#include "issuer/cli-issuer.h"

/* ---- issue ------------------------------------------------------------------------------ */

static const char issue_help[] =
	"Usage: " PROG " --dir DIR issue REQUEST -o CREDENTIAL [--replace]\n"
	"Check an enrollment request (offpass-holder enroll) and write a credential for it, signed with\n"
	"the current signing key. A key not enrolled yet must prove the account's enrollment code\n"
	"(account open, account code); an enrolled key's request is a refresh: its credential starts\n"
	"where the live one ends. Refused (exit 3), saying why, when the request is malformed, its\n"
	"proof of possession or code fails, no account has its holder id, the holder or key is denied,\n"
	"the window is covered already, or balance + credit line - what the account's other credentials\n"
	"may still bring in from gates is below the threshold (the new offline total is capped by it).\n"
	"The ledger changes only once CREDENTIAL is written.\n"
	"  --replace   issue from now over live credentials that are all denied (a lost key)\n";

static void print_credential(const ofp_credential_t *c)
{
	char hex[2 * OFP_ID_LEN + 1];

	hex_encode(c->holder_id, OFP_ID_LEN, hex);
	printf("credential serial %" PRIu64 " for holder %s\n", c->serial, hex);
	print_time("valid from", c->not_before);
	print_time("valid until", c->not_after);
	printf("%-14s resource class %" PRIu16 ", per operation %" PRIu32 ", offline total %" PRIu32 "\n", "grant",
	       c->grant.resource_class, c->grant.per_op_max, c->grant.offline_total);
}

/* The credential's way out. A regular file is staged (a temporary file
 * beside it, written and fsync'ed) before the ledger commits, and renamed
 * into place after: a file that cannot be written changes nothing, and a
 * crash between the commit and the rename leaves the credential in the
 * temporary file, never a serial with no credential or a credential with
 * no serial. Anything else at the path (standard output "-", a device, a
 * FIFO) is written in the transaction by atomic_file_write's rules. */
typedef struct staged {
	const char *path;
	char tmp[4096];
	bool staged;
} staged_t;

static bool regular_target(const char *path)
{
	struct stat st;

	if (strcmp(path, "-") == 0)
		return false;
	return lstat(path, &st) != 0 ? errno == ENOENT : S_ISREG(st.st_mode);
}

static int stage_write(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return fsync(fd) != 0 ? -errno : 0;
}

static int deliver(void *ctx, const uint8_t *cred, size_t len, char *err, size_t err_len)
{
	staged_t *s = ctx;
	int fd, rv;

	if (!regular_target(s->path)) {
		rv = strcmp(s->path, "-") == 0 ? (fwrite(cred, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -EIO)
					       : atomic_file_write(s->path, cred, len, 0644);
		if (rv != 0)
			snprintf(err, err_len, "%s: %s", s->path, atomic_file_strerror(rv));
		return rv;
	}
	if (snprintf(s->tmp, sizeof(s->tmp), "%s.tmp.XXXXXX", s->path) >= (int)sizeof(s->tmp)) {
		snprintf(err, err_len, "%s: %s", s->path, strerror(ENAMETOOLONG));
		return -1;
	}
	fd = mkstemp(s->tmp);
	if (fd < 0) {
		snprintf(err, err_len, "%s: %s", s->path, strerror(errno));
		return -1;
	}
	rv = fchmod(fd, 0644) != 0 ? -errno : stage_write(fd, cred, len);
	if (close(fd) != 0 && rv == 0)
		rv = -errno;
	if (rv != 0) {
		unlink(s->tmp);
		snprintf(err, err_len, "%s: %s", s->path, strerror(-rv));
		return -1;
	}
	s->staged = true;
	return 0;
}

/* After the commit: the staged file takes its name. */
static int publish(staged_t *s)
{
	if (!s->staged)
		return OFP_EXIT_OK;
	if (rename(s->tmp, s->path) != 0 || fsync_parent_dir(s->path) != 0)
		return ofp_fail("%s: %s; the credential is issued and kept in %s", s->path, strerror(errno), s->tmp);
	return OFP_EXIT_OK;
}

int cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS,
					      { "output", required_argument, NULL, 'o' },
					      { "replace", no_argument, NULL, OPT_REPLACE },
					      { 0 } };
	ofp_issuer_t *iss = NULL;
	uint8_t *req = NULL, cred[OFP_CREDENTIAL_MAX];
	size_t req_len = 0, cred_len = 0;
	ofp_credential_t c;
	staged_t st = { 0 };
	ofp_issue_opts_t o = { .deliver = deliver, .ctx = &st };
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (ch == 'h')
			return usage_text(issue_help);
		if (ch == 'o') {
			st.path = optarg;
			continue;
		}
		if (ch == OPT_REPLACE) {
			o.replace = true;
			continue;
		}
		rc = global_option(ch, optarg);
		if (rc != 0)
			return rc;
	}
	if (argc - optind != 1 || st.path == NULL)
		return ofp_usage("issue: give REQUEST and -o CREDENTIAL");
	rc = read_input(argv[optind], OFP_ENROLLMENT_MAX, "an enrollment request", &req, &req_len);
	if (rc == OFP_EXIT_OK)
		rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_issue(iss, req, req_len, &o, cred, &cred_len, &c), ofp_issuer_error(iss));
	if (rc == OFP_EXIT_OK)
		rc = publish(&st);
	else if (st.staged)
		unlink(st.tmp); /* the commit failed: nothing was issued */
	if (rc == OFP_EXIT_OK && strcmp(st.path, "-") != 0)
		print_credential(&c);
	free(req);
	ofp_issuer_close(iss);
	return rc;
}

/* ---- gates ------------------------------------------------------------------------------ */

static const char gate_add_help[] =
	"Usage: " PROG " --dir DIR gate add --id HEX --key FILE [--replace]\n"
	"Register a gate (verifier id, 16 hex digits) and the public key that signs its batches\n"
	"(offpass-gate pubkey -o FILE: 65 raw bytes; PEM, DER, 33/32 raw bytes or hex also do).\n"
	"  --replace   give a registered gate a new key\n";

static int cmd_gate_add(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS,
					      { "id", required_argument, NULL, OPT_ID },
					      { "key", required_argument, NULL, OPT_KEY },
					      { "replace", no_argument, NULL, OPT_REPLACE },
					      { 0 } };
	const char *id_hex = NULL, *key_path = NULL;
	uint8_t id[OFP_ID_LEN], *key = NULL;
	size_t key_len = 0;
	bool replace = false;
	ofp_issuer_t *iss = NULL;
	ofp_gate_t gate;
	char kid[2 * OFP_KEY_ID_LEN + 1];
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': return usage_text(gate_add_help);
		case OPT_ID: id_hex = optarg; break;
		case OPT_KEY: key_path = optarg; break;
		case OPT_REPLACE: replace = true; break;
		default:
			rc = global_option(c, optarg);
			if (rc != 0)
				return rc;
		}
	}
	if (id_hex == NULL || key_path == NULL || optind != argc)
		return ofp_usage("gate add: give --id HEX and --key FILE");
	if (hex_decode(id_hex, id, sizeof(id)) != 0)
		return ofp_usage("gate add: --id '%s': expected 16 hex digits", id_hex);
	rc = read_input(key_path, 4096, "a public key", &key, &key_len);
	if (rc == OFP_EXIT_OK)
		rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK) {
		rc = report(ofp_issuer_gate_add(iss, id, key, key_len, replace, &gate), ofp_issuer_error(iss));
		if (rc != OFP_EXIT_OK && strstr(ofp_issuer_error(iss), "gate key:") != NULL)
			fprintf(stderr, "%s: (in %s)\n", PROG, key_path);
	}
	if (rc == OFP_EXIT_OK) {
		hex_encode(gate.kid, OFP_KEY_ID_LEN, kid);
		printf("gate %s registered with %s key id %s\n", id_hex, gate.alg == OFP_ALG_ED25519 ? "Ed25519" : "P-256",
		       kid);
	}
	free(key);
	ofp_issuer_close(iss);
	return rc;
}

static const ofp_cmd_t gate_commands[] = {
	{ "add", "register a gate's batch-signing key", cmd_gate_add },
};

int cmd_gate(int argc, char **argv)
{
	return dispatch("gate", gate_commands, OFP_ARRAY_LEN(gate_commands), argc, argv);
}

/* ---- settle ----------------------------------------------------------------------------- */

static void print_note(void *ctx, const ofp_settle_note_t *n)
{
	(void)ctx;
	printf("  %s: %s\n",
	       n->kind == OFP_SETTLE_GAP || n->kind == OFP_SETTLE_CHAIN || n->kind == OFP_SETTLE_REJECTED ? "warning"
													  : "note",
	       n->text);
}

static void print_report(const char *path, const ofp_settle_report_t *r)
{
	char vid[2 * OFP_ID_LEN + 1];

	hex_encode(r->verifier_id, OFP_ID_LEN, vid);
	if (r->already_settled) {
		printf("%s: gate %s batch %" PRIu64 ": already settled; nothing debited\n", path, vid, r->sequence);
		return;
	}
	printf("%s: gate %s batch %" PRIu64 ": %" PRIu32 " records, %" PRIu32 " charged (total %" PRIu64
	       "), %" PRIu32 " refusals, %" PRIu32 " rejected, %" PRIu32 " double uses, %" PRIu32
	       " counter reuses, %" PRIu32 " unknown holders\n",
	       path, vid, r->sequence, r->records, r->charged, r->amount_charged, r->refused, r->rejected,
	       r->double_uses, r->counter_reuses, r->unknown_holders);
}

static int settle_one(ofp_issuer_t *iss, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	ofp_settle_report_t r;
	int rc = read_input(path, (size_t)OFP_BATCH_MAX + OFP_SEALED_BATCH_OVERHEAD, "a sealed batch", &data, &len);

	if (rc != OFP_EXIT_OK)
		return rc;
	rc = (int)ofp_issuer_settle(iss, data, len, print_note, NULL, &r);
	if (rc == OFP_EXIT_OK)
		print_report(path, &r);
	else
		fprintf(stderr, "%s: %s: %s; nothing settled\n", PROG, path, ofp_issuer_error(iss));
	free(data);
	return rc;
}

int cmd_settle(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	int rc = OFP_EXIT_OK, worst = OFP_EXIT_OK;

	if (!plain_options(argc, argv,
			   "Usage: " PROG " --dir DIR settle BATCH...\n"
			   "Settle sealed batches from gates (offpass-gate export), each in one transaction: the\n"
			   "same batch twice debits once; each operate record is re-verified and charged once per\n"
			   "holder and counter (a second use is reported and the account flagged); gaps in a gate's\n"
			   "sequence and breaks in its journal chain are reported. Exit 3 if a batch was refused.\n",
			   &rc))
		return rc;
	if (optind == argc)
		return ofp_usage("settle: give at least one BATCH file");
	rc = open_issuer(&iss);
	if (rc != OFP_EXIT_OK)
		return rc;
	for (int i = optind; i < argc; i++) {
		rc = settle_one(iss, argv[i]);
		/* Failure (1) outranks a refusal (3): the operator must look. */
		if (rc == OFP_EXIT_FAILURE || (rc != OFP_EXIT_OK && worst == OFP_EXIT_OK))
			worst = rc;
	}
	ofp_issuer_close(iss);
	return worst;
}

/* ---- deny ------------------------------------------------------------------------------- */

static void print_deny(const char *what, bool added, uint64_t version)
{
	if (added)
		printf("%s denied: deny list version %" PRIu64 " written to %s/%s\n", what, version, g.dir,
		       OFP_ISSUER_DENY);
	else
		printf("%s is on the deny list already (version %" PRIu64 "); nothing changed\n", what, version);
}

static int cmd_deny_holder(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	uint64_t version = 0;
	bool added = false;
	char what[128];
	int rc = account_args(argc, argv, 1,
			      "Usage: " PROG " --dir DIR deny holder NAME|HOLDER-ID\n"
			      "Put a holder on the deny list: verifiers refuse all its credentials, and no new one is\n"
			      "issued. (A lost key: deny its credential's serial and enroll a new key instead.)\n");

	if (rc == -1)
		return OFP_EXIT_OK;
	if (rc != OFP_EXIT_OK)
		return rc;
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_deny_holder(iss, argv[optind], &added, &version), ofp_issuer_error(iss));
	snprintf(what, sizeof(what), "holder '%.64s'", argv[optind]);
	if (rc == OFP_EXIT_OK)
		print_deny(what, added, version);
	ofp_issuer_close(iss);
	return rc;
}

static int cmd_deny_serial(int argc, char **argv)
{
	ofp_issuer_t *iss = NULL;
	uint64_t serial, version = 0;
	bool added = false;
	char what[64];
	int rc = account_args(argc, argv, 1,
			      "Usage: " PROG " --dir DIR deny serial N\n"
			      "Put credential N on the deny list (a lost or stolen key): verifiers refuse it, and its\n"
			      "holder key gets no new credential. The account and its balance stay; the holder\n"
			      "enrolls a new key.\n");

	if (rc == -1)
		return OFP_EXIT_OK;
	if (rc != OFP_EXIT_OK)
		return rc;
	if (ofp_parse_u64(argv[optind], UINT64_MAX, &serial) != 0)
		return ofp_usage("deny serial: '%s' is not a serial number", argv[optind]);
	rc = open_issuer(&iss);
	if (rc == OFP_EXIT_OK)
		rc = report(ofp_issuer_deny_serial(iss, serial, &added, &version), ofp_issuer_error(iss));
	snprintf(what, sizeof(what), "credential %" PRIu64, serial);
	if (rc == OFP_EXIT_OK)
		print_deny(what, added, version);
	ofp_issuer_close(iss);
	return rc;
}

static const ofp_cmd_t deny_commands[] = {
	{ "holder", "deny a holder (account name or holder id)", cmd_deny_holder },
	{ "serial", "deny one credential (lost key)", cmd_deny_serial },
};

int cmd_deny(int argc, char **argv)
{
	return dispatch("deny", deny_commands, OFP_ARRAY_LEN(deny_commands), argc, argv);
}

