#!/bin/bash
# tests/fuzz/run.sh [SECONDS] - build lxlb's libFuzzer targets into build/fuzz/
# and run them for SECONDS in all (default 60): half for fuzz_request (the
# request path: lb/h1.c, lb/http.c, lb/forward.c), the other half shared by
# fuzz_pp (PROXY protocol, lb/pp.c), fuzz_route (routing and redirects,
# lb/route.c, lb/redirect.c), fuzz_import (`lxlb import-haproxy`: a whole
# haproxy.cfg through conf/haproxy*.c, seeds in corpus-import/) and fuzz_h2
# (HTTP/2 frames into a real client connection: lb/h2c.c over nghttp2 with
# the whole request path behind it, all of lb/ built with clang). Prints
# the executions run; exits non-zero when a fuzzer finds a crash or a broken
# invariant (the input is saved in build/fuzz/artifacts/; replay it with
# build/fuzz/fuzz_<target> FILE).
#
#   tests/fuzz/run.sh 300                          # the make fuzz run
#   FUZZ_JOBS=2 tests/fuzz/run.sh 600              # several processes
#   FUZZ_TARGETS=pp tests/fuzz/run.sh 60           # one target, all the time
#   tests/fuzz/run.sh --replay FILE...             # build, then run these inputs
#   FUZZ_TARGETS=route tests/fuzz/run.sh --replay FILE...
#
# Environment: FUZZ_BUILD (default build/fuzz), FUZZ_CC (default clang),
# FUZZ_TARGETS (default "request pp route import h2"; --replay: the first),
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
read -r -a TARGETS <<<"${FUZZ_TARGETS:-request pp route import h2}"

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
LLHTTP_SRCS=("$LLHTTP_DIR/api.c" "$LLHTTP_DIR/http.c" "$LLHTTP_DIR/llhttp.c")

# Per target: sources, libraries, dictionary, seed corpus, input size.
target_setup() { # name
    LIBS="libevent" WHOLE=0
    case "$1" in
    request)
        SRCS=("$ROOT/tests/fuzz/fuzz_request.c" "$ROOT/lb/http.c" "$ROOT/lb/forward.c"
              "$ROOT/lb/h1.c" "${LLHTTP_SRCS[@]}")
        # Persistence cookies (lb/cookie.c), once they exist: forward.c uses them.
        [ -f "$ROOT/lb/cookie.c" ] && SRCS+=("$ROOT/lb/cookie.c")
        DICT=$ROOT/tests/fuzz/http.dict SEEDS=$ROOT/tests/fuzz/corpus CORPUS=$OUT/corpus
        LEN=$MAX_LEN ;;
    pp)
        SRCS=("$ROOT/tests/fuzz/fuzz_pp.c" "$ROOT/lb/pp.c")
        LIBS=""
        DICT=$ROOT/tests/fuzz/pp.dict SEEDS=$ROOT/tests/fuzz/corpus-pp
        CORPUS=$OUT/corpus-pp LEN=1024 ;;
    route)
        SRCS=("$ROOT/tests/fuzz/fuzz_route.c" "$ROOT/lb/route.c" "$ROOT/lb/redirect.c"
              "$ROOT/lb/http.c" "$ROOT/lb/ctr.c" "$ROOT/conf/parse.c" "${LLHTTP_SRCS[@]}")
        DICT=$ROOT/tests/fuzz/route.dict SEEDS=$ROOT/tests/fuzz/corpus-route
        CORPUS=$OUT/corpus-route LEN=2048 ;;
    import)
        SRCS=("$ROOT/tests/fuzz/fuzz_import.c" "$ROOT"/conf/haproxy*.c "$ROOT/conf/json.c"
              "$ROOT/conf/parse.c")
        LIBS="jansson"
        DICT=$ROOT/tests/fuzz/haproxy.dict SEEDS=$ROOT/tests/fuzz/corpus-import
        CORPUS=$OUT/corpus-import LEN=${FUZZ_MAX_LEN:-16384} ;;
    h2)
        # lb/h2c*.c need the client connection, the stream and what they
        # use: all of lb/ (and conf/, health/, discovery/, admin/), built
        # object by object (build_whole).
        SRCS=("$ROOT/tests/fuzz/fuzz_h2.c")
        LIBS="libevent libevent_openssl jansson openssl lxc libnghttp2" WHOLE=1
        DICT=$ROOT/tests/fuzz/h2.dict SEEDS=$ROOT/tests/fuzz/corpus-h2
        CORPUS=$OUT/corpus-h2 LEN=4096 ;;
    *)
        echo "fuzz: unknown target $1 (request, pp, route, import, h2)" >&2
        exit 2 ;;
    esac
    BIN=$OUT/fuzz_$1
    [ "$1" = request ] && [ "$FUZZ_LLHTTP_STRICT" = 1 ] && BIN=$OUT/fuzz_request_strict
    return 0
}

