#!/usr/bin/env python3
"""Every PromQL expression of the chart's Grafana dashboard and alert rules, one JSON object a line.

    python3 scripts/checks/promql_exprs.py [--dashboard FILE] [--rules FILE]

Each line is

    {"source": "dashboard:<panel title>", "ref": "A", "expr": "..."}
    {"source": "record:<name>", "expr": "..."}
    {"source": "alert:<name>", "expr": "...", "data_exprs": ["...", ...]}

so that a test can send each `expr` to Prometheus' /api/v1/query. A dashboard target and a
recording rule must return at least one series on a healthy cluster. An alert's `expr` returns
series only while its condition holds (that is the alert firing), so for alerts the test checks
`data_exprs` instead: the operands of the expression's top-level comparisons and set operators
(`up{job="oxidize-relay"} == 0` -> `up{job="oxidize-relay"}`), which must return series on a
healthy cluster; and it makes one alert's `expr` return series by breaking what it watches.

Pure: reads the two files, prints, no network. Standard library only; PyYAML is used when it is
importable (the repo's .venv has it), else the rules file is read by a small parser for the
structure `promtool check rules` accepts in this chart (scripts/checks/chart.sh compares both).
"""

import argparse
import json
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DASHBOARD = os.path.join(ROOT, "charts", "oxidize", "files", "dashboard.json")
RULES = os.path.join(ROOT, "charts", "oxidize", "files", "rules.yaml")


def dashboard_exprs(dashboard):
    """(panel title, refId, expr) of every target, rows' nested panels included."""

    def walk(panels):
        for panel in panels or []:
            for target in panel.get("targets") or []:
                expr = (target.get("expr") or "").strip()
                if expr and not target.get("hide"):
                    yield panel.get("title", ""), target.get("refId", ""), expr
            yield from walk(panel.get("panels"))

    yield from walk(dashboard.get("panels"))
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if var.get("type") == "query":
            query = var.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if query:
                yield "variable " + var.get("name", ""), "", query.strip()


def load_rules(text, use_yaml=True):
    """The rule groups of a Prometheus rules file: PyYAML if present, else `parse_rules`."""
    try:
        if not use_yaml:
            raise ImportError("--no-yaml")
        import yaml  # noqa: PLC0415  (optional)
    except ImportError:
        return parse_rules(text)
    return (yaml.safe_load(text) or {}).get("groups") or []


