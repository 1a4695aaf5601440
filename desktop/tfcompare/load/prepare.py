"""Everything that happens before the timed loop: images → variants → serialised requests.

Each backend's signature is discovered once through its ordinary client (metadata), then every
chosen variant of every image is serialised into the exact bytes the load engine will send.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tfcompare.imaging.values import ORIGINAL
from tfcompare.load.load_plan import LoadTarget
from tfcompare.serving.answers import ServingError
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import DEFAULT_SIZES, RunSettings

# An image to send: a file (path), bytes, or (the name it is known by, path or bytes)
ImageSource = str | Path | bytes | tuple[str, str | Path | bytes]


class PrepareError(Exception):
    """Inputs that cannot be loaded (message for the user)."""


def parse_variants(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"original,512-jpeg"`` → keys; raises PrepareError naming a bad key. The names the
    window shows for a variant ("512 jpg", "512 px JPEG") give the same keys."""
    from tfcompare.settings import SUPPORTED_FORMATS

    items = text.split(",") if isinstance(text, str) else list(text)
    keys = []
    for raw in items:
        # the names the window shows are accepted too: "512 jpg", "512 px JPEG"
        words = [w for w in raw.lower().replace("-", " ").split() if w != "px"]
        key = "-".join(words).replace("jpg", "jpeg")
        if not key:
            continue
        if key != ORIGINAL:
            box, _, fmt = key.partition("-")
            if not box.isdigit() or int(box) < 1 or fmt not in SUPPORTED_FORMATS:
                raise PrepareError(
                    f"bad variant {raw.strip()!r}: use 'original' or SIZE-FORMAT such as 512-jpeg "
                    f"(formats: {', '.join(SUPPORTED_FORMATS)})"
                )
        keys.append(key)
    if not keys:
        raise PrepareError("no variants given (e.g. original,512-jpeg)")
    return tuple(dict.fromkeys(keys))


def variant_payloads(
    images: Sequence[ImageSource],
    keys: Sequence[str],
    quality: int = 90,
    *,
    webp_quality: int | None = None,
    default: bool = False,
) -> tuple[dict[str, list[bytes]], dict[str, dict], list[str]]:
    """Encoded bytes per variant key (one per image that has it), variant info, and notes.
    ``quality``: JPEG's (and WebP's unless ``webp_quality`` is given).

    Variants are never upscaled, so an image smaller than a box has no variant for it (a note
    says so). A resized variant that no image has is left out with a note; with ``default`` (the
    keys are tfcompare's defaults, not the user's choice) it is replaced by the largest smaller
    box of the ladder that an image has, so the original is still compared with a resized copy.
    Raises PrepareError when no chosen variant is left.
    """
    from tfcompare.imaging import ImageLoadError, build_ladder

    sized = [k for k in keys if k != ORIGINAL]
    boxes = {int(k.split("-")[0]) for k in sized}
    if default:  # the smaller boxes a missing default may fall back to (small encodes)
        boxes |= {b for b in DEFAULT_SIZES if b < max(boxes, default=0)}
    settings = RunSettings(
        sizes=tuple(sorted(boxes, reverse=True)),
        formats=tuple(dict.fromkeys(k.split("-", 1)[1] for k in sized)) or ("jpeg",),
        jpeg_quality=quality,
        webp_quality=quality if webp_quality is None else webp_quality,
    )
    ladders = []
    for path in images:
        name = None
        if isinstance(path, tuple):  # a named image: (name, path or bytes)
            name, path = path
        try:
            ladder = build_ladder(path, settings, name=name)
        except (ImageLoadError, OSError) as exc:
            what = name or ("an image given as bytes" if isinstance(path, bytes) else str(path))
            raise PrepareError(f"{what}: {exc}") from None
        ladders.append(
            (ladder.name, max(ladder.width, ladder.height), {v.key: v for v in ladder.variants})
        )
    chosen, notes = _available(list(keys), ladders, default)
    data: dict[str, list[bytes]] = {k: [] for k in chosen}
    info: dict[str, dict] = {}
    for name, _side, by_key in ladders:
        for key in chosen:
            variant = by_key.get(key)
            if variant is None:
                notes.append(f"{name}: no {key} variant (the image is smaller; never upscaled)")
                continue
            data[key].append(variant.data)
            entry = info.setdefault(key, {"label": variant.label, "bytes": 0, "images": 0})
            entry["bytes"] += variant.nbytes
            entry["images"] += 1
    for key, entry in info.items():
        entry["bytes"] = entry["bytes"] / entry.pop("images")
        if key == ORIGINAL:
            entry["label"] = "original"
    return data, info, notes


