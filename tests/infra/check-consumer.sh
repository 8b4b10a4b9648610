#!/usr/bin/env bash
# Consumer projects (issue 2): prove that an outside project can use libcrm
#  (i)  vendored as a meson subproject: a temporary meson project with this
#       source tree copied to subprojects/libcrm and
#       dependency('libcrm', fallback: ['libcrm', 'libcrm_dep']);
#  (ii) installed: `meson install --destdir` of this build, then the consumer
#       compiled with `pkg-config --cflags --libs libcrm` alone and run
#       against the installed libcrm.so.1.
#
# usage: check-consumer.sh SOURCE_ROOT BUILD_ROOT B_SANITIZE
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
sanitize=${3:-none}
here=$src/tests/infra/consumer

if [ "$sanitize" != none ]; then
    # The installed library carries the sanitizer runtime references, which a
    # plain consumer cannot link; the vendored build would repeat (i) of the
    # plain build. Both are covered there.
    echo "SKIP: sanitizer build (-Db_sanitize=$sanitize)"
    exit 77
fi
for tool in meson ninja pkg-config; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not found"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/crm-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log.txt
# Run a step quietly; on failure show its output.
step() {
    if ! "$@" >"$log" 2>&1; then
        echo "FAILED: $*"; cat "$log"; exit 1
    fi
}

echo "== (i) vendored subproject"
proj=$tmp/proj
mkdir -p "$proj/subprojects/libcrm"
# Copy the source tree without VCS data and without any build directory
# (every meson build directory holds a build.ninja).
tar -C "$src" --exclude-vcs --exclude-tag-all=build.ninja --exclude='./build*' \
    --exclude=__pycache__ -cf - . | tar -C "$proj/subprojects/libcrm" -xf -
cp "$here/consumer.c" "$proj/"
cp "$here/meson.build.in" "$proj/meson.build"
# forcefallback: use the vendored copy even if a libcrm is installed.
step meson setup --wrap-mode=forcefallback "$proj/b" "$proj"
step ninja -C "$proj/b"
"$proj/b/consumer"
# The parent builds only the library: no tests, examples or bindings of libcrm.
if ls "$proj/b/subprojects/libcrm/tests" >/dev/null 2>&1; then
    echo "FAILED: the vendored libcrm built its tests: guard them with meson.is_subproject()"
    exit 1
fi

echo "== (ii) installed, found with pkg-config"
root=$tmp/root
step meson install -C "$build" --no-rebuild --destdir "$root" --tags devel,runtime
pc=$(find "$root" -name libcrm.pc | head -n 1)
[ -n "$pc" ] || { echo "FAILED: meson install put no libcrm.pc"; exit 1; }
pcdir=$(dirname "$pc")
# Only the staged copy is visible; the sysroot prefix maps its /usr/local/...
# paths into the staging directory, so the .pc file is used as installed.
export PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$root
flags=$(pkg-config --cflags --libs libcrm)
echo "pkg-config --cflags --libs libcrm: $flags"
libdir=$(pkg-config --variable=libdir libcrm)
libdir=$root${libdir#"$root"}   # pkgconf may or may not prefix the sysroot here
# shellcheck disable=SC2086
step "${CC:-cc}" -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$tmp/consumer" \
    "$here/consumer.c" $flags
for f in libcrm.so libcrm.so.1; do
    [ -e "$libdir/$f" ] || { echo "FAILED: $libdir/$f not installed"; exit 1; }
done
soname=$(readelf -d "$libdir/libcrm.so.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libcrm.so.1 ] || { echo "FAILED: SONAME is '$soname', want libcrm.so.1"; exit 1; }
resolved=$(LD_LIBRARY_PATH=$libdir ldd "$tmp/consumer" | awk '/libcrm/ {print $3}')
case "$resolved" in
"$root"/*) ;;
*) echo "FAILED: consumer resolves libcrm to '$resolved', not the installed copy"; exit 1 ;;
esac
LD_LIBRARY_PATH=$libdir "$tmp/consumer"

echo "== (iii) installed static archive, pkg-config --static"
[ -e "$libdir/libcrm.a" ] || { echo "FAILED: $libdir/libcrm.a not installed"; exit 1; }
cflags=$(pkg-config --cflags libcrm)
# shellcheck disable=SC2086
step "${CC:-cc}" -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$tmp/consumer_static" \
    "$here/consumer.c" $cflags "$libdir/libcrm.a" $(pkg-config --static --libs-only-l libcrm | sed 's/-lcrm//')
if ldd "$tmp/consumer_static" | grep -q libcrm; then
    echo "FAILED: the static consumer still needs libcrm.so"; exit 1
fi
"$tmp/consumer_static"
echo "consumer projects OK"
