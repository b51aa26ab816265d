"""The exercise page in a real browser (headless Chromium through Selenium and chromedriver):
KaTeX renders the question, typing shows a live preview, submitting shows the verdicts, the page
makes no request anywhere but the server, and a phone-wide window needs no sideways scrolling.

Screenshots (desktop and phone width) are written to the test's tmp folder, and to
$DERIVE_SCREENSHOTS when it is set, for a human to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import httpx
import pytest

from conftest import IN_CI
from webharness import STUDENTS, assignments, bearer, roster_file, served

ANNA = STUDENTS["Anna Ivanova"]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
NO_INDICATOR = "(phi_1*I[u_1>0]*psi_11 + phi_2*I[u_2>0]*psi_12)*x"


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        message = f"missing {', '.join(missing)} (apt-get install chromium chromium-driver; .ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="derive-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    with served(assignments(folder / "specs"), f"sqlite:///{folder / 'derive.db'}",
                roster=roster_file(folder / "roster.csv")) as url:
        yield url


def _wait(driver, css: str, seconds: float = 20):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def _shot(driver, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    if os.environ.get("DERIVE_SCREENSHOTS"):
        os.makedirs(os.environ["DERIVE_SCREENSHOTS"], exist_ok=True)
        shutil.copy(path, os.path.join(os.environ["DERIVE_SCREENSHOTS"], path.name))


def _requested(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("width, name", [(1200, "desktop"), (390, "phone")])
def test_type_preview_submit_read_the_verdict(browser, server, tmp_path, width, name):
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, 1400)
    browser.get_log("performance")  # start the log afresh
    browser.get(f"{server}/a/two-layer-relu?token={ANNA}&lang=ru")
    rendered = _wait(browser, ".question .katex")
    assert len(rendered) >= 5  # the forward pass, rendered by KaTeX (not left as TeX source)
    assert "\\theta" not in browser.find_element(By.CSS_SELECTOR, ".question").text
    _shot(browser, tmp_path, f"{name}-question")

    for key in ("theta_11", "phi_1", "phi_2"):  # the page starts from the last submission: begin afresh
        browser.find_element(By.ID, f"a-{key}").clear()
    browser.find_element(By.ID, "a-theta_11").send_keys(NO_INDICATOR)
    browser.find_element(By.ID, "a-phi_2").send_keys("(g_2 + 1")
    _wait(browser, '.answer[data-key="theta_11"] .preview.ok .katex')
    preview = browser.find_element(By.CSS_SELECTOR, '.answer[data-key="theta_11"] .preview')
    assert preview.text.startswith("Ваш ответ прочитан так:")
    bad = _wait(browser, '.answer[data-key="phi_2"] .preview.bad')[0]
    expected = httpx.post(f"{server}/api/validate", headers=bearer(ANNA),
                          json={"assignment": "two-layer-relu", "key": "phi_2", "answer": "(g_2 + 1", "lang": "ru"})
    assert bad.text == expected.json()["message"] and bad.text
    browser.find_element(By.ID, "a-phi_1").send_keys("g_1")
    _shot(browser, tmp_path, f"{name}-typing")

    browser.find_element(By.CSS_SELECTOR, "#answers button").click()
    _wait(browser, ".verdict.correct")
    assert browser.find_element(By.CSS_SELECTOR, '.answer[data-key="phi_1"] .verdict').get_attribute("class") \
        == "verdict correct"
    theta = browser.find_element(By.CSS_SELECTOR, '.answer[data-key="theta_11"] .verdict')
    assert "verdict incorrect" == theta.get_attribute("class")
    assert theta.text.startswith("неверно") and "I[z_1 > 0]" in theta.text
    assert browser.find_element(By.ID, "status").text == "Верно: 1 из 13"
    browser.execute_script("document.querySelector('.answer[data-key=\"theta_11\"]').scrollIntoView()")
    _shot(browser, tmp_path, f"{name}-verdict")

    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {width}px"
    requested = _requested(browser)
    assert requested and all(url.startswith(server) for url in requested), requested
