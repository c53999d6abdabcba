#!/usr/bin/env python3
"""Whether a history report (by=queue, step=interval) holds the queue rows
of `callboard replay --intervals`: every row of each, keyed by interval
start, service and queue, with the same counts and durations (to the
millisecond).

    same_history.py REPLAYED.ndjson REPORT.json

Prints the rows compared, or the differences and exits 1.
"""
import json
import os
import sys
from datetime import datetime, timezone


def queue_figures():
    """The counts and the summed seconds of a queue row, as the interval
    schema lists them (it is kept in step with the counter table)."""
    here = os.path.dirname(os.path.abspath(__file__))
    schema = json.load(open(os.path.join(here, "..", "schemas", "interval.schema.json")))
    props = schema["$defs"]["queue"]["properties"]
    counts = [k for k, v in props.items() if v.get("type") == "integer"]
    seconds = [k for k, v in props.items() if v.get("type") == "number"]
    return counts, seconds


COUNTS, SECONDS = queue_figures()


def instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def figures(row):
    return tuple(row[k] for k in COUNTS) + tuple(round(row[k] * 1000) for k in SECONDS)


def main(replayed, report):
    want = {}
    for line in open(replayed, encoding="utf-8"):
        row = json.loads(line)
        if row["kind"] == "queue":
            want[(instant(row["start"]), row.get("service"), row.get("queue"))] = figures(row)
    try:
        rows = json.load(open(report, encoding="utf-8"))["rows"]
    except (OSError, ValueError, KeyError) as e:
        print(f"no report: {e}")
        return 1
    got = {(instant(r["period"]), r.get("service"), r.get("queue")): figures(r) for r in rows}
    # Durations summed in another order may differ by a millisecond.
    def same(a, b):
        return a[:len(COUNTS)] == b[:len(COUNTS)] and all(
            abs(x - y) <= 1 for x, y in zip(a[len(COUNTS):], b[len(COUNTS):]))
    bad = [f"{k[0].isoformat()} {k[1]}/{k[2]}: replay {want.get(k)}, stored {got.get(k)}"
           for k in sorted(set(want) | set(got), key=str)
           if k not in want or k not in got or not same(want[k], got[k])]
    if bad or not want:
        print("\n".join(bad) or "replay has no queue rows")
        return 1
    print(f"{len(want)} queue interval rows, {sum(f[0] for f in want.values())} inbound")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
