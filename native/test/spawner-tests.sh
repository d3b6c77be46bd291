#!/usr/bin/env bash
# Drives execgo-spawner (the server's zygote, docs/performance.md) with real shims: the shim
# code it forks, specs sent over its pipe. Usage: spawner-tests.sh <spawner-binary>. Prints
# "ok - name" / "not ok - name" and a final "N passed, M failed"; exits non-zero if anything
# failed.
set -euo pipefail

# shellcheck source=test-lib.sh
source "$(cd "$(dirname "$0")" && pwd)/test-lib.sh"
TEST_PREFIX='spawner '
SPAWNER=$(realpath "$1")
make_test_dir
# The shims' stderr is /dev/null: sanitizer reports (a forked shim's leak check at its exit
# too) go to files instead, checked after each test and at the end.
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/sanitizer"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$T/sanitizer"

# spec name exe args...: writes $T/name.spec (the bytes to send; the shim never sees a spec
# file) for a task in the dir $T/name running exe with args. SPEC_EXTRA (an array, set
# before, not as a prefix: that would export it): more entries.
spec() {
    local name=$1 d=$T/$1 exe=$2 a entries=()
    shift 2
    mkdir -p "$d"
    entries=("task_id=$name" "exe=$exe" "start_record=$d/start" "exit_record=$d/exit"
        "stdout=$d/out" "stderr=$d/err" "cwd=$d")
    for a in "$exe" "$@"; do entries+=("arg=$a"); done
    printf '%s\0' "${entries[@]}" ${SPEC_EXTRA[@]+"${SPEC_EXTRA[@]}"} >"$T/$name.spec"
}

# start_spawner: the spawner as a coprocess; requests go to ${SP[1]}, replies come from ${SP[0]}.
start_spawner() {
    coproc SP { exec "$SPAWNER" 2>"$T/spawner.log.$n"; }
    SP_PID=$SP_PID
    echo "$SP_PID" >>"$T/strays"
}
request() { printf '%s' "$1" >&"${SP[1]}"; shift; printf '%s\0' "$@" >&"${SP[1]}"; }
# start id name [log]: forks shim id (F); `open id` later launches $T/name.spec in it (L),
# with its log $T/name/shim.log by default.
declare -A TASK_OF LOG_OF
start() {
    TASK_OF[$1]=$2
    LOG_OF[$1]=${3:-$T/$2/shim.log}
    request F "$1"
}
open() {
    local spec=$T/${TASK_OF[$1]}.spec
    request L "$1" "${LOG_OF[$1]}" "$(stat -c %s "$spec")"
    cat "$spec" >&"${SP[1]}"
}
reply() { local line; read -r -t 10 line <&"${SP[0]}" || fail "no reply"; echo "$line"; }
no_sanitizer_reports() {
    if compgen -G "$T/sanitizer*" >/dev/null; then
        cat "$T"/sanitizer* >&2
        fail "sanitizer report"
    fi
}
stop_spawner() {
    local rc=0
    exec {SP[1]}>&-
    wait "$SP_PID" || rc=$?
    expect "spawner exit status ($(cat "$T/spawner.log.$n"))" "$rc" "${1:-0}"
    if grep -qE 'Sanitizer|runtime error' "$T/spawner.log.$n"; then fail "sanitizer report"; fi
    no_sanitizer_reports
}
field() { sed -n "s/^$2=//p" "$T/$1/exit"; }
files() { (cd "$T/$1" && ls -A | tr '\n' ' '); }

# ---- scenarios ------------------------------------------------------------------------------

# Fork a shim, launch the task in it: the program runs, the exit is reported with the shim's pid.
test_start_and_open() {
    spec a /bin/sh -c 'echo hi'
    start_spawner
    start 1 a
    read -r op id pid ticks <<<"$(reply)"
    expect reply "$op $id" "P 1"
    expect "start ticks" "$ticks" "$(awk '{sub(/.*\) /, ""); print $20}' "/proc/$pid/stat")"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect reason "$(field a reason)" exited
    expect stdout "$(cat "$T/a/out")" hi
    stop_spawner
}

# Abort: the shim reads EOF at its gate and leaves no trace.
test_abort_leaves_no_trace() {
    spec b /bin/true
    start_spawner
    start 7 b
    read -r op _ pid _ <<<"$(reply)"
    expect op "$op" P
    request A 7
    expect exit "$(reply)" "X $pid 0 -1"
    expect "files left" "$(files b)" ""
    stop_spawner
}

