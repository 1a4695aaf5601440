"""Comparison results built by hand for session-file tests: ``make_result`` (a run with images,
variants, backends with headers, requests and aggregates), and checks of a saved file."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from tfcompare.imaging.values import ImageInfo, ImageProblem, Variant
from tfcompare.results import Aggregate, RequestResult, RunResult
from tfcompare.serving.answers import Prediction
from tfcompare.serving.backend_spec import BackendSpec
from tfcompare.settings import RunSettings

SECRET = "Bearer s3cr3t-token-value"


def jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    img = Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_result(
    n_images: int = 3, backends: tuple[str, ...] = ("gpu", "cpu-1"), scale: float = 1.0
) -> RunResult:
    """A varied run: failed requests, None fields, unicode names, pods, cold requests, problems.
    ``scale`` multiplies every latency (to build a 'B' session with a known change)."""
    specs = tuple(
        BackendSpec(
            name,
            f"127.0.0.1:{8500 + i}",
            model="inception",
            signature="predict_images",
            headers=(("authorization", SECRET),),
        )
        for i, name in enumerate(backends)
    )
    keys = ("original", "512-jpeg", "128-png")
    images, requests, summary = [], [], []
    for i in range(n_images):
        data = jpeg_bytes(i)
        name = f"chat-ü-{i}.jpg"
        variants = tuple(
            Variant(
                key=k,
                box=None if k == "original" else int(k.split("-")[0]),
                format="jpeg" if k != "128-png" else "png",
                quality=90 if k == "512-jpeg" else None,
                width=64,
                height=48,
                nbytes=len(data) + j,
                encode_ms=0.25 * j + 0.1,
                data=b"xx",
            )
            for j, k in enumerate(keys)
        )
        images.append(
            ImageInfo(
                name,
                f"/photos/{name}",
                "jpeg",
                64,
                48,
                len(data),
                variants,
                ("2048 px skipped: image is only 64×48 (never upscaled)",),
                data,
            )
        )
        for b_idx, spec in enumerate(specs):
            for v_idx, key in enumerate(keys):
                for rep in range(3):
                    failed = rep == 2 and v_idx == 2 and b_idx == 1
                    lat = (10.0 + i + 3 * v_idx + 0.37 * rep + 5 * b_idx) * scale
                    requests.append(
                        RequestResult(
                            image=name,
                            variant=key,
                            backend=spec.name,
                            protocol="grpc",
                            phase="measured",
                            repeat=rep,
                            ok=not failed,
                            latency_ms=None if failed else lat,
                            client_ms=None if failed else 0.1 * rep,
                            bytes=1000 + v_idx,
                            model_version=None if failed else 3,
                            error="DEADLINE_EXCEEDED: too slow" if failed else None,
                            top5=()
                            if failed
                            else tuple(
                                Prediction(f"class {c} ‘q’", 0.9 / (c + 1) + 0.001 * v_idx)
                                for c in range(5)
                            ),
                            score_kind="probability",
                            pod=f"serving-{b_idx}-abc" if b_idx else None,
                            started_at=1_700_000_000.123456 + len(requests),
                        )
                    )
                summary.append(
                    Aggregate(
                        image=name,
                        variant=key,
                        backend=spec.name,
                        n=3,
                        n_errors=int(v_idx == 2 and b_idx == 1),
                        bytes=1000 + v_idx,
                        p50_ms=10.0 * scale + v_idx,
                        p90_ms=11.5,
                        p99_ms=None,
                        mean_ms=10.1,
                        stdev_ms=0.3 if v_idx else None,
                        few_samples=True,
                        top1="class 0 ‘q’",
                        top1_agree=None if v_idx == 0 and b_idx else v_idx != 2,
                        top5_overlap=1.0 - 0.2 * v_idx,
                        score_ratio=None if v_idx == 2 else 1.0 + 0.01 * v_idx,
                    )
                )
    for spec in specs:
        requests.insert(
            0,
            RequestResult(
                image=images[0].name,
                variant="original",
                backend=spec.name,
                protocol="grpc",
                phase="cold",
                repeat=0,
                ok=True,
                latency_ms=812.5 * scale,
                client_ms=1.5,
                bytes=1000,
                model_version=3,
                error=None,
                top5=(Prediction("class 0 ‘q’", 0.9),),
                score_kind="logit",
            ),
        )
    return RunResult(
        settings=RunSettings(sizes=(512, 128), formats=("jpeg", "png"), jpeg_quality=85, repeats=3),
        backends=specs,
        images=tuple(images),
        requests=tuple(requests),
        problems=(ImageProblem("notes.txt", "not an image file"),),
        summary=tuple(summary),
        started_at=1_700_000_000.5,
        finished_at=1_700_000_042.25,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Names, contents and mtimes of everything in ``folder``: 'nothing changed on disk'."""
    return {p.name: (digest(p), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def assert_same_result(loaded: RunResult, original: RunResult) -> None:
    assert loaded == original  # every field except the byte payloads (compare=False)
    assert [i.original for i in loaded.images] == [i.original for i in original.images]
    assert all(v.data == b"" for i in loaded.images for v in i.variants)  # variants: metadata only


def measured(
    image: str, variant: str, backend: str, repeat: int, latency_ms: float, sent: int, top="cat"
) -> RequestResult:
    """One successful measured request answering ``top`` first (0.8) and "fox" (0.1)."""
    return RequestResult(
        image=image,
        variant=variant,
        backend=backend,
        protocol="grpc",
        phase="measured",
        repeat=repeat,
        ok=True,
        latency_ms=latency_ms,
        client_ms=0.1,
        bytes=sent,
        model_version=1,
        error=None,
        top5=(Prediction(top, 0.8), Prediction("fox", 0.1)),
        score_kind="probability",
    )


def timed_result(times: dict[tuple[str, int], float], backend: str = "cpu") -> RunResult:
    """A run whose only numbers are the median latencies given per (image, JPEG box size): square
    images, one backend without server metrics, six requests a block all at that median."""
    spec = BackendSpec(backend, "127.0.0.1:8500", model="m")
    boxes = sorted({box for _, box in times})
    images, requests, summary = [], [], []
    for name in dict.fromkeys(image for image, _ in times):
        variants = tuple(
            Variant(f"{box}-jpeg", box, "jpeg", 85, box, box, box * box // 10, 0.1, b"")
            for box in boxes
        )
        images.append(ImageInfo(name, None, "jpeg", boxes[-1], boxes[-1], 1, variants))
        for box in boxes:
            ms, key = times[(name, box)], f"{box}-jpeg"
            for rep in range(6):
                requests.append(measured(name, key, backend, rep, ms, box * box // 10))
            summary.append(
                Aggregate(
                    image=name,
                    variant=key,
                    backend=backend,
                    n=6,
                    n_errors=0,
                    bytes=box * box // 10,
                    p50_ms=ms,
                    p90_ms=ms,
                    p99_ms=None,
                    mean_ms=ms,
                    stdev_ms=0.0,
                    few_samples=True,
                    top1="cat",
                    top1_agree=True,
                    top5_overlap=1.0,
                    score_ratio=1.0,
                )
            )
    return RunResult(
        settings=RunSettings(sizes=tuple(boxes), formats=("jpeg",), repeats=6),
        backends=(spec,),
        images=tuple(images),
        requests=tuple(requests),
        problems=(),
        summary=tuple(summary),
    )


def ladder_result(
    images: dict[str, dict[str, tuple[int, int, float, str]]], backend: str = "b"
) -> RunResult:
    """A run of one backend: per image, per variant key ("original", "512-jpeg" …) the image
    file's bytes, the bytes sent, the latency of its three requests and its top class. Square
    images, the side taken from the key (1600 px for the original)."""
    from tfcompare.runner import aggregate

    def side(key: str) -> int:
        return 1600 if key == "original" else int(key.split("-")[0])

    spec = BackendSpec(backend, "127.0.0.1:8500", model="m")
    infos, requests = [], []
    for name, ladder in images.items():
        variants = tuple(
            Variant(
                key,
                None if key == "original" else side(key),
                key.split("-")[-1] if key != "original" else "jpeg",
                90,
                side(key),
                side(key),
                file_bytes,
                0.1,
                b"",
            )
            for key, (file_bytes, _, _, _) in ladder.items()
        )
        original = ladder["original"][0]
        infos.append(ImageInfo(name, None, "jpeg", 1600, 1600, original, variants))
        for key, (_, sent, latency, top) in ladder.items():
            for rep in range(3):
                requests.append(measured(name, key, backend, rep, latency + 0.1 * rep, sent, top))
    boxes = sorted({side(k) for ladder in images.values() for k in ladder if k != "original"})
    return RunResult(
        settings=RunSettings(sizes=tuple(reversed(boxes)), formats=("jpeg",), repeats=3),
        backends=(spec,),
        images=tuple(infos),
        requests=tuple(requests),
        problems=(),
        summary=tuple(aggregate(tuple(requests))),
    )


def fixed_tensor_result() -> RunResult:
    """A run on a model taking a fixed 224×224×3 float32 tensor: every variant of every image
    reaches the backend as the same 602,112 bytes, while the image files shrink with the size.
    The top class is "cat" on the original and at 512 and 256 px, "dog" at 128 px on two of
    the three images."""
    tensor = 224 * 224 * 3 * 4
    files = {"original": 500_000, "512-jpeg": 60_000, "256-jpeg": 20_000, "128-jpeg": 6_000}
    return ladder_result(
        {
            f"photo-{i}.jpg": {
                key: (nbytes, tensor, 12.0, "dog" if key == "128-jpeg" and i < 2 else "cat")
                for key, nbytes in files.items()
            }
            for i in range(3)
        },
        backend="tensor",
    )
