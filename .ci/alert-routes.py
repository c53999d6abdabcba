"""Every alert in the rules reaches the receiver its audience expects.

    python3 .ci/alert-routes.py

Reads prometheus/rules/callboard.rules.yml; each alert must carry a team
(floor or platform) and a severity; amtool (Alertmanager's) then says which
receiver of prometheus/alertmanager.yml gets it: floor alerts go to the
supervisors (pages to supervisors-page), platform alerts to the platform
team (pages to pager), and nothing the floor is told about wakes the
platform's pager.
"""
import subprocess
import sys

import yaml

rules = yaml.safe_load(open("prometheus/rules/callboard.rules.yml"))
alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
assert alerts, "no alerts in the rules"
want = {("floor", "page"): "supervisors-page", ("floor", "warning"): "supervisors",
        ("platform", "page"): "pager", ("platform", "warning"): "platform"}
for a in alerts:
    labels = a.get("labels", {})
    key = (labels.get("team"), labels.get("severity"))
    assert key in want, f"{a['alert']}: team/severity {key} is not one the routes know"
    out = subprocess.run(["amtool", "config", "routes", "test", "--config.file=prometheus/alertmanager.yml",
                          f"alertname={a['alert']}", f"team={key[0]}", f"severity={key[1]}", "tenant=acme"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == want[key], f"{a['alert']} ({key}) goes to {out}, not {want[key]}"
    print(f"alert routes: {a['alert']} ({key[0]}, {key[1]}) -> {out}")
print(f"alert routes: all {len(alerts)} alerts reach their audience")
