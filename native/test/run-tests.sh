#!/usr/bin/env bash
# Drives execgo-shim through real scenarios. Usage: run-tests.sh [shim-binary]
# (default: the sanitizer build). Prints "ok - name" / "not ok - name" per test and a final
# "N passed, M failed"; exits non-zero if anything failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test-lib.sh
source "$here/test-lib.sh"
SHIM=$(realpath "${1:-$here/../build/execgo-shim-asan}")
[[ -x $SHIM ]] || { echo "no shim binary at $SHIM" >&2; exit 1; }

make_test_dir

m=0 # per-test task counter (newtask)

# ---- helpers (tests run in a `set -e` subshell: any failing command fails the test) --------

stray() { echo "$1" >>"$T/strays"; }

# newtask [key=value...]: fresh task dir $D and spec $D/spec: the usual entries, except those
# whose key the arguments give, then the arguments.
newtask() {
    m=$((m + 1))
    D=$T/t$n.$m
    TASK=task$n.$m
    mkdir -p "$D/notify"
    local e keys=" ${*%%=*} " entries=()
    for e in "task_id=$TASK" "start_record=$D/start" "exit_record=$D/exit" "stdout=$D/out" \
        "stderr=$D/err" "notify_dir=$D/notify" "cwd=$D" grace_ms=500; do
        [[ $keys == *" ${e%%=*} "* ]] || entries+=("$e")
    done
    printf '%s\0' "${entries[@]}" "$@" >"$D/spec"
}

# run_shim [expected-rc]: runs the shim in the foreground with the gate open.
run_shim() {
    local rc=0
    timeout -s KILL 60 "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" || rc=$?
    sanitizer_clean
    expect "shim exit status ($(cat "$D/shim.log"))" "$rc" "${1:-0}"
}

sanitizer_clean() {
    if grep -qE 'Sanitizer|runtime error' "$D/shim.log"; then
        cat "$D/shim.log" >&2
        fail "sanitizer report"
    fi
}

# start_shim: runs the shim in the background ($SHIM_PID), gate open; waits for the start.
start_shim() {
    "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" &
    SHIM_PID=$!
    wait_for "start record" test -e "$D/start"
}

# finish_shim [expected-rc]: waits for the background shim.
finish_shim() {
    local rc=0
    wait "$SHIM_PID" || rc=$?
    sanitizer_clean
    expect "shim exit status ($(cat "$D/shim.log"))" "$rc" "${1:-0}"
}


field() { sed -n "s/^$1=//p" "${2:-$D/exit}"; }
has_field() { grep -q "^$1=" "${2:-$D/exit}"; }

# Every finished task: records complete, renamed into place, notify files present.
finished() {
    expect version "$(field version)" 1
    has_field finished_at_ms || fail "no finished_at_ms"
    [[ -z $(find "$D" -name '*.tmp') ]] || fail ".tmp file left behind"
    [[ -e $D/notify/$TASK.exited ]] || fail "no exited notification"
}
started() {
    expect "start pid" "$(field pid "$D/start")" "$(field pid)"
    expect "start pgid" "$(field pgid "$D/start")" "$(field pid)"
    [[ -e $D/notify/$TASK.started ]] || fail "no started notification"
    has_field user_cpu_us && has_field system_cpu_us && has_field max_rss_kb ||
        fail "no rusage"
}


# ---- scenarios ------------------------------------------------------------------------------

test_exit_0() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=echo out; echo err >&2'
    run_shim
    finished; started
    expect reason "$(field reason)" exited
    expect exit_code "$(field exit_code)" 0
    expect stdout "$(cat "$D/out")" out
    expect stderr "$(cat "$D/err")" err
    ! has_field exit_signal || fail "exit_signal on a normal exit"
    ! has_field term_sent_at_ms || fail "term_sent_at_ms without termination"
}

test_exit_3() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=exit 3'
    run_shim
    finished; started
    expect reason "$(field reason)" exited
    expect exit_code "$(field exit_code)" 3
}

test_killed_by_signal() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=kill -KILL $$'
    run_shim
    finished; started
    expect reason "$(field reason)" exited
    expect exit_signal "$(field exit_signal)" 9
    ! has_field exit_code || fail "exit_code for a signal death"
}

