"""A served snapshot must equal the replayed one (end-to-end checks).

    same_snapshot.py PREFIX LABEL SERVED.json REPLAYED.json

Prints what differs, field by field, and exits 1; or says they are equal.
"""
import json
import sys

prefix, label = sys.argv[1], sys.argv[2]
served, replayed = (json.load(open(p)) for p in sys.argv[3:5])
if served != replayed:
    for k in served:
        if served[k] != replayed.get(k):
            print(f"{prefix}: {label}: {k} differs:\n served   {json.dumps(served[k])[:400]}\n replayed {json.dumps(replayed.get(k))[:400]}")
    sys.exit(1)
print(f"{prefix}: {label}: served snapshot = replay "
      f"({served['totals']['inbound']} inbound, {served['totals']['answered']} answered)")
