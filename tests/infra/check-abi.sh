#!/usr/bin/env bash
# ABI check (style C12) with libabigail's abidiff.
#  1. exact: abi/libcrm.abi (the checked-in baseline) == the built library;
#     any change of the public ABI, even a compatible addition, fails until
#     the baseline is regenerated with tests/infra/update-abi.sh and the
#     change is logged in docs/ABI.md;
#  2. compatible: every released baseline abi/released/*.abi against the built
#     library, allowing only additions and the suppressions in
#     abi/libcrm.abignore.
# Fails on ANY non-zero abidiff exit (bit 8 is only set for removed symbols).
#
# usage: check-abi.sh SOURCE_ROOT PATH/TO/libcrm.so.X.Y.Z [SKIP_REASON]
set -euo pipefail
src=$1
so=$(readlink -f "$2")   # absolute: relative paths are from the build dir
skip=${3:-}
if [ -n "$skip" ]; then echo "SKIP: $skip"; exit 77; fi
cd "$src"

command -v abidiff >/dev/null || { echo "SKIP: abidiff (abigail-tools) not found"; exit 77; }
case "$so" in
*.so.*) ;;
*) echo "SKIP: $so is not a versioned shared library"; exit 77 ;;
esac
if ! readelf -S "$so" | grep -q '\.debug_info'; then
    echo "FAIL: $so has no DWARF (.debug_info): abidiff would be blind to type changes."
    echo "      Build with debug info (buildtype debugoptimized or debug)."
    exit 1
fi
[ -f abi/libcrm.abi ] || { echo "FAIL: abi/libcrm.abi missing; run tests/infra/update-abi.sh"; exit 1; }

# Types declared outside include/crm are filtered out on both sides (they are
# suppressed, so changes to the library's private structs never count).
# --drop-private-types is deliberately NOT passed: abidiff 2.2 (Debian 12)
# aborts (exit 134) reading an abixml baseline in which a public typedef names
# an opaque struct defined in a .c file (crm_profiles), when that flag is
# combined with --headers-dir1. The baseline itself is written with
# --drop-private-types (update-abi.sh). Enum values are not visible to abidiff
# here (crm_status is an int): tests/infra/test_abi.c pins them.
H=(--headers-dir1 include/crm --headers-dir2 include/crm)
status=0

echo "== abidiff abi/libcrm.abi $so"
set +e
abidiff "${H[@]}" abi/libcrm.abi "$so"
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
    echo "FAIL: abidiff exit $rc: the public ABI differs from the baseline abi/libcrm.abi."
    echo "      If the change is intended (a new function in a new version node, an"
    echo "      option appended), run tests/infra/update-abi.sh and add a line to docs/ABI.md."
    status=1
fi

shopt -s nullglob
for b in abi/released/*.abi; do
    echo "== abidiff --no-added-syms $b $so"
    set +e
    abidiff "${H[@]}" --suppressions abi/libcrm.abignore --no-added-syms "$b" "$so"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: abidiff exit $rc: the library is not compatible with release baseline $b."
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "ABI matches abi/libcrm.abi and every abi/released/*.abi"
exit "$status"
