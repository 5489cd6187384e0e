#!/usr/bin/env bash
# Installs flopmeter from its build tree into a scratch prefix, checks the installed layout,
# then builds a separate project against it with find_package(flopmeter) and runs it on the
# installed example trace. Usage: check_install.sh BUILD_DIR SOURCE_DIR [CONSUMER_FLAGS]
# (CONSUMER_FLAGS: compiler and linker flags the consumer needs, e.g. a sanitizer's runtime)
set -euo pipefail
build=$1
src=$2
flags=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
for f in bin/flopmeter include/flopmeter/trace_format.h include/flopmeter/version.h \
         share/flopmeter/examples/example.fmtrace share/flopmeter/docs/trace-format.md; do
  [ -e "$work/prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
ls "$work"/prefix/lib*/libflopmeter_trace.a >/dev/null
ls "$work"/prefix/lib*/cmake/flopmeter/flopmeterConfig.cmake >/dev/null
"$work/prefix/bin/flopmeter" verify "$work/prefix/share/flopmeter/examples/example.fmtrace" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -G Ninja \
      -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/count_records" "$work/prefix/share/flopmeter/examples/example.fmtrace"
echo "install check passed"
