#!/bin/bash
# Runs every tests/lxc/test_*.sh (or the ones named as arguments), each in its
# own bash process, against the lxlb binary $LXLB (default build/lxlb).
# Prints "ok"/"FAIL" per test and, last, exactly "lxc: N passed, N failed".
# LXC that cannot work on this machine is a failure, never a silent skip: the
# whole point of this suite is the real thing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
LXLB=${LXLB:-$repo/build/lxlb}
case "$LXLB" in /*) ;; *) LXLB=$PWD/$LXLB ;; esac
export LXLB
# A test that hangs is killed (TERM, so its trap cleans up) after this long.
TEST_TIMEOUT=${TEST_TIMEOUT:-600}

passed=0 failed=0

summary() {
    echo "lxc: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

# Is LXC usable at all? Checked in a subshell so that tb_die does not end us.
# shellcheck source=tests/lxc/lib.sh
if ! pre=$( (source "$here/lib.sh" && tb_preflight) 2>&1); then
    echo "FAIL preflight: $pre"
    echo "     LXC cannot run on this machine; the LXC suite cannot pass here."
    failed=1; summary
fi

if [ $# -gt 0 ]; then
    tests=()
    for t in "$@"; do
        case "$t" in */*) tests+=("$t") ;; *) tests+=("$here/${t%.sh}.sh") ;; esac
    done
else
    tests=("$here"/test_*.sh)
fi
[ -e "${tests[0]}" ] || { echo "FAIL no tests found in $here"; failed=1; summary; }

for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    echo "--- $name"
    start=$SECONDS
    # Output goes through sed: run-all.sh adds up every "<number> failed" or
    # "<number> errors" it sees, so a log line quoted by a test must not look
    # like a suite summary.
    timeout -k 30 "$TEST_TIMEOUT" bash "$t" 2>&1 \
        | sed -E 's/([0-9]+) (passed|failed|errors?)\b/\1_\2/g'
    rc=${PIPESTATUS[0]}
    secs=$((SECONDS - start))
    if [ "$rc" = 0 ]; then
        echo "ok   $name (${secs}s)"; passed=$((passed + 1))
    else
        [ "$rc" = 124 ] && echo "     (timed out after ${TEST_TIMEOUT}s)"
        echo "FAIL $name (${secs}s, exit $rc)"; failed=$((failed + 1))
    fi
done
summary
