"""`--format html`: one standalone page, opened in a real headless Chromium (Selenium).

Every formula of the Markdown (counted by tests/katex.py, independently of the
page) is a .math element that KaTeX rendered without error; the KaTeX fonts are
loaded from the page itself; the browser makes no request beyond the file (its
performance log); the figure is inline SVG; user text is escaped.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import IN_CI, ROOT
from katex import extract_math

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage")
PAGES = [("two-layer-relu", "ru"), ("graph-add-mul", "en"), ("mlp-backprop", "pl"), ("course", "en"),
         ("sigmoid-layer", "en")]


def _browser_or_skip():
    missing = [t for t in ("chromium", "chromedriver") if shutil.which(t) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        message = f"missing {', '.join(missing)} (apt-get install chromium chromium-driver; pip install selenium)"
        pytest.fail(message) if IN_CI else pytest.skip(message)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1200,1600")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_script_timeout(120)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _open(browser, path):
    browser.get_log("performance")  # forget earlier pages' events
    browser.get(path.as_uri())
    return browser


def _requests(browser) -> list[str]:
    """What the page asked for: every request its documents (file: pages) sent, and any request that went to
    the network at all. Chromium's own pages (chrome://resources/… of a new tab or the web store's icon) load
    beside it on some runs; they are the browser's, not the page's, and not the network's."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            params = message["params"]
            url = params["request"]["url"]
            if params.get("documentURL", "").startswith("file:") or not url.startswith(("chrome:", "chrome-extension:",
                                                                                          "chrome-untrusted:")):
                urls.append(url)
    return urls


@pytest.mark.parametrize("stem,lang", PAGES)
def test_every_formula_renders_offline(browser, tmp_path, cli, stem, lang):
    spec = ROOT / "specs" / f"{stem}.yaml"
    page = tmp_path / f"{stem}.html"
    assert cli(spec, "--format", "html", "--lang", lang, "-o", page).exit_code == 0
    formulas = extract_math(cli(spec, "--lang", lang).stdout)
    _open(browser, page)
    state = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        document.fonts.ready.then(() => {
          const maths = [...document.querySelectorAll('.math')];
          done({maths: maths.length,
                rendered: maths.filter(e => e.querySelector(':scope > .katex, :scope > .katex-display > .katex')).length,
                errors: document.querySelectorAll('.katex-error').length,
                katex: document.querySelectorAll('.katex').length,
                fonts: [...document.fonts].filter(f => f.family.startsWith('KaTeX') && f.status === 'loaded').length,
                lang: document.documentElement.lang,
                resources: performance.getEntriesByType('resource').map(r => r.name)});
        });
    """)
    assert formulas and state["maths"] == len(formulas)
    assert state["rendered"] == state["katex"] == len(formulas)
    assert state["errors"] == 0
    assert state["lang"] == lang and state["resources"] == []
    assert state["fonts"] > 0  # KaTeX's fonts, loaded from the page's data: URIs
    assert [u for u in _requests(browser) if not u.startswith(("file:", "data:"))] == []
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_figure_is_inline_and_page_prints(browser, tmp_path, cli):
    page = tmp_path / "net.html"
    cli(ROOT / "specs" / "two-layer-relu.yaml", "--format", "html", "-o", page)
    _open(browser, page)
    assert browser.execute_script("return document.querySelectorAll('figure.diagram > .scroll > svg').length") == 1
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    browser.save_screenshot(os.environ.get("DERIVE_SCREENSHOT", str(tmp_path / "page.png")))
    pdf = browser.print_page()  # Chromium's print path: the print CSS applies
    assert len(pdf) > 1000


def test_no_figure_and_no_remote_reference(cli):
    text = cli(ROOT / "specs" / "two-layer-relu.yaml", "--format", "html", "--no-figures").stdout
    assert "<svg" not in text.split("<script>")[0]
    assert "http://" not in text.split("<script>")[0].split("</style>")[-1]
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_user_text_is_escaped(browser, tmp_path, cli):
    import yaml

    data = yaml.safe_load((ROOT / "specs" / "two-layer-relu.yaml").read_text(encoding="utf-8"))
    data["title"] = "<img src=x onerror=alert(1)></title><script>alert(2)</script>"
    spec = tmp_path / "evil.yaml"
    spec.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli(spec, "--format", "html", "-o", tmp_path / "evil.html").exit_code == 0
    _open(browser, tmp_path / "evil.html")
    assert browser.execute_script("return document.querySelectorAll('img, main script').length") == 0
    assert "<img src=x" in browser.execute_script("return document.querySelector('h1').textContent")
    assert browser.title.startswith("<img src=x")


def test_build_makes_pages_and_caches_them(tmp_path, cli):
    out = tmp_path / "site"
    args = ("build", ROOT / "specs" / "two-layer-relu.yaml", "--format", "html", "--lang", "en,pl", "--out", out, "-j", "1")
    first = cli(*args)
    assert first.exit_code == 0 and "2 built, 0 up to date" in first.stderr
    page = out / "pl" / "two-layer-relu.html"
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>") and 'lang="pl"' in page.read_text(encoding="utf-8")
    again = cli(*args)
    assert "0 built, 2 up to date" in again.stderr
