#!/usr/bin/env bash
# Set up what the tests need on a fresh machine, then run them: bash scripts/test.sh [PYTEST ARGS...]
#   - Python packages: requirements-dev.txt (pinned) and this package in editable mode;
#   - Debian packages when missing (needs root or sudo): chromium for the browser tests, postgresql (initdb,
#     pg_ctl) for the annotation-store tests, which start a real server; without them those tests skip.
# Exits with pytest's status (0 all passed, 1 failures, 2-4 usage/internal errors, 5 no tests collected).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || echo "scripts/test.sh: could not install ${missing[*]}; the tests that need them will be skipped" >&2
fi
python -m pip install -q -r requirements-dev.txt
python -m pip install -q --no-deps -e .
set +e
python -m pytest tests "$@"
status=$?
set -e
exit "$status"
