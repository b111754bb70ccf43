"""The HTML report as a buyer sees it: opened in headless Chromium (Debian `chromium`), the cost
plot and the topology diagram are laid out at a real size, not hidden or covered, and painted.

Chromium comes from Debian (make test installs it); like the other real-program tests these fail,
not skip, when it is missing. It only ever opens a file:// page; background networking is off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from trunkline.cli import app
from trunkline.report import COLORS

from shared import EXAMPLES

CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
FIGURES = ("cost-plot", "topology-diagram")
VIP_FILL = (0xFF, 0xE0, 0x8A)  # the VIP ellipses of the diagram

# Appended to a copy of the page (the report itself has no scripts): measures each figure's SVG
# after layout and checks that the element at its centre belongs to it (nothing covers it).
MEASURE = """
<script>
const boxes = {};
for (const id of %s) {
  const svg = document.querySelector('#' + id + ' svg');
  if (!svg) { boxes[id] = null; continue; }
  svg.scrollIntoView({block: 'center'});
  const r = svg.getBoundingClientRect(), st = getComputedStyle(svg);
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  boxes[id] = {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height,
               display: st.display, visibility: st.visibility, opacity: st.opacity,
               on_top: !!hit && svg.contains(hit), shapes: svg.querySelectorAll('path, polygon, ellipse, text').length};
}
window.scrollTo(0, 0);
boxes.page_height = document.documentElement.scrollHeight;
const pre = document.createElement('pre'); pre.id = 'boxes'; pre.textContent = JSON.stringify(boxes);
document.body.appendChild(pre);
</script>
""" % json.dumps(list(FIGURES))


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           "--force-device-scale-factor=1", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The ecommerce-hybrid report (all three models differ), its measured boxes and a full-page screenshot."""
    tmp = tmp_path_factory.mktemp("chromium")
    result = CliRunner().invoke(app, ["report", str(next(p for p in EXAMPLES if p.stem == "ecommerce-hybrid")), "-o", str(tmp / "report")])
    assert result.exit_code == 0, result.output
    html = (tmp / "report" / "index.html").read_text()
    probe = tmp / "report" / "probe.html"
    probe.write_text(html.replace("</body>", MEASURE + "</body>"))
    dom = chromium(tmp, f"--window-size={WIDTH},1000", "--dump-dom", probe.as_uri()).stdout
    boxes = json.loads(dom.split('<pre id="boxes">', 1)[1].split("</pre>", 1)[0])
    shot = tmp / "page.png"
    chromium(tmp, f"--window-size={WIDTH},{int(boxes['page_height'])}", f"--screenshot={shot}", (tmp / "report" / "index.html").as_uri())
    return boxes, Image.open(shot).convert("RGB")


def test_chromium_is_installed():
    assert shutil.which("chromium") or Path(CHROMIUM).exists()


@pytest.mark.parametrize("figure", FIGURES)
def test_figure_is_laid_out_at_a_readable_size_inside_the_page(page, figure):
    box = page[0][figure]
    assert box is not None, f"no <svg> inside #{figure}"
    assert box["width"] >= 800 and box["height"] >= 300, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box


@pytest.mark.parametrize("figure", FIGURES)
def test_figure_is_shown_and_not_covered(page, figure):
    box = page[0][figure]
    assert (box["display"], box["visibility"], box["opacity"], box["on_top"]) == ("block", "visible", "1", True), box


@pytest.mark.parametrize("figure", FIGURES)
def test_figure_has_drawn_content(page, figure):
    assert page[0][figure]["shapes"] >= 20


def _pixels(page, figure) -> np.ndarray:
    """The screenshot's pixels inside the figure's box, as an (n, 3) array."""
    box, image = page[0][figure], page[1]
    crop = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"])))
    return np.asarray(crop, dtype=int).reshape(-1, 3)


def _count_near(pixels: np.ndarray, color, tol=24) -> int:
    return int((np.abs(pixels - np.array(color)) <= tol).all(axis=1).sum())


def test_screenshot_shows_all_three_cost_curves_in_the_plot(page):
    pixels = _pixels(page, "cost-plot")
    for model, hex_color in COLORS.items():
        color = tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
        assert _count_near(pixels, color) > 500, f"the {model} curve is not painted"


def test_screenshot_shows_the_diagram_with_its_vips(page):
    pixels = _pixels(page, "topology-diagram")
    assert _count_near(pixels, VIP_FILL) > 2000, "no VIP ellipse is painted"
    assert (pixels != 255).any(axis=1).sum() > len(pixels) // 10, "the diagram is mostly blank"
