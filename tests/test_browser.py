"""The smoke book in a real browser (headless Chromium through selenium).

Every page of the rendered book is opened: each figure must load, no cell may show an error, a traceback or a
warning, no parameters cell may be visible, every internal link must resolve (file and anchor), and the search page
must find a word from a chapter. A full-page screenshot of each page is saved under ``runs/smoke/screenshots/``
(``CLINICLLM_SCREENSHOTS`` chooses another folder) for people to look at.

It reads the session's smoke run (conftest.py), so the study is not run again. Debian's ``chromium`` and
``chromium-driver`` packages provide the browser; ``.ci/run`` installs them. Where they are missing the test is
skipped with that advice, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
SKIPPED_PAGES = {"genindex.html", "search.html"}  # Sphinx's own pages: the search page has its own test
WARNING_PATTERN = re.compile(r"Traceback \(most recent call last\)|\b\w*Warning\b|\bwarnings\.warn|\d+it/s\]|"
                             r"\d+%\|", re.IGNORECASE)


def _browser_paths() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver") or (
        "/usr/lib/chromium/chromedriver" if Path("/usr/lib/chromium/chromedriver").exists() else None)
    return (chromium, driver) if chromium and driver else None


@pytest.fixture(scope="module")
def browser():
    paths = _browser_paths()
    if paths is None:
        message = ("headless Chromium not found: install Debian's chromium and chromium-driver "
                   "(sudo apt-get install -y chromium chromium-driver), as .ci/run does")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="clinicllm-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1300,1000")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=paths[1]))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _pages(html_root: Path) -> list[Path]:
    pages = []
    for path in sorted(html_root.rglob("*.html")):
        rel = path.relative_to(html_root)
        if rel.parts[0].startswith("_") or rel.name in SKIPPED_PAGES or rel.name == "index.html":
            continue
        pages.append(path)
    return pages


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


def _anchors(path: Path, cache: dict[Path, set[str]]) -> set[str]:
    if path not in cache:
        parser = _Anchors()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        cache[path] = parser.ids
    return cache[path]


def _screenshot(driver, path: Path) -> None:
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(1300, max(800, min(int(height) + 100, 16000)))
    time.sleep(0.2)
    driver.save_screenshot(str(path))
    driver.set_window_size(1300, 1000)


def _wait_for_images(driver, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script("return Array.from(document.images).every(i => i.complete)"):
            return
        time.sleep(0.1)


def test_every_page_loads_its_figures_shows_no_errors_or_parameters_and_its_links_resolve(smoke_run, browser):
    run_dir, index = smoke_run
    html_root = index.parent
    shots = Path(os.environ.get("CLINICLLM_SCREENSHOTS", ROOT / "runs" / "smoke" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    pages = _pages(html_root)
    chapters = [p for p in pages if p.parent.name == "notebooks"]
    executed = sorted(p.stem for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert [p.stem for p in chapters] == executed, "every executed chapter is a page of the book"
    assert {"intro", "how_to_rerun", "reproducibility", "tripod_llm", "glossary", "references"} <= {
        p.stem for p in pages}

    problems: list[str] = []
    anchors: dict[Path, set[str]] = {}
    for page in pages:
        name = page.relative_to(html_root).as_posix()
        browser.get(page.as_uri())
        _wait_for_images(browser)
        title = browser.title
        if not title or "404" in title:
            problems.append(f"{name}: no title / not found")
        # every figure loads
        broken = browser.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.getAttribute('src'))")
        problems += [f"{name}: image does not load: {src}" for src in broken]
        # no error, traceback, warning or progress bar in any cell output
        outputs = browser.execute_script(
            "return Array.from(document.querySelectorAll('.cell_output')).map(e => e.innerText)")
        for text in outputs:
            match = WARNING_PATTERN.search(text or "")
            if match:
                problems.append(f"{name}: a cell output shows {match.group(0)!r}: {text[:200]!r}")
        error_boxes = browser.execute_script(
            "return document.querySelectorAll('.output.traceback, .output.error, .output.stderr, "
            ".cell_output .stderr, div.system-message, .problematic').length")
        if error_boxes:
            problems.append(f"{name}: {error_boxes} error, stderr or Sphinx problem box(es)")
        # no parameters cell (the committed defaults or papermill's injected values)
        hidden = browser.execute_script(
            "return document.querySelectorAll('.tag_parameters, .tag_injected-parameters').length")
        if hidden:
            problems.append(f"{name}: a parameters cell is visible")
        body = browser.find_element("tag name", "body").text
        if page.parent.name == "notebooks" and re.search(r"^\s*run_dir\s*=", body, re.MULTILINE):
            problems.append(f"{name}: the text 'run_dir = ...' of a parameters cell is visible")
        # the test's run folder is absolute (a temporary folder) where a user's is runs/<name>: not counted
        shown = body.replace(str(run_dir.parent.resolve()), "runs").replace(str(run_dir.parent), "runs")
        local = re.search(r"(?:/(?:work|home|tmp|Users|root)/|[A-Z]:\\\\)\S*", shown)
        if local:
            problems.append(f"{name}: shows a local absolute path {local.group(0)!r}")
        # every internal link resolves to a file, and its anchor to an element
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for href in links:
            parsed = urlparse(href)
            if parsed.scheme != "file":
                continue
            target = Path(unquote(parsed.path))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{name}: broken link to {target}")
                continue
            if parsed.fragment and target.suffix == ".html" and unquote(parsed.fragment) not in _anchors(target,
                                                                                                           anchors):
                problems.append(f"{name}: link to a missing anchor {target.name}#{parsed.fragment}")
        _screenshot(browser, shots / (name.replace("/", "__").removesuffix(".html") + ".png"))
    assert not problems, "\n".join(problems)
    saved = sorted(p.name for p in shots.glob("*.png"))
    assert len(saved) == len(pages) and all((shots / s).stat().st_size > 10_000 for s in saved)


def test_search_finds_a_word_from_a_chapter(smoke_run, browser):
    _, index = smoke_run
    html_root = index.parent
    # a distinctive word of chapter 1's own text (its title), looked up through the book's search page
    browser.get((html_root / "notebooks" / "01_data.html").as_uri())
    heading = browser.execute_script(
        "return Array.from(document.querySelectorAll('h1')).map(h => h.textContent.trim()).find(t => t) || ''")
    words = [w for w in re.findall(r"[A-Za-z]{5,}", heading)]
    assert words, f"chapter 1 has no usable word in its title {heading!r}"
    word = words[0].lower()
    browser.get((html_root / "search.html").as_uri() + f"?q={word}")
    found: list[str] = []
    end = time.monotonic() + 30
    while time.monotonic() < end and not found:
        found = browser.execute_script(
            "return Array.from(document.querySelectorAll('#search-results li a, ul.search li a'))"
            ".map(a => a.getAttribute('href'))")
        time.sleep(0.2)
    assert found, f"the search page found nothing for {word!r}"
    assert any("notebooks/01_data" in href for href in found), (word, found)


TABLE_OVERFLOW_JS = """
const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const right = column.getBoundingClientRect().right + 1;
return Array.from(column.querySelectorAll('table')).map((t, i) => {
  const box = t.getBoundingClientRect();
  const head = Array.from(t.querySelectorAll('th')).slice(0, 3).map(h => h.innerText.trim()).join(' | ');
  return {index: i, right: box.right, width: box.width, limit: right - column.getBoundingClientRect().left,
          scroll: t.parentElement.scrollWidth > t.parentElement.clientWidth + 1, head: head};
}).filter(t => t.right > right || t.scroll);
"""


@pytest.mark.parametrize("width", [1024, 1300])
def test_every_table_fits_the_text_column(smoke_run, browser, width):
    """No table is wider than the text column (or hidden behind a horizontal scroll) at a laptop's 1024 px or at
    1300 px; the offending tables are named by their first headers."""
    _, index = smoke_run
    problems = []
    browser.set_window_size(width, 1000)
    try:
        for page in _pages(index.parent):
            browser.get(page.as_uri())
            for table in browser.execute_script(TABLE_OVERFLOW_JS):
                problems.append(f"{page.relative_to(index.parent)} at {width} px: table {table['index']} "
                                f"({table['head']!r}) is {table['width']:.0f} px wide, the column "
                                f"{table['limit']:.0f} px")
    finally:
        browser.set_window_size(1300, 1000)
    assert not problems, "\n".join(problems)


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&nbsp;", " ").replace("\u00a0", " ")


def test_pages_show_no_plumbing_no_nan_and_intervals_that_keep_their_signs(smoke_run):
    run_dir, index = smoke_run
    problems = []
    for page in _pages(index.parent):
        html = page.read_text(encoding="utf-8")
        name = page.relative_to(index.parent).as_posix()
        text = _visible_text(html)
        if "glue(" in html:
            problems.append(f"{name}: shows a glue( call")
        for pattern, what in ((r"\d\s*--\s*-?\d", "'--' between numbers"), (r"\d\s*\u2013\s*-?\d", "an en dash "
                              "between numbers"), (r"\d\.\d+ \(-?\d\.\d+-", "an interval written with a hyphen")):
            found = re.search(pattern, text)
            if found:
                problems.append(f"{name}: {what}: {text[max(0, found.start() - 40):found.end() + 40]!r}")
        if page.parent.name == "notebooks":
            # raw names of the metrics file (a file name such as tfidf_lr.joblib is not one)
            for word in (r"\bNaN\b", r"\btfidf_lr\b(?!\.)", r"\bn_pos\b"):
                found = re.search(word, text)
                if found:
                    problems.append(f"{name}: shows {found.group(0)!r}: {text[max(0, found.start() - 60):found.end() + 40]!r}")
    assert not problems, "\n".join(problems)


def test_chapters_1_to_5_end_with_exercises_whose_solutions_quote_the_run(smoke_run, browser):
    _, index = smoke_run
    for name in ("01_data", "02_clinicllm", "03_disparities", "04_feature_analysis", "05_mitigation"):
        page = index.parent / "notebooks" / f"{name}.html"
        browser.get(page.as_uri())
        headings = browser.execute_script(
            "return Array.from(document.querySelectorAll('article h2')).map(h => h.textContent.trim())")
        assert headings and headings[-1].startswith("Exercises"), (name, headings[-3:])
        solutions = browser.execute_script(
            "return Array.from(document.querySelectorAll('.admonition.dropdown')).map(a => a.innerHTML)")
        assert len(solutions) >= 2, name
        # each solution quotes the run: a glued value (myst-nb's pasted text), none left as a glue role
        assert all("pasted-text" in s and "glue:text" not in s for s in solutions), (name, solutions)


def test_chapters_3_to_6_carry_chapter_twos_warning_exactly_when_it_fires(smoke_run):
    from helpers import learning_warning

    run_dir, index = smoke_run
    warning = learning_warning.read_warning(run_dir)
    for name in ("03_disparities", "04_feature_analysis", "05_mitigation", "06_summary"):
        text = _visible_text((index.parent / "notebooks" / f"{name}.html").read_text(encoding="utf-8"))
        if warning is None:
            assert "learned little in this run" not in text and "did not learn in this run" not in text, name
        else:
            assert warning.title in text, name
    if warning is not None:
        summary_text = _visible_text((index.parent / "notebooks" / "06_summary.html").read_text(encoding="utf-8"))
        assert f"First, {warning.reason}" in summary_text.replace("\u00a0", " ")


def test_model_card_page_shows_the_runs_card(smoke_run):
    run_dir, index = smoke_run
    card = (run_dir / "artifacts" / "06_summary" / "model_card" / "README.md").read_text()
    text = _visible_text((index.parent / "book" / "model_card.html").read_text(encoding="utf-8"))
    assert "model-index" in text and "pipeline_tag" in text and "text-classification" in text
    import pandas as pd

    metrics = pd.read_csv(run_dir / "metrics.csv")
    temporal = metrics[(metrics["notebook"] == "02_clinicllm") & (metrics["experiment"] == "global")
                       & (metrics["split"] == "temporal_test") & (metrics["group_var"] == "overall")
                       & (metrics["metric"] == "auroc")].iloc[0]
    assert f"{temporal['value']:.3f} [{temporal['ci_low']:.3f}, {temporal['ci_high']:.3f}]" in text
    assert f"value: {round(temporal['value'], 4)}" in card