test_missing_program() {
    newtask exe=/nonexistent/prog arg=prog
    run_shim
    finished
    expect reason "$(field reason)" launch_failed
    expect stage "$(field launch_error_stage)" exec
    expect errno "$(field launch_errno)" 2
    expect error "$(field launch_error)" "No such file or directory"
    [[ ! -e $D/start ]] || fail "start record for a failed launch"
    ! has_field pid || fail "pid for a failed launch"
}

test_not_executable() {
    newtask "exe=$T/noexec" arg=noexec
    printf '#!/bin/sh\necho ran\n' >"$T/noexec"
    chmod 644 "$T/noexec"
    run_shim
    finished
    expect reason "$(field reason)" launch_failed
    expect stage "$(field launch_error_stage)" exec
    expect errno "$(field launch_errno)" 13
}

test_bad_cwd() {
    newtask exe=/bin/true arg=true "cwd=$T/missing-dir"
    run_shim
    expect stage "$(field launch_error_stage)" chdir
    expect errno "$(field launch_errno)" 2
}

test_stdio_error() {
    newtask exe=/bin/true arg=true "stdout=$T/no-such-dir/out"
    run_shim
    finished
    expect stage "$(field launch_error_stage)" stdio
    expect errno "$(field launch_errno)" 2
}

test_cgroup_join_error() {
    newtask exe=/bin/true arg=true cgroup=/nonexistent/cgroup
    run_shim
    finished
    expect stage "$(field launch_error_stage)" cgroup
    expect errno "$(field launch_errno)" 2
}

test_rlimit_as() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=echo ran' rlimit_as=1048576
    run_shim
    finished
    [[ $(field exit_code) != 0 && ! -s $D/out ]] || fail "ran normally in a 1 MiB address space"
}

test_rlimit_fsize() {
    newtask exe=/usr/bin/head arg=head arg=-c arg=100000 arg=/dev/zero rlimit_fsize=1000
    run_shim
    expect "log size" "$(stat -c %s "$D/out")" 1000
    expect exit_signal "$(field exit_signal)" 25
}

# Spawned detached (as the server does), the shim already leads its session: no complaint.
test_already_session_leader() {
    newtask exe=/bin/true arg=true
    setsid -w "$SHIM" "$D/spec" <<<G 2>"$D/shim.log"
    sanitizer_clean
    expect reason "$(field reason)" exited
    [[ ! -s $D/shim.log ]] || fail "shim.log: $(cat "$D/shim.log")"
}

# An internal failure after the start (here: the start record cannot be written) kills the
# program and still leaves an exit record (stage shim), with shim exit status 1.
# The records cannot be reserved (a full disk, here a missing dir): the program never starts.
test_records_unwritable() {
    newtask exe=/bin/sleep arg=sleep arg=30 "start_record=$T/no-such-dir/start"
    run_shim
    finished
    expect reason "$(field reason)" launch_failed
    expect stage "$(field launch_error_stage)" records
    ! has_field pid || fail "a pid although the program must not start"
    [[ -z $(ls "$D" | grep '\.tmp$') ]] || fail ".tmp left"
}

# Not even the exit record can be written: exit status 3 says "no room, never started".
test_records_nowhere() {
    newtask exe=/bin/sleep arg=sleep arg=30 "exit_record=$T/no-such-dir/exit"
    run_shim 3
    [[ ! -e $D/start && -z $(ls "$D" | grep '\.tmp$') ]] || fail "a record or .tmp was left"
}

# A failure after the program started (its start notification cannot be made: a directory
# has its name): killed.
test_internal_failure() {
    newtask exe=/bin/sleep arg=sleep arg=30
    mkdir "$D/notify/$TASK.started"
    run_shim 1
    finished
    expect reason "$(field reason)" launch_failed
    expect stage "$(field launch_error_stage)" shim
    has_field pid || fail "no pid although the program was started"
    ! alive "$(field pid)" || fail "program still running"
    grep -q '^execgo-shim: ' "$D/shim.log" || fail "no message on stderr"
}

