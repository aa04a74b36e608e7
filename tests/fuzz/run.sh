#!/bin/bash
# tests/fuzz/run.sh [SECONDS] - build lxlb's libFuzzer target (request path:
# lb/h1.c, lb/http.c, lb/forward.c) into
# build/fuzz/ and run it for SECONDS (default 60). Prints the executions run;
# exits non-zero when the fuzzer finds a crash or a broken invariant (the input
# is saved in build/fuzz/artifacts/; replay it with
# build/fuzz/fuzz_request FILE).
#
#   tests/fuzz/run.sh 300                # the make fuzz run
#   FUZZ_JOBS=2 tests/fuzz/run.sh 600    # several processes
#   tests/fuzz/run.sh --replay FILE...   # build, then run just these inputs
#
# Environment: FUZZ_BUILD (default build/fuzz), FUZZ_CC (default clang),
# FUZZ_LLHTTP_STRICT (0/1, default: as the Makefile builds llhttp),
# FUZZ_CFLAGS (extra compiler flags), FUZZ_JOBS (default 1), FUZZ_MAX_LEN (default 8192), FUZZ_SKIP (checks to
# skip while a known lxlb bug is open, e.g. "host,xff"; see fuzz_request.c).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
CC=${FUZZ_CC:-clang}
LLHTTP_DIR=${LLHTTP_DIR:-/usr/share/llhttp}
LLHTTP_INC=${LLHTTP_INC:-/usr/share/include/llhttp}
JOBS=${FUZZ_JOBS:-1}
MAX_LEN=${FUZZ_MAX_LEN:-8192}

replay=()
if [ "${1:-}" = "--replay" ]; then
    shift
    replay=("$@")
    SECS=0
else
    SECS=${1:-60}
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

mkdir -p "$OUT/corpus" "$OUT/artifacts"
BIN=$OUT/fuzz_request
[ "$FUZZ_LLHTTP_STRICT" = 1 ] && BIN=$OUT/fuzz_request_strict
SRCS=("$ROOT/tests/fuzz/fuzz_request.c" "$ROOT/lb/http.c" "$ROOT/lb/forward.c" "$ROOT/lb/h1.c"
      "$LLHTTP_DIR/api.c" "$LLHTTP_DIR/http.c" "$LLHTTP_DIR/llhttp.c")
# Persistence cookies (lb/cookie.c), once they exist: forward.c uses them.
[ -f "$ROOT/lb/cookie.c" ] && SRCS+=("$ROOT/lb/cookie.c")
# Rebuild when a source or this script changed.
STAMP="$FUZZ_LLHTTP_STRICT ${FUZZ_CFLAGS:-}"
if [ ! -x "$BIN" ] || [ "$(cat "$BIN.flags" 2>/dev/null)" != "$STAMP" ] ||
   [ -n "$(find "${SRCS[@]}" "$0" -newer "$BIN" 2>/dev/null)" ]; then
    echo "fuzz: building $BIN"
    # shellcheck disable=SC2046
    "$CC" -std=gnu11 -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined ${FUZZ_CFLAGS:-} \
        -DLLHTTP_STRICT_MODE="$FUZZ_LLHTTP_STRICT" \
        -I"$ROOT" -I"$LLHTTP_INC" $(pkg-config --cflags libevent) \
        -o "$BIN.tmp" "${SRCS[@]}" $(pkg-config --libs libevent)
    mv "$BIN.tmp" "$BIN"
    echo "$STAMP" >"$BIN.flags"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ ${#replay[@]} -gt 0 ]; then
    exec "$BIN" "${replay[@]}"
fi

LOG=$OUT/last-run.log
echo "fuzz: running $BIN for ${SECS}s ($JOBS job(s)); log: $LOG"
set +e
if [ "$JOBS" -gt 1 ]; then
    # -fork keeps going over several processes; a crash still stops the run.
    "$BIN" -fork="$JOBS" -ignore_crashes=0 -max_total_time="$SECS" -max_len="$MAX_LEN" \
        -timeout=10 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
        -dict="$ROOT/tests/fuzz/http.dict" -artifact_prefix="$OUT/artifacts/" \
        "$OUT/corpus" "$ROOT/tests/fuzz/corpus" >"$LOG" 2>&1
else
    "$BIN" -max_total_time="$SECS" -max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 \
        -use_value_profile=1 -print_final_stats=1 \
        -dict="$ROOT/tests/fuzz/http.dict" -artifact_prefix="$OUT/artifacts/" \
        "$OUT/corpus" "$ROOT/tests/fuzz/corpus" >"$LOG" 2>&1
fi
rc=$?
set -e

execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$LOG" | grep -Eo '[0-9]+$' |
        awk '{s+=$1} END {print s+0}')
if [ "${execs:-0}" = 0 ]; then # -fork prints progress lines instead
    execs=$(grep -Eo '#[0-9]+' "$LOG" | tail -1 | tr -d '#')
fi
units=$(ls "$OUT/corpus" | wc -l)
if [ "$rc" != 0 ]; then
    echo "fuzz: FAILED after ${execs:-?} executions (exit $rc); the end of the log:" >&2
    grep -E -A1 'INVARIANT FAILED|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error' "$LOG" | head -20 >&2
    grep -E 'SUMMARY|Test unit written' "$LOG" | head -5 >&2
    echo "fuzz: 0 passed, 1 failed" # the summary line tests/run-all.sh reads
    exit 1
fi
echo "fuzz: ${execs:-0} executions in ${SECS}s, no crash; corpus $units units in $OUT/corpus"
echo "fuzz: 1 passed, 0 failed"
