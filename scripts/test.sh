#!/usr/bin/env bash
# Run tfcompare's checks, one after the other:
#   0. the linters:          ruff format --check, ruff check (desktop tests bench) and mypy
#   1. the fast tier:        pytest -m "not slow"
#   2. the end-to-end tier:  pytest -m slow   (the tests marked slow: whole runs on real servers)
# Every step always runs; the exit status is non-zero when any failed.
# Each tier runs on worker processes (pytest-xdist; the tests of one file share a worker): the
# end-to-end tier on as many as the machine has cores, the fast tier on one more (its tests wait
# on short timers part of the time), 4 at most; TFCOMPARE_TEST_WORKERS=N sets the number for both
# (0: all in pytest's own process).
# Arguments are passed to pytest in both tiers, and then the linters are left out, e.g.
#   scripts/test.sh tests/test_docs_links.py    only that file
#   scripts/test.sh -x -q                       stop each tier at its first failure
#   scripts/test.sh --lint                      the linters alone
# Needs the environment scripts/setup.sh makes (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

LINT=yes
TIERS=yes
case "${1:-}" in
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --lint) TIERS=no; shift ;;
    ?*) LINT=no ;;
esac

PY=.venv/bin/python
if ! [ -x "$PY" ] || ! "$PY" -c 'import tfcompare, pytest, xdist, mypy, ruff' >/dev/null 2>&1; then
    echo "test.sh: no usable .venv here: run scripts/setup.sh first" >&2
    exit 2
fi

# tier NAME MARKER WORKERS ARGS...: run one tier on WORKERS pytest-xdist workers (0 or 1: in
# pytest's own process) and print its result; sets RESULT to pytest's exit status.
tier() {
    local name="$1" marker="$2" workers="$3"; shift 3
    local parallel=()
    if [ "$workers" -gt 1 ]; then
        parallel=(-n "$workers" --dist loadfile)
    fi
    printf '\n== %s (pytest -m "%s")\n' "$name" "$marker"
    local start=$SECONDS
    RESULT=0
    "$PY" -m pytest -m "$marker" "${parallel[@]}" "$@" || RESULT=$?
    local took=$((SECONDS - start))
    case "$RESULT" in
        0) SUMMARY+=("$name: passed (${took} s)") ;;
        5) SUMMARY+=("$name: no tests selected") ;;
        *) SUMMARY+=("$name: FAILED, pytest exit status $RESULT (${took} s)") ;;
    esac
}

# check TOOL ARGS...: run one linter (python -m TOOL ARGS) and print its result; a failure sets
# LINT_FAILED.
LINT_FAILED=no
check() {
    local name="$1${2:+ $2}"
    printf '\n== %s\n' "$*"
    local start=$SECONDS status=0
    "$PY" -m "$@" || status=$?
    local took=$((SECONDS - start))
    if [ "$status" = 0 ]; then
        SUMMARY+=("$name: passed (${took} s)")
    else
        SUMMARY+=("$name: FAILED, exit status $status (${took} s)")
        LINT_FAILED=yes
    fi
}

CORES=$(nproc 2>/dev/null || echo 1)
SLOW_WORKERS=${TFCOMPARE_TEST_WORKERS:-$((CORES < 4 ? CORES : 4))}
FAST_WORKERS=${TFCOMPARE_TEST_WORKERS:-$((CORES + 1 < 4 ? CORES + 1 : 4))}

SUMMARY=()
if [ "$LINT" = yes ]; then
    check ruff format --check desktop tests bench
    check ruff check desktop tests bench
    check mypy  # desktop/tfcompare, as [tool.mypy] in pyproject.toml says
fi
FAST=5
SLOW=5
if [ "$TIERS" = yes ]; then
    tier "fast tier" "not slow" "$FAST_WORKERS" "$@"
    FAST=$RESULT
    tier "end-to-end tier" "slow" "$SLOW_WORKERS" "$@"
    SLOW=$RESULT
fi

printf '\n== Summary\n'
printf '  %s\n' "${SUMMARY[@]}"
# pytest's 5 means "no tests selected": fine for one tier (a file of fast tests only), not for both.
for status in "$FAST" "$SLOW"; do
    if [ "$status" != 0 ] && [ "$status" != 5 ]; then exit "$status"; fi
done
if [ "$LINT_FAILED" = yes ]; then exit 1; fi
if [ "$TIERS" = yes ] && [ "$FAST" = 5 ] && [ "$SLOW" = 5 ]; then exit 5; fi
exit 0
