#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer targets (tests/fuzz/fuzz-*.c) with
# clang, ASan and UBSan against the project's sources, and run each for
# FUZZ_SECONDS on a scratch copy of its seed corpus (tests/fuzz/corpus/NAME/;
# the committed corpora never grow). Exits non-zero when any target finds a
# crash, a leak, a timeout or an out-of-memory, after printing the input as
# hex and the sanitizer's report.
#
# usage: tests/fuzz/run.sh [BUILD_DIR [TARGET...]]
#   BUILD_DIR  a configured build directory: its config.h, and its Makefile
#              for the lists of sources (default: build/ in the source tree;
#              configured here when it is not). The fuzz binaries go to
#              BUILD_DIR/tests/fuzz/.
#   TARGET     target names (presentation, verifier, ...); default: all.
# environment:
#   FUZZ_SECONDS  seconds per target (default 10)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang (30)
#   FUZZ_JOBS     parallel compiles (default: nproc)
#   CC            the compiler (default clang; needs libclang-rt-14-dev)
#
# Reproduce a finding: BUILD_DIR/tests/fuzz/fuzz-NAME CRASH-FILE
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
[ "$#" -gt 0 ] && shift
case $build in /*) ;; *) build=$PWD/$build ;; esac
seconds=${FUZZ_SECONDS:-10}
timeout=${FUZZ_TIMEOUT:-30}
jobs=${FUZZ_JOBS:-$(nproc)}
cc=${CC:-clang}

# Target, its -max_len: a little over the largest valid input, so that
# "too long" is reached too; more for the lists and batches, whose bounds
# are far beyond what a fuzzer explores.
targets=(
	credential:512
	presentation:512
	enrollment:512
	journal-record:1024
	batch:16384
	sealed-batch:8192
	trust-list:4096
	deny-list:8192
	attrs:8192
	verifier:1024
	verifier-journal:4096
	gate-image:16384
	gate-input:16384
	gate-conf:4096
	issuer-conf:4096
	holder-counter:128
	token-store:16384
	piv-apdu:8192
	piv-state:40960
	issuer-api:12288
)

# The libraries whose sources the targets link, read from the automake
# fragments through the build directory's Makefile (so that a source file
# added to a library is fuzzed without an edit here). They go into one
# archive: each target pulls in what it uses.
libraries=(
	libofpcommon_la_SOURCES
	libofpp11client_la_SOURCES
	libofpformat_la_SOURCES
	libofpverifier_la_SOURCES
	libofpgate_la_SOURCES
	libp11object_la_SOURCES
	libp11store_la_SOURCES
	libofpholder_la_SOURCES
	libofpissuer_la_SOURCES
	libofpissuerapi_la_SOURCES
	libofppiv_la_SOURCES
	libofppivossl_la_SOURCES
)

die() { echo "fuzz: $*" >&2; exit 2; }

select_targets() {
	local want t found
	[ "$#" -eq 0 ] && return
	local chosen=()
	for want in "$@"; do
		found=
		for t in "${targets[@]}"; do
			[ "${t%%:*}" = "$want" ] && chosen+=("$t") && found=1
		done
		[ -n "$found" ] || die "no target '$want'"
	done
	targets=("${chosen[@]}")
}

check_compiler() {
	local probe
	command -v "$cc" >/dev/null || die "$cc not found (Debian: apt-get install clang libclang-rt-14-dev)"
	probe=$(mktemp -d)
	printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
		>"$probe/t.c"
	if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/t.c" -o "$probe/t" >"$probe/log" 2>&1; then
		cat "$probe/log" >&2
		rm -rf "$probe"
		die "$cc cannot link -fsanitize=fuzzer (Debian: apt-get install libclang-rt-14-dev)"
	fi
	rm -rf "$probe"
}

configure_build() {
	if [ ! -f "$build/config.h" ] || [ ! -f "$build/Makefile" ]; then
		echo "fuzz: configuring $build"
		(cd "$top" && { [ -x configure ] || autoreconf -fi >/dev/null 2>&1; })
		mkdir -p "$build"
		(cd "$build" && "$top/configure" -q)
	fi
	# Regenerate the Makefile when a fragment changed, as make would.
	make -C "$build" Makefile >/dev/null 2>&1 || die "cannot update $build/Makefile"
}

# The .c files of the automake variables named in libraries[].
library_sources() {
	local goals=("${libraries[@]/#/fuzz-print-}")
	# shellcheck disable=SC2016 # make expands it
	printf 'fuzz-print-%%:\n\t@echo $($*)\n' |
		make -s --no-print-directory -C "$build" -f Makefile -f - "${goals[@]}" |
		tr ' ' '\n' | grep '\.c$' | sort -u
}

# Compile every source, in parallel, then archive them.
build_all() {
	local pc
	pc=$(pkg-config --cflags p11-kit-1 libpng zbar sqlite3 jansson libpq 2>/dev/null) || pc="-I/usr/include/p11-kit-1 -I/usr/include/libpng16 -I/usr/include/postgresql"
	# shellcheck disable=SC2206 # pkg-config's flags are words
	cflags=(-g -O1 -pthread "-fsanitize=address,undefined" "-fno-sanitize-recover=undefined" -fno-omit-frame-pointer
		"-I$top" "-I$top/common" "-I$build" $pc "-DOFP_VECTORS_DIR=\"$top/tests/vectors\""
		"-DOFFPASS_DEFAULT_MODULE=\"/nonexistent/offpass-p11.so\"")
	ldflags=(-g -pthread "-fsanitize=fuzzer,address,undefined" "-Wl,--as-needed")
	# shellcheck disable=SC2207 # pkg-config's flags are words
	libs=(-lcrypto -lsqlite3 -lzbar -lpng16 -ljansson -lp11-kit
		$(pkg-config --libs tss2-esys tss2-tctildr tss2-mu tss2-sys tss2-rc libcurl libpq) -lpthread)
	out=$build/tests/fuzz
	rm -rf "$out/obj"
	mkdir -p "$out/obj/lib" "$out/obj/targets"

	local pids=() src obj failed=0 pid sources
	sources=$(library_sources)
	[ -n "$sources" ] || die "no library sources found through $build/Makefile"
	compile() { # src obj extra-flags...
		local s=$1 o=$2
		shift 2
		"$cc" "${cflags[@]}" "$@" -c "$s" -o "$o" 2>"$o.log" || { cat "$o.log" >&2; return 1; }
		[ -s "$o.log" ] && cat "$o.log" >&2
		return 0
	}
	for src in $sources; do
		obj=$out/obj/lib/$(echo "$src" | tr / _ | sed 's/\.c$//').o
		compile "$top/$src" "$obj" -fsanitize=fuzzer-no-link -w &
		pids+=($!)
		if [ "${#pids[@]}" -ge "$jobs" ]; then
			wait "${pids[0]}" || failed=1
			pids=("${pids[@]:1}")
		fi
	done
	for t in "${targets[@]}"; do
		name=${t%%:*}
		compile "$top/tests/fuzz/fuzz-$name.c" "$out/obj/targets/fuzz-$name.o" -fsanitize=fuzzer-no-link \
			-Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wvla &
		pids+=($!)
		if [ "${#pids[@]}" -ge "$jobs" ]; then
			wait "${pids[0]}" || failed=1
			pids=("${pids[@]:1}")
		fi
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=1
	done
	[ "$failed" = 0 ] || die "compilation failed"
	rm -f "$out/libofp-fuzz.a"
	ar rcs "$out/libofp-fuzz.a" "$out"/obj/lib/*.o
	for t in "${targets[@]}"; do
		name=${t%%:*}
		"$cc" "${ldflags[@]}" "$out/obj/targets/fuzz-$name.o" "$out/libofp-fuzz.a" "${libs[@]}" -o "$out/fuzz-$name" ||
			die "linking fuzz-$name failed"
	done
}

hexdump_file() {
	od -An -v -tx1 "$1" | tr -d ' \n' | fold -w 64
	echo
}

# Run one target; 0 when it found nothing.
run_target() {
	local name=$1 max_len=$2 rc=0 f stats
	local corpus=$work/corpus/$name art=$work/artifacts/$name log=$work/$name.log
	mkdir -p "$corpus" "$art" "$work/tmp"
	if [ -d "$top/tests/fuzz/corpus/$name" ]; then
		cp "$top/tests/fuzz/corpus/$name"/* "$corpus"/ 2>/dev/null || true
	fi
	TMPDIR=$work/tmp ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$out/fuzz-$name" -max_len="$max_len" -max_total_time="$seconds" -timeout="$timeout" \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" "$corpus" >"$log" 2>&1 || rc=$?
	stats=$(awk '/^stat::number_of_executed_units/ { runs = $2 } /^stat::average_exec_per_sec/ { eps = $2 }
		/^#[0-9]+.*cov: / { for (i = 1; i <= NF; i++) if ($i == "cov:") cov = $(i + 1) }
		END { printf "%s runs, %s exec/s, cov %s", runs, eps, cov }' "$log")
	if [ "$rc" = 0 ] && [ -z "$(ls -A "$art")" ]; then
		printf 'fuzz: %-16s ok    (%s, %s seeds)\n' "$name" "$stats" "$(find "$top/tests/fuzz/corpus/$name" -type f 2>/dev/null | wc -l)"
		return 0
	fi
	printf 'fuzz: %-16s FAIL  (exit %s; %s)\n' "$name" "$rc" "$stats"
	echo "---- report (last 80 lines of $log)"
	tail -n 80 "$log"
	for f in "$art"/*; do
		[ -f "$f" ] || continue
		echo "---- input $(basename "$f") ($(stat -c %s "$f") bytes), hex:"
		hexdump_file "$f"
		echo "---- reproduce: $out/fuzz-$name $f"
	done
	return 1
}

select_targets "$@"
check_compiler
configure_build
build_all
work=$(mktemp -d "${TMPDIR:-/tmp}/offpass-fuzz-run.XXXXXX")
echo "fuzz: ${#targets[@]} targets, $seconds s each; work directory $work"
passed=0
failed=0
for t in "${targets[@]}"; do
	if run_target "${t%%:*}" "${t##*:}"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
# Keep the findings (under artifacts/) when there are any.
[ "$failed" = 0 ] && rm -rf "$work"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
