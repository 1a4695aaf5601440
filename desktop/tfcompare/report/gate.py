"""The regression gate: rules checked between a BASE session and a NEW one.

Rules (repeatable on the command line):

- ``p50:+10%`` / ``p90:+10%`` / ``p99:+10%`` / ``mean:+10%`` (or ``+5ms``): a backend × variant
  whose latency statistic grew by more than the limit;
- ``agreement:-2pp``: top-1 agreement with the original fell by more than 2 percentage points;
- ``errors:>0``: more than N failed requests for a backend × variant in NEW;
- ``knee:-10%`` (or ``sustained:-10%``): the capacity sweep's sustained req/s — the highest
  stable, not client-bound throughput with p99 within the limit, the figure equivalents and
  ``compare`` show — fell by more than 10 %. A figure that is only a lower bound (its higher
  levels never became stable) cannot show a fall: NEW's is "not significant", BASE's still
  fails when NEW's firm figure is below it by more than the limit.

Backends are matched by name, variants by key, over the images both sessions share.

Noise: a latency row fails only when its change is beyond the limit *and* a one-sided
Mann-Whitney U test on the per-request latencies says NEW's are larger than BASE's grown by the
limit (each BASE latency × 1.10 for ``+10%``, + 5 ms for ``+5ms``), at a family-wise 1 % level over
all the rows of that rule (Holm's correction). A slowdown that is real but within the limit does
not fail however many samples show it, and a gate that cries wolf gets switched off, so it asks for
strong evidence. The test looks at the whole distribution: a change confined to the slowest 1 %
of requests needs a p99 rule and many samples to be told from noise. A change beyond the
limit that the test cannot tell from noise is reported as "not significant" and passes. Top-1
answers and error counts are compared as they are (no test); knees are already measured until
stable (three windows within ±10 %).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tfcompare.report.data import SessionView
from tfcompare.report.significance import holm, mann_whitney_greater
from tfcompare.results import RunResult

if TYPE_CHECKING:
    from tfcompare.load.capacity_results import CapacityResult

LATENCY = ("p50", "p90", "p99", "mean")
GATE_ALPHA = 0.01  # family-wise, per rule
RULE_HELP = (
    "p50|p90|p99|mean:+N% or +Nms (latency grew), agreement:-Npp (top-1 agreement "
    "fell), errors:>N (failed requests in NEW), knee:-N% or sustained:-N% (sustained req/s "
    "at the latency limit fell)"
)
_RULE_RE = re.compile(
    r"^(?P<metric>p50|p90|p99|mean|agreement|errors|knee|sustained):"
    r"(?P<op>[+\->])(?P<num>\d+(?:\.\d+)?)(?P<unit>%|ms|pp)?$"
)


@dataclass(frozen=True)
class Rule:
    text: str
    metric: str
    limit: float
    unit: str  # "%", "ms", "pp" or "" (a count)

    @property
    def per_request(self) -> bool:
        """Whether the rule looks at the sessions' requests (and so at their images); ``knee:``
        looks at the capacity sweeps only."""
        return self.metric != "knee"

    def describe(self) -> str:
        if self.metric in LATENCY:
            return f"{self.metric} latency grew by more than {self.limit:g}{_u(self.unit)}"
        if self.metric == "agreement":
            return f"top-1 agreement fell by more than {self.limit:g} points"
        if self.metric == "errors":
            return f"more than {self.limit:g} failed request(s) in NEW"
        return (
            f"sustained req/s (highest stable level within the latency limit) fell by more "
            f"than {self.limit:g} %"
        )


def _u(unit: str) -> str:
    return f" {unit}" if unit else ""


def parse_rule(text: str) -> Rule:
    """``p90:+10%`` → Rule; ValueError naming the accepted forms otherwise."""
    m = _RULE_RE.match(text.strip().replace(" ", ""))
    hint = (
        " (a shell reads '>' as a redirection: quote the rule, 'errors:>0')"
        if text.strip() in ("errors", "errors:")
        else ""
    )
    bad = ValueError(f"bad rule {text!r}: expected {RULE_HELP}{hint}")
    if not m:
        raise bad
    metric, op, unit = m["metric"], m["op"], m["unit"] or ""
    metric = "knee" if metric == "sustained" else metric  # one figure, two names
    expected = {"agreement": ("-", ("pp",)), "errors": (">", ("",)), "knee": ("-", ("%",))}
    want_op, units = expected.get(metric, ("+", ("%", "ms")))
    if op != want_op or unit not in units:
        raise bad
    return Rule(text.strip(), metric, float(m["num"]), unit)


@dataclass(frozen=True)
class Check:
    """One backend × variant (or backend, for knees) under one rule."""

    backend: str
    variant: str
    base: float | None
    new: float | None
    change: float | None  # % for relative limits, ms or points otherwise
    p_value: float | None
    status: str  # "ok" | "FAILED" | "not significant"
    note: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    status: str  # "passed" | "FAILED" | "no data"
    checks: tuple[Check, ...]
    message: str = ""

    @property
    def failing(self) -> list[Check]:
        return [c for c in self.checks if c.status == "FAILED"]

    @property
    def noise(self) -> list[Check]:
        return [c for c in self.checks if c.status == "not significant"]

    def to_dict(self) -> dict:
        return {
            "rule": self.rule.text,
            "meaning": self.rule.describe(),
            "status": self.status,
            "message": self.message,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class GateResult:
    rules: tuple[RuleResult, ...]
    images_compared: int
    notes: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        if any(r.status == "FAILED" for r in self.rules):
            return 1
        return 2 if any(r.status == "no data" for r in self.rules) else 0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def per_request(self) -> bool:
        return any(r.rule.per_request for r in self.rules)

    @property
    def compared(self) -> str:
        """What the gate compared, for its summary line."""
        return (
            f"{self.images_compared} image(s) compared"
            if self.per_request
            else "capacity sweeps compared"
        )

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "exit_code": self.exit_code,
            "images_compared": self.images_compared,
            "alpha": GATE_ALPHA,
            "notes": list(self.notes),
            "rules": [r.to_dict() for r in self.rules],
        }


def run_gate(
    base: RunResult,
    new: RunResult,
    rules: list[Rule],
    *,
    capacity: tuple[CapacityResult | None, CapacityResult | None] = (None, None),
) -> GateResult:
    """Check ``rules`` for NEW against BASE; ``capacity`` holds their sweeps (for ``knee:``)."""
    names_base = [i.name for i in base.images]
    names_new = {i.name for i in new.images}
    common = [n for n in names_base if n in names_new]
    notes = []
    per_request = any(rule.per_request for rule in rules)
    if not common and per_request:
        notes.append("the sessions share no image: each is taken over its own images")
    vb = SessionView(base, common or None)
    vn = SessionView(new, common or None)
    missing = sorted({k for k in vb.rows if vb.rows[k].n} - set(vn.rows))
    if missing and per_request:
        notes.append(
            "in BASE but not measured in NEW (not checked): "
            + ", ".join(f"{b} {v}" for b, v in missing)
        )
    sweeps = [c for c in capacity if c is not None]
    tolerance = max((c.stability for c in sweeps), default=0.0) * 100
    for rule in rules:
        if rule.metric == "knee" and rule.limit < tolerance:
            notes.append(
                f"rule {rule.text}: a sweep counts a level as stable while its windows "
                f"differ by up to ±{tolerance:g} %, so a smaller drop can be "
                f"window-to-window noise (knee:-{tolerance:g}% or looser fails only on "
                "larger drops)"
            )
    out = []
    for rule in rules:
        if rule.metric in LATENCY:
            out.append(_latency(rule, vb, vn))
        elif rule.metric == "agreement":
            out.append(_agreement(rule, vb, vn))
        elif rule.metric == "errors":
            out.append(_errors(rule, vb, vn))
        else:
            out.append(_knee(rule, *capacity))
    return GateResult(tuple(out), len(common), tuple(notes))


def _finish(rule: Rule, checks: list[Check], empty: str) -> RuleResult:
    if not checks:
        return RuleResult(rule, "no data", (), empty)
    status = "FAILED" if any(c.status == "FAILED" for c in checks) else "passed"
    return RuleResult(rule, status, tuple(checks))


def _latency(rule: Rule, vb: SessionView, vn: SessionView) -> RuleResult:
    rows = []
    for key, b in vb.rows.items():
        n = vn.rows.get(key)
        if n is None or not b.n:
            continue
        rows.append((key, b, n))
    p_values = [mann_whitney_greater(n.samples, _grown(b.samples, rule)) for _, b, n in rows]
    significant = holm(p_values, GATE_ALPHA)
    checks = []
    for (key, b, n), p, sig in zip(rows, p_values, significant):
        before, after = b.stat(rule.metric), n.stat(rule.metric)
        if after is None:
            checks.append(
                Check(*key, before, None, None, None, "FAILED", "no successful request in NEW")
            )
            continue
        if rule.unit == "%":
            change = 100 * (after / before - 1) if before else None
        else:
            change = None if before is None else after - before
        beyond = change is not None and change > rule.limit
        if not beyond:
            status, note = "ok", ""
        elif sig:
            status, note = "FAILED", ""
        else:
            status = "not significant"
            note = (
                "too few samples for a test"
                if p is None
                else "within noise (Mann-Whitney, Holm-corrected)"
            )
        checks.append(Check(*key, before, after, change, p, status, note))
    return _finish(rule, checks, "no backend × variant measured in both sessions")


def _grown(samples: tuple[float, ...], rule: Rule) -> list[float]:
    """BASE's latencies grown by the rule's limit: what NEW must exceed to break the rule."""
    if rule.unit == "%":
        return [x * (1 + rule.limit / 100) for x in samples]
    return [x + rule.limit for x in samples]


def _agreement(rule: Rule, vb: SessionView, vn: SessionView) -> RuleResult:
    checks = []
    for key, b in vb.rows.items():
        n = vn.rows.get(key)
        if n is None or b.agreement is None or n.agreement is None:
            continue
        change = 100 * (n.agreement - b.agreement)
        status = "FAILED" if change < -rule.limit else "ok"
        checks.append(Check(*key, 100 * b.agreement, 100 * n.agreement, change, None, status))
    return _finish(
        rule,
        checks,
        "no backend × variant has a top-1 agreement in both sessions "
        "(it needs the original and top-5 answers)",
    )


def _errors(rule: Rule, vb: SessionView, vn: SessionView) -> RuleResult:
    checks = []
    for key, r in vn.rows.items():
        before = vb.rows[key].n_errors if key in vb.rows else None
        checks.append(
            Check(
                *key,
                before,
                float(r.n_errors),
                float(r.n_errors),
                None,
                "FAILED" if r.n_errors > rule.limit else "ok",
            )
        )
    return _finish(rule, checks, "NEW has no measured request")


def _knee(rule: Rule, cap_base, cap_new) -> RuleResult:
    """Sustained req/s per backend × variant (the highest stable level within the limit), as
    ``tfcompare compare`` shows it."""
    if cap_base is None or cap_new is None:
        which = " and ".join(n for n, c in (("BASE", cap_base), ("NEW", cap_new)) if c is None)
        return RuleResult(rule, "no data", (), f"no capacity sweep in {which}")
    from tfcompare.load.capacity_text import compare_capacity

    checks = []
    for row in compare_capacity(cap_base, cap_new):
        if row["only_in"] or row["a"] is None:
            continue
        if row["b"] is None:  # no stable level within the limit any more
            checks.append(
                Check(
                    row["backend"],
                    row["variant"],
                    row["a"],
                    None,
                    -100.0,
                    None,
                    "FAILED",
                    "no stable level within the latency limit in NEW",
                )
            )
            continue
        change = row["change_pct"]
        status, note = "FAILED" if change < -rule.limit else "ok", ""
        if row["b_lower_bound"] and status == "FAILED":
            # NEW may sustain more than its sweep could show: no fall is established
            status = "not significant"
            note = f"NEW's figure is only a lower bound: {row['b_lower_bound']}"
        elif row["a_lower_bound"]:
            bound = row["a_lower_bound"]
            note = (
                f"BASE's figure is only a lower bound ({bound}): the fall is at least this"
                if status == "FAILED"
                else f"BASE's figure is only a lower bound ({bound}): a fall may be hidden"
            )
        checks.append(
            Check(row["backend"], row["variant"], row["a"], row["b"], change, None, status, note)
        )
    return _finish(rule, checks, "no backend × variant has a sustained figure in both sweeps")