test_path_search() {
    mkdir -p "$T/p1" "$T/p2"
    printf '#!/bin/sh\necho wrong\n' >"$T/p1/mytool" # not executable: skipped (EACCES)
    printf '#!/bin/sh\necho found\n' >"$T/p2/mytool"
    chmod 644 "$T/p1/mytool"
    chmod 755 "$T/p2/mytool"
    newtask exe=mytool arg=mytool "env=PATH=$T/nowhere:$T/p1:$T/p2"
    run_shim
    finished; started
    expect stdout "$(cat "$D/out")" found
}

test_path_search_argv0() {
    newtask exe=sh arg=custom-name arg=-c 'arg=echo $0' env=PATH=/usr/bin:/bin
    run_shim
    expect stdout "$(cat "$D/out")" custom-name
}

test_path_search_eacces() {
    mkdir -p "$T/p3"
    printf '#!/bin/sh\n' >"$T/p3/onlynoexec"
    chmod 644 "$T/p3/onlynoexec"
    newtask exe=onlynoexec arg=onlynoexec "env=PATH=$T/nowhere:$T/p3"
    run_shim
    expect stage "$(field launch_error_stage)" exec
    expect errno "$(field launch_errno)" 13
}

test_path_search_enoent() {
    # a bare name is searched in the *task* PATH only, never in the shim's own
    newtask exe=sh arg=sh "env=PATH=$T/nowhere"
    run_shim
    expect stage "$(field launch_error_stage)" exec
    expect errno "$(field launch_errno)" 2
}

test_timeout_forced_kill() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=trap "" TERM; sleep 30' wall_ms=300 grace_ms=300
    run_shim
    finished; started
    expect reason "$(field reason)" timeout
    expect forced_kill "$(field forced_kill)" 1
    expect exit_signal "$(field exit_signal)" 9
    has_field term_sent_at_ms || fail "no term_sent_at_ms"
}

test_timeout_graceful() {
    newtask exe=/bin/sleep arg=sleep arg=30 wall_ms=300 grace_ms=5000
    local t0=$SECONDS
    run_shim
    finished; started
    expect reason "$(field reason)" timeout
    expect forced_kill "$(field forced_kill)" 0
    expect exit_signal "$(field exit_signal)" 15
    ((SECONDS - t0 < 4)) || fail "waited for the grace period"
}

test_cancel_sigterm() {
    newtask exe=/bin/sleep arg=sleep arg=30
    start_shim
    kill -TERM "$SHIM_PID"
    finish_shim
    finished; started
    expect reason "$(field reason)" cancelled
    expect exit_signal "$(field exit_signal)" 15
    expect forced_kill "$(field forced_kill)" 0
}

test_cancel_sigusr1() {
    newtask exe=/bin/sleep arg=sleep arg=30
    start_shim
    kill -USR1 "$SHIM_PID"
    finish_shim
    expect reason "$(field reason)" cancelled
}

test_gate_closed() {
    newtask exe=/bin/sh arg=sh arg=-c "arg=touch $T/gate-ran"
    local rc=0
    "$SHIM" "$D/spec" </dev/null 2>"$D/shim.log" || rc=$?
    expect "rc on EOF" "$rc" 0
    printf X | "$SHIM" "$D/spec" 2>>"$D/shim.log" || rc=$?
    expect "rc on another byte" "$rc" 0
    sanitizer_clean
    [[ ! -e $T/gate-ran ]] || fail "program ran"
    [[ -z $(ls -A "$D/notify") ]] || fail "notify files written"
    for f in start exit out err; do [[ ! -e $D/$f ]] || fail "$f written"; done
    [[ ! -s $D/shim.log ]] || fail "shim.log not empty"
}

