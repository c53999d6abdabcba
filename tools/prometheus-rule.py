#!/usr/bin/env python3
"""Writes deploy/kubernetes/monitoring/prometheusrule.yaml from
prometheus/rules/callboard.rules.yml: the same groups, as the Prometheus
Operator's PrometheusRule. With --check, fails if the committed file
differs (CI runs it so the two never drift)."""

import sys

import yaml

RULES = "prometheus/rules/callboard.rules.yml"
OUT = "deploy/kubernetes/monitoring/prometheusrule.yaml"


class Dumper(yaml.SafeDumper):
    pass


def block_strings(dumper, s):
    # Multi-line expressions as `|` blocks, as they are in the rules file.
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


Dumper.add_representer(str, block_strings)


def render():
    groups = yaml.safe_load(open(RULES))["groups"]
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "callboard"},
        "spec": {"groups": groups},
    }
    head = (f"# Generated from {RULES} by tools/prometheus-rule.py: edit the rules\n"
            "# there and run it again (CI checks the two agree).\n")
    return head + yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


text = render()
if "--check" in sys.argv:
    if open(OUT).read() != text:
        sys.exit(f"{OUT} is not {RULES} as a PrometheusRule: run tools/prometheus-rule.py")
    print(f"{OUT} agrees with {RULES}")
else:
    open(OUT, "w").write(text)
