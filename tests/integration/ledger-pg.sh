#!/usr/bin/env bash
# ledger-pg.sh - the issuer's ledger Check suites again, on PostgreSQL: the
# same binaries as the SQLite run, with OFFPASS_TEST_LEDGER pointing at a
# private cluster. One suite at a time (each empties the database per
# test). The exposure simulation is left to the SQLite run: it checks the
# exposure rule, not the backend, and takes a minute on PostgreSQL.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg-lib.sh
. "$(dirname "$0")/pg-lib.sh"

builddir=${top_builddir:-.}
for suite in test-ledger test-issue test-settle; do
	[ -x "$builddir/issuer/$suite" ] || skip "$builddir/issuer/$suite not built (Check missing?)"
done
pg_start
export OFFPASS_TEST_LEDGER=$PG_URL
status=0
for suite in test-ledger test-issue test-settle; do
	echo "== $suite on PostgreSQL"
	"$builddir/issuer/$suite" || status=1
done
exit $status
