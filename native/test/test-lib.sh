# Shared by the native test scripts (sourced, not run): sanitizer settings, assertions and the
# runner that prints "ok - name" / "not ok - name" and the final "N passed, M failed".

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
passed=0 failed=0 n=0

fail() { echo "#   $*" >&2; exit 1; }
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
not_alive() { ! alive "$1"; }
wait_for() { # wait_for what command...: polls for up to 10 s
    local what=$1 i
    shift
    for i in $(seq 500); do
        "$@" && return 0
        sleep 0.02
    done
    fail "timed out waiting for $what"
}

# run_test name [function args...] (default function: test_<name>). Each test runs in a
# subshell with `set -e`, so one failing test never stops the others. TEST_PREFIX (optional)
# is prepended to the printed name.
run_test() {
    local name=$1 rc=0
    shift
    (($# > 0)) || set -- "test_$name"
    n=$((n + 1))
    set +e
    (set -e; "$@")
    rc=$?
    set -e
    if ((rc == 0)); then
        echo "ok - ${TEST_PREFIX:-}$name"
        passed=$((passed + 1))
    else
        echo "not ok - ${TEST_PREFIX:-}$name"
        failed=$((failed + 1))
    fi
}

# Prints the summary and returns non-zero if anything failed.
finish_tests() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
}
