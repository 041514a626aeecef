#!/bin/bash
# issuerd-on-pg.sh - the service test (tests/integration/issuerd.sh:
# enrollment, refresh, hostile requests, two issuerds on one ledger, an
# issuerd killed in the middle of uploads) once more on a PostgreSQL
# ledger: a private cluster (pg-lib.sh), and issuerd.sh run with
# OFFPASS_TEST_LEDGER=its URL, so the issuer is initialised with --ledger.
# Skips (77) when the PostgreSQL server binaries are absent.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/pg-lib.sh
. "$(dirname "$0")/pg-lib.sh"

pg_start
rc=0
OFFPASS_TEST_LEDGER=$PG_URL bash "$(dirname "$0")/issuerd.sh" || rc=$?
[ "$rc" -ne 77 ] || skip "issuerd.sh skipped"
[ "$rc" -eq 0 ] || fail "issuerd.sh on the PostgreSQL ledger: exit $rc"
pass "issuerd.sh on the PostgreSQL ledger"
