"""How many requests a run makes: the one request plan, used by the runner (its progress total) and
by the window (the preview under the settings) alike."""

from __future__ import annotations

from collections.abc import Sequence

from tfcompare.imaging.values import ORIGINAL, variant_key
from tfcompare.settings import RunSettings


def requests_per_variant(settings: RunSettings) -> int:
    """Warm-up + measured requests for one variant on one backend."""
    return settings.warmup + settings.repeats


def planned_variants(settings: RunSettings, size: tuple[int, int] | None = None) -> list[str]:
    """Variant keys of one image: the original + every box × every format; with the image's size
    known, only the boxes that do not upscale it (larger boxes are skipped)."""
    boxes = settings.sizes if size is None else [b for b in settings.sizes if b <= max(size)]
    return [ORIGINAL] + [variant_key(b, f) for b in boxes for f in settings.formats]


def variants_per_image(settings: RunSettings, size: tuple[int, int] | None = None) -> int:
    return len(planned_variants(settings, size))


def planned_requests(
    settings: RunSettings, n_backends: int, sizes: Sequence[tuple[int, int] | None]
) -> int:
    """Requests a run makes: one entry in ``sizes`` per image (None when its size is not known yet:
    counted with every box), warm-up included, plus the separate cold request per backend when
    there is no warm-up (the cold one is then not one of the measured)."""
    variants = sum(variants_per_image(settings, size) for size in sizes)
    cold = 1 if settings.warmup == 0 and sizes else 0
    return n_backends * (variants * requests_per_variant(settings) + cold)
