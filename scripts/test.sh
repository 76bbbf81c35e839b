#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it:
# a virtual environment from the pinned lock file, Debian's Chromium for the
# report's browser test, Debian's Orthanc with its DICOMweb plugin for the DICOMweb
# tests, then ruff (lint and format), mypy and pytest (slow and browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the report browser test"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and cannot be installed here (need root and apt-get);" \
         "the browser tests will fail" >&2
  fi
fi

if [ ! -x /usr/sbin/Orthanc ] || [ ! -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's orthanc and orthanc-dicomweb for the DICOMweb tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq orthanc orthanc-dicomweb >/dev/null
    # the tests start their own Orthanc on a loopback port; the packaged service is not needed
    if command -v service >/dev/null 2>&1; then service orthanc stop >/dev/null 2>&1 || true; fi
  else
    echo "orthanc/orthanc-dicomweb are missing and cannot be installed here (need root and" \
         "apt-get); the DICOMweb tests will be skipped" >&2
  fi
fi

echo "== ruff"
.venv/bin/ruff check validation tests benchmarks
.venv/bin/ruff format --check validation tests benchmarks scripts
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