# Blocked SIGTERM in /proc/<pid>/status means the shim is ready to treat it as a cancel.
sigterm_blocked() {
    local mask
    mask=$(sed -n 's/^SigBlk:\s*//p' "/proc/$1/status")
    (((16#$mask >> 14) & 1))
}

test_cancel_before_gate() {
    newtask exe=/bin/sh arg=sh arg=-c "arg=touch ran" # cwd is $D
    mkfifo "$D/gate"
    exec 9<>"$D/gate" # read-write: opening does not block, and we hold the writer
    "$SHIM" "$D/spec" <"$D/gate" 2>"$D/shim.log" 9>&- &
    SHIM_PID=$!
    wait_for "signals blocked" sigterm_blocked "$SHIM_PID"
    kill -TERM "$SHIM_PID"
    sleep 0.1
    printf G >&9
    exec 9>&-
    finish_shim
    finished
    expect reason "$(field reason)" cancelled
    ! has_field pid || fail "pid present"
    [[ ! -e $D/start ]] || fail "start record written"
    [[ ! -e $D/ran ]] || fail "program ran"
}

test_fd_hygiene() {
    newtask exe=/bin/sleep arg=sleep arg=30
    "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" 3>/dev/null 7>/dev/null &
    SHIM_PID=$!
    wait_for "start record" test -e "$D/start"
    local fds
    fds=$(ls "/proc/$(field pid "$D/start")/fd" | sort -n | tr '\n' ' ')
    kill -TERM "$SHIM_PID"
    finish_shim
    expect "task fds" "$fds" "0 1 2 "
}

test_env_exact() {
    newtask exe=/usr/bin/env arg=env env=A=1 'env=B=two words' env=LD_PRELOAD=/nonexistent/lib.so
    run_shim
    finished; started
    expect reason "$(field reason)" exited
    expect exit_code "$(field exit_code)" 0
    expect env "$(cat "$D/out")" $'A=1\nB=two words\nLD_PRELOAD=/nonexistent/lib.so'
}

test_grandchild_killed() {
    # the pause lets the grandchild leave the process group before the main child exits
    newtask exe=/bin/sh arg=sh arg=-c \
        'arg=setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!; sleep 0.2'
    run_shim
    finished; started
    expect reason "$(field reason)" exited
    local gpid
    gpid=$(cat "$D/out")
    stray "$gpid"
    [[ -n $gpid ]] || fail "no grandchild pid"
    ! alive "$gpid" || fail "grandchild $gpid still running"
    ! [[ -e /proc/$gpid ]] || fail "grandchild $gpid not reaped"
}

test_double_fork_killed() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=(setsid sh -c "sleep 1000 & echo \$!" </dev/null &) ; sleep 0.2'
    run_shim
    local gpid
    gpid=$(cat "$D/out")
    stray "$gpid"
    [[ -n $gpid ]] || fail "no grandchild pid"
    ! [[ -e /proc/$gpid ]] || fail "grandchild $gpid still there"
}

test_idle_timeout() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=echo hi; sleep 30' idle_ms=300
    run_shim
    finished; started
    expect reason "$(field reason)" idle_timeout
    expect exit_signal "$(field exit_signal)" 15
}

test_idle_not_while_output() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.1; done' \
        idle_ms=600
    run_shim
    expect reason "$(field reason)" exited
    expect exit_code "$(field exit_code)" 0
}

test_stdin_file() {
    printf 'hello stdin\n' >"$T/input"
    newtask exe=/bin/cat arg=cat "stdin=$T/input"
    run_shim
    expect stdout "$(cat "$D/out")" "hello stdin"
}

test_stdin_default_dev_null() {
    newtask exe=/bin/cat arg=cat
    run_shim
    expect reason "$(field reason)" exited
    expect stdout "$(cat "$D/out")" ""
}

test_rlimit_cpu() {
    newtask exe=/bin/sh arg=sh arg=-c 'arg=while :; do :; done' rlimit_cpu=1 wall_ms=20000
    run_shim
    expect reason "$(field reason)" exited
    local sig
    sig=$(field exit_signal)
    [[ $sig == 24 || $sig == 9 ]] || fail "exit_signal $sig, want SIGXCPU or SIGKILL"
}

test_no_new_privs() {
    newtask exe=/bin/grep arg=grep arg=NoNewPrivs arg=/proc/self/status no_new_privs=1
    run_shim
    expect status "$(cat "$D/out")" $'NoNewPrivs:\t1'
}

test_notify_files() {
    newtask exe=/bin/true arg=true durable=1
    run_shim
    [[ -e $D/notify/$TASK.started && -e $D/notify/$TASK.exited ]] || fail "notify missing"
    [[ ! -s $D/notify/$TASK.exited ]] || fail "notify file not empty"
    expect "notify dir" "$(ls "$D/notify" | tr '\n' ' ')" "$TASK.exited $TASK.started "
}

