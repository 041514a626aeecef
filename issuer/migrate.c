/* migrate.c - move the issuer's ledger into PostgreSQL and point
 * issuer.conf at it. */
#include "config.h"
#include "issuer/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* user:password@ in the authority, or a password= parameter. */
static bool url_has_password(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at;

	if (strstr(url, "password=") != NULL)
		return true;
	if (auth == NULL)
		return false;
	auth += 3;
	end = auth + strcspn(auth, "/?");
	at = memchr(auth, '@', (size_t)(end - auth));
	return at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL;
}

static ofp_issuer_rc_t point_conf_at(ofp_issuer_t *iss, const char *url)
{
	ofp_issuer_config_t cfg = iss->cfg;
	char *text;
	ofp_issuer_rc_t rc;

	snprintf(cfg.ledger, sizeof(cfg.ledger), "%s", url);
	text = ofp_issuer_config_format(&cfg);
	if (text == NULL)
		return iss_fail(iss, OFP_ISSUER_ERROR, "out of memory");
	rc = iss_write_file(iss, OFP_ISSUER_CONF, (const uint8_t *)text, strlen(text));
	free(text);
	if (rc == OFP_ISSUER_OK)
		iss->cfg = cfg;
	return rc;
}

ofp_issuer_rc_t ofp_issuer_migrate(ofp_issuer_t *iss, const char *url, ofp_ledger_migration_t *out)
{
	ofp_ledger_t *to = NULL;
	char err[ISS_ERR_LEN];
	ofp_issuer_rc_t rc;
	int lrc;

	memset(out, 0, sizeof(*out));
	if (!ofp_ledger_is_postgresql(url))
		return iss_fail(iss, OFP_ISSUER_REFUSED, "migrate --to: '%.64s' is not a postgresql:// URL", url);
	if (strlen(url) >= sizeof(iss->cfg.ledger))
		return iss_fail(iss, OFP_ISSUER_REFUSED, "migrate --to: URL longer than %zu characters",
				sizeof(iss->cfg.ledger) - 1);
	if (url_has_password(url))
		return iss_fail(iss, OFP_ISSUER_REFUSED,
				"migrate --to: the URL holds a password, and issuer.conf would keep it: "
				"put it in ~/.pgpass (or PGPASSFILE) instead");
	if (strcmp(ofp_ledger_backend(iss->ledger), "sqlite") != 0)
		return iss_fail(iss, OFP_ISSUER_REFUSED, "migrate: the ledger is in PostgreSQL already");
	if (ofp_ledger_open(url, true, &to, err, sizeof(err)) != OFP_LEDGER_OK)
		return iss_fail(iss, OFP_ISSUER_ERROR, "%s", err);
	lrc = ofp_ledger_migrate(iss->ledger, to, out);
	if (lrc != OFP_LEDGER_OK) {
		rc = iss_fail(iss, lrc == OFP_LEDGER_REFUSED ? OFP_ISSUER_REFUSED : OFP_ISSUER_ERROR, "%s",
			      ofp_ledger_error(to));
		ofp_ledger_close(to);
		return rc;
	}
	rc = point_conf_at(iss, url);
	if (rc != OFP_ISSUER_OK) {
		ofp_ledger_close(to);
		return iss_fail(iss, OFP_ISSUER_ERROR,
				"the ledger is copied, but issuer.conf is not changed (%.400s): set 'ledger = %.200s' "
				"there by hand",
				iss->err, url);
	}
	/* From now on this handle works on the new ledger too. */
	ofp_ledger_close(iss->ledger);
	iss->ledger = to;
	return OFP_ISSUER_OK;
}
