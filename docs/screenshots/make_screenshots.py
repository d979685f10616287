"""Screenshots of the web pages for the documentation: every page of ``tests.browser.site.PAGES`` (those with
``shot=True``) in Chinese and English, signed in with the page's role through ``/signin``, and /docs, at
1280x800, from the browser tests' seeded database (media files included), saved as
``docs/screenshots/<page>-<lang>.png`` (PNG palette-quantised when Pillow can, to keep the set small).

Usage (from the repository root; Debian's chromium and a CJK font, e.g. ``fonts-wqy-microhei``)::

    .venv/bin/python docs/screenshots/make_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser.site import CHROMIUM_ARGS, DOCS, LANGS, PAGES, chromium_path, live_server, seed_site  # noqa: E402


def shoot(out: Path) -> list[Path]:
    """Start the seeded server, open each page in each language at 1280x800 and save a PNG; returns the files."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise SystemExit("no Chromium: apt-get install chromium (or set BIODIV_CHROMIUM)")
    if not subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout.strip():
        print("warning: no CJK font installed (apt-get install fonts-wqy-microhei): Chinese shows as boxes")
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'biodiv.db'}"
        seeded = seed_site(url, Path(tmp) / "stations")
        bundles = _bundles(Path(tmp) / "bundles")
        with live_server(url, Path(tmp), stats_cache_s="0", **bundles) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
            states = {}
            for role in sorted({p.role for p in PAGES if p.role}):
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{base}/signin?lang=en")
                page.fill("input[name=api_key]", seeded.keys[role])
                with page.expect_navigation():
                    page.click("main form button[type=submit]")
                states[role] = context.storage_state()
                context.close()
            shots = [(p, lang) for p in PAGES if p.shot for lang in LANGS] + [(DOCS, "en")]
            for p, lang in shots:
                context = browser.new_context(viewport={"width": 1280, "height": 800},
                                              locale="zh-CN" if lang == "zh" else "en-US",
                                              storage_state=states.get(p.role))
                page = context.new_page()
                sep = "&" if "?" in p.path else "?"
                page.goto(f"{base}{p.path}{sep}lang={lang}" if p.lang_switch else base + p.path)
                page.wait_for_load_state("networkidle")
                if p is DOCS:
                    page.wait_for_selector(".opblock")
                if p.name == "upload":
                    _upload_some(page, Path(tmp), lang)
                path = out / (f"{p.name}-{lang}.png" if p.lang_switch else f"{p.name}.png")
                page.screenshot(path=str(path))
                _shrink(path)
                saved.append(path)
                context.close()
            browser.close()
    return saved


def _bundles(folder: Path) -> dict[str, str]:
    """Tiny image and audio model bundles (random weights, as in the tests) so the upload shot shows stored
    files; none when PyTorch is missing."""
    try:
        from tests.serve_helpers import make_bundle
    except ImportError:
        return {}
    for modality in ("image", "audio"):
        make_bundle(folder / modality, modality)
    return {"image_bundle": str(folder / "image"), "audio_bundle": str(folder / "audio")}


def _upload_some(page, tmp: Path, lang: str) -> None:
    """Send three files on the upload page (an image, a recording, a corrupt file) and wait for their rows."""
    from tests.browser.media import corrupt_jpeg, jpeg, wav

    files = {f"IMG_{lang}_0412.JPG": jpeg(f"shot-{lang}"), f"REC_{lang}_0601.WAV": wav(f"shot-{lang}", 4.0),
             "broken.jpg": corrupt_jpeg()}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    page.select_option("select[name=deploymentID]", "S1-cam")
    page.set_input_files("input[type=file]", [str(tmp / n) for n in files])
    page.wait_for_function("document.querySelectorAll('#results .result').length >= 3", timeout=60_000)
    page.wait_for_load_state("networkidle")


def _shrink(path: Path) -> None:
    """Re-save ``path`` as a 256-colour PNG (pages are flat colours; a third of the size)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main() -> None:
    """Command line: ``--out`` folder (default: this script's folder)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    for path in shoot(parser.parse_args().out):
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
