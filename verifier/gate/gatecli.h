/* gatecli.h - what the offpass-gate commands share: the global options,
 * option parsing helpers, and opening the verifier of the state directory.
 * Every function here returns an exit status (common/cli.h) or says how
 * it differs. */
#ifndef OFFPASS_GATECLI_H
#define OFFPASS_GATECLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "gate.h"
#include "verifier/offpass-verifier.h"

/* Options given before the command (or, for --dir and --now, in it). The
 * init-only values stay text until init parses them. */
typedef struct gate_globals {
	const char *dir;
	ofp_clock_t clock; /* --now */
	const char *id, *resource, *fare, *skew, *freshness;
	const char *deny_max_age, *stale_max; /* init: --deny-max-age, --stale-max */
	bool till, allow_zero; /* init: --till, --allow-zero */
} gate_globals_t;

extern gate_globals_t gate_opt;

enum {
	GATE_OPT_DIR = 0x100,
	GATE_OPT_NOW,
	GATE_OPT_ID,
	GATE_OPT_RESOURCE,
	GATE_OPT_FARE,
	GATE_OPT_SKEW,
	GATE_OPT_FRESHNESS,
	GATE_OPT_TRUST,
	GATE_OPT_HEX,
	GATE_OPT_CHALLENGE,
	GATE_OPT_AGAIN,
	GATE_OPT_TILL,
	GATE_OPT_ALLOW_ZERO,
	GATE_OPT_DENY,
	GATE_OPT_DENY_MAX_AGE,
	GATE_OPT_STALE_MAX,
	GATE_OPT_OUTPUT = 'o',
};

/* Every command accepts these (getopt_long entries). */
#define GATE_COMMON_OPTIONS                                                                               \
	{ "dir", required_argument, NULL, GATE_OPT_DIR }, { "now", required_argument, NULL, GATE_OPT_NOW }, \
		{ "help", no_argument, NULL, 'h' }

/* --dir and --now: -1 when taken, -2 when c is another option, or a
 * usage error's status. */
int gate_common_option(int c, const char *arg);
/* init's own options (also accepted before the command): as above. */
int gate_init_option(int c, const char *arg, void *ctx);

/* Run getopt_long over a command's argv; for each option not common
 * calls handle(c, optarg, ctx), which returns -1 to go on or an exit
 * status. Returns -1 when all options are read (optind at the first
 * operand), or an exit status to return: 0 after printing help for -h,
 * 2 for a bad option. */
typedef int (*gate_option_fn)(int c, const char *arg, void *ctx);
int gate_getopt(int argc, char **argv, const struct option *longopts, const char *help, gate_option_fn handle,
		void *ctx);

/* -o FILE into *(const char **)ctx: a gate_option_fn. */
int gate_output_option(int c, const char *arg, void *ctx);

/* The state directory, or a usage error naming the option. */
int gate_need_dir(void);
/* --now, else the system clock. */
uint32_t gate_now(void);
/* Read STATE/gate.conf (the error is printed). */
int gate_load_conf(gate_conf_t *conf);
/* Open the verifier of state directory dir with conf. */
int gate_open_dir(const char *dir, const gate_conf_t *conf, offpass_verifier_t **v);
/* Read STATE/gate.conf and open its verifier. On success returns
 * OFP_EXIT_OK with *v open; otherwise the error is printed. */
int gate_open(gate_conf_t *conf, offpass_verifier_t **v);
/* The clock read now (gate_now) told to the verifier, which keeps the
 * highest such time durably (offpass_verifier_note_time): OFP_EXIT_REFUSED,
 * said on stderr, when the clock was set back behind it. */
int gate_note_time(offpass_verifier_t *v);
/* The exit status of a failed library call: 3 for a refusal (REJECTED),
 * 1 otherwise. */
int gate_status_exit(offpass_status_t st);
/* "header byte 0x91: deny list, format version 1", "an empty file"...: what a file that
 * is not the artifact expected is, for error messages. */
const char *gate_describe(const uint8_t *data, size_t len, char *buf, size_t cap);
/* Write a whole file atomically; prints the error. 0 or OFP_EXIT_FAILURE. */
int gate_write_file(const char *path, const void *data, size_t len, unsigned mode);

/* The largest deny list (docs/FORMAT.md 12) is the largest list file. */
#define GATE_LIST_FILE_MAX (85u + 9u * 1048576u)

/* The public key file init writes into the state directory. */
#define GATE_BATCH_KEY_NAME "batch-key.pub"

int gate_cmd_init(int argc, char **argv);
int gate_cmd_check(int argc, char **argv);
int gate_cmd_update(int argc, char **argv);
int gate_cmd_sync(int argc, char **argv);
int gate_cmd_export(int argc, char **argv);
int gate_cmd_confirm(int argc, char **argv);

#endif