test_atomic_records() {
    newtask exe=/bin/true arg=true
    run_shim
    finished; started
    [[ -z $(ls "$D" | grep '\.tmp$') ]] || fail ".tmp left"
    [[ $(tail -c1 "$D/exit" | od -An -c | tr -d ' ') == '\n' ]] || fail "record not newline-terminated"
}

test_spec_errors() {
    local rc
    newtask exe=/bin/true arg=true bogus=1
    rc=0; "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" || rc=$?
    expect "unknown key rc" "$rc" 2
    grep -q "^execgo-shim: .*unknown key 'bogus'" "$D/shim.log" || fail "message: $(cat "$D/shim.log")"
    newtask exe=/bin/true arg=true exe=/bin/false
    rc=0; "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" || rc=$?
    expect "duplicate key rc" "$rc" 2
    newtask exe=/bin/true arg=true wall_ms=12x
    rc=0; "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" || rc=$?
    expect "bad number rc" "$rc" 2
    printf 'task_id=x' >"$D/spec" # last entry not NUL-terminated
    rc=0; "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" || rc=$?
    expect "unterminated rc" "$rc" 2
    rc=0; "$SHIM" "$T/no-such-spec" <<<G 2>"$D/shim.log" || rc=$?
    expect "missing spec rc" "$rc" 2
    [[ ! -e $D/exit ]] || fail "exit record after a spec error"
}

# ---- cgroups (root only) --------------------------------------------------------------------

# --sandbox-init reports the real wait status bwrap would flatten to 128+N; run by the shim,
# or (argument) by the static execgo-sandbox-init that chroot tasks use.
test_sandbox_init() {
    local init=${1:-$SHIM} st=$T/init-status rc=0
    : >"$st"
    "$init" --sandbox-init "$st" /bin/sh -c 'kill -SEGV $$' || rc=$?
    expect "exit status" "$rc" 139
    expect "report" "$(cat "$st")" "exit_signal=11"
    rc=0
    "$init" --sandbox-init "$st" /bin/sh -c 'exit 3' || rc=$?
    expect "exit status" "$rc" 3
    expect "report" "$(cat "$st")" "exit_code=3"
    rc=0
    "$init" --sandbox-init "$st" /nonexistent/program 2>/dev/null || rc=$?
    expect "missing program" "$rc" 127
    if [[ $(id -u) == 0 ]]; then test_sandbox_init_drop "$init"; fi
}

# --drop-to leaves the program with the ids asked, no groups and no capability in any set,
# and refuses root or a malformed pair before running anything.
test_sandbox_init_drop() {
    local init=$1 st=$T/drop-status rc=0 creds
    : >"$st"
    chown 65534:65534 "$st"
    chmod 711 "$T"
    creds=$("$init" --sandbox-init "$st" --drop-to 65534:65533 /bin/sh -c \
        'grep -E "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb):" /proc/self/status')
    expect "ids and caps" "$(tr -s '\t ' ' ' <<<"$creds")" "$(printf '%s\n' \
        'Uid: 65534 65534 65534 65534' 'Gid: 65533 65533 65533 65533' 'Groups: ' \
        'CapInh: 0000000000000000' 'CapPrm: 0000000000000000' 'CapEff: 0000000000000000' \
        'CapBnd: 0000000000000000' 'CapAmb: 0000000000000000')"
    expect "report as the dropped uid" "$(cat "$st")" "exit_code=0"
    for ids in 0:0 65534:0 65534 x:1 65534:1x; do
        rc=0
        "$init" --sandbox-init "$st" --drop-to "$ids" /bin/true 2>/dev/null || rc=$?
        expect "refused --drop-to $ids" "$rc" 126
    done
}

# The static init needs nothing of the filesystem it runs in: no dynamic loader, no libc.
test_static_sandbox_init() {
    local file_type
    if ! file_type=$(LC_ALL=C readelf -l "$STATIC_INIT" 2>/dev/null); then
        echo "# skipped: readelf (binutils) is not installed"
    elif grep -q 'INTERP' <<<"$file_type"; then
        fail "$STATIC_INIT asks for a dynamic loader"
    fi
    test_sandbox_init "$STATIC_INIT"
}

