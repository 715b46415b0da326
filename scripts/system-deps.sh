#!/usr/bin/env bash
# The Debian packages the test suite needs beyond Python: Chromium for the browser tests, a CJK
# font so their screenshots show Chinese, and pg_dump for the PostgreSQL plaintext scan.
# As root it installs what is missing; otherwise it stops at once with the command to run.
set -euo pipefail
need=()
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/truetype/wqy ] || need+=(fonts-wqy-zenhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need Debian packages that are missing: ${need[*]}" >&2
  echo "Install them with:  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "Installing ${need[*]} (apt-get)..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
