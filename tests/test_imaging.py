"""Imaging: loading every kind of input, the variant ladder, and clear errors for bad input."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import images
import numpy as np
import pytest
from PIL import Image, ImageOps

from tfcompare.imaging import (
    ImageLoadError,
    build_ladder,
    describe,
    fit_size,
    iter_image_files,
)
from tfcompare.imaging.values import ORIGINAL, variant_key
from tfcompare.settings import RunSettings

SMALL = RunSettings(sizes=(256, 128))


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "name, expected",
    [
        ("not-an-image.jpg", "not an image"),
        ("empty.png", "empty file"),
        ("truncated.jpg", "truncated"),
        ("bomb.png", "decompression bomb"),
    ],
)
def test_bad_input_gives_clear_error(tmp_path, name, expected):
    path = images.bad_inputs(tmp_path)[name]
    with pytest.raises(ImageLoadError) as err:
        build_ladder(path)
    assert expected in err.value.message
    assert str(err.value) == err.value.message
    # the same refusal for pasted bytes
    if path.stat().st_size:
        with pytest.raises(ImageLoadError, match=expected):
            build_ladder(path.read_bytes())


def test_describe_refuses_what_it_can_see_from_the_header(tmp_path):
    bad = images.bad_inputs(tmp_path)
    for name, expected in [
        ("not-an-image.jpg", "not an image"),
        ("empty.png", "empty file"),
        ("bomb.png", "decompression bomb"),
    ]:
        with pytest.raises(ImageLoadError, match=expected):
            describe(bad[name])


def test_real_decompression_bomb_between_one_and_two_times_the_limit_is_refused():
    data = images.real_bomb_png(10_000)  # 100 MP: Pillow would only warn and decode it
    assert len(data) < 1_000_000
    assert 10_000 * 10_000 > Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageLoadError, match="decompression bomb") as err:
        build_ladder(data)
    assert "10000×10000" in err.value.message


def test_truncated_png_is_refused(tmp_path):
    buf = io.BytesIO()
    images.photo().save(buf, "PNG")
    with pytest.raises(ImageLoadError, match="truncated|damaged"):
        build_ladder(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])


def test_unreadable_paths(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        build_ladder(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        build_ladder(tmp_path)
    with pytest.raises(ImageLoadError, match="file not found"):
        describe(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="empty"):
        build_ladder(b"")


def test_unsupported_format_is_named(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "ICO")
    with pytest.raises(ImageLoadError, match="unsupported image format ICO"):
        build_ladder(buf.getvalue())


def test_bad_settings_are_value_errors():
    data = images.jpeg_bytes(images.photo())
    with pytest.raises(ValueError, match="unknown format.*gif"):
        build_ladder(data, RunSettings(formats=("jpeg", "gif")))
    with pytest.raises(ValueError, match="bad size"):
        build_ladder(data, RunSettings(sizes=(256, 0)))
    with pytest.raises(ValueError, match="JPEG quality"):
        build_ladder(data, RunSettings(jpeg_quality=0))


# --------------------------------------------------------------------------- odd but valid input


def test_cmyk_jpeg_comes_out_rgb_with_right_colours():
    img = Image.new("RGB", (400, 300), (220, 30, 30))
    img.paste((30, 30, 220), (200, 0, 400, 300))
    buf = io.BytesIO()
    img.convert("CMYK").save(buf, "JPEG", quality=95)
    assert Image.open(io.BytesIO(buf.getvalue())).mode == "CMYK"
    info = build_ladder(buf.getvalue(), SMALL)
    v = decoded(next(v.data for v in info.variants if v.key == "256-png"))
    left, right = np.asarray(v)[85, 40], np.asarray(v)[85, 210]
    assert left[0] > 180 and left[2] < 80, left  # red stays red
    assert right[2] > 180 and right[0] < 80, right  # blue stays blue
    assert any("CMYK" in n for n in info.notes)


def test_16bit_png_is_scaled_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 300).astype(np.uint16), (200, 1))
    img = Image.fromarray(ramp)
    assert img.mode.startswith("I;16")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    info = build_ladder(buf.getvalue(), RunSettings(sizes=(300,), formats=("png",)))
    px = np.asarray(decoded(info.variants[1].data))[:, :, 0].astype(int)
    assert abs(px[0, 0] - 0) <= 1 and abs(px[0, -1] - 255) <= 1
    assert abs(px[0, 150] - round(ramp[0, 150] / 257)) <= 1  # mid-grey, not white
    assert any("16-bit" in n for n in info.notes)


def test_palette_png_transparency_composited_on_white():
    img = Image.new("P", (200, 100), 0)
    img.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    img.paste(1, (100, 0, 200, 100))  # right half red, left half index 0 = transparent black
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=0)
    info = build_ladder(buf.getvalue(), RunSettings(sizes=(128,), formats=("png",)))
    px = np.asarray(decoded(info.variants[1].data))
    assert tuple(px[30, 10]) == (255, 255, 255)  # transparent → white, not black
    assert tuple(px[30, 120]) == (200, 0, 0)
    assert any("white" in n for n in info.notes)


def test_rgba_and_la_alpha_composited_on_white():
    for mode, clear in (("RGBA", (0, 0, 0, 0)), ("LA", (0, 0))):
        img = Image.new(mode, (100, 100), clear)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        info = build_ladder(buf.getvalue(), RunSettings(sizes=(64,), formats=("png",)))
        assert np.asarray(decoded(info.variants[1].data)).min() == 255, mode


def test_animated_gif_uses_first_frame(tmp_path):
    path = images.animated_gif(tmp_path / "anim.gif")
    info = build_ladder(path, RunSettings(sizes=(32,), formats=("png",)))
    assert info.format == "gif"
    px = np.asarray(decoded(info.variants[1].data))
    assert px[..., 0].mean() > 240 and px[..., 1].mean() < 15  # red: frame 1, not green/blue
    assert any("first frame" in n for n in info.notes)


@pytest.mark.parametrize(
    "orientation, fmt",
    [
        (2, "JPEG"),
        (3, "JPEG"),
        (4, "JPEG"),
        (5, "JPEG"),
        (6, "JPEG"),
        (7, "JPEG"),
        (8, "JPEG"),
        (6, "PNG"),
        (8, "WEBP"),
    ],
)
def test_exif_orientation_comes_out_upright(tmp_path, orientation, fmt):
    upright = images.photo("portrait")  # 300×512, a person: a clear up and down
    path = images.exif_rotated_jpeg(tmp_path / f"phone.{fmt.lower()}", upright, orientation, fmt)
    stored = Image.open(path)
    info = build_ladder(path, SMALL)
    assert (info.width, info.height) == upright.size
    assert describe(path) == (fmt.lower(), *upright.size)
    v = next(v for v in info.variants if v.key == "256-jpeg")
    assert (v.width, v.height) == fit_size(*upright.size, 256)
    got = decoded(v.data)
    want = upright.resize(got.size, Image.Resampling.LANCZOS)
    # independent oracle: Pillow's own exif_transpose of the stored pixels
    assert mean_abs_diff(got, ImageOps.exif_transpose(stored).resize(got.size)) < 6
    assert mean_abs_diff(got, want) < 6
    # and clearly not upside down / mirrored
    assert mean_abs_diff(got, want.transpose(Image.Transpose.ROTATE_180)) > 20
    # the original is sent untouched (still stored sideways, EXIF intact)
    assert info.original == path.read_bytes()
    if orientation in (5, 6, 7, 8):
        assert stored.width > stored.height and v.height > v.width
    assert any("EXIF orientation" in n for n in info.notes)


def test_one_pixel_image_gives_only_the_original_and_says_why():
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (10, 20, 30)).save(buf, "PNG")
    info = build_ladder(buf.getvalue())
    assert [v.key for v in info.variants] == [ORIGINAL]
    assert info.variants[0].data == buf.getvalue()
    assert (info.width, info.height) == (1, 1)
    assert info.notes and "never upscaled" in info.notes[0] and "128 px" in info.notes[0]


@pytest.mark.parametrize(
    "fmt, mode",
    [
        ("BMP", "RGB"),
        ("TIFF", "RGB"),
        ("WEBP", "RGB"),
        ("GIF", "P"),
        ("PNG", "L"),
        ("TIFF", "CMYK"),
    ],
)
def test_other_source_formats(fmt, mode):
    img = images.photo()
    img = img.convert(mode) if mode != "P" else img.quantize(64)
    buf = io.BytesIO()
    img.save(buf, fmt)
    info = build_ladder(buf.getvalue(), SMALL)
    assert info.format == fmt.lower()
    assert info.variants[0].format == fmt.lower()
    ref = images.photo().convert("L").resize((256, 170))
    got = decoded(info.variants[1].data).convert("L")
    assert mean_abs_diff(got, ref) < 12  # the picture itself survived the conversion


# --------------------------------------------------------------------------- the ladder


def test_default_ladder_on_a_photo(tmp_path):
    src = images.photo("coffee").resize((2400, 1600), Image.Resampling.LANCZOS)
    path = images.save(src, tmp_path / "coffee.jpg", "JPEG", quality=90)
    settings = RunSettings()
    info = build_ladder(path, settings)
    assert info.name == "coffee.jpg" and info.path == str(path) and info.format == "jpeg"
    assert info.original == path.read_bytes() and info.nbytes == path.stat().st_size
    keys = [v.key for v in info.variants]
    assert keys == [ORIGINAL] + [
        variant_key(b, f) for b in (2048, 1024, 512, 256, 128) for f in ("jpeg", "png")
    ]
    orig = info.variants[0]
    assert (orig.box, orig.quality, orig.format, orig.nbytes) == (None, None, "jpeg", info.nbytes)
    assert orig.data == path.read_bytes()
    for v in info.variants[1:]:
        assert max(v.width, v.height) == v.box  # fits the box exactly on its long side
        assert abs(v.width / v.height - 2400 / 1600) < 2 / v.height  # aspect kept
        assert (v.width, v.height) == fit_size(2400, 1600, v.box)
        assert v.nbytes == len(v.data) > 0 and v.encode_ms >= 0
        back = Image.open(io.BytesIO(v.data))
        assert back.format == v.format.upper() and back.size == (v.width, v.height)
        assert v.quality == (90 if v.format == "jpeg" else None)
        # content: close to a fair LANCZOS resize of the same source
        ref = src.resize(back.size, Image.Resampling.LANCZOS)
        assert mean_abs_diff(back.convert("RGB"), ref) < 6, v.key
    assert info.notes == ()


def test_no_upscaling_and_a_note(tmp_path):
    info = build_ladder(
        images.jpeg_bytes(images.photo("coffee")),
        RunSettings(sizes=(128, 2048, 600, 1024, 512), formats=("webp",)),
    )
    assert [v.key for v in info.variants] == [ORIGINAL, "600-webp", "512-webp", "128-webp"]
    assert info.variants[1].width == 600  # the box equal to the long side: re-encoded, not resized
    assert info.notes == ("2048 px, 1024 px skipped: image is only 600×400 (never upscaled)",)
    for v in info.variants[1:]:
        assert Image.open(io.BytesIO(v.data)).format == "WEBP" and v.quality == 90


def test_portrait_fits_by_height_and_qualities_apply():
    data = images.jpeg_bytes(images.photo("portrait"))  # 300×512
    info = build_ladder(
        data,
        RunSettings(
            sizes=(256,), formats=("jpeg", "webp", "png"), jpeg_quality=50, webp_quality=40
        ),
    )
    v = {v.key: v for v in info.variants}
    assert (v["256-jpeg"].width, v["256-jpeg"].height) == (150, 256)
    assert v["256-jpeg"].quality == 50 and v["256-webp"].quality == 40
    hi = build_ladder(data, RunSettings(sizes=(256,), formats=("jpeg",), jpeg_quality=95))
    assert hi.variants[1].nbytes > v["256-jpeg"].nbytes * 1.5  # the quality really was used
    assert info.name == "pasted image"


def test_jpeg_draft_decoding_keeps_geometry_and_content():
    src = images.photo("coffee").resize((1203, 805), Image.Resampling.LANCZOS)  # odd size
    data = images.jpeg_bytes(src, quality=95)
    info = build_ladder(data, RunSettings(sizes=(300, 150, 100), formats=("png",)))
    for v in info.variants[1:]:  # 300 comes from a 1/4-scale DCT decode, the others chained
        got = decoded(v.data)
        assert got.size == fit_size(1203, 805, v.box)
        assert mean_abs_diff(got, src.resize(got.size, Image.Resampling.LANCZOS)) < 2.5, v.key


def test_nine_megabyte_png_variant(tmp_path):
    path = images.noisy_png(tmp_path / "noise.png")
    info = build_ladder(path, RunSettings(sizes=(2048,), formats=("png",)))
    v = info.variants[1]
    assert v.key == "2048-png" and (v.width, v.height) == (2048, 1536)
    assert 8_500_000 < v.nbytes < 11_000_000
    assert Image.open(io.BytesIO(v.data)).size == (2048, 1536)


def test_custom_executor_and_concurrent_calls():
    data = images.jpeg_bytes(images.photo("coffee"))
    with ThreadPoolExecutor(2) as pool:
        infos = list(pool.map(lambda _: build_ladder(data, SMALL), range(4)))
    with ThreadPoolExecutor(3) as enc:
        own = build_ladder(data, SMALL, executor=enc, name="mine")
    assert own.name == "mine"
    for info in infos:
        assert [v.data for v in info.variants] == [v.data for v in own.variants]


def test_describe(tmp_path):
    path = images.save(images.photo("rocket"), tmp_path / "r.png", "PNG")
    assert describe(path) == ("png", 640, 427)
    assert describe(str(path)) == ("png", 640, 427)
    assert describe(images.jpeg_bytes(images.photo())) == ("jpeg", 451, 300)


def test_iter_image_files(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "a" / ".hidden").mkdir()
    for rel in (
        "a/z.JPG",
        "a/b.png",
        "a/deep/c.webp",
        "a/notes.txt",
        "a/.hidden/x.png",
        "a/.dot.png",
        "single.txt",
        "x.gif",
    ):
        (tmp_path / rel).write_bytes(b"x")
    got = iter_image_files(
        [
            tmp_path / "single.txt",
            tmp_path / "a",
            str(tmp_path / "x.gif"),
            tmp_path / "a" / "b.png",
            tmp_path / "missing.jpg",
        ]
    )
    assert got == [
        tmp_path / "single.txt",
        tmp_path / "a" / "b.png",
        tmp_path / "a" / "deep" / "c.webp",
        tmp_path / "a" / "z.JPG",
        tmp_path / "x.gif",
        tmp_path / "missing.jpg",
    ]


@pytest.mark.slow  # a fresh interpreter
def test_imaging_does_not_import_qt_or_tensorflow():
    code = (
        "import sys, tfcompare.imaging as m; m.build_ladder(bytes.fromhex("
        f"'{images.jpeg_bytes(Image.new('RGB', (300, 200))).hex()}'));"
        "bad=[k for k in sys.modules if k.startswith(('tensorflow', 'PySide6'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = dict(os.environ)
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_jpeg_variants_are_encoded_where_pillow_releases_the_gil(monkeypatch):
    """Pillow releases the GIL only when it encodes into a real file descriptor
    (``encode_to_file``); into a BytesIO every chunk holds it and the encodes run one at a time.
    Every JPEG variant must take the descriptor path and still be a complete JPEG."""
    from PIL import ImageFile

    source = images.jpeg_bytes(images.photo())
    seen: list[tuple[str, int | None]] = []
    real = ImageFile._encode_tile

    def spy(im, fp, tile, bufsize, fh, exc=None):
        seen.append((tile[0][0], fh))
        return real(im, fp, tile, bufsize, fh, exc)

    monkeypatch.setattr(ImageFile, "_encode_tile", spy)
    info = build_ladder(source, RunSettings(sizes=(256, 128), formats=("jpeg",)))
    jpeg_encodes = [fh for name, fh in seen if name == "jpeg"]
    assert len(jpeg_encodes) == 2 and all(fh is not None for fh in jpeg_encodes)
    v = next(v for v in info.variants if v.key == "256-jpeg")
    assert v.data[:2] == b"\xff\xd8" and v.data.endswith(b"\xff\xd9")
    assert decoded(v.data).size == (v.width, v.height) == (256, 170)
