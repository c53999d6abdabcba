#!/usr/bin/env bash
# Both decoders under libFuzzer for a bounded time each (a minute by
# default, FUZZ_SECONDS to change it), starting from the shipped seeds.
# cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 lets this stable
# toolchain build them. A crash (or a build failure) fails the run; a
# crashing input is left in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in decode_json decode_queue_log; do
  corpus=$(mktemp -d)
  cp -r "fuzz/seeds/$target/." "$corpus/"
  echo "fuzz: $target for ${SECONDS_EACH}s"
  log=$(mktemp)
  rc=0
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$corpus" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)" "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz: $target failed (exit $rc); a crashing input is in fuzz/artifacts/$target/"
    exit 1
  fi
done
echo "fuzz: passed"
