#!/bin/sh
# Run a cmocka test binary and pass its TAP to meson, rewriting cmocka's
# "not ok N # SKIP reason" (how cmocka 1.1 reports skip()) into the TAP form
# "ok N # SKIP reason" that meson counts as skipped rather than failed.
# Tests call skip() when optional inputs (the conformance datasets in
# ../shared/datasets) are absent. The binary's exit status is kept.
# usage: tap-skip.sh TEST_BINARY [ARGS...]
status_file=$(mktemp) || exit 99
trap 'rm -f "$status_file"' EXIT
{ "$@"; echo $? >"$status_file"; } | sed 's/^not ok \([0-9][0-9]*\)\( -\)\{0,1\} *# *SKIP/ok \1 # SKIP/'
exit "$(cat "$status_file")"
