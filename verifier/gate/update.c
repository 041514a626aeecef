/* update.c - offpass-gate update: install a newer trust or deny list. The
 * header byte says which; the library checks the signature and that the
 * version is higher, and leaves the installed list alone otherwise. */
#include "config.h"
#include "gatecli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "format/format.h"


static const char update_help[] =
	"Usage: offpass-gate --dir DIR update FILE\n"
	"Install FILE, an issuer-signed trust list or deny list (told apart by its\n"
	"header byte). It must be signed by a key of the installed trust list and\n"
	"carry a higher version than the installed list; otherwise it is refused\n"
	"(exit 3) and nothing changes.\n";

typedef struct list_file {
	const char *path;
	bool trust; /* else deny */
	const char *what;
	unsigned char *data;
	size_t len;
} list_file_t;

static int read_list(list_file_t *f)
{
	char what[96];
	unsigned type = 0;
	int rv = file_read_all(f->path, GATE_LIST_FILE_MAX, &f->data, &f->len);

	if (rv != 0)
		return ofp_fail("%s: %s", f->path, rv == -EFBIG ? "too large for a trust or deny list" : strerror(-rv));
	if (ofp_peek_type(f->data, f->len, &type, NULL) != OFP_FMT_OK ||
	    (type != OFP_TYPE_TRUST_LIST && type != OFP_TYPE_DENY_LIST))
		return ofp_fail("%s: not a trust or deny list (%s)", f->path,
				gate_describe(f->data, f->len, what, sizeof(what)));
	f->trust = type == OFP_TYPE_TRUST_LIST;
	f->what = f->trust ? "trust list" : "deny list";
	return OFP_EXIT_OK;
}

/* The version the file claims, for the messages (0 if it does not decode:
 * the library then says why it refuses it). */
static uint64_t claimed_version(const list_file_t *f)
{
	ofp_trust_list_t t;
	ofp_deny_list_t d;

	if (f->trust)
		return ofp_trust_list_decode(f->data, f->len, &t, NULL) == OFP_FMT_OK ? t.version : 0;
	return ofp_deny_list_decode(f->data, f->len, &d, NULL) == OFP_FMT_OK ? d.version : 0;
}

static uint64_t installed_version(const offpass_verifier_t *v, const list_file_t *f)
{
	return f->trust ? offpass_verifier_trust_version(v) : offpass_verifier_deny_version(v);
}

static int refused(const offpass_verifier_t *v, const list_file_t *f, uint64_t version, uint64_t installed)
{
	if (version != 0 && version <= installed)
		ofp_fail("%s: %s version %llu is not newer than the installed version %llu: refused, nothing changed",
			 f->path, f->what, (unsigned long long)version, (unsigned long long)installed);
	else
		ofp_fail("%s: %s; nothing changed", f->path, offpass_verifier_error(v));
	return OFP_EXIT_REFUSED;
}

static int install(offpass_verifier_t *v, const list_file_t *f)
{
	uint64_t installed = installed_version(v, f), version = claimed_version(f);
	offpass_status_t st;

	/* The first trust list is an anchor, trusted as given: only init
	 * takes one, so that update never replaces trust it cannot check. */
	if (f->trust && installed == 0)
		return ofp_fail("%s: this gate has no trust list yet: 'init --trust FILE' installs the first", f->path);
	st = f->trust ? offpass_verifier_install_trust_list(v, f->data, f->len, gate_now())
		      : offpass_verifier_install_deny_list(v, f->data, f->len, gate_now());
	if (st == OFFPASS_STATUS_REJECTED)
		return refused(v, f, version, installed);
	if (st != OFFPASS_STATUS_OK)
		return ofp_fail("%s: %s not installed: %s", f->path, f->what, offpass_verifier_error(v));
	printf("installed %s version %llu", f->what, (unsigned long long)installed_version(v, f));
	if (installed != 0)
		printf(" (was version %llu)", (unsigned long long)installed);
	printf("\n");
	return OFP_EXIT_OK;
}

int gate_cmd_update(int argc, char **argv)
{
	static const struct option longopts[] = { GATE_COMMON_OPTIONS, { NULL, 0, NULL, 0 } };
	list_file_t f;
	offpass_verifier_t *v = NULL;
	gate_conf_t conf;
	int rv = gate_getopt(argc, argv, longopts, update_help, NULL, NULL);

	if (rv != -1)
		return rv;
	if (argc - optind != 1)
		return ofp_usage("update: give exactly one FILE (a trust list or a deny list)");
	memset(&f, 0, sizeof(f));
	f.path = argv[optind];
	if ((rv = read_list(&f)) == OFP_EXIT_OK && (rv = gate_open(&conf, &v)) == OFP_EXIT_OK)
		rv = install(v, &f);
	if (v != NULL)
		offpass_verifier_close(v);
	free(f.data);
	return rv;
}
