#!/usr/bin/env bash
# LightGBM's lib_lightgbm.so needs libgomp.so.1, which the python3.12 Lambda runtime
# (Amazon Linux 2023) does not have. A layer's lib/ is on the runtime's LD_LIBRARY_PATH
# (/opt/lib), so ship one there: the portable copy (manylinux2014, glibc >= 2.17) that
# scikit-learn's wheel bundles, rather than whatever the build machine's system has.
set -euo pipefail
artifacts="$1"
py="${PYTHON:-python3.12}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
  --python-version 3.12 --implementation cp --abi cp312 -d "$tmp" scikit-learn
mkdir -p "$artifacts/lib"
"$py" - "$tmp" "$artifacts/lib/libgomp.so.1" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("scikit_learn-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    (name,) = [n for n in zf.namelist() if n.startswith("scikit_learn.libs/libgomp")]
    pathlib.Path(sys.argv[2]).write_bytes(zf.read(name))
PY
chmod 755 "$artifacts/lib/libgomp.so.1"
