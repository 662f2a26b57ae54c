# Shared by the command-line tests (tests/test_*_cli.sh): a scratch folder $T removed on exit,
# pass/fail counting, and a runner that keeps the tool's exit status and output. Source it
# after setting TOOL; finish with cli_summary.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { # check NAME COMMAND...: passes when the command succeeds
    local name=$1; shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
run() { # run NAME ARGS...: the tool's exit status in $rc, stdout/stderr in $T/NAME.{out,err}
    local name=$1; shift
    rc=0
    "$TOOL" "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
    sanitizer_check "$name"
}
sanitizer_check() { # a sanitizer report in a run's stderr fails it, whatever its exit status
    # (scripts/sanitize.sh: UB exits 86 and ASan writes to files, but a check that expects
    # a failing exit must not pass because of either)
    if grep -qE 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$T/$1.err"; then
        bad "$1: sanitizer report"; cat "$T/$1.err"
    fi
}
cli_summary() { # prints the counts; exit status 0 when nothing failed
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]]
}
