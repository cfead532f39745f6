#!/usr/bin/env bash
# Slim a Lambda layer's site-packages: drop what a Lambda never loads (tests, headers,
# pyarrow's Flight, Gandiva and cloud filesystems other than S3, packaging tools, the runtime's own boto3), then
# compile bytecode for python3.12 (imports are ~3x slower without .pyc files).
set -euo pipefail
site="$1"
py="${PYTHON:-python3.12}"
cd "$site"
rm -rf boto3 botocore s3transfer jmespath urllib3 dateutil six.py python_dateutil* \
       setuptools pkg_resources _distutils_hack pip wheel \
       pyarrow/include pyarrow/src pyarrow/tests pyarrow/libarrow_flight.so* pyarrow/_flight*.so \
       pyarrow/libarrow_python_flight.so* pyarrow/_pyarrow_cpp_tests*.so pyarrow/libgandiva.so* \
       pyarrow/gandiva*.so pyarrow/_azurefs*.so pyarrow/_gcsfs*.so pyarrow/_hdfs*.so \
       pandas/tests numpy/tests numpy/*/tests numpy/_core/include numpy/f2py scipy/*/tests \
       sklearn/*/tests sklearn/tests lightgbm/tests
find . -type d -name tests -path "*/scipy/*" -prune -exec rm -rf {} + 2>/dev/null || true
find . -type d -name "__pycache__" -prune -exec rm -rf {} +
find . -name "*.pyx" -o -name "*.pxd" -o -name "*.c" -o -name "*.cpp" -o -name "*.h" | xargs rm -f
"$py" -m compileall -q -j 0 . >/dev/null