def _scalar(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    return value


def parse_rules(text):
    """A minimal reader of a rules file: groups -> rules with alert/record and expr (plain,
    quoted, or a `|`/`>` block scalar). Enough for charts/oxidize/files/rules.yaml."""
    groups = []
    rule = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        stripped = line.split(" #", 1)[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not stripped.strip():
            continue
        m = re.match(r"^(\s*)(?:- )?(\w+):\s*(.*)$", stripped)
        if not m:
            continue
        indent, key, value = len(m.group(1)), m.group(2), m.group(3)
        if key == "name" and stripped.lstrip().startswith("- name:") and indent <= 2:
            groups.append({"name": _scalar(value), "rules": []})
            rule = None
        elif key in ("alert", "record") and stripped.lstrip().startswith("- "):
            rule = {key: _scalar(value)}
            if groups:
                groups[-1]["rules"].append(rule)
        elif key == "expr" and rule is not None:
            if value[:1] in ("|", ">"):
                key_indent = len(line) - len(line.lstrip())
                block = []
                while i < len(lines) and (
                    not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > key_indent
                ):
                    block.append(lines[i].strip())
                    i += 1
                while block and not block[-1]:
                    block.pop()
                sep = "\n" if value[0] == "|" else " "
                rule["expr"] = sep.join(block)
            else:
                rule["expr"] = _scalar(value)
    return groups


_SET_OPS = re.compile(r"\b(or|and|unless)\b")
_CMP_OPS = ("==", "!=", ">=", "<=", ">", "<")
_MODIFIERS = re.compile(
    r"^\s*(?:bool\s+)?(?:(?:on|ignoring)\s*\([^)]*\)\s*)?"
    r"(?:(?:group_left|group_right)\s*(?:\([^)]*\))?\s*)?"
)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+|inf|nan|0x[0-9a-f]+)$", re.I)


def _top_level_split(expr, find):
    """Splits `expr` at the operators `find(expr, i)` matches outside (), {}, [] and strings."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            n = find(expr, i)
            if n:
                parts.append(expr[start:i])
                i += n
                start = i
                continue
        i += 1
    parts.append(expr[start:])
    return parts


def _set_op(expr, i):
    m = _SET_OPS.match(expr, i)
    if m and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] == "_")):
        return len(m.group(0))
    return 0


def _cmp_op(expr, i):
    for op in _CMP_OPS:
        if expr.startswith(op, i):
            # `=~` and `!~` live inside braces; `==` is matched before `=`.
            return len(op)
    return 0


def _strip_parens(expr):
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        inner = expr[1:-1]
        if len(_top_level_split(inner, lambda e, i: 0)) == 1 and _balanced(inner):
            expr = inner.strip()
        else:
            break
    return expr


def _balanced(expr):
    depth = 0
    for c in expr:
        depth += c == "("
        depth -= c == ")"
        if depth < 0:
            return False
    return depth == 0


def data_exprs(expr):
    """The operands of the top-level set operators and comparisons of `expr`, without scalars."""
    out = []
    for part in _top_level_split(_strip_parens(expr), _set_op):
        part = _MODIFIERS.sub("", part, count=1)
        operands = _top_level_split(_strip_parens(part), _cmp_op)
        if len(operands) == 1:
            if not _NUMBER.match(part.strip()):
                out.append(_strip_parens(part))
            continue
        for operand in operands:
            operand = _strip_parens(_MODIFIERS.sub("", operand, count=1))
            if operand and not _NUMBER.match(operand):
                out.append(operand)
    return out


def self_test():
    cases = {
        'up{job="oxidize-relay"} == 0': ['up{job="oxidize-relay"}'],
        "max(a) < 1": ["max(a)"],
        "(max by (x) (a) < bool max by (x) (b))": ["max by (x) (a)", "max by (x) (b)"],
        'rate(a{r!="x>y"}[5m]) > 0.1 and on (i) b == 1': ['rate(a{r!="x>y"}[5m])', "b"],
        "a > on (i) group_left (j) b or absent(c)": ["a", "b", "absent(c)"],
        "sum(rate(a[5m]))": ["sum(rate(a[5m]))"],
        "vector_or_not(order) > 0": ["vector_or_not(order)"],
    }
    failed = 0
    for expr, want in cases.items():
        got = data_exprs(expr)
        if got != want:
            print(f"data_exprs({expr!r}) = {got!r}, want {want!r}", file=sys.stderr)
            failed += 1
    rules = parse_rules(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: >-\n"
        "          a\n          > 1\n        for: 1m\n      - record: r:x\n"
        "        expr: 'sum(x{a=\"b\"})'\n"
    )
    want = [{"name": "g", "rules": [{"alert": "A", "expr": "a > 1"},
                                    {"record": "r:x", "expr": 'sum(x{a="b"})'}]}]
    if rules != want:
        print(f"parse_rules: {rules!r}, want {want!r}", file=sys.stderr)
        failed += 1
    print("promql_exprs self-test:", "ok" if not failed else f"{failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--dashboard", default=DASHBOARD)
    ap.add_argument("--rules", default=RULES)
    ap.add_argument("--no-yaml", action="store_true", help="use the built-in rules reader")
    ap.add_argument("--self-test", action="store_true", help="check data_exprs and exit")
    args = ap.parse_args()
    if args.self_test:
        return self_test()

    with open(args.dashboard, encoding="utf-8") as f:
        dashboard = json.load(f)
    with open(args.rules, encoding="utf-8") as f:
        groups = load_rules(f.read(), use_yaml=not args.no_yaml)

    n = 0
    for title, ref, expr in dashboard_exprs(dashboard):
        print(json.dumps({"source": f"dashboard:{title}", "ref": ref, "expr": expr}))
        n += 1
    for group in groups:
        for rule in group.get("rules") or []:
            expr = " ".join(str(rule.get("expr", "")).split())
            if "alert" in rule:
                line = {"source": f"alert:{rule['alert']}", "expr": expr}
                line["data_exprs"] = data_exprs(expr)
            else:
                line = {"source": f"record:{rule.get('record', '')}", "expr": expr}
            print(json.dumps(line))
            n += 1
    if n == 0:
        print("no expressions found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
