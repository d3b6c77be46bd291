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

# ---- cgroups (the suites are run as root to use them) ---------------------------------------

# cgroup_root v1|v2: prints a writable hierarchy of that version (v1: the pids one), or fails.
cgroup_root() {
    local dir
    if [[ $1 == v2 ]]; then
        dir=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
    else
        dir=$(awk '$3 == "cgroup" && $4 ~ /(^|,)pids(,|$)/ { print $2; exit }' /proc/mounts)
    fi
    [[ -n $dir && -w $dir ]] && echo "$dir"
}

# make_cgroup root: creates a temporary cgroup, prints its path and lists it in $T/cgroups
# (tests run in subshells) for remove_cgroups.
make_cgroup() {
    local dir=$1/execgo-shim-test-$$-$n
    mkdir "$dir" && echo "$dir" >>"$T/cgroups" && echo "$dir"
}

# Kills whatever is left in the cgroups make_cgroup created and removes them.
# make_test_dir: a fresh $T, removed at exit together with what the tests left there. Tests
# run in subshells, so what must be undone at the end is listed in files: $T/strays (pids a
# failed test may have left running) and $T/cgroups (dirs to remove).
make_test_dir() {
    T=$(mktemp -d)
    touch "$T/strays" "$T/cgroups"
    trap cleanup_test_dir EXIT
}
cleanup_test_dir() {
    local pid
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$T/strays"
    remove_cgroups
    rm -rf "$T"
}

remove_cgroups() {
    local dir
    [[ -e $T/cgroups ]] || return 0
    while read -r dir; do
        [[ -d $dir ]] || continue
        { echo 1 >"$dir/cgroup.kill"; } 2>/dev/null ||
            xargs -r kill -KILL <"$dir/cgroup.procs" 2>/dev/null || true
        for _ in $(seq 50); do rmdir "$dir" 2>/dev/null && break; sleep 0.1; done
    done <"$T/cgroups"
}
