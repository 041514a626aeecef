/* cli.h - the shape every offpass command-line tool shares: a table of
 * subcommands over a library, one dispatcher, errors as return values
 * (exit() only in main).
 *
 *   static const ofp_cmd_t commands[] = {
 *       { "init", "create the issuer keys", cmd_init },
 *       ...
 *   };
 *   int main(int argc, char **argv)
 *   {
 *       return ofp_cli_main("offpass-issuer", "...", commands,
 *                           OFP_ARRAY_LEN(commands), argc, argv);
 *   }
 *
 * A command gets argv with argv[0] = its name (so getopt_long works as
 * usual, optind reset by the dispatcher) and returns an exit status:
 * OFP_EXIT_OK, OFP_EXIT_REFUSED (a decision or check said no),
 * OFP_EXIT_USAGE, OFP_EXIT_FAILURE. */
#ifndef OFFPASS_CLI_H
#define OFFPASS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "compiler.h"

enum { OFP_EXIT_OK = 0, OFP_EXIT_FAILURE = 1, OFP_EXIT_USAGE = 2, OFP_EXIT_REFUSED = 3 };

typedef struct ofp_cmd {
	const char *name;
	const char *summary; /* one line, for the tool's --help */
	int (*run)(int argc, char **argv);
} ofp_cmd_t;

/* Dispatch argv[1] to its command; "--help"/"-h"/"help" or no command
 * prints the table, "--version" the version. */
int ofp_cli_main(const char *prog, const char *about, const ofp_cmd_t *cmds, size_t n,
		 int argc, char **argv);

/* "prog: " + message on stderr; returns OFP_EXIT_FAILURE (for `return ofp_fail(...)`). */
int ofp_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message and a hint to --help; returns OFP_EXIT_USAGE. */
int ofp_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The program name set by ofp_cli_main (or, for a program with no
 * subcommands, ofp_set_prog). */
const char *ofp_prog(void);
void ofp_set_prog(const char *prog);

/* A number given on the command line (or in a config file): unsigned
 * decimal digits only, at most max. No sign, blank, "0x" or trailing
 * character; leading zeros are fine. 0 with *out set, or -1 (empty, not a
 * number, more than max, more than 64 bits) with *out unchanged. */
int ofp_parse_u64(const char *s, uint64_t max, uint64_t *out) OFP_WUR;
int ofp_parse_u32(const char *s, uint32_t max, uint32_t *out) OFP_WUR;

/* The hidden `--now EPOCH` every tool takes where time matters: tests fix
 * the clock with it. Zero-initialised: the system clock. */
typedef struct ofp_clock {
	bool set;
	uint32_t now;
} ofp_clock_t;

/* Take --now's value (seconds since the epoch, a u32): OFP_EXIT_OK, or a
 * usage error (printed) with *c unchanged. */
int ofp_clock_option(ofp_clock_t *c, const char *arg) OFP_WUR;
/* The --now time when one was given, else the system clock. */
uint32_t ofp_clock_now(const ofp_clock_t *c);

/* Text from another party (an issuer's error description) as a CLI may
 * print it: printable ASCII only, every other byte '?', cut to cap - 1
 * bytes, so that it cannot write terminal escapes or lines of its own.
 * NULL in: "". Returns out. */
const char *ofp_printable(const char *in, char *out, size_t cap);

#endif
