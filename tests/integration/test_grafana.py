"""The Grafana dashboard in docs/grafana-dashboard.json (issue 23 item 5).

Loads the dashboard, checks that it is a well-formed Grafana dashboard
(unique panel ids, grid positions inside the 24-column grid, every target
on the dashboard's Prometheus data source variable), and parses every
PromQL expression it holds. Each metric name an expression uses must be
one a live kcovd really exports on GET /metrics (scraped here, after some
traffic so labelled series exist), with the TYPE the query needs (rate()
and increase() only on counters, gauges read directly), and each label an
expression selects or groups by must be a label of that metric in the
scrape. Every metric kcovd exports must appear on the dashboard.
"""
import json
import os
import re

from kcovlib import Server, check, run_tests

DASH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                    "grafana-dashboard.json")
STATE = {}

# PromQL words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "inf", "nan"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}
COUNTER_FUNCS = {"rate", "irate", "increase"}


def scrape(srv):
    """{metric: (type, set of label names)} from kcovd's /metrics."""
    status, body = srv.request("GET", "/metrics")
    check(status == 200, "GET /metrics: %d" % status)
    types, labels = {}, {}
    for line in body.decode().splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            labels.setdefault(m.group(1), set())
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? \S+$", line)
        check(m, "unparsable /metrics line: %r" % line)
        check(m.group(1) in types, "%s has no # TYPE line" % m.group(1))
        for pair in filter(None, (m.group(3) or "").split(",")):
            labels[m.group(1)].add(pair.split("=", 1)[0])
    return {k: (types[k], labels[k]) for k in types}


def setup():
    srv = Server().start()
    STATE["srv"] = srv
    # Some traffic: a refused push (a labelled counter) and reads.
    srv.request("POST", "/api/v1/reports", b"x", {"Content-Type": "application/x-kcov"})
    srv.request("GET", "/healthz")
    STATE["metrics"] = scrape(srv)
    with open(DASH) as f:
        STATE["dash"] = json.load(f)


def panels(d):
    for p in d["panels"]:
        yield p
        for q in p.get("panels", []):
            yield q


def test_dashboard_shape():
    d = STATE["dash"]
    check(d.get("title") and d.get("uid") and isinstance(d.get("schemaVersion"), int),
          "title, uid and schemaVersion are required")
    var = {v["name"]: v for v in d["templating"]["list"]}
    check(var.get("datasource", {}).get("type") == "datasource" and
          var["datasource"].get("query") == "prometheus", "no Prometheus data source variable")
    ids, boxes = set(), []
    for p in panels(d):
        check(p.get("id") not in ids, "duplicate panel id %s" % p.get("id"))
        ids.add(p["id"])
        g = p["gridPos"]
        check(0 <= g["x"] and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0,
              "panel %s outside the grid: %s" % (p["title"], g))
        boxes.append((p["title"], g))
        if p["type"] == "row":
            continue
        check(p.get("targets") and p.get("description"), "panel %s: no targets" % p["title"])
        for t in p["targets"]:
            check(t["datasource"]["uid"] == "${datasource}" and t.get("expr"),
                  "panel %s: target not on ${datasource}" % p["title"])
    for i, (a, g) in enumerate(boxes):
        for b, h in boxes[i + 1:]:
            overlap = (g["x"] < h["x"] + h["w"] and h["x"] < g["x"] + g["w"] and
                       g["y"] < h["y"] + h["h"] and h["y"] < g["y"] + g["h"])
            check(not overlap, "panels %r and %r overlap" % (a, b))


def exprs(d):
    for p in panels(d):
        for t in p.get("targets", []):
            yield p["title"], t["expr"]
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            yield "variable " + v["name"], v["definition"]


def parse(expr):
    """[(metric, enclosing function or None, label names it selects)] and
    the label names grouped by, of one PromQL expression."""
    uses, grouped = [], set()
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    for m in re.finditer(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)", s):
        grouped |= {x.strip() for x in m.group(2).split(",") if x.strip()}
    s = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\[[^\]]*\]", "", s)  # range selectors
    stack = []  # the function of each open parenthesis
    i = 0
    tok = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*|\d+(\.\d+)?(e-?\d+)?|\(|\)|\{[^}]*\}|.", re.S)
    toks = [m.group(0) for m in tok.finditer(s) if not m.group(0).isspace()]
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if t == "(":
            stack.append(None)
        elif t == ")":
            check(stack, "unbalanced ) in %r" % expr)
            stack.pop()
        elif re.match(r"[a-zA-Z_:]", t) and t not in KEYWORDS:
            if nxt == "(":
                if t == "label_values":
                    # label_values(METRIC{...}, LABEL): the last argument is a label
                    close = toks.index(")", i)
                    grouped.add(toks[close - 1])
                    toks[close - 1] = ""
                stack.append(t)
                i += 2
                continue
            sel = set()
            if nxt.startswith("{"):
                sel = {m.group(1) for m in re.finditer(r"([a-zA-Z_]\w*)\s*(=~|!~|!=|=)", nxt)}
                i += 1
            func = next((f for f in reversed(stack) if f), None)
            uses.append((t, func, sel))
        i += 1
    check(not stack, "unbalanced ( in %r" % expr)
    return uses, grouped


def test_parser_finds_what_it_should():
    """The expression parser, on known inputs (so the next test can fail)."""
    u, g = parse('sum by (mode) (rate(a_total{job=~"$job", x="y(z)"}[5m])) / '
                 'clamp_min(sum(b_gauge), 1e-9)')
    check([(m, f, s) for m, f, s in u] == [("a_total", "rate", {"job", "x"}),
                                            ("b_gauge", "sum", set())] and g == {"mode"},
          "parse: %s %s" % (u, g))
    u, g = parse('label_values(m_total{job=~"$job"}, instance)')
    check([x[0] for x in u] == ["m_total"] and g == {"instance"}, "label_values: %s %s" % (u, g))


def test_every_metric_is_exported():
    metrics = STATE["metrics"]
    used = set()
    check(len(metrics) >= 10, "kcovd exports only %s" % sorted(metrics))
    for where, expr in exprs(STATE["dash"]):
        uses, grouped = parse(expr)
        check(uses, "%s: no metric in %r" % (where, expr))
        known_labels = set(TARGET_LABELS)
        for name, func, sel in uses:
            check(name in metrics, "%s: %s is not exported by kcovd (it exports %s)"
                  % (where, name, ", ".join(sorted(metrics))))
            used.add(name)
            mtype, labels = metrics[name]
            known_labels |= labels
            check(sel <= labels | TARGET_LABELS, "%s: %s has no label %s"
                  % (where, name, ", ".join(sorted(sel - labels - TARGET_LABELS))))
            if where.startswith("variable"):
                continue
            if mtype == "counter":
                check(func in COUNTER_FUNCS, "%s: counter %s read without rate/increase (%s)"
                      % (where, name, func))
            else:
                check(func not in COUNTER_FUNCS, "%s: %s of gauge %s" % (where, func, name))
        check(grouped <= known_labels, "%s: groups by unknown label(s) %s"
              % (where, grouped - known_labels))
    missing = set(metrics) - used
    check(not missing, "kcovd metrics not on the dashboard: %s" % ", ".join(sorted(missing)))


def main():
    setup()
    run_tests([test_dashboard_shape, test_parser_finds_what_it_should,
               test_every_metric_is_exported])


if __name__ == "__main__":
    main()
