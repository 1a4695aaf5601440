#!/usr/bin/env bash
# Set up tfcompare and everything its tests need, in this checkout:
#   1. system packages, through apt-get where there is one: the X11 libraries Qt's window needs,
#      Chromium (the report's browser tests) and kubectl (the manifest tests);
#   2. the virtual environment .venv, with tfcompare and its test tools (pip install -e ".[test]");
#   3. the test environments: virtual environments of their own that some end-to-end tests use.
# Each step installs only what is missing, so running it again installs nothing new.
#
# Usage: scripts/setup.sh [--no-system]
#   --no-system   leave out step 1 (it prints what the tests need, for you to install)
# Environment: PYTHON, the interpreter the virtual environments are made from (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
SYSTEM=yes
for arg in "$@"; do
    case "$arg" in
        --no-system) SYSTEM=no ;;
        -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown argument '$arg' (see scripts/setup.sh --help)" >&2; exit 2 ;;
    esac
done

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }

# ------------------------------------------------------------------------------------- 1. system
# Debian/Ubuntu package → why tfcompare or its tests need it.
QT_PACKAGES=(
    libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
    libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libegl1
    libfontconfig1 libdbus-1-3
)
QT_WHY="Qt's xcb platform plugin (the window)"
BROWSERS=(chromium chromium-browser google-chrome google-chrome-stable)  # as tests/browser.py

have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
have_browser() {
    local b
    for b in "${BROWSERS[@]}"; do command -v "$b" >/dev/null 2>&1 && return 0; done
    return 1
}

