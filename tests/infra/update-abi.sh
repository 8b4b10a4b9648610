#!/usr/bin/env bash
# Regenerate the ABI baseline abi/libcrm.abi from a built library (style C12).
# Build with the default buildtype (debugoptimized: -O2 -g), no sanitizers:
#   meson setup build && ninja -C build && tests/infra/update-abi.sh build
# Every regeneration needs a line in docs/ABI.md ("Baseline log") saying why.
#
# usage: tests/infra/update-abi.sh [BUILD_DIR]   (default: build)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
bdir=${1:-build}
sos=("$bdir"/libcrm.so.*.*.*)
so=${sos[0]}
[ -f "$so" ] || { echo "no $bdir/libcrm.so.X.Y.Z: build first (meson setup $bdir && ninja -C $bdir)"; exit 1; }
if ! readelf -S "$so" | grep -q '\.debug_info'; then
    echo "$so has no DWARF: use buildtype debugoptimized (the default)"; exit 1
fi
if nm -D "$so" | grep -q '__asan_\|__ubsan_'; then
    echo "$so is built with sanitizers: use a plain debugoptimized build"; exit 1
fi
abidw --headers-dir include/crm --drop-private-types --no-corpus-path --no-comp-dir-path \
      --out-file abi/libcrm.abi "$so"
echo "wrote abi/libcrm.abi from $so"
if git diff --quiet -- abi/libcrm.abi 2>/dev/null && git ls-files --error-unmatch abi/libcrm.abi >/dev/null 2>&1; then
    echo "(unchanged)"
else
    cat <<MSG
Now add a line to the "Baseline log" of docs/ABI.md:
  | $(date -u +%Y-%m-%d) | <version> | <what changed and why, e.g. "crm_rfm_* added in LIBCRM_1.1"> |
and a row per new public symbol to its "Symbols in versions" table.
MSG
fi
