#!/usr/bin/env bash
# Run tfcompare's tests in two tiers, one after the other:
#   1. the fast tier:        pytest -m "not slow"
#   2. the end-to-end tier:  pytest -m slow   (the tests marked slow: whole runs on real servers)
# Both tiers always run; the exit status is non-zero when either failed.
# Arguments are passed to pytest in both tiers, e.g.
#   scripts/test.sh tests/test_docs_links.py    only that file
#   scripts/test.sh -x -q                       stop each tier at its first failure
# Needs the environment scripts/setup.sh makes (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

PY=.venv/bin/python
if ! [ -x "$PY" ] || ! "$PY" -c 'import tfcompare, pytest' >/dev/null 2>&1; then
    echo "test.sh: no usable .venv here: run scripts/setup.sh first" >&2
    exit 2
fi

# tier NAME MARKER ARGS...: run one tier and print its result; sets RESULT to pytest's exit status.
tier() {
    local name="$1" marker="$2"; shift 2
    printf '\n== %s (pytest -m "%s")\n' "$name" "$marker"
    local start=$SECONDS
    RESULT=0
    "$PY" -m pytest -m "$marker" "$@" || RESULT=$?
    local took=$((SECONDS - start))
    case "$RESULT" in
        0) SUMMARY+=("$name: passed (${took} s)") ;;
        5) SUMMARY+=("$name: no tests selected") ;;
        *) SUMMARY+=("$name: FAILED, pytest exit status $RESULT (${took} s)") ;;
    esac
}

SUMMARY=()
tier "fast tier" "not slow" "$@"
FAST=$RESULT
tier "end-to-end tier" "slow" "$@"
SLOW=$RESULT

printf '\n== Summary\n'
printf '  %s\n' "${SUMMARY[@]}"
# pytest's 5 means "no tests selected": fine for one tier (a file of fast tests only), not for both.
for status in "$FAST" "$SLOW"; do
    if [ "$status" != 0 ] && [ "$status" != 5 ]; then exit "$status"; fi
done
if [ "$FAST" = 5 ] && [ "$SLOW" = 5 ]; then exit 5; fi
exit 0