system_packages() {
    step "System packages"
    if [ "$SYSTEM" = no ]; then
        say "skipped (--no-system). The tests need: Chromium or Chrome (the report's browser tests),"
        say "kubectl (the manifest tests) and, on Linux, Qt's X11 libraries: ${QT_PACKAGES[*]}"
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
        say "no apt-get here ($(uname -s)): nothing installed. Install these yourself if missing:"
        say "  - Chromium or Google Chrome: the findings report's browser tests"
        say "  - kubectl: the Kubernetes manifest tests (kubectl kustomize)"
        if [ "$(uname -s)" = Linux ]; then
            say "  - the X11 libraries of Qt's xcb plugin (Debian names: ${QT_PACKAGES[*]})"
        fi
        return 0
    fi

    local missing=() why=() p
    for p in "${QT_PACKAGES[@]}"; do
        if ! have_deb "$p"; then missing+=("$p"); why+=("$QT_WHY"); fi
    done
    if ! have_browser; then
        missing+=(chromium); why+=("headless browser for the findings report's tests")
    fi
    if ! command -v kubectl >/dev/null 2>&1; then
        # Only when no kubectl is installed: kubernetes-client conflicts with a 'kubectl' package.
        missing+=(kubernetes-client); why+=("kubectl, to render the k8s/ manifests in the tests")
    fi
    if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
        missing+=(python3-venv); why+=("python3 -m venv (Debian ships it apart)")
    fi

    if [ ${#missing[@]} -eq 0 ]; then
        say "all present (Qt's X11 libraries, a Chromium browser, kubectl)"
        return 0
    fi
    say "to install with apt-get:"
    for i in "${!missing[@]}"; do printf '  %-22s %s\n' "${missing[$i]}" "${why[$i]}"; done

    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            say "error: not root and no sudo: install them as root, then run this again:" >&2
            say "  apt-get update && apt-get install -y ${missing[*]}" >&2
            say "(or run scripts/setup.sh --no-system to skip this step)" >&2
            exit 1
        fi
        sudo=(sudo)
        say "(through sudo: it may ask for your password)"
    fi
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq "${missing[@]}" >/dev/null
    say "installed: ${missing[*]}"
}

# ------------------------------------------------------------------------- virtual environments
python_ok() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

# make_venv DIR: create the virtual environment DIR from $PYTHON unless it already works.
make_venv() {
    local dir="$1"
    if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c 'import pip' >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        say "error: '$PYTHON' not found: install Python 3.11 or newer (or set PYTHON)" >&2
        exit 1
    fi
    if ! python_ok "$PYTHON"; then
        say "error: tfcompare needs Python 3.11 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1)." >&2
        say "Set PYTHON to a newer interpreter, e.g. PYTHON=python3.12 scripts/setup.sh" >&2
        exit 1
    fi
    say "creating $dir ($("$PYTHON" --version 2>&1))"
    "$PYTHON" -m venv "$dir"
    # Editable installs from pyproject.toml need pip 21.3 or newer.
    if ! "$dir/bin/python" -c 'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (21, 3))'; then
        "$dir/bin/python" -m pip install -q --upgrade pip
    fi
}

# pip_install DIR STAMP ARGS...: pip install ARGS into DIR unless the same STAMP was installed last.
pip_install() {
    local dir="$1" stamp="$2"; shift 2
    local file="$dir/.setup-stamp"
    if [ -f "$file" ] && [ "$(cat "$file")" = "$stamp" ]; then
        say "$dir: up to date"
        return 0
    fi
    say "$dir: pip install $*"
    "$dir/bin/python" -m pip install -q "$@"
    printf '%s' "$stamp" >"$file"
}

tfcompare_env() {
    step "Virtual environment $VENV (tfcompare and its test tools)"
    make_venv "$VENV"
    # Installed again whenever pyproject.toml changes (the code itself is an editable install).
    local stamp
    stamp="tfcompare[test] $(cksum <pyproject.toml)"
    if ! "$VENV/bin/python" -c 'import tfcompare, pytest' >/dev/null 2>&1; then
        rm -f "$VENV/.setup-stamp"
    fi
    pip_install "$VENV" "$stamp" -e ".[test]"
    torch_cross_check
}

# The PyTorch cross-checks of the demo model's weights (tests/test_efficientnet_model.py and
# test_efficientnet_pth.py) need torch. It is installed where its CPU build is at hand as a local
# wheel (pip's find-links); without one those checks skip and say so, rather than download
# several GB of a CUDA build.
TORCH="torch==2.13.0"
torch_cross_check() {
    if "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
        return 0
    fi
    local tmp
    tmp=$(mktemp -d)
    if "$VENV/bin/python" -m pip download -q --no-deps --no-index -d "$tmp" "$TORCH" >/dev/null 2>&1; then
        say "$VENV: pip install $TORCH (its CPU build is at hand: the PyTorch cross-checks run)"
        "$VENV/bin/python" -m pip install -q "$TORCH"
    else
        say "note: no local CPU build of $TORCH: the two PyTorch cross-checks will skip"
    fi
    rm -rf "$tmp"
}

# ===============================================================================================
# Test environments: virtual environments of their own, for end-to-end tests that run a server
# whose dependencies cannot live beside tfcompare's. Add one line per environment:
#     test_env NAME REQUIREMENT...
# which makes (or reuses) $VENV/test-envs/NAME and pip-installs the requirements when they change.
# ===============================================================================================
test_environments() {
    step "Test environments"
    local added=0
    # test_env NAME REQUIREMENT...     ← one line per environment, here
    # Seldon's MLServer (Open Inference Protocol over REST and gRPC) with the tests' custom
    # runtimes (tests/oip_models/): tests/oip_servers.py starts it.
    test_env mlserver "mlserver==1.7.1" "numpy>=1.26" "pillow>=10.0"
    # KServe's Python model server (KServe v1 and v2 REST, v2 gRPC) with the tests' model class.
    test_env kserve "kserve==0.21.0" "numpy>=1.26" "pillow>=10.0"
    [ "$added" = 0 ] && say "none"
    return 0
}

test_env() {
    local name="$1"; shift
    local dir="$VENV/test-envs/$name"
    make_venv "$dir"
    pip_install "$dir" "$*" "$@"
    added=$((added + 1))
}

system_packages
tfcompare_env
test_environments
step "Done"
say "Activate the environment with:  . $VENV/bin/activate"
say "Then try:  tfcompare demo        Test with:  scripts/test.sh"