# A ping is answered after every earlier request: after the fork's P, in order.
test_ping() {
    spec q /bin/true
    start_spawner
    start 3 q
    request Q 4
    read -r op id _ <<<"$(reply)"
    expect "fork first" "$op $id" "P 3"
    expect ping "$(reply)" "Q 4"
    request A 3
    read -r op _ <<<"$(reply)"
    expect "abort" "$op" X
    stop_spawner
}

# The server dies (EOF) while a shim waits at its gate: the spawner exits, the shim too,
# without a trace.
test_server_gone_closes_gates() {
    spec c /bin/true
    start_spawner
    start 1 c
    read -r _ _ pid _ <<<"$(reply)"
    echo "$pid" >>"$T/strays"
    stop_spawner
    wait_for "shim exit" eval "! alive $pid"
    expect "files left" "$(files c)" ""
}

# The server writes L and is SIGKILLed before the spawner read it (the spawner is stopped
# here to make that certain): the spawner still opens that gate before it exits, so the
# program the server committed to starting does run (without this the shim read EOF and
# recovery had to fail a task that never ran).
test_gate_written_before_server_death() {
    spec h /bin/sh -c 'echo ran'
    local fifo=$T/h.fifo
    mkfifo "$fifo"
    # The "server": starts the spawner, forks a shim, stops the spawner, writes L, dies.
    bash -c '
        coproc SP { exec "$1" 2>/dev/null; }
        printf "F1\0" >&"${SP[1]}"
        read -r op _ pid _ <&"${SP[0]}"
        echo "$SP_PID $pid" >"$4"
        kill -STOP "$SP_PID"
        printf "L1\0%s\0%s\0" "$2/shim.log" "$(stat -c %s "$3")" >&"${SP[1]}"
        cat "$3" >&"${SP[1]}"
        kill -KILL $$
    ' _ "$SPAWNER" "$T/h" "$T/h.spec" "$fifo" &
    local pids
    read -r pids <"$fifo"
    local sp=${pids% *} shim=${pids#* }
    echo "$sp $shim" >>"$T/strays"
    { wait $!; } 2>/dev/null || true
    kill -CONT "$sp"
    wait_for "exit record" test -e "$T/h/exit"
    expect reason "$(field h reason)" exited
    expect stdout "$(cat "$T/h/out")" ran
    wait_for "spawner exit" eval "! alive $sp"
}

# A SIGHUP that is not the server's death (a terminal hangup of the process group) changes
# nothing: the spawner keeps starting shims.
test_stray_hangup() {
    spec hup1 /bin/sh -c 'echo still'
    spec hup2 /bin/true
    start_spawner
    start 1 hup1 # a round trip first: the spawner is past its signal setup
    read -r op _ pid _ <<<"$(reply)"
    expect op "$op" P
    kill -HUP "$SP_PID"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect stdout "$(cat "$T/hup1/out")" still
    start 2 hup2
    read -r op _ pid _ <<<"$(reply)"
    expect "reply after SIGHUP" "$op" P
    open 2
    expect exit "$(reply)" "X $pid 0 -1"
    stop_spawner
}

# A shim whose gate was opened keeps supervising after the spawner died.
test_shim_outlives_spawner() {
    spec d /bin/sleep 1
    start_spawner
    start 1 d
    read -r _ _ pid _ <<<"$(reply)"
    echo "$pid" >>"$T/strays"
    open 1
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
    start 1 g
    read -r _ _ pid _ <<<"$(reply)"
    kill -TERM "$pid"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect reason "$(field g reason)" cancelled
    ! grep -q '^pid=' "$T/g/exit" || fail "program started"
    stop_spawner
}

# A pooled shim waits long before a task is given to it: a cancel signal from anyone but the
# server (here a child shell, while this test shell plays the server) is ignored, with a
# message on the spawner's stderr, and the task given to it later runs. The server's own
# early cancel counts (test_early_cancel).
test_pooled_ignores_foreign_signals() {
    spec fs /bin/sh -c 'echo ran'
    start_spawner
    start 1 fs
    read -r _ _ pid _ <<<"$(reply)"
    sh -c 'kill -TERM "$1"' _ "$pid"
    wait_for "message" grep -q "pooled: ignoring signal 15 from pid" "$T/spawner.log.$n"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect reason "$(field fs reason)" exited
    expect stdout "$(cat "$T/fs/out")" ran
    stop_spawner
}

# Signals 1-31 of a SigBlk/SigIgn mask: 32 and 33 are glibc's own, which its sigaction()
# refuses to touch, so they keep what the environment gave (make, for one, ignores them).
low_signals() { printf '%08x' $((16#$(sed -n "s/^$1:\s*//p" "$2") & 0x7fffffff)); }

# The race test_early_cancel covers is too short to hit from a shell (no exec any more): check
# the mechanism itself in a trace. The spawner blocks the cancel signals right before the fork
# and restores its mask (SIGCHLD and SIGHUP, its own signalfd's) right after, so the child starts with them blocked.
test_cancel_signals_blocked_across_fork() {
    if ! command -v strace >/dev/null || ! strace -f -qq -o /dev/null /bin/true 2>/dev/null; then
        echo "# skipped: strace cannot trace here"
        return 0
    fi
    spec r /bin/true
    local trace=$T/r.trace spawner_pid pid
    # LeakSanitizer cannot run under ptrace; the other tests check for leaks.
    coproc SP { ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 exec strace -f -qq -o "$trace" \
        -e trace=rt_sigprocmask,clone,clone3,fork,vfork "$SPAWNER" 2>"$T/spawner.log.$n"; }
    SP_PID=$SP_PID
    echo "$SP_PID" >>"$T/strays"
    start 1 r
    read -r _ _ pid _ <<<"$(reply)"
    request A 1
    expect exit "$(reply)" "X $pid 0 -1"
    stop_spawner
    spawner_pid=$(awk '{ print $1; exit }' "$trace")
    # The spawner's last mask change before the fork that returned the shim's pid (possibly
    # as "<... clone resumed>"), and its first one after.
    expect "around the fork" "$(awk -v p="$spawner_pid" -v c="$pid" '
        $1 != p || !/rt_sigprocmask|= / { next }
        forked && /rt_sigprocmask/ { print; exit }
        /rt_sigprocmask/ { before = $0 }
        $0 ~ "= " c "$" { print before; forked = 1 }' "$trace" |
        sed 's/^[0-9]* *//; s/, 8) = 0$//')" \
        $'rt_sigprocmask(SIG_BLOCK, [INT USR1 TERM], [HUP CHLD]\nrt_sigprocmask(SIG_SETMASK, [HUP CHLD], NULL'
}

# The program runs as a child of the forked shim with a clean slate: nothing of the spawner's
# signal state (SIGCHLD blocked, SIGPIPE ignored) or the shim's survives into it.
test_program_signal_state() {
    spec h /bin/grep -E '^Sig(Blk|Ign)' /proc/self/status
    start_spawner
    start 1 h
    read -r _ _ pid _ <<<"$(reply)"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect blocked "$(low_signals SigBlk "$T/h/out")" 00000000
    expect ignored "$(low_signals SigIgn "$T/h/out")" 00000000
    stop_spawner
}

# A shim at its gate holds nothing of the spawner's: stdin is its gate, 1 /dev/null, 2 the
# spawner's stderr (until its launch names a log), 3 its own signalfd, no other gate (another shim's gate read EOF only if none held it open),
# not our pipes. Its signal state is what the shim set up.
test_shim_fds_and_signals() {
    spec i1 /bin/true
    spec i2 /bin/true
    start_spawner
    start 1 i1
    read -r _ _ pid1 _ <<<"$(reply)"
    start 2 i2
    read -r _ _ pid2 _ <<<"$(reply)"
    wait_for "shim at its gate" eval "[[ \$(ls /proc/$pid2/fd | tr '\n' ' ') == '0 1 2 3 ' ]]"
    expect "stdin" "$(readlink "/proc/$pid2/fd/0")" "$(readlink "/proc/$SP_PID/fd/$(
        cd "/proc/$SP_PID/fd" && for f in *; do
            [[ $(readlink "$f") == "$(readlink "/proc/$pid2/fd/0")" ]] && echo "$f"
        done | head -1)")"
    expect "stdout" "$(readlink "/proc/$pid2/fd/1")" /dev/null
    expect "stderr" "$(readlink "/proc/$pid2/fd/2")" "$T/spawner.log.$n"
    expect "fd 3" "$(readlink "/proc/$pid2/fd/3")" "anon_inode:[signalfd]"
    expect ignored "$(low_signals SigIgn "/proc/$pid2/status")" 00001001 # SIGHUP, SIGPIPE
    # CHLD TERM USR1 INT, and HUP (blocked in the spawner, ignored by the shim)
    expect blocked "$(low_signals SigBlk "/proc/$pid2/status")" 00014203
    request A 1 # shim 2 was forked while we held gate 1: it must not hold it too
    expect exit "$(reply)" "X $pid1 0 -1"
    request A 2
    expect exit "$(reply)" "X $pid2 0 -1"
    expect "files left" "$(files i1)$(files i2)" ""
    stop_spawner
}

# The spec comes over the pipe: no spec file anywhere, and a clean task has nothing to say,
# so it leaves no shim.log either. Only the task's own files remain.
test_clean_task_files() {
    spec j /bin/true
    start_spawner
    start 1 j
    read -r _ _ pid _ <<<"$(reply)"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect files "$(files j)" "err exit out start "
    stop_spawner
}

# A shim with something to say creates shim.log for it: a stdin it cannot open (the program
# never starts). Its stderr is /dev/null from its launch on.
test_log_on_first_message() {
    SPEC_EXTRA=("stdin=$T/no-such-input")
    spec k /bin/true
    start_spawner
    start 1 k
    read -r _ _ pid _ <<<"$(reply)"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    expect stage "$(field k launch_error_stage)" stdio
    expect log "$(cat "$T/k/shim.log")" "execgo-shim: $T/no-such-input: No such file or directory"
    expect mode "$(stat -c %a "$T/k/shim.log")" 640
    stop_spawner
}

# A log that cannot be created is not a start error any more (it is opened lazily): a clean
# task runs as usual.
test_unwritable_log() {
    spec e /bin/true
    start_spawner
    start 3 e "$T/missing-dir/shim.log"
    read -r op id pid _ <<<"$(reply)"
    expect reply "$op $id" "P 3"
    open 3
    expect exit "$(reply)" "X $pid 0 -1"
    expect reason "$(field e reason)" exited
    stop_spawner
}

# A start that fails (here: out of fds for the gate pipe) is reported with its errno; the
# spawner goes on, and the next start works once fds are available again.
test_start_error() {
    spec l1 /bin/true
    spec l2 /bin/true
    start_spawner
    start 1 l1
    read -r _ _ pid _ <<<"$(reply)"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    # Room for one gate pipe, of which the spawner keeps one end: new fds take the lowest
    # free numbers, so the limit is the third free one (fds already above it stay open).
    local fd free=0 soft hard limits
    limits=$(prlimit --pid "$SP_PID" --nofile --output=SOFT,HARD --noheadings)
    for ((fd = 0; free < 3; fd++)); do [[ -e /proc/$SP_PID/fd/$fd ]] || free=$((free + 1)); done
    read -r soft hard <<<"$limits"
    prlimit --pid "$SP_PID" --nofile="$((fd - 1)):$hard" # the soft one: we can raise it again
    start 2 l1
    read -r op id pid _ <<<"$(reply)"
    expect reply "$op $id" "P 2"
    start 3 l2
    expect reply "$(reply)" "E 3 24"
    request A 2 # that shim inherited the limit too: too low to run a task
    expect exit "$(reply)" "X $pid 0 -1"
    prlimit --pid "$SP_PID" --nofile="$soft:$hard"
    start 4 l2
    read -r op id pid _ <<<"$(reply)"
    expect reply "$op $id" "P 4"
    open 4
    expect exit "$(reply)" "X $pid 0 -1"
    expect reason "$(field l2 reason)" exited
    stop_spawner
}

# A spec error ends the shim at its launch (exit 2) with no record, only the message in
# shim.log (it names the spec, which came over the pipe); a launch for a shim that is gone
# (here killed while pooled) is harmless.
test_spec_error() {
    mkdir -p "$T/f2"
    printf 'bogus=1\0' >"$T/f2.spec"
    spec f3 /bin/true
    start_spawner
    start 5 f2
    read -r _ _ pid _ <<<"$(reply)"
    open 5
    expect exit "$(reply)" "X $pid 2 -1"
    expect log "$(cat "$T/f2/shim.log")" "execgo-shim: launch spec: unknown key 'bogus'"
    expect "files left" "$(files f2)" "shim.log "
    start 6 f3
    read -r _ _ pid _ <<<"$(reply)"
    kill -KILL "$pid"
    expect exit "$(reply)" "X $pid -1 9"
    open 6
    start 7 f3
    read -r _ _ pid _ <<<"$(reply)"
    open 7
    expect exit "$(reply)" "X $pid 0 -1"
    expect "files left" "$(files f3)" "err exit out start "
    stop_spawner
}

# A spec larger than any pipe buffer or the spawner's and the shim's first read buffers
# (here ~150 KiB: 2000 env entries and a 40 KiB argument), arriving in pieces, with a request
# right behind it.
test_large_spec() {
    local i long env=()
    for i in $(seq 2000); do env+=("env=VAR_$i=$(printf '%060d' "$i")"); done
    long=$(printf 'x%.0s' $(seq 40000))
    SPEC_EXTRA=("${env[@]}")
    spec o /bin/sh -c 'env | grep -c ^VAR_; printf %s "$1" | wc -c' sh "$long"
    SPEC_EXTRA=()
    spec p /bin/true
    local size
    size=$(stat -c %s "$T/o.spec")
    ((size > 65536)) || fail "spec only $size bytes"
    start_spawner
    start 1 o
    read -r op id pid _ <<<"$(reply)"
    expect reply "$op $id" "P 1"
    start 2 p
    read -r op id pid2 _ <<<"$(reply)"
    expect reply "$op $id" "P 2"
    request L 1 "$T/o/shim.log" "$size"
    head -c 1000 "$T/o.spec" >&"${SP[1]}"
    sleep 0.2 # the spawner has seen part of it and must wait for the rest
    tail -c +1001 "$T/o.spec" >&"${SP[1]}"
    open 2
    local first second # in either order: the first may take longer to read its launch
    first=$(reply)
    second=$(reply)
    expect exits "$(printf '%s\n' "$first" "$second" | sort)" \
        "$(printf 'X %s 0 -1\n' "$pid" "$pid2" | sort)"
    expect output "$(tr -d ' ' <"$T/o/out")" $'2000\n40000'
    stop_spawner
}

# The program is born in the task's cgroup2 dir (clone3 with CLONE_INTO_CGROUP in the forked
# shim, as in the standalone one).
test_cgroup2() {
    local root cg
    if ((EUID != 0)) || ! root=$(cgroup_root v2); then
        echo "# skipped: no writable cgroup2 hierarchy (or not root)"
        return 0
    fi
    cg=$(make_cgroup "$root")
    SPEC_EXTRA=("cgroup=$cg")
    spec q /bin/cat /proc/self/cgroup
    start_spawner
    start 1 q
    read -r _ _ pid _ <<<"$(reply)"
    open 1
    expect exit "$(reply)" "X $pid 0 -1"
    grep -qx "0::.*/${cg##*/}" "$T/q/out" || fail "not in $cg: $(cat "$T/q/out")"
    stop_spawner
}

# Many shims at once, gates opened in reverse order: every exit is reported once.
test_many() {
    local i line clean=0
    start_spawner
    for i in $(seq 20); do
        spec "m$i" /bin/true
        start "$i" "m$i"
    done
    for i in $(seq 20); do
        line=$(reply)
        expect reply "${line:0:1}" P
    done
    for i in $(seq 20 -1 1); do open "$i"; done
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
    request F not-a-number
    stop_spawner 2
}

test_malformed_length() {
    start_spawner
    request L 1 "$T/x.log" 12x
    stop_spawner 2
}

test_spec_too_large() {
    start_spawner
    request L 1 "$T/x.log" $((16 * 1024 * 1024 + 1))
    stop_spawner 2
}

for t in start_and_open abort_leaves_no_trace ping server_gone_closes_gates gate_written_before_server_death \
    stray_hangup \
    shim_outlives_spawner \
    early_cancel pooled_ignores_foreign_signals cancel_signals_blocked_across_fork program_signal_state shim_fds_and_signals clean_task_files \
    log_on_first_message unwritable_log start_error spec_error large_spec cgroup2 many \
    malformed_request malformed_length spec_too_large; do
    run_test "$t"
done
run_test "no sanitizer reports" no_sanitizer_reports
finish_tests
