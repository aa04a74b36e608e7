#!/bin/bash
# tests/fuzz/run.sh [SECONDS] - build lxlb's libFuzzer targets into build/fuzz/
# and run them for SECONDS in all (default 60), split evenly:
#   request  the request path: llhttp as lb/session.c configures it,
#            lb/http.c, lb/forward.c (fuzz_request.c)
#   import   `lxlb import-haproxy`: a whole haproxy.cfg through conf/haproxy*.c
#            (fuzz_import.c, seeds in corpus-import/)
# Prints the executions run; exits non-zero when a fuzzer finds a crash or a
# broken invariant (the input is saved in build/fuzz/artifacts/; replay it
# with build/fuzz/fuzz_request FILE or build/fuzz/fuzz_import FILE).
#
#   tests/fuzz/run.sh 300                # the make fuzz run (150 s each)
#   FUZZ_JOBS=2 tests/fuzz/run.sh 600    # several processes
#   FUZZ_TARGETS=import tests/fuzz/run.sh 300   # one target only
#   tests/fuzz/run.sh --replay FILE...   # build, then run just these inputs
#                                        # (FUZZ_TARGETS picks the target, default request)
#
# Environment: FUZZ_BUILD (default build/fuzz), FUZZ_CC (default clang),
# FUZZ_TARGETS (default "request import"),
# FUZZ_LLHTTP_STRICT (0/1, default: as the Makefile builds llhttp),
# FUZZ_CFLAGS (extra compiler flags), FUZZ_JOBS (default 1), FUZZ_MAX_LEN (default 8192 for
# requests, 16384 for configurations), FUZZ_SKIP (checks to
# skip while a known lxlb bug is open, e.g. "host,xff"; see fuzz_request.c).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
CC=${FUZZ_CC:-clang}
LLHTTP_DIR=${LLHTTP_DIR:-/usr/share/llhttp}
LLHTTP_INC=${LLHTTP_INC:-/usr/share/include/llhttp}
JOBS=${FUZZ_JOBS:-1}

replay=()
if [ "${1:-}" = "--replay" ]; then
    shift
    replay=("$@")
    SECS=0
    TARGETS=${FUZZ_TARGETS:-request}
else
    SECS=${1:-60}
    TARGETS=${FUZZ_TARGETS:-request import}
fi

# clang with the libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
have_fuzzer() {
    command -v "$CC" >/dev/null 2>&1 &&
        echo 'int LLVMFuzzerTestOneInput(const char *d, long n){(void)d;(void)n;return 0;}' |
            "$CC" -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1
}
if ! have_fuzzer; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "fuzz: installing clang and its libFuzzer runtime (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libclang-rt-14-dev >/dev/null
    fi
    if ! have_fuzzer; then
        echo "fuzz: $CC with -fsanitize=fuzzer is not available;" \
             "apt-get install clang libclang-rt-14-dev" >&2
        exit 2
    fi
fi

# llhttp is compiled as the Makefile compiles it (strict mode or not).
if [ -z "${FUZZ_LLHTTP_STRICT:-}" ]; then
    grep -q 'LLHTTP_STRICT_MODE=1' "$ROOT/Makefile" && FUZZ_LLHTTP_STRICT=1 || FUZZ_LLHTTP_STRICT=0
fi

mkdir -p "$OUT/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Sets BIN, SRCS, LIBS, DICT, SEEDS, MAX_LEN for target $1.
target_setup() {
    case "$1" in
    request)
        BIN=$OUT/fuzz_request
        [ "$FUZZ_LLHTTP_STRICT" = 1 ] && BIN=$OUT/fuzz_request_strict
        SRCS=("$ROOT/tests/fuzz/fuzz_request.c" "$ROOT/lb/http.c" "$ROOT/lb/forward.c"
              "$LLHTTP_DIR/api.c" "$LLHTTP_DIR/http.c" "$LLHTTP_DIR/llhttp.c")
        # Persistence cookies (lb/cookie.c), once they exist: forward.c uses them.
        [ -f "$ROOT/lb/cookie.c" ] && SRCS+=("$ROOT/lb/cookie.c")
        LIBS=libevent
        DICT=$ROOT/tests/fuzz/http.dict
        SEEDS=$ROOT/tests/fuzz/corpus
        MAX_LEN=${FUZZ_MAX_LEN:-8192}
        ;;
    import)
        BIN=$OUT/fuzz_import
        SRCS=("$ROOT/tests/fuzz/fuzz_import.c" "$ROOT"/conf/haproxy*.c "$ROOT/conf/json.c"
              "$ROOT/conf/parse.c")
        LIBS=jansson
        DICT=$ROOT/tests/fuzz/haproxy.dict
        SEEDS=$ROOT/tests/fuzz/corpus-import
        MAX_LEN=${FUZZ_MAX_LEN:-16384}
        ;;
    *)
        echo "fuzz: unknown target '$1' (request, import)" >&2
        exit 2
        ;;
    esac
}

