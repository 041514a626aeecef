/* offpass-holder-present.c - present (a fresh authorization as a QR code,
 * once or every --refresh seconds) and status. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "holder/offpass-holder_int.h"
#include "holder/qr.h"
#include "holder/refresh.h"

/* ---- present ------------------------------------------------------------ */

typedef struct present_ctx {
	session_t *s;
	ofp_present_args_t args;
	const char *png, *svg, *raw;
	bool terminal, plain, colour, help;
	uint32_t refresh, count; /* --refresh seconds (0: one code), --count */
	present_online_t online; /* --issuer, --cacert, --refresh-margin */
	FILE *info; /* stderr when standard output carries the raw bytes */
	struct timespec start;
} present_ctx_t;

static int write_qr_files(const present_ctx_t *x, const ofp_qr_t *qr)
{
	char err[OFP_HOLDER_ERR_LEN];
	uint8_t *png = NULL;
	char *svg = NULL;
	size_t len = 0;
	int rv = OFP_EXIT_OK;

	if (x->png != NULL) {
		if (ofp_qr_png(qr, &png, &len, err, sizeof(err)) != 0)
			rv = ofp_fail("%s", err);
		else
			rv = write_output(x->png, png, len, "PNG file");
	}
	if (rv == OFP_EXIT_OK && x->svg != NULL) {
		if (ofp_qr_svg(qr, &svg, &len, err, sizeof(err)) != 0)
			rv = ofp_fail("%s", err);
		else
			rv = write_output(x->svg, svg, len, "SVG file");
	}
	free(png);
	free(svg);
	return rv;
}

/* The authorization's time: --now (advanced by the time spent refreshing)
 * or the clock. */
static uint32_t frame_time(const present_ctx_t *x)
{
	struct timespec t;

	if (!g.clock.set)
		return (uint32_t)time(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t);
	return g.clock.now + (uint32_t)(t.tv_sec - x->start.tv_sec);
}

static int present_frame(void *ctx, unsigned index)
{
	present_ctx_t *x = ctx;
	char err[OFP_HOLDER_ERR_LEN];
	uint8_t pres[OFP_PRESENTATION_MAX];
	ofp_presentation_t pr;
	ofp_qr_t qr = { 0 };
	size_t len = 0;
	int rv;

	x->args.now = frame_time(x);
	present_online_step(x->s, &x->online, x->args.now, x->info);
	rv = holder_exit(ofp_holder_present(x->s->p, &x->s->key, &x->args, pres, &len, &pr, err, sizeof(err)),
			 err);
	if (rv != OFP_EXIT_OK)
		return rv;
	if (x->raw != NULL)
		rv = write_output(x->raw, pres, len, "raw file");
	if (rv == OFP_EXIT_OK && ofp_qr_encode(pres, len, &qr, err, sizeof(err)) != 0)
		rv = ofp_fail("%s", err);
	if (rv == OFP_EXIT_OK)
		rv = write_qr_files(x, &qr);
	if (rv == OFP_EXIT_OK && x->terminal) {
		if (x->refresh > 0 && x->colour && isatty(STDOUT_FILENO))
			fputs("\x1b[H\x1b[2J", stdout); /* home and clear: redraw in place */
		if (ofp_qr_terminal(&qr, stdout, x->colour) != 0)
			rv = ofp_fail("cannot write the QR code to standard output");
	}
	if (rv == OFP_EXIT_OK) {
		fprintf(x->info, "presentation: %zu bytes, counter %u, amount %u, time %u; QR version %d, level M\n",
			len, (unsigned)pr.auth.counter, (unsigned)pr.auth.amount, (unsigned)pr.auth.time, qr.version);
		if (x->refresh > 0)
			fprintf(x->info, "code %u; a fresh one every %u s; Ctrl-C stops\n", index + 1,
				(unsigned)x->refresh);
		fflush(x->info);
	}
	ofp_qr_free(&qr);
	return rv;
}

