#!/usr/bin/env bash
# Installs the pinned schemathesis into a private virtualenv (.data/venv-schemathesis, or
# $SCHEMATHESIS_VENV), so the fuzz run needs nothing installed by hand. Idempotent: a venv
# that already holds the pinned version is left alone.
set -euo pipefail
cd "$(dirname "$0")/../../.."

VERSION=4.32.5
VENV=${SCHEMATHESIS_VENV:-.data/venv-schemathesis}

if [ -x "$VENV/bin/schemathesis" ] && "$VENV/bin/pip" show schemathesis 2>/dev/null | grep -qx "Version: $VERSION"; then
  exit 0
fi
# Debian's python3 lacks ensurepip unless python3-venv is installed.
if ! python3 -c 'import ensurepip' 2>/dev/null; then
  apt-get update && apt-get install -y python3-venv
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