# Rebuild when a source, a header it may include or this script changed.
target_build() {
    local stamp="$FUZZ_LLHTTP_STRICT ${FUZZ_CFLAGS:-}"
    if [ ! -x "$BIN" ] || [ "$(cat "$BIN.flags" 2>/dev/null)" != "$stamp" ] ||
       [ -n "$(find "${SRCS[@]}" "$ROOT"/conf/*.h "$0" -newer "$BIN" 2>/dev/null)" ]; then
        echo "fuzz: building $BIN"
        # shellcheck disable=SC2046
        "$CC" -std=gnu11 -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer \
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined ${FUZZ_CFLAGS:-} \
            -DLLHTTP_STRICT_MODE="$FUZZ_LLHTTP_STRICT" \
            -I"$ROOT" -I"$LLHTTP_INC" $(pkg-config --cflags $LIBS) \
            -o "$BIN.tmp" "${SRCS[@]}" $(pkg-config --libs $LIBS)
        mv "$BIN.tmp" "$BIN"
        echo "$stamp" >"$BIN.flags"
    fi
}

if [ ${#replay[@]} -gt 0 ]; then
    target_setup "${TARGETS%% *}"
    target_build
    exec "$BIN" "${replay[@]}"
fi

# Run target $1 for $2 seconds; adds to total_execs, returns the fuzzer's status.
total_execs=0
target_run() {
    local name=$1 secs=$2 corpus=$OUT/corpus
    [ "$name" = request ] || corpus=$OUT/corpus-$name
    mkdir -p "$corpus"
    local log=$OUT/last-run-$name.log
    echo "fuzz: running $BIN for ${secs}s ($JOBS job(s)); log: $log"
    set +e
    if [ "$JOBS" -gt 1 ]; then
        # -fork keeps going over several processes; a crash still stops the run.
        "$BIN" -fork="$JOBS" -ignore_crashes=0 -max_total_time="$secs" -max_len="$MAX_LEN" \
            -timeout=10 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
            -dict="$DICT" -artifact_prefix="$OUT/artifacts/" \
            "$corpus" "$SEEDS" >"$log" 2>&1
    else
        "$BIN" -max_total_time="$secs" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
            -use_value_profile=1 -print_final_stats=1 \
            -dict="$DICT" -artifact_prefix="$OUT/artifacts/" \
            "$corpus" "$SEEDS" >"$log" 2>&1
    fi
    local rc=$?
    set -e
    local execs
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' |
            awk '{s+=$1} END {print s+0}')
    if [ "${execs:-0}" = 0 ]; then # -fork prints progress lines instead
        execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    total_execs=$((total_execs + ${execs:-0}))
    local units
    units=$(ls "$corpus" | wc -l)
    if [ "$rc" != 0 ]; then
        echo "fuzz: $name FAILED after ${execs:-?} executions (exit $rc); the end of the log:" >&2
        grep -E -A1 'INVARIANT FAILED|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error' "$log" | head -20 >&2
        grep -E 'SUMMARY|Test unit written' "$log" | head -5 >&2
        return 1
    fi
    echo "fuzz: $name: ${execs:-0} executions in ${secs}s, no crash; corpus $units units in $corpus"
    return 0
}

read -r -a names <<<"$TARGETS"
per=$(( SECS / ${#names[@]} ))
[ "$per" -ge 1 ] || per=1
passed=0 failed=0
for name in "${names[@]}"; do
    target_setup "$name"
    target_build
    if target_run "$name" "$per"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: ${total_execs} executions in all"
echo "fuzz: $passed passed, $failed failed" # the summary line tests/run-all.sh reads
[ "$failed" = 0 ]