static int present_usage(void)
{
	return help("present --amount N [--challenge HEX] [--png F] [--svg F] [--raw F] [--terminal [--plain]]\n"
		    "                       [--refresh SECONDS [--count N]]\n"
		    "                       [--issuer URL [--cacert FILE] [--refresh-margin SECONDS]]\n"
		    "Sign a fresh authorization with the token key and show the presentation as a QR code.\n"
		    "  --amount N          amount of this operation, in minor units\n"
		    "  --challenge HEX     the verifier's challenge (two-way channels; 1 to 32 bytes)\n"
		    "  --png F, --svg F    write the QR code as PNG or SVG\n"
		    "  --raw F             write the presentation bytes ('-': standard output)\n"
		    "  --terminal          draw the QR code on the terminal (the default without a file), in\n"
		    "                      explicit black and white that read on dark and light themes alike\n"
		    "  --plain             draw it without colours (also when NO_COLOR is set or TERM=dumb):\n"
		    "                      right only on a light-on-dark terminal, a negative on a light one\n"
		    "  --refresh SECONDS   a fresh authorization every SECONDS until Ctrl-C\n"
		    "  --count N           with --refresh: stop after N codes\n"
		    "  --issuer URL        before a code, get the next credential from offpass-issuerd\n"
		    "                      when the one held ends within the margin (or has ended);\n"
		    "                      offline, a warning and the code from the credential held\n"
		    "  --cacert FILE       with --issuer: trust this CA instead of the system's\n"
		    "  --refresh-margin SECONDS  with --issuer: how long before the end to refresh\n"
		    "                      (default: the last 10% of the window, at most 3600)\n");
}

static int parse_present(int argc, char **argv, present_ctx_t *x, uint8_t *challenge)
{
	enum {
		O_AMOUNT = 0x200,
		O_CHALLENGE,
		O_PNG,
		O_SVG,
		O_RAW,
		O_TERMINAL,
		O_PLAIN,
		O_REFRESH,
		O_COUNT,
		O_ISSUER,
		O_CACERT,
		O_MARGIN
	};
	static const struct option opts[] = {
		{ "amount", required_argument, NULL, O_AMOUNT },   { "challenge", required_argument, NULL, O_CHALLENGE },
		{ "png", required_argument, NULL, O_PNG },	   { "svg", required_argument, NULL, O_SVG },
		{ "raw", required_argument, NULL, O_RAW },	   { "terminal", no_argument, NULL, O_TERMINAL },
		{ "refresh", required_argument, NULL, O_REFRESH }, { "count", required_argument, NULL, O_COUNT },
		{ "plain", no_argument, NULL, O_PLAIN },	   { "issuer", required_argument, NULL, O_ISSUER },
		{ "cacert", required_argument, NULL, O_CACERT },   { "refresh-margin", required_argument, NULL, O_MARGIN },
		GLOBAL_OPTIONS,					   { NULL, 0, NULL, 0 }
	};
	bool have_amount = false, have_count = false;
	int c, rv;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			x->help = true;
			return present_usage();
		case O_AMOUNT:
			if (ofp_parse_u32(optarg, UINT32_MAX, &x->args.amount) != 0)
				return ofp_usage("present: --amount: '%s' is not a whole number (u32)", optarg);
			have_amount = true;
			break;
		case O_CHALLENGE:
			if (hex_decode_var(optarg, challenge, OFP_CHALLENGE_MAX, &x->args.challenge_len) != 0 ||
			    x->args.challenge_len == 0)
				return ofp_usage("present: --challenge: '%s' is not 1 to %d bytes of hex", optarg,
						 OFP_CHALLENGE_MAX);
			x->args.challenge = challenge;
			break;
		case O_PNG: x->png = optarg; break;
		case O_SVG: x->svg = optarg; break;
		case O_RAW: x->raw = optarg; break;
		case O_TERMINAL: x->terminal = true; break;
		case O_PLAIN: x->plain = x->terminal = true; break;
		case O_REFRESH:
			if (ofp_parse_u32(optarg, 86400, &x->refresh) != 0 || x->refresh == 0)
				return ofp_usage("present: --refresh: '%s' is not 1 to 86400 seconds", optarg);
			break;
		case O_ISSUER: x->online.issuer = optarg; break;
		case O_CACERT: x->online.cacert = optarg; break;
		case O_MARGIN:
			/* 0 would wait until the credential has ended, when the
			 * issuer no longer refreshes it. */
			if (ofp_parse_u32(optarg, 30u * 86400u, &x->online.margin) != 0 || x->online.margin == 0)
				return ofp_usage("present: --refresh-margin: '%s' is not 1 to 2592000 seconds", optarg);
			x->online.margin_set = true;
			break;
		case O_COUNT:
			if (ofp_parse_u32(optarg, UINT32_MAX, &x->count) != 0 || x->count == 0)
				return ofp_usage("present: --count: '%s' is not a positive number", optarg);
			have_count = true;
			break;
		default:
			if ((rv = global_option("present", c, optarg)) != OFP_EXIT_OK)
				return rv;
		}
	}
	if (optind != argc)
		return ofp_usage("present: unexpected argument '%s'", argv[optind]);
	if (!have_amount)
		return ofp_usage("present: --amount is required");
	if (have_count && x->refresh == 0)
		return ofp_usage("present: --count needs --refresh");
	if ((x->online.cacert != NULL || x->online.margin_set) && x->online.issuer == NULL)
		return ofp_usage("present: --cacert and --refresh-margin need --issuer");
	if (x->png == NULL && x->svg == NULL && x->raw == NULL)
		x->terminal = true;
	if (x->terminal && x->raw != NULL && strcmp(x->raw, "-") == 0)
		return ofp_usage("present: --raw - and the terminal code cannot both use standard output");
	return OFP_EXIT_OK;
}