# A setsid-escaped grandchild and a process that is not our descendant at all (moved into the
# cgroup from outside) must both die when the task is cancelled.
cgroup_kill_scenario() {
    local root=$1 cg outsider gpid pid
    cg=$(make_cgroup "$root")
    newtask exe=/bin/sh arg=sh arg=-c \
        'arg=setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 1000' "cgroup=$cg"
    start_shim
    pid=$(field pid "$D/start")
    grep -qx "$pid" "$cg/cgroup.procs" || fail "task not in the cgroup"
    wait_for "grandchild pid" test -s "$D/out"
    gpid=$(cat "$D/out")
    stray "$gpid"
    sleep 1000 &
    outsider=$!
    disown "$outsider" # no job-status chatter; bash still reaps it
    stray "$outsider"
    echo "$outsider" >"$cg/cgroup.procs"
    kill -TERM "$SHIM_PID"
    finish_shim
    expect reason "$(field reason)" cancelled
    ! alive "$gpid" || fail "escaped grandchild survived"
    wait_for "outsider killed" not_alive "$outsider"
    expect "cgroup.procs" "$(cat "$cg/cgroup.procs")" ""
}

# signal_mode=cgroup: SIGTERM to everything in the cgroup except the direct child.
cgroup_signal_mode_scenario() {
    local cg
    cg=$(make_cgroup "$1")
    newtask exe=/bin/sh arg=sh arg=-c 'arg=sleep 1000 & echo started; wait $!' "cgroup=$cg" \
        signal_mode=cgroup
    start_shim
    wait_for "sleep started" test -s "$D/out"
    kill -TERM "$SHIM_PID"
    finish_shim
    expect reason "$(field reason)" cancelled
    expect "direct child exit code" "$(field exit_code)" 143
    expect forced_kill "$(field forced_kill)" 0
}

strace_works() { command -v strace >/dev/null && strace -f -qq -o /dev/null /bin/true 2>/dev/null; }

# signal_mode=cgroup with the task in two hierarchies (v2 and v1 pids), where each process is
# listed twice: each still gets exactly one SIGTERM (a program may count them: a second one
# often means "stop now"). Then the grace runs out and SIGKILL ends it.
cgroup_signal_once_scenario() {
    local v1 cg2 cg1 sleeper terms
    if ! v1=$(cgroup_root v1); then
        echo "# skipped: no writable v1 pids hierarchy next to the v2 one"
        return 0
    fi
    if ! strace_works; then
        echo "# skipped: strace is not usable here, and only a trace counts the signals sent"
        return 0
    fi
    cg2=$(make_cgroup "$1")
    cg1=$(make_cgroup "$v1")
    # The sleep ignores SIGTERM, so it is still listed when the second hierarchy is read.
    newtask exe=/bin/sh arg=sh arg=-c \
        'arg=(trap "" TERM; exec sleep 1000) & echo $!; wait $!' "cgroup=$cg2" \
        "cgroup=$cg1" signal_mode=cgroup
    ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 strace -qq -e trace=kill -e signal=none \
        -o "$D/trace" "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" &
    SHIM_PID=$!
    wait_for "sleep started" test -s "$D/out"
    sleeper=$(cat "$D/out")
    grep -qx "$sleeper" "$cg1/cgroup.procs" || fail "sleep is not in $cg1"
    wait_for "start record" test -e "$D/start"
    kill -TERM "$(ps -o ppid= -p "$(field pid "$D/start")")" # the shim, strace's child
    finish_shim
    expect reason "$(field reason)" cancelled
    expect forced_kill "$(field forced_kill)" 1
    terms=$(grep -c "^kill($sleeper, SIGTERM)" "$D/trace" || true)
    expect "SIGTERMs to the sleep (trace: $(tr '\n' ';' <"$D/trace"))" "$terms" 1
}

