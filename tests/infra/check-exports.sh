#!/usr/bin/env bash
# Exports check (style C8): the symbols listed in lib/libcrm.map, the symbols
# the built shared library exports, and the CRM_API declarations in
# include/crm/*.h must be the same three sets; and every one of them has a
# row in the "Symbols in versions" table of docs/ABI.md whose version matches
# its version node (LIBCRM_1.0 <-> 1.0.x), like curl's test 1119.
# Prints the differing names when inconsistent.
#
# usage: check-exports.sh SOURCE_ROOT PATH/TO/libcrm.so.X.Y.Z
set -euo pipefail
src=$1
so=$(readlink -f "$2")   # absolute: relative paths are from the build dir
cd "$src"

case "$so" in
*.so | *.so.*) ;;
*) echo "SKIP: $so is not a shared library (default_library=static?)"; exit 77 ;;
esac
command -v nm >/dev/null || { echo "SKIP: nm (binutils) not found"; exit 77; }

map() { sed -n 's/^[[:space:]]*\(crm_[a-z0-9_]*\);.*/\1/p' lib/libcrm.map | sort; }
exported() { nm -D --defined-only "$so" | awk '$2=="T"{sub(/@.*/,"",$3); print $3}' | sort -u; }
declared() { grep -h '^CRM_API' include/crm/*.h | sed -E 's/^[^(]*[ *]([a-z_0-9]+)\(.*/\1/' | sort; }

status=0
n=$(map | wc -l)
[ "$n" -gt 0 ] || { echo "lib/libcrm.map lists no crm_ symbol"; exit 1; }

# Symbols exported by the .so that are not functions (data, weak) leak too.
other=$(nm -D --defined-only "$so" | awk '$2!="T" && $2!="A" {print}')
if [ -n "$other" ]; then
    echo "the library exports non-function symbols:"; echo "$other"; status=1
fi
if ! diff -u --label lib/libcrm.map --label "nm -D $(basename "$so")" <(map) <(exported); then
    echo "=> the version script and the exported symbols differ"; status=1
fi
if ! diff -u --label lib/libcrm.map --label 'CRM_API in include/crm/*.h' <(map) <(declared); then
    echo "=> the version script and the CRM_API declarations differ"; status=1
fi
if [ -n "$(map | uniq -d)" ]; then
    echo "=> duplicate names in lib/libcrm.map: $(map | uniq -d | tr '\n' ' ')"; status=1
fi
# Symbol -> node (LIBCRM_X.Y) from the map, symbol -> introduced from docs/ABI.md.
nodes() {
    awk '/^[[:space:]]*LIBCRM_[0-9.]+[[:space:]]*\{/ {node=$1; sub(/\{.*/, "", node)}
         /^[[:space:]]*crm_[a-z0-9_]*;/ {sym=$1; sub(/;.*/, "", sym); print sym, node}' lib/libcrm.map | sort
}
documented() {
    sed -n 's/^| `\(crm_[a-z0-9_]*\)()` | \([0-9][0-9.]*\) |.*/\1 \2/p' docs/ABI.md |
        awk '{split($2, v, "."); print $1, "LIBCRM_" v[1] "." v[2]}' | sort
}
if [ ! -f docs/ABI.md ]; then
    echo "=> docs/ABI.md missing"; status=1
elif ! diff -u --label 'lib/libcrm.map (symbol node)' --label 'docs/ABI.md symbols in versions' \
        <(nodes) <(documented); then
    echo "=> docs/ABI.md \"Symbols in versions\" must list every exported function with the"
    echo "   version that introduced it, matching its node in lib/libcrm.map"; status=1
fi
[ "$status" -eq 0 ] && echo "exports consistent: $n symbols in map == .so == headers"
exit "$status"
