/* cli.c - subcommand dispatch, error output and option values for the
 * offpass tools. */
#include "config.h"
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

static const char *prog_name = "offpass";

const char *ofp_prog(void)
{
	return prog_name;
}

void ofp_set_prog(const char *prog)
{
	prog_name = prog;
}

static void vreport(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prog_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int ofp_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	return OFP_EXIT_FAILURE;
}

int ofp_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help'.\n", prog_name);
	return OFP_EXIT_USAGE;
}

static void print_help(const char *about, const ofp_cmd_t *cmds, size_t n)
{
	printf("Usage: %s COMMAND [OPTIONS]\n%s\n\nCommands:\n", prog_name, about);
	for (size_t i = 0; i < n; i++)
		printf("  %-12s %s\n", cmds[i].name, cmds[i].summary);
	printf("\n'%s COMMAND --help' describes a command's options.\n", prog_name);
}

int ofp_cli_main(const char *prog, const char *about, const ofp_cmd_t *cmds, size_t n,
		 int argc, char **argv)
{
	prog_name = prog;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_help(about, cmds, n);
		return argc < 2 ? OFP_EXIT_USAGE : OFP_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("%s %s\n", prog, PACKAGE_VERSION);
		return OFP_EXIT_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			optind = 0; /* glibc: a full reset for the command's getopt */
			return cmds[i].run(argc - 1, argv + 1);
		}
	}
	return ofp_usage("unknown command '%s'", argv[1]);
}

int ofp_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

int ofp_parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (ofp_parse_u64(s, max, &v) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int ofp_clock_option(ofp_clock_t *c, const char *arg)
{
	if (ofp_parse_u32(arg, UINT32_MAX, &c->now) != 0)
		return ofp_usage("--now: '%s' is not a time (seconds since the epoch)", arg);
	c->set = true;
	return OFP_EXIT_OK;
}

uint32_t ofp_clock_now(const ofp_clock_t *c)
{
	return c->set ? c->now : (uint32_t)time(NULL);
}

const char *ofp_printable(const char *in, char *out, size_t cap)
{
	size_t i = 0;

	if (cap == 0)
		return out;
	for (; in != NULL && in[i] != '\0' && i + 1 < cap; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
	return out;
}
