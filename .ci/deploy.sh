#!/usr/bin/env bash
# What a platform team installs, checked by the tools it would trust: the
# systemd unit (systemd-analyze, then its command as the unit says), the
# image's command as the Dockerfile says, and TLS through OpenSSL clients.
# Needs the release binary built.
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
# The container as the Dockerfile runs it (no Docker engine here).
python3 .ci/container.py "$BIN" 18092
# TLS through curl and Python's ssl (OpenSSL), with a certificate openssl makes.
command -v openssl >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl curl >/dev/null
}
python3 .ci/tls.py "$BIN" 18093
