"""Run settings and their limits: the one place that says what a usable setting is.

``RunSettings`` checks itself when it is made, so a settings object that exists is usable; the CLI,
the window and session files all get the same limits and the same message for each problem.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfcompare.checks import positive_number, shown, text, whole_number

DEFAULT_TIMEOUT_S = 30.0  # per request, when neither the settings nor the backend say

DEFAULT_SIZES: tuple[int, ...] = (2048, 1024, 512, 256, 128)
DEFAULT_FORMATS: tuple[str, ...] = ("jpeg", "png")
SUPPORTED_FORMATS: tuple[str, ...] = ("jpeg", "png", "webp")
FORMAT_ALIASES = {"jpg": "jpeg", "jpe": "jpeg", "jfif": "jpeg"}

# (lowest, highest) allowed for each numeric setting
SIZE_RANGE = (8, 16384)
QUALITY_RANGE = (1, 100)
WARMUP_RANGE = (0, 100)
REPEATS_RANGE = (1, 100_000)
TIMEOUT_RANGE = (0.1, 3600.0)


class SettingsError(ValueError):
    """Settings that cannot be used, one problem per field: ``problems`` holds (field, subject,
    complaint) triples, e.g. ("repeats", "repeats", "must be between 1 and 100000, not 0");
    ``str()`` is every "subject complaint" joined. A front end may name the field its own way
    (the CLI by its option, ``--repeats must be…``)."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.messages(lambda _field, subject: subject)))

    def messages(self, name) -> list[str]:
        """One message per problem, the field named by ``name(field, subject)``."""
        return [
            f"{name(field, subject)} {complaint}" for field, subject, complaint in self.problems
        ]

    def message_for(self, field: str) -> str | None:
        return next((f"{s} {c}" for f_, s, c in self.problems if f_ == field), None)


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"2048, 1024 512"`` → (2048, 1024, 512) as typed (``RunSettings`` orders and checks them).
    Raises SettingsError on anything that is not a whole number."""
    parts = [p for p in text.replace(",", " ").split() if p]
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise SettingsError(
            [("sizes", "sizes", f"must be whole numbers separated by commas, not {bad[0]!r}")]
        )
    return tuple(int(p) for p in parts)


def parse_formats(text: str) -> tuple[str, ...]:
    """``"jpg, PNG"`` → ("jpg", "png"): split only; ``RunSettings`` resolves and checks the names."""
    return tuple(f.strip().lower() for f in text.replace(",", " ").split() if f.strip())


def _normal_formats(formats: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    out: list[str] = []
    unknown: list[str] = []
    for f in formats:
        name = FORMAT_ALIASES.get(str(f).strip().lower(), str(f).strip().lower())
        if name not in SUPPORTED_FORMATS:
            unknown.append(str(f))
        elif name not in out:
            out.append(name)
    return tuple(out), unknown


def _in_range(problems, field: str, subject: str, value, bounds) -> None:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        problems.append((field, subject, f"must be between {lo:g} and {hi:g}, not {value!r}"))


@dataclass(frozen=True)
class RunSettings:
    """What a run sends: the size boxes (largest first) × formats, qualities, warm-up and measured
    requests per variant, the default per-request timeout, and whether backends are measured at the
    same time. Raises SettingsError when made with values that cannot be used."""

    sizes: tuple[int, ...] = DEFAULT_SIZES
    formats: tuple[str, ...] = DEFAULT_FORMATS
    jpeg_quality: int = 90
    webp_quality: int = 90
    warmup: int = 1
    repeats: int = 3
    timeout_s: float = DEFAULT_TIMEOUT_S  # a backend's own timeout_s overrides it
    # False: backends take turns (one image variant at a time) instead of being measured at once.
    # For backends that share one machine's cores (the local demo), so one does not slow the other.
    concurrent: bool = True

    def __post_init__(self) -> None:
        problems: list[tuple[str, str, str]] = []
        sizes = tuple(self.sizes)
        lo, hi = SIZE_RANGE
        bad = [
            s for s in sizes if isinstance(s, bool) or not isinstance(s, int) or not lo <= s <= hi
        ]
        if bad:
            problems.append(
                (
                    "sizes",
                    "sizes",
                    f"must be whole numbers of pixels from {lo} to {hi} (bad size {bad[0]!r})",
                )
            )
        formats, unknown = _normal_formats(tuple(self.formats))
        if unknown:
            problems.append(
                (
                    "formats",
                    "formats",
                    f"include unknown format(s) {', '.join(unknown)}"
                    f": choose from {', '.join(SUPPORTED_FORMATS)}",
                )
            )
        elif sizes and not formats:
            problems.append(
                ("formats", "formats", "must include at least one, for the resized variants")
            )
        _in_range(problems, "jpeg_quality", "JPEG quality", self.jpeg_quality, QUALITY_RANGE)
        _in_range(problems, "webp_quality", "WebP quality", self.webp_quality, QUALITY_RANGE)
        _in_range(problems, "warmup", "warm-up", self.warmup, WARMUP_RANGE)
        _in_range(problems, "repeats", "repeats", self.repeats, REPEATS_RANGE)
        _in_range(problems, "timeout_s", "timeout (s)", self.timeout_s, TIMEOUT_RANGE)
        if problems:
            raise SettingsError(problems)
        object.__setattr__(self, "sizes", tuple(sorted(set(sizes), reverse=True)))
        object.__setattr__(self, "formats", formats)

    def to_dict(self) -> dict:
        return {
            "sizes": list(self.sizes),
            "formats": list(self.formats),
            "jpeg_quality": self.jpeg_quality,
            "webp_quality": self.webp_quality,
            "warmup": self.warmup,
            "repeats": self.repeats,
            "timeout_s": self.timeout_s,
            "concurrent": self.concurrent,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunSettings:
        """Rebuild from ``to_dict``'s data: types checked here (ValueError names the bad field),
        values by the settings themselves (SettingsError)."""
        base = cls()

        def listed(key: str) -> list | tuple:
            values = d.get(key, getattr(base, key))
            if not isinstance(values, list | tuple):
                raise ValueError(f"settings {key} must be a list, not {shown(values)}")
            return values

        def number(key: str) -> int:
            return whole_number(
                d.get(key, getattr(base, key)), f"settings {key}", -(1 << 31), 1 << 31
            )

        concurrent = d.get("concurrent", base.concurrent)
        if not isinstance(concurrent, bool):
            raise ValueError(f"settings concurrent must be true or false, not {shown(concurrent)}")
        return cls(
            sizes=tuple(whole_number(v, "settings sizes", 0, 1 << 31) for v in listed("sizes")),
            formats=tuple(text(f, "settings formats") for f in listed("formats")),
            jpeg_quality=number("jpeg_quality"),
            webp_quality=number("webp_quality"),
            warmup=number("warmup"),
            repeats=number("repeats"),
            timeout_s=positive_number(d.get("timeout_s", base.timeout_s), "settings timeout_s"),
            concurrent=concurrent,
        )
