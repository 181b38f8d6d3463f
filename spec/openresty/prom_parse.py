"""Reads the Prometheus text exposition on stdin with Prometheus's own
parser (prometheus_client.parser) and writes one line per sample:
NAME<TAB>TYPE<TAB>label=value,... (sorted)<TAB>VALUE, and per family
"# FAMILY<TAB>name<TAB>type<TAB>help".  Exits non-zero when the parser
refuses the text."""
import sys
from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
for family in text_string_to_metric_families(text):
    print("# FAMILY\t%s\t%s\t%s" % (family.name, family.type, family.documentation))
    for s in family.samples:
        labels = ",".join("%s=%s" % (k, s.labels[k]) for k in sorted(s.labels))
        print("%s\t%s\t%s\t%r" % (s.name, family.type, labels, float(s.value)))