# A cgroup2 dir is joined at birth with clone3(CLONE_INTO_CGROUP), not by writing its
# cgroup.procs (which takes a global lock); a v1 dir next to it still by the write. The
# program finds itself in both.
cgroup_clone3_scenario() {
    local v2=$1 v1 cg2 cg1='' entries=() rc=0
    cg2=$(make_cgroup "$v2")
    entries=("cgroup=$cg2")
    if v1=$(cgroup_root v1); then
        cg1=$(make_cgroup "$v1")
        entries+=("cgroup=$cg1")
    fi
    newtask exe=/bin/cat arg=cat arg=/proc/self/cgroup "${entries[@]}"
    if strace_works; then # LeakSanitizer cannot run under ptrace: leaks are checked elsewhere
        ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 timeout -s KILL 60 \
            strace -f -qq -e trace=clone3,openat -o "$D/trace" \
            "$SHIM" "$D/spec" <<<G 2>"$D/shim.log" || rc=$?
        sanitizer_clean
        expect "shim exit status ($(cat "$D/shim.log"))" "$rc" 0
        grep -q 'clone3(.*CLONE_INTO_CGROUP' "$D/trace" || fail "no clone3 into the cgroup"
        ! grep -qF "\"$cg2/cgroup.procs\", O_WRONLY" "$D/trace" ||
            fail "$cg2/cgroup.procs was written"
    else
        echo "# strace unusable here: checking where the program ran, not how it got there"
        run_shim
    fi
    expect reason "$(field reason)" exited
    grep -qx "0::.*/${cg2##*/}" "$D/out" || fail "not in $cg2: $(cat "$D/out")"
    [[ -z $cg1 ]] || grep -qx "[0-9]*:pids:.*/${cg1##*/}" "$D/out" ||
        fail "not in $cg1: $(cat "$D/out")"
}

# Some kernels (6.18 here) SIGKILL a CLONE_INTO_CGROUP child at birth when cgroup.kill was
# used on the target cgroup and not on the parent's: the shim sees that the child never ran
# and joins it through cgroup.procs instead. The program runs either way.
cgroup_clone3_after_kill_scenario() {
    local cg
    cg=$(make_cgroup "$1")
    if [[ ! -e $cg/cgroup.kill ]]; then
        echo "# skipped: no cgroup.kill (Linux < 5.14)"
        return 0
    fi
    echo 1 >"$cg/cgroup.kill" # empty: kills nothing, but counts
    newtask exe=/bin/cat arg=cat arg=/proc/self/cgroup "cgroup=$cg"
    run_shim
    expect reason "$(field reason)" exited
    expect exit_code "$(field exit_code)" 0
    grep -qx "0::.*/${cg##*/}" "$D/out" || fail "not in $cg: $(cat "$D/out")"
}

cgroup_tests() {
    local v root
    for v in v2 v1; do
        if ((EUID != 0)); then
            echo "skip - cgroup $v: not root"
        elif ! root=$(cgroup_root $v); then
            echo "skip - cgroup $v: no writable ${v/v1/v1 pids} hierarchy"
        else
            run_test "cgroup $v kill" cgroup_kill_scenario "$root"
            run_test "cgroup $v signal_mode" cgroup_signal_mode_scenario "$root"
            [[ $v == v1 ]] || run_test "cgroup v2 clone3" cgroup_clone3_scenario "$root"
            [[ $v == v1 ]] || run_test "cgroup v2+v1 one SIGTERM each" \
                cgroup_signal_once_scenario "$root"
            [[ $v == v1 ]] || run_test "cgroup v2 clone3 after cgroup.kill" \
                cgroup_clone3_after_kill_scenario "$root"
        fi
    done
}

for t in exit_0 exit_3 killed_by_signal missing_program not_executable bad_cwd stdio_error \
    cgroup_join_error rlimit_as rlimit_fsize already_session_leader records_unwritable records_nowhere internal_failure path_search \
    path_search_argv0 path_search_eacces path_search_enoent timeout_forced_kill \
    timeout_graceful cancel_sigterm cancel_sigusr1 gate_closed cancel_before_gate fd_hygiene \
    env_exact grandchild_killed double_fork_killed idle_timeout idle_not_while_output \
    stdin_file stdin_default_dev_null rlimit_cpu no_new_privs notify_files atomic_records \
    spec_errors sandbox_init; do
    run_test "$t"
done
# Not sanitized: a static binary cannot carry ASan's runtime; the code is the same as the
# shim's --sandbox-init mode above, which is.
STATIC_INIT=$(dirname "$SHIM")/execgo-sandbox-init
if [[ -x $STATIC_INIT ]]; then
    run_test "static sandbox_init" test_static_sandbox_init
else
    echo "# skipped static sandbox_init: $STATIC_INIT is not built"
fi
cgroup_tests

finish_tests
