#!/usr/bin/env bash
# The whole test suite, as CI runs it (README's second command, .ci/run):
#   1. release build: debugoptimized (DWARF for the ABI check), -Werror,
#      abidiff required; meson test;
#   2. sanitizer build: -Db_sanitize=address,undefined, -Werror; meson test
#      with UBSAN_OPTIONS stopping on the first undefined behaviour;
#   3. one closing line `N passed, N failed[, N skipped]` counted from both
#      builds' meson-logs/testlog.json (count-results.py).
# Exits non-zero if a build or any test failed. Build directories:
# build-ci/release and build-ci/sanitize (recreated on every run).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
t0=$SECONDS

phase() { # NAME BUILD_DIR MESON_SETUP_ARGS...
    local name=$1 dir=$2 start=$SECONDS
    shift 2
    echo "=== $name: meson setup $dir $*"
    rm -rf "$dir"
    if ! meson setup "$dir" "$@" >"$dir.setup.log" 2>&1; then
        cat "$dir.setup.log"; echo "=== $name: meson setup FAILED"; status=1; return
    fi
    echo "=== $name: ninja -C $dir"
    if ! ninja -C "$dir"; then
        echo "=== $name: build FAILED"; status=1; return
    fi
    echo "=== $name: meson test -C $dir"
    if ! meson test -C "$dir" --print-errorlogs; then
        status=1
    fi
    echo "=== $name: $((SECONDS - start)) s"
}

mkdir -p build-ci
phase release build-ci/release --buildtype=debugoptimized -Dwerror=true -Dabi_check=enabled
phase sanitize build-ci/sanitize --buildtype=debugoptimized -Dwerror=true \
    -Db_sanitize=address,undefined -Db_lundef=false
echo "=== total: $((SECONDS - t0)) s"
/usr/bin/python3 tests/infra/count-results.py build-ci/release build-ci/sanitize || status=1
exit "$status"
