#!/usr/bin/env python3
# check-openmetrics.py - parse an OpenMetrics 1.0 exposition with the
# prometheus_client reference parser (strict: canonical le, sample order,
# exemplar syntax, # EOF). promtool 2.42 only lints text 0.0.4, so this is
# the OpenMetrics check. Exit 0 when valid, 1 with the parser's error.
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
try:
    n = sum(len(fam.samples) for fam in text_string_to_metric_families(text))
except Exception as e:  # the parser raises ValueError and friends
    print(f"{sys.argv[1]}: {e}", file=sys.stderr)
    sys.exit(1)
print(f"{sys.argv[1]}: {n} samples OK")
