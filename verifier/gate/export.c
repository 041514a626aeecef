/* export.c - offpass-gate export and confirm: the sealed batch of the
 * journal records not exported yet, for the issuer's settlement; and,
 * once the issuer has it, dropping its records. */
#include "config.h"
#include "gatecli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/format.h"

static const char export_help[] =
	"Usage: offpass-gate --dir DIR export [--again SEQUENCE] -o FILE\n"
	"Write the batch the issuer needs next to FILE, for 'offpass-issuer settle':\n"
	"the oldest batch exported before and not confirmed yet (sealed again: same\n"
	"number, same records), else the journal records not exported yet, sealed\n"
	"into a new batch (encrypted to the issuer's sealing key, signed by the gate).\n"
	"A batch is offered again until 'confirm' says the issuer has it, so a lost\n"
	"file loses nothing. With nothing to send, FILE is left alone (exit 0).\n"
	"A batch holds at most 100000 records: export and confirm until nothing is left.\n"
	"  --again SEQUENCE   write batch SEQUENCE again (sealed before, lost on the\n"
	"                     way to the issuer, not confirmed yet)\n";

typedef struct export_args {
	const char *out;
	uint64_t again; /* 0: the next batch */
} export_args_t;

static int export_option(int c, const char *arg, void *ctx)
{
	export_args_t *a = ctx;

	if (c == GATE_OPT_AGAIN) {
		if (ofp_parse_u64(arg, UINT64_MAX, &a->again) != 0 || a->again == 0)
			return ofp_usage("--again: '%s' is not a batch sequence number (1, 2, ...)", arg);
		return -1;
	}
	return gate_output_option(c, arg, &a->out);
}

static const char confirm_help[] =
	"Usage: offpass-gate --dir DIR confirm SEQUENCE\n"
	"Tell the gate that the issuer has settled batch SEQUENCE: its records are\n"
	"dropped from the journal. Batches are confirmed in order: a batch whose\n"
	"predecessor is not confirmed is refused, and nothing is dropped.\n";

static void print_batch(const uint8_t *batch, size_t len, const char *path)
{
	ofp_sealed_batch_t s;

	if (ofp_sealed_batch_decode(batch, len, &s, NULL) != OFP_FMT_OK) {
		printf("sealed batch of %zu bytes -> %s\n", len, path);
		return;
	}
	printf("batch %llu: %u record%s (%u..%u), %zu bytes -> %s\n", (unsigned long long)s.sequence,
	       s.record_count, s.record_count == 1 ? "" : "s", s.period_start, s.period_end, len, path);
}

/* The batch is sealed now: if FILE cannot be written, say how to get it
 * again (export offers it until it is confirmed). */
static int write_batch(const uint8_t *batch, size_t len, const char *path)
{
	ofp_sealed_batch_t s;

	if (gate_write_file(path, batch, len, 0644) == OFP_EXIT_OK)
		return OFP_EXIT_OK;
	if (ofp_sealed_batch_decode(batch, len, &s, NULL) != OFP_FMT_OK)
		return OFP_EXIT_FAILURE;
	return ofp_fail("batch %llu is sealed: it is offered until confirmed; 'offpass-gate --dir %s export -o FILE' "
			"writes it again",
			(unsigned long long)s.sequence, gate_opt.dir);
}

static offpass_status_t seal(offpass_verifier_t *v, const export_args_t *a, uint8_t **batch, size_t *len)
{
	uint64_t seq = 0;

	if (a->again != 0)
		return offpass_verifier_reseal(v, a->again, gate_now(), batch, len);
	return offpass_verifier_next_batch(v, gate_now(), &seq, batch, len);
}

int gate_cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		GATE_COMMON_OPTIONS,
		{ "output", required_argument, NULL, GATE_OPT_OUTPUT },
		{ "again", required_argument, NULL, GATE_OPT_AGAIN },
		{ NULL, 0, NULL, 0 },
	};
	export_args_t args = { NULL, 0 };
	offpass_verifier_t *v = NULL;
	offpass_status_t st;
	gate_conf_t conf;
	uint8_t *batch = NULL;
	size_t len = 0;
	int rv = gate_getopt(argc, argv, longopts, export_help, export_option, &args);

	if (rv != -1)
		return rv;
	if (optind != argc)
		return ofp_usage("export: unexpected argument '%s'", argv[optind]);
	if (args.out == NULL)
		return ofp_usage("export: -o FILE is required");
	if ((rv = gate_open(&conf, &v)) != OFP_EXIT_OK)
		return rv;
	st = seal(v, &args, &batch, &len);
	if (st == OFFPASS_STATUS_NOTHING) {
		printf("nothing to export: every journal record is in a confirmed batch (%s not written)\n",
		       args.out);
		rv = OFP_EXIT_OK;
	} else if (st != OFFPASS_STATUS_OK) {
		rv = ofp_fail("%s: cannot seal %s: %s", gate_opt.dir, args.again != 0 ? "that batch again" : "a batch",
			      offpass_verifier_error(v));
	} else if ((rv = write_batch(batch, len, args.out)) == OFP_EXIT_OK && strcmp(args.out, "-") != 0) {
		print_batch(batch, len, args.out); /* with -o -, standard output is the batch alone */
	}
	offpass_free(batch);
	offpass_verifier_close(v);
	return rv;
}

int gate_cmd_confirm(int argc, char **argv)
{
	static const struct option longopts[] = { GATE_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	offpass_verifier_t *v = NULL;
	offpass_status_t st;
	gate_conf_t conf;
	uint64_t seq = 0;
	int rv = gate_getopt(argc, argv, longopts, confirm_help, NULL, NULL);

	if (rv != -1)
		return rv;
	if (argc - optind != 1)
		return ofp_usage("confirm: give exactly one batch SEQUENCE number");
	if (ofp_parse_u64(argv[optind], UINT64_MAX, &seq) != 0 || seq == 0)
		return ofp_usage("confirm: '%s' is not a batch sequence number (1, 2, ...)", argv[optind]);
	if ((rv = gate_open(&conf, &v)) != OFP_EXIT_OK)
		return rv;
	st = offpass_verifier_seal_done(v, seq);
	if (st == OFFPASS_STATUS_OK)
		printf("batch %llu confirmed: its records are dropped from the journal\n", (unsigned long long)seq);
	else
		rv = ofp_fail("%s: cannot confirm: %s", gate_opt.dir, offpass_verifier_error(v));
	offpass_verifier_close(v);
	return rv;
}
