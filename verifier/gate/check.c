/* check.c - offpass-gate check: one decision line per presentation, each
 * printed only after the library has journaled it (the library returns
 * only then), and flushed at once, as a gate opens at once. */
#include "config.h"
#include "gatecli.h"

#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "format/format.h"

static const char check_help[] =
	"Usage: offpass-gate --dir DIR check [--hex] [--challenge HEX] [--fare N] FILE...|-\n"
	"Check each presentation and print the decision, one line each:\n"
	"  OPERATE holder=HEX serial=N counter=N amount=N remaining=N\n"
	"  REFUSE REASON holder=HEX serial=N counter=N amount=N (WHY)\n"
	"A FILE is a PNG, PGM or PPM image of the QR code, or the raw presentation;\n"
	"'-' reads stdin the same way.\n"
	"  --hex              a FILE that is not an image holds hex text\n"
	"  --challenge HEX    the nonce sent on a two-way channel (1..32 bytes)\n"
	"  --fare N           what this check charges: required on a till-mode gate;\n"
	"                     on a fixed-fare gate, instead of the fare in gate.conf\n"
	"                     (0 only on a gate that allows free passage)\n"
	"Exit status: 0 all operated, 3 any refused, 1 an error (unreadable input,\n"
	"state directory), 2 usage.\n";

typedef struct check_args {
	bool hex;
	bool have_challenge;
	size_t challenge_len;
	uint8_t challenge[OFP_CHALLENGE_MAX];
} check_args_t;

typedef struct tally {
	unsigned operated, refused, errors;
} tally_t;

static int check_option(int c, const char *arg, void *ctx)
{
	check_args_t *a = ctx;

	switch (c) {
	case GATE_OPT_HEX:
		a->hex = true;
		return -1;
	case GATE_OPT_CHALLENGE:
		if (hex_decode_var(arg, a->challenge, sizeof(a->challenge), &a->challenge_len) != 0 ||
		    a->challenge_len == 0)
			return ofp_usage("--challenge: '%s' is not 1..%u bytes of hex", arg, OFP_CHALLENGE_MAX);
		a->have_challenge = true;
		return -1;
	case GATE_OPT_FARE:
		gate_opt.fare = arg;
		return -1;
	default:
		return ofp_usage("check: unexpected option");
	}
}

/* One word per reason, for scripts that read the output: the names of
 * the OFFPASS_REASON_* codes (offpass_reason_text is prose, with blanks). */
static const char *reason_token(offpass_reason_t reason)
{
	static const char *const tokens[] = {
		[OFFPASS_REASON_OK] = "ok",
		[OFFPASS_REASON_MALFORMED] = "malformed",
		[OFFPASS_REASON_UNKNOWN_ISSUER] = "unknown_issuer",
		[OFFPASS_REASON_BAD_ISSUER_SIGNATURE] = "bad_issuer_signature",
		[OFFPASS_REASON_NOT_YET_VALID] = "not_yet_valid",
		[OFFPASS_REASON_EXPIRED] = "expired",
		[OFFPASS_REASON_DENIED] = "denied",
		[OFFPASS_REASON_BAD_HOLDER_SIGNATURE] = "bad_holder_signature",
		[OFFPASS_REASON_STALE] = "stale",
		[OFFPASS_REASON_FUTURE] = "future",
		[OFFPASS_REASON_CHALLENGE] = "challenge",
		[OFFPASS_REASON_REPLAY] = "replay",
		[OFFPASS_REASON_OVER_OPERATION_MAX] = "over_operation_max",
		[OFFPASS_REASON_OVER_OFFLINE_TOTAL] = "over_offline_total",
		[OFFPASS_REASON_WRONG_RESOURCE] = "wrong_resource",
		[OFFPASS_REASON_WRONG_AMOUNT] = "wrong_amount",
		[OFFPASS_REASON_CLOCK_BACK] = "clock_back",
		[OFFPASS_REASON_REPLAY_FULL] = "replay_full",
		[OFFPASS_REASON_DENY_LIST_STALE] = "deny_list_stale",
	};

	if ((unsigned)reason < OFP_ARRAY_LEN(tokens) && tokens[reason] != NULL)
		return tokens[reason];
	return "unknown";
}

/* Why, in words: the library's detail of the refusal (its error text,
 * naming the field), else the reason's text; for a malformed input the
 * format's decoder can say where, too. */
static const char *refusal_detail(const offpass_verifier_t *v, const offpass_result_t *r, const gate_input_t *in,
				  ofp_fmt_error_t *err)
{
	const char *detail = offpass_verifier_error(v);
	ofp_presentation_t p;

	if (detail != NULL && *detail != '\0')
		return detail;
	if (r->reason == OFFPASS_REASON_MALFORMED && ofp_presentation_decode(in->bytes, in->len, &p, err) != OFP_FMT_OK)
		return err->reason;
	return r->reason_text != NULL ? r->reason_text : offpass_reason_text(r->reason);
}