# Every source of lxlb but main.c (the Makefile's SRC globs), each compiled
# once into $OUT/whole/ with the fuzzer's instrumentation (recompiled when it
# or a header changed); the objects go into WHOLE_OBJS.
build_whole() {
    local stamp="$FUZZ_LLHTTP_STRICT ${FUZZ_CFLAGS:-}" src obj globs
    WHOLE_OBJS=()
    mkdir -p "$OUT/whole"
    globs=$(sed -n 's/^SRC *:= *$(wildcard \(.*\))$/\1/p' "$ROOT/Makefile")
    [ -n "$globs" ] || { echo "fuzz: no SRC line in the Makefile" >&2; exit 2; }
    # shellcheck disable=SC2086
    for src in $(cd "$ROOT" && ls $globs) "${LLHTTP_SRCS[@]}"; do
        case $src in /*) ;; *) src=$ROOT/$src ;; esac
        [ "$src" = "$ROOT/lb/main.c" ] && continue
        obj=$OUT/whole/$(echo "${src#"$ROOT"/}" | tr / _).o
        if [ ! -f "$obj" ] || [ "$(cat "$obj.flags" 2>/dev/null)" != "$stamp" ] ||
           [ -n "$(find "$src" "$ROOT"/*/*.h -newer "$obj" 2>/dev/null)" ]; then
            # shellcheck disable=SC2046,SC2086
            "$CC" -std=gnu11 -g -O1 -D_GNU_SOURCE -DLXLB_VERSION='"fuzz"' -fno-omit-frame-pointer \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
                ${FUZZ_CFLAGS:-} -DLLHTTP_STRICT_MODE="$FUZZ_LLHTTP_STRICT" -w \
                -I"$ROOT" -I"$LLHTTP_INC" $(pkg-config --cflags $LIBS) -c -o "$obj" "$src"
            echo "$stamp" >"$obj.flags"
        fi
        WHOLE_OBJS+=("$obj")
    done
}

build_target() { # name
    target_setup "$1"
    WHOLE_OBJS=()
    [ "$WHOLE" = 1 ] && build_whole
    # Rebuild when a source or this script changed.
    local stamp="$FUZZ_LLHTTP_STRICT ${FUZZ_CFLAGS:-}"
    if [ ! -x "$BIN" ] || [ "$(cat "$BIN.flags" 2>/dev/null)" != "$stamp" ] ||
       [ -n "$(find "${SRCS[@]}" "${WHOLE_OBJS[@]}" "$0" -newer "$BIN" 2>/dev/null)" ]; then
        echo "fuzz: building $BIN"
        # shellcheck disable=SC2046,SC2086
        "$CC" -std=gnu11 -g -O1 -D_GNU_SOURCE -fno-omit-frame-pointer \
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined ${FUZZ_CFLAGS:-} \
            -DLLHTTP_STRICT_MODE="$FUZZ_LLHTTP_STRICT" \
            -I"$ROOT" -I"$LLHTTP_INC" $([ -n "$LIBS" ] && pkg-config --cflags $LIBS) \
            -o "$BIN.tmp" "${SRCS[@]}" "${WHOLE_OBJS[@]}" \
            $([ -n "$LIBS" ] && pkg-config --libs $LIBS) -lpthread
        mv "$BIN.tmp" "$BIN"
        echo "$stamp" >"$BIN.flags"
    fi
}

mkdir -p "$OUT/artifacts"
for t in "${TARGETS[@]}"; do
    build_target "$t"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ ${#replay[@]} -gt 0 ]; then
    target_setup "${TARGETS[0]}"
    exec "$BIN" "${replay[@]}"
fi

# Returns non-zero when the fuzzer found something.
run_target() { # name seconds
    target_setup "$1"
    local secs=$2 log=$OUT/last-run-$1.log rc execs units
    mkdir -p "$CORPUS"
    echo "fuzz: running $BIN for ${secs}s ($JOBS job(s)); log: $log"
    local args=(-max_total_time="$secs" -max_len="$LEN" -timeout=10 -rss_limit_mb=2048
                -use_value_profile=1 -print_final_stats=1 -dict="$DICT"
                -artifact_prefix="$OUT/artifacts/$1-" "$CORPUS" "$SEEDS")
    set +e
    if [ "$JOBS" -gt 1 ]; then
        # -fork keeps going over several processes; a crash still stops the run.
        "$BIN" -fork="$JOBS" -ignore_crashes=0 "${args[@]}" >"$log" 2>&1
    else
        "$BIN" "${args[@]}" >"$log" 2>&1
    fi
    rc=$?
    set -e
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' |
            awk '{s+=$1} END {print s+0}')
    if [ "${execs:-0}" = 0 ]; then # -fork prints progress lines instead
        execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    units=$(ls "$CORPUS" | wc -l)
    if [ "$rc" != 0 ]; then
        echo "fuzz: $1 FAILED after ${execs:-?} executions (exit $rc); the end of the log:" >&2
        grep -E -A1 'INVARIANT FAILED|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error' "$log" | head -20 >&2
        grep -E 'SUMMARY|Test unit written' "$log" | head -5 >&2
        return 1
    fi
    echo "fuzz: $1: ${execs:-0} executions in ${secs}s, no crash; corpus $units units in $CORPUS"
}

# Half the time to the request path when it runs with others; the rest shared.
n=${#TARGETS[@]} passed=0 failed=0 left=$SECS
for i in "${!TARGETS[@]}"; do
    t=${TARGETS[$i]}
    if [ "$n" = 1 ]; then
        secs=$SECS
    elif [ "$t" = request ]; then
        secs=$((SECS / 2))
    elif [ "$i" = $((n - 1)) ]; then
        secs=$left
    else
        secs=$(( (SECS - SECS / 2) / (n - 1) ))
    fi
    [ "$secs" -lt 1 ] && secs=1
    left=$((left - secs))
    if run_target "$t" "$secs"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed" # the summary line tests/run-all.sh reads
[ "$failed" = 0 ]