def _available(keys: list[str], ladders: list, default: bool) -> tuple[list[str], list[str]]:
    """The keys that some image has (missing defaults replaced where a smaller box exists), and
    notes on the ones left out or replaced."""
    have = {key for _name, _side, by_key in ladders for key in by_key}
    largest = max((side for _name, side, _by_key in ladders), default=0)
    why = f"no image is larger than {largest} px (variants are never upscaled)"
    chosen: list[str] = []
    notes: list[str] = []
    for key in keys:
        if key in have:
            chosen.append(key)
            continue
        box, _, fmt = key.partition("-")
        boxes = [int(k.partition("-")[0]) for k in have if k.endswith(f"-{fmt}")]  # same format
        smaller = max((b for b in boxes if b < int(box)), default=None) if default else None
        if smaller is not None:
            chosen.append(f"{smaller}-{fmt}")
            notes.append(f"{key}: {why}; loading {chosen[-1]} instead")
        else:
            notes.append(f"{key}: {why}; left out")
    chosen = list(dict.fromkeys(chosen))
    if not chosen:
        raise PrepareError(f"no image has the variant(s) {', '.join(keys)}: {why}")
    return chosen, notes


def _prefixed(note: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    return lambda text: note(f"{prefix}: {text}")


def build_targets(
    specs: Sequence[BackendSpec],
    payloads: dict[str, list[bytes]],
    info: dict[str, dict],
    *,
    address: Callable[[BackendSpec], str] | None = None,
    note: Callable[[str], None] | None = None,
) -> tuple[list[LoadTarget], list[str]]:
    """The requests per backend × variant, made the way each backend's model takes them (encoded
    bytes, or a tensor with its preprocessing — ``auto`` settled on the first image); backends
    that cannot be used are reported in the messages (the others are still measured), and what
    each tensor backend was sent is said. A model still loading is waited for, up to the
    backend's request timeout (``note`` hears "NAME: waiting for model …")."""
    from tfcompare.imaging import ImageLoadError
    from tfcompare.runner.connection import Connection
    from tfcompare.runner.probe import probe_until_ready
    from tfcompare.serving import make_client
    from tfcompare.serving.preparation import RequestMaker

    targets: list[LoadTarget] = []
    messages: list[str] = []
    for spec in specs:
        addr = address(spec) if address else spec.target
        try:
            with make_client(spec, addr) as client:
                found = probe_until_ready(
                    spec,
                    Connection(client),
                    spec.deadline_s,
                    on_wait=None if note is None else _prefixed(note, spec.name),
                )
                if not found.ready or found.signature is None:
                    messages.append(f"backend {spec.name}: not measured: {found.text}")
                    continue
                signature = found.signature
                maker = RequestMaker(client, signature)
                first = next((blobs[0] for blobs in payloads.values() if blobs), None)
                if first is not None and not maker.resolved:
                    maker.resolve(first, spec.deadline_s)
                if maker.kind.needs_preprocessing:
                    messages.append(f"backend {spec.name}: {maker.describe()}")
                for key, blobs in payloads.items():
                    targets.append(
                        LoadTarget(
                            backend=spec,
                            address=addr,
                            variant=key,
                            variant_label=info[key]["label"],
                            payloads=tuple(client.prepare(maker.make(b), signature) for b in blobs),
                        )
                    )
        except ServingError as exc:
            messages.append(f"backend {spec.name}: not measured: {exc.message}")
        except ImageLoadError as exc:
            messages.append(f"backend {spec.name}: not measured: {exc}")
    return targets, messages


def connected_targets(
    specs: Sequence[BackendSpec],
    payloads: dict[str, list[bytes]],
    info: dict[str, dict],
    *,
    note: Callable[[str], None] | None = None,
):
    """Like :func:`build_targets`, reaching ``k8s://`` backends through a port-forward (their
    signature and the pods' model are read through it); returns (targets, problems, connections):
    the caller closes the connections after the sweep."""
    from tfcompare.cluster.cluster_errors import ClusterError
    from tfcompare.runner.connection import open_connection

    connections, addresses, usable, problems = [], {}, [], []
    try:
        for spec in specs:
            if spec.is_k8s:
                try:
                    conn = open_connection(spec)
                except (ClusterError, ServingError) as exc:
                    why = exc.message if isinstance(exc, ServingError) else exc
                    problems.append(f"backend {spec.name}: not measured: {why}")
                    continue
                connections.append(conn)
                if note is not None:  # a port-forward: fine for a look, not for capacity
                    note(
                        f"{spec.name} goes through a Kubernetes port-forward; its capacity is "
                        "that of the tunnel, not of the deployment (load agents in the cluster "
                        "measure the deployment: tfcompare load --in-cluster, or agents in the "
                        "Capacity tab)"
                    )
                addresses[spec.name] = conn.client.address
                spec = conn.spec  # with the pods' model when none was given
            usable.append(spec)
        targets, more = build_targets(
            usable,
            payloads,
            info,
            address=lambda s: addresses.get(s.name, s.target),
            note=None if note is None else lambda text: note(f"backend {text}"),
        )
    except BaseException:
        for conn in connections:
            conn.close()
        raise
    return targets, problems + more, connections
