#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for Isthmus: the Debian packages the local stack runs (when missing)
# and the Python environment in .venv, pinned by constraints.txt. Safe to run again. The stack's jars are
# resolved from Maven Central by `isthmus up` (stack/maven/pom.xml), not here.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql-15)
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } || missing+=(mariadb-server mariadb-client)
# Headless Chromium drives the dashboard's browser test (tests/dashboard).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup: Isthmus needs Python 3.11 ($python is $("$python" -V 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python" -V)"
  "$python" -m venv .venv
fi
echo "setup: installing Python packages into .venv (pinned by constraints.txt)"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
echo "setup: done"
