#!/usr/bin/env bash
# Slim a Lambda layer's site-packages: drop what a Lambda never loads (tests, headers,
# pyarrow's Flight, Gandiva and non-S3 filesystems, the parts of scipy LightGBM does not use,
# packaging tools, the runtime's own boto3), then compile bytecode for python3.12 (imports
# are ~3x slower without .pyc files). tests/build checks the result still works.
set -euo pipefail
site="$1"
py="${PYTHON:-python3.12}"
cd "$site"
rm -rf boto3 botocore s3transfer jmespath urllib3 dateutil six.py python_dateutil* \
       setuptools pkg_resources _distutils_hack pip wheel \
       pyarrow/include pyarrow/src pyarrow/tests pyarrow/libarrow_flight.so* pyarrow/_flight*.so \
       pyarrow/libarrow_python_flight.so* pyarrow/_pyarrow_cpp_tests*.so pyarrow/libgandiva.so* \
       pyarrow/gandiva*.so pyarrow/_azurefs*.so pyarrow/_gcsfs*.so pyarrow/_hdfs*.so \
       pyarrow/_s3fs*.so pyarrow/libarrow_s3.so* \
       pandas/tests numpy/tests numpy/*/tests numpy/_core/include \
       lightgbm/tests
# pyarrow ships each of its Python bindings three times (.so, .so.N, .so.N.M.P): the loader
# only opens the .so.N its modules were linked against.
for lib in pyarrow/libarrow_python*.so.*.*.*; do [ -e "$lib" ] && rm -f "$lib"; done
for lib in pyarrow/libarrow_python*.so; do [ -e "$lib" ] && rm -f "$lib"; done
# LightGBM imports scipy.sparse and nothing else of scipy.
if [ -d scipy ]; then
  (cd scipy && find . -mindepth 1 -maxdepth 1 -type d ! -name _lib ! -name _external ! -name sparse \
     ! -name __pycache__ -exec rm -rf {} + && rm -rf sparse/linalg sparse/csgraph)
  rm -rf scipy.libs
fi
find . -type d -name tests -prune -exec rm -rf {} + 2>/dev/null || true
find . -type d -name "__pycache__" -prune -exec rm -rf {} +
find . \( -name "*.pyx" -o -name "*.pxd" -o -name "*.c" -o -name "*.cpp" -o -name "*.h" \) -delete
"$py" -m compileall -q -j 0 . >/dev/null