/* Colours unless asked not to: --plain, NO_COLOR (https://no-color.org:
 * set and not empty) or a terminal that says it has none. Not tied to
 * isatty: output captured to a file and shown later needs them too. */
static bool want_colour(bool plain)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	if (plain || (no_color != NULL && no_color[0] != '\0'))
		return false;
	return term == NULL || strcmp(term, "dumb") != 0;
}

int cmd_present(int argc, char **argv)
{
	uint8_t challenge[OFP_CHALLENGE_MAX];
	unsigned frames = 0;
	bool interrupted = false;
	present_ctx_t x;
	session_t s;
	int rv;

	memset(&x, 0, sizeof(x));
	rv = parse_present(argc, argv, &x, challenge);
	if (rv != OFP_EXIT_OK || x.help)
		return rv;
	x.info = x.raw != NULL && strcmp(x.raw, "-") == 0 ? stderr : stdout;
	x.colour = x.terminal && want_colour(x.plain);
	clock_gettime(CLOCK_MONOTONIC, &x.start);
	rv = session_open_mode(&s, false, true, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK) {
		x.s = &s;
		x.args.dir = s.dir;
		if (x.refresh == 0)
			rv = present_frame(&x, 0);
		else
			rv = ofp_refresh_run(x.refresh, x.count, present_frame, &x, &frames, &interrupted);
	}
	if (x.refresh > 0 && rv == OFP_EXIT_OK)
		fprintf(x.info, "%s after %u code%s\n", interrupted ? "interrupted" : "done", frames,
			frames == 1 ? "" : "s");
	session_close(&s);
	return rv;
}

/* ---- status ------------------------------------------------------------- */

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = { GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
	char err[OFP_HOLDER_ERR_LEN];
	ofp_holder_status_t *st = NULL;
	session_t s = { 0 };
	int c, rv;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return help("status\nShow the holder key, the installed credential's validity and grant, "
				    "and the counter.\n");
		if ((rv = global_option("status", c, optarg)) != OFP_EXIT_OK)
			return rv;
	}
	if (optind != argc)
		return ofp_usage("status: unexpected argument '%s'", argv[optind]);
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return ofp_fail("out of memory");
	rv = session_open(&s, false, true);
	if (rv == OFP_EXIT_OK)
		rv = session_state_dir(&s);
	if (rv == OFP_EXIT_OK)
		rv = holder_exit(ofp_holder_status(s.p, &s.key, s.dir, st, err, sizeof(err)), err);
	if (rv == OFP_EXIT_OK)
		ofp_holder_status_print(stdout, st, now());
	session_close(&s);
	free(st);
	return rv;
}