static void print_result(const offpass_verifier_t *v, const offpass_result_t *r, const gate_input_t *in)
{
	char holder[2 * sizeof(r->holder_id) + 1];
	ofp_fmt_error_t err;

	hex_encode(r->holder_id, sizeof(r->holder_id), holder);
	if (r->decision == OFFPASS_OPERATE)
		printf("OPERATE holder=%s serial=%llu counter=%u amount=%u remaining=%u\n", holder,
		       (unsigned long long)r->serial, r->counter, r->amount, r->remaining);
	else if (r->reason == OFFPASS_REASON_MALFORMED)
		printf("REFUSE malformed (%s)\n", refusal_detail(v, r, in, &err));
	else
		printf("REFUSE %s holder=%s serial=%llu counter=%u amount=%u (%s)\n", reason_token(r->reason), holder,
		       (unsigned long long)r->serial, r->counter, r->amount, refusal_detail(v, r, in, &err));
	fflush(stdout);
}

/* One input. Returns -1 when the verifier failed (nothing decided, stop),
 * 0 otherwise; an unreadable input is counted and skipped. */
static int check_one(offpass_verifier_t *v, const char *path, const check_args_t *a, uint32_t fare, tally_t *t)
{
	static gate_input_t in; /* 4 KiB: not on the stack */
	const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
	offpass_result_t res;
	offpass_status_t st;
	char err[320];

	if (gate_input_read(path, a->hex, &in, err, sizeof(err)) != 0) {
		ofp_fail("%s", err);
		t->errors++;
		return 0;
	}
	if (in.len > OFP_PRESENTATION_MAX) {
		ofp_fail("%s: %zu bytes: larger than any presentation (at most %u)", name, in.len,
			 OFP_PRESENTATION_MAX);
		t->errors++;
		return 0;
	}
	memset(&res, 0, sizeof(res));
	st = offpass_verifier_check(v, in.bytes, in.len, fare, a->have_challenge ? a->challenge : NULL,
				    a->challenge_len, gate_now(), &res);
	if (st != OFFPASS_STATUS_OK) {
		ofp_fail("%s: nothing decided: %s", name, offpass_verifier_error(v));
		t->errors++;
		return -1;
	}
	print_result(v, &res, &in);
	if (res.decision == OFFPASS_OPERATE)
		t->operated++;
	else
		t->refused++;
	return 0;
}

/* The charge of each check: a till gate needs --fare; a fixed gate
 * charges its fare, or --fare instead (opened with it as the fare). The
 * library refuses a charge of 0 unless the gate allows free passage. */
static int charge_of(gate_conf_t *conf, uint32_t *fare)
{
	if (conf->mode == GATE_MODE_TILL) {
		if (gate_opt.fare == NULL)
			return ofp_usage("check: this gate is in till mode: give the amount with --fare N");
		if (*fare == 0 && !conf->allow_zero)
			return ofp_usage("--fare 0: this gate does not allow free passage");
		return OFP_EXIT_OK;
	}
	if (gate_opt.fare != NULL) {
		if (*fare == 0 && !conf->allow_zero)
			return ofp_usage("--fare 0: this gate does not allow free passage");
		conf->fare = *fare;
	}
	*fare = 0; /* the configured fare */
	return OFP_EXIT_OK;
}

static int check_operands(int argc, char **argv)
{
	unsigned stdin_count = 0;

	if (optind == argc)
		return ofp_usage("check: no presentation given (FILE... or -)");
	for (int i = optind; i < argc; i++)
		stdin_count += strcmp(argv[i], "-") == 0;
	if (stdin_count > 1)
		return ofp_usage("check: '-' (stdin) given more than once");
	return OFP_EXIT_OK;
}

int gate_cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		GATE_COMMON_OPTIONS,
		{ "hex", no_argument, NULL, GATE_OPT_HEX },
		{ "challenge", required_argument, NULL, GATE_OPT_CHALLENGE },
		{ "fare", required_argument, NULL, GATE_OPT_FARE },
		{ NULL, 0, NULL, 0 },
	};
	check_args_t args;
	tally_t tally = { 0, 0, 0 };
	offpass_verifier_t *v = NULL;
	gate_conf_t conf;
	uint32_t fare = 0;
	int rv;

	memset(&args, 0, sizeof(args));
	rv = gate_getopt(argc, argv, longopts, check_help, check_option, &args);
	if (rv != -1)
		return rv;
	if ((rv = check_operands(argc, argv)) != OFP_EXIT_OK)
		return rv;
	if (gate_opt.fare != NULL && ofp_parse_u32(gate_opt.fare, UINT32_MAX, &fare) != 0)
		return ofp_usage("--fare: '%s' is not an amount", gate_opt.fare);
	if ((rv = gate_load_conf(&conf)) != OFP_EXIT_OK || (rv = charge_of(&conf, &fare)) != OFP_EXIT_OK ||
	    (rv = gate_open_dir(gate_opt.dir, &conf, &v)) != OFP_EXIT_OK)
		return rv;
	for (int i = optind; i < argc; i++)
		if (check_one(v, argv[i], &args, fare, &tally) != 0)
			break;
	offpass_verifier_close(v);
	if (tally.errors > 0)
		return OFP_EXIT_FAILURE;
	return tally.refused > 0 ? OFP_EXIT_REFUSED : OFP_EXIT_OK;
}
