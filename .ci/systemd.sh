#!/usr/bin/env bash
# The systemd unit checked by systemd's own tools, then its command run as
# the unit says (.ci/systemd.py). Needs the release binary built.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/callboard
command -v systemd-analyze >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
}
# `verify` checks that ExecStart's program exists: install it where the
# unit expects it (this is a throwaway machine).
install -m 0755 "$BIN" /usr/local/bin/callboard
systemd-analyze verify deploy/systemd/callboard.service
# The sandbox, scored by systemd (0 is tightest, 10 none): fail above 2.0.
systemd-analyze security --offline=yes --threshold=20 deploy/systemd/callboard.service | tail -1
python3 .ci/systemd.py "$BIN" 18090
