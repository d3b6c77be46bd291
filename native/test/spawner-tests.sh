#!/usr/bin/env bash
# Drives execgo-spawner (the server's forkserver, docs/performance.md) with real shims.
# Usage: spawner-tests.sh <spawner-binary> <shim-binary>. Prints "ok - name" / "not ok - name"
# and a final "N passed, M failed"; exits non-zero if anything failed.
set -euo pipefail

# shellcheck source=test-lib.sh
source "$(cd "$(dirname "$0")" && pwd)/test-lib.sh"
TEST_PREFIX='spawner '
SPAWNER=$(realpath "$1")
SHIM=$(realpath "$2")
T=$(mktemp -d)
touch "$T/strays"
cleanup() {
    local pid
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$T/strays"
    rm -rf "$T"
}
trap cleanup EXIT

# spec name exe args...: writes $T/name/spec for a task running exe with args.
spec() {
    local d=$T/$1 exe=$2 a entries=()
    shift 2
    mkdir -p "$d/notify"
    entries=("task_id=$(basename "$d")" "exe=$exe" "start_record=$d/start" "exit_record=$d/exit"
        "stdout=$d/out" "stderr=$d/err" "notify_dir=$d/notify" "cwd=$d")
    for a in "$exe" "$@"; do entries+=("arg=$a"); done
    printf '%s\0' "${entries[@]}" >"$d/spec"
}

# start_spawner: the spawner as a coprocess; requests go to ${SP[1]}, replies come from ${SP[0]}.
start_spawner() {
    coproc SP { exec "$SPAWNER" "$SHIM" 2>"$T/spawner.log.$n"; }
    SP_PID=$SP_PID
    echo "$SP_PID" >>"$T/strays"
}
request() { printf '%s' "$1" >&"${SP[1]}"; shift; printf '%s\0' "$@" >&"${SP[1]}"; }
reply() { local line; read -r -t 10 line <&"${SP[0]}" || fail "no reply"; echo "$line"; }
stop_spawner() {
    local rc=0
    exec {SP[1]}>&-
    wait "$SP_PID" || rc=$?
    expect "spawner exit status ($(cat "$T/spawner.log.$n"))" "$rc" "${1:-0}"
    if grep -qE 'Sanitizer|runtime error' "$T/spawner.log.$n"; then fail "sanitizer report"; fi
}
field() { sed -n "s/^$2=//p" "$T/$1/exit"; }

# ---- scenarios ------------------------------------------------------------------------------

# Start, open the gate: the program runs, the exit is reported with the shim's pid.
test_start_and_open() {
    spec a /bin/sh -c 'echo hi'
    start_spawner
    request S 1 "$T/a/spec" "$T/a/shim.log"
    read -r op id pid ticks <<<"$(reply)"
    expect reply "$op $id" "P 1"
    expect "start ticks" "$ticks" "$(awk '{sub(/.*\) /, ""); print $20}' "/proc/$pid/stat")"
    request G 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect reason "$(field a reason)" exited
    expect stdout "$(cat "$T/a/out")" hi
    stop_spawner
}

# Abort: the shim reads EOF at its gate and leaves no trace.
test_abort_leaves_no_trace() {
    spec b /bin/true
    start_spawner
    request S 7 "$T/b/spec" "$T/b/shim.log"
    read -r op _ pid _ <<<"$(reply)"
    expect op "$op" P
    request A 7
    expect exit "$(reply)" "X $pid 0 -1"
    [[ ! -e $T/b/exit && ! -e $T/b/start && -z $(ls "$T/b/notify") ]] || fail "trace left"
    stop_spawner
}

# The server dies (EOF) while a shim waits at its gate: the spawner exits, the shim too,
# without a trace.
test_server_gone_closes_gates() {
    spec c /bin/true
    start_spawner
    request S 1 "$T/c/spec" "$T/c/shim.log"
    read -r _ _ pid _ <<<"$(reply)"
    echo "$pid" >>"$T/strays"
    stop_spawner
    wait_for "shim exit" eval "! alive $pid"
    [[ ! -e $T/c/exit && ! -e $T/c/start ]] || fail "trace left"
}

# A shim whose gate was opened keeps supervising after the spawner died.
test_shim_outlives_spawner() {
    spec d /bin/sleep 1
    start_spawner
    request S 1 "$T/d/spec" "$T/d/shim.log"
    read -r _ _ pid _ <<<"$(reply)"
    echo "$pid" >>"$T/strays"
    request G 1
    wait_for "start record" test -e "$T/d/start"
    kill -KILL "$SP_PID"
    { wait "$SP_PID"; } 2>/dev/null || true
    alive "$pid" || fail "shim died with the spawner"
    wait_for "exit record" test -e "$T/d/exit"
    expect reason "$(field d reason)" exited
}

# A cancel signal sent the moment the pid is known (the shim may not have reached main yet)
# is not lost: after the gate the program is not started and the record says cancelled.
test_early_cancel() {
    spec g /bin/sleep 30
    start_spawner
    request S 1 "$T/g/spec" "$T/g/shim.log"
    read -r _ _ pid _ <<<"$(reply)"
    kill -TERM "$pid"
    request G 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect reason "$(field g reason)" cancelled
    ! grep -q '^pid=' "$T/g/exit" || fail "program started"
    stop_spawner
}

# A log file that cannot be opened fails the start with its errno; the next start works.
test_start_error() {
    spec e /bin/true
    start_spawner
    request S 3 "$T/e/spec" "$T/missing-dir/shim.log"
    expect reply "$(reply)" "E 3 2"
    request S 4 "$T/e/spec" "$T/e/shim.log"
    read -r op id pid _ <<<"$(reply)"
    expect reply "$op $id" "P 4"
    request G 4
    expect exit "$(reply)" "X $pid 0 -1"
    stop_spawner
}

# A spec error ends the shim before its gate (exit 2); opening the gate later is harmless.
test_spec_error() {
    mkdir -p "$T/f"
    printf 'bogus=1\0' >"$T/f/spec"
    start_spawner
    request S 5 "$T/f/spec" "$T/f/shim.log"
    read -r _ _ pid _ <<<"$(reply)"
    expect exit "$(reply)" "X $pid 2 -1"
    request G 5
    stop_spawner
}

# Many shims at once, gates opened in reverse order: every exit is reported once.
test_many() {
    local i line clean=0
    start_spawner
    for i in $(seq 20); do
        spec "m$i" /bin/true
        request S "$i" "$T/m$i/spec" "$T/m$i/shim.log"
    done
    for i in $(seq 20); do
        line=$(reply)
        expect reply "${line:0:1}" P
    done
    for i in $(seq 20 -1 1); do request G "$i"; done
    for i in $(seq 20); do
        line=$(reply)
        [[ $line == "X "*" 0 -1" ]] && clean=$((clean + 1))
    done
    expect "clean exits" "$clean" 20
    for i in $(seq 20); do [[ -e $T/m$i/exit ]] || fail "no exit record for m$i"; done
    stop_spawner
}

test_malformed_request() {
    start_spawner
    request S not-a-number x y
    stop_spawner 2
}

for t in start_and_open abort_leaves_no_trace server_gone_closes_gates shim_outlives_spawner \
    early_cancel start_error spec_error many malformed_request; do
    run_test "$t"
done
finish_tests
