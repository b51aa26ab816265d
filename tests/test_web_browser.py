"""The exercise page in a real browser (headless Chromium through Selenium and chromedriver):
KaTeX renders the question, typing shows a live preview, submitting shows the verdicts, the page
makes no request anywhere but the server, and a phone-wide window needs no sideways scrolling.

Screenshots (desktop and phone width) are written to the test's tmp folder, and to
$DERIVE_SCREENSHOTS when it is set, for a human to look at.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
import shutil
import tempfile

import httpx
import pytest

from conftest import IN_CI
from webharness import STUDENTS, assignments, bearer, roster_file, served

ANNA = STUDENTS["Anna Ivanova"]
JAN = STUDENTS["Jan Kowalski"]
EVIL = STUDENTS['=HYPERLINK("http://x")']
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


@contextmanager
def _network(driver, offline: bool = False, latency: int = 0):
    """Chromium's network as slow or as offline as asked, inside the block; back to normal after it."""
    driver.execute_cdp_cmd("Network.enable", {})
    conditions = {"offline": offline, "latency": latency, "downloadThroughput": -1, "uploadThroughput": -1}
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", conditions)
    try:
        yield
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {**conditions, "offline": False, "latency": 0})


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


def _submit(driver, seconds: float = 60) -> None:
    """Press the button and wait until the check has answered (the status no longer says it is checking)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    checking = driver.execute_script("document.getElementById('status').textContent = '';"
                                     "return JSON.parse(document.getElementById('words').textContent).checking")
    driver.find_element(By.CSS_SELECTOR, "#answers button").click()
    WebDriverWait(driver, seconds).until(lambda d: d.find_element(By.ID, "status").text not in ("", checking))


def _fill(driver, answers: dict[str, str]) -> None:
    """Every input emptied, then the given answers typed (a long one set at once, as a paste does)."""
    from selenium.webdriver.common.by import By

    for box in driver.find_elements(By.CSS_SELECTOR, ".answer input"):
        driver.execute_script("arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input'))", box)
    for key, text in answers.items():
        box = driver.find_element(By.ID, f"a-{key}")
        if len(text) > 200:
            driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                                  box, text)
        else:
            box.send_keys(text)


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
    _wait(browser, '.answer[data-key="theta_11"] .preview.ok:not(.stale) .katex')
    preview = browser.find_element(By.CSS_SELECTOR, '.answer[data-key="theta_11"] .preview')
    assert preview.text.startswith("Ваш ответ прочитан так:")
    bad = _wait(browser, '.answer[data-key="phi_2"] .preview.bad:not(.stale)')[0]  # the reading of all it says
    expected = httpx.post(f"{server}/api/validate", headers=bearer(ANNA),
                          json={"assignment": "two-layer-relu", "key": "phi_2", "answer": "(g_2 + 1", "lang": "ru"})
    assert bad.text == expected.json()["message"] and bad.text
    browser.find_element(By.ID, "a-phi_1").send_keys("g_1")
    _shot(browser, tmp_path, f"{name}-typing")

    _submit(browser)
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


def _verdict(driver, key: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'.answer[data-key="{key}"] .verdict')


def test_a_huge_answer_neither_widens_the_phone_page_nor_floods_the_feedback(browser, server, tmp_path):
    """3000 letters pasted into one input: the feedback quotes the unknown name cut short, and nothing on
    the page scrolls sideways (it once was 28,000 px wide)."""
    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=pl")
    _wait(browser, ".question .katex")
    _fill(browser, {"psi_01": "x" * 3000, "phi_1": "g_1"})
    _wait(browser, '.answer[data-key="psi_01"] .preview.bad')
    _submit(browser)
    said = _verdict(browser, "psi_01")
    assert said.get_attribute("class") == "verdict invalid" and "xxxxxxxxxx…" in said.text
    assert len(said.text) < 300
    browser.execute_script("document.getElementById('a-psi_01').scrollIntoView()")
    _shot(browser, tmp_path, "phone-huge-answer")
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_the_verdict_word_is_said_once(browser, server):
    """A correct answer reads "poprawnie: …", not "poprawnie: Poprawnie: …" (the word and then the feedback's
    own first word); the feedback's sentence is the API's, without its first word."""
    browser.set_window_size(1100, 900)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=pl")
    _wait(browser, ".question .katex")
    _fill(browser, {"phi_1": "g_1"})
    _submit(browser)
    api = httpx.post(f"{server}/api/check", headers=bearer(JAN), timeout=60,
                     json={"assignment": "two-layer-relu", "answers": {"phi_1": "g_1"}, "lang": "pl"}).json()
    feedback = next(a["feedback"] for a in api["answers"] if a["key"] == "phi_1")
    word, _, rest = feedback.partition(": ")
    text = _verdict(browser, "phi_1").text
    assert text == f"{word.lower()}: {rest}" and text.lower().count(word.lower()) == 1, text


def test_a_keyboard_user_keeps_the_focus_after_checking(browser, server):
    """Enter on the focused button checks the answers, and the focus stays on the button (a disabled button
    loses it to the page, and a keyboard user starts again from the top)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=en")
    _wait(browser, ".question .katex")
    _fill(browser, {"phi_1": "g_1"})
    button = browser.find_element(By.CSS_SELECTOR, "#answers button")
    button.send_keys(Keys.ENTER)
    _wait(browser, '.answer[data-key="phi_1"] .verdict.correct')
    assert browser.execute_script("return document.activeElement") == button


def test_a_reload_shows_the_last_verdicts(browser, server):
    """After a reload (or coming back to the page) the last submission is on show as it was checked: its
    answers in the inputs, its verdicts under them and its score."""
    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/sigmoid-bce?token={EVIL}&lang=ru")
    _wait(browser, ".question .katex")
    inputs = [e.get_attribute("name") for e in _wait(browser, ".answer input")]
    _fill(browser, {inputs[0]: "0", inputs[1]: "(("})
    _submit(browser)
    before = {key: _verdict(browser, key).text for key in inputs[:3]}
    status = browser.execute_script("return document.getElementById('status').textContent")
    browser.refresh()
    _wait(browser, ".verdict.invalid")
    assert {key: _verdict(browser, key).text for key in inputs[:3]} == before
    assert before[inputs[1]].startswith("некорректная запись") and before[inputs[2]] == "нет ответа"
    assert browser.execute_script("return document.getElementById('status').textContent") == status


def test_without_the_server_the_preview_says_so_instead_of_an_old_reading(browser, server, tmp_path):
    """The connection drops while a student types: the preview no longer shows the reading of the earlier
    text (which would pass for the new one), it says in the page's language that it cannot read it now."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=ru")
    _wait(browser, ".question .katex")
    _fill(browser, {"phi_1": "g_1"})
    _wait(browser, '.answer[data-key="phi_1"] .preview.ok .katex')
    with _network(browser, offline=True):
        browser.find_element(By.ID, "a-phi_1").send_keys(" + 1")
        preview = _wait(browser, '.answer[data-key="phi_1"] .preview.bad')[0]
        assert preview.text == "Нет связи с сервером: сейчас этот ответ не удаётся прочитать."
        _shot(browser, tmp_path, "phone-offline-preview")
        _submit(browser)
        assert browser.find_element(By.ID, "status").text.startswith("Не удалось связаться с сервером")


@pytest.mark.parametrize("status, expected", [
    (429, "Zbyt wiele sprawdzeń w ciągu minuty"),
    (503, "Serwerowi nie udało się sprawdzić odpowiedzi"),
    (413, "Odpowiedzi są zbyt długie"),
])
def test_a_refused_check_is_explained_in_the_pages_language(browser, server, status, expected):
    """The API's error texts are English (they are for programs): the page says what a refusal means in
    its own language, never the JSON's text."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=pl")
    _wait(browser, ".question .katex")
    browser.execute_script(  # the server's answer, as it sends it: status and JSON {"error": …}
        "window.fetch = function () { return Promise.resolve(new Response("
        "JSON.stringify({error: 'at most 30 checks a minute'}), {status: arguments[0] ? %d : %d})); };"
        % (status, status))
    _submit(browser)
    said = browser.find_element(By.ID, "status").text
    assert said.startswith(expected) and "at most" not in said


def test_everything_a_finger_taps_is_44_px_tall_on_a_phone(browser, server):
    """Links, inputs and the button of the exercise and the assignments pages (WCAG 2.5.5: 44 × 44 px)."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    for page in (f"/a/two-layer-relu?token={JAN}&lang=pl", f"/?token={JAN}&lang=pl"):
        browser.get(f"{server}{page}")
        _wait(browser, "main a, main input")
        small = [(e.tag_name, e.text, e.size) for e in browser.find_elements(By.CSS_SELECTOR, "a, input, button")
                 if e.is_displayed() and e.size["height"] < 44]
        assert not small, small


def test_on_a_slow_network_the_page_says_it_is_waiting(browser, server):
    """Two seconds each way: while a preview is on its way the old one is shown as old (greyed), and while
    the check is on its way the status says so."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=pl")
    _wait(browser, ".question .katex")
    _fill(browser, {"phi_1": "g_1"})
    _wait(browser, '.answer[data-key="phi_1"] .preview.ok .katex')
    with _network(browser, latency=2000):
        browser.find_element(By.ID, "a-phi_1").send_keys(" + g_2")
        preview = browser.find_element(By.CSS_SELECTOR, '.answer[data-key="phi_1"] .preview')
        assert "stale" in preview.get_attribute("class").split()
        assert float(browser.execute_script("return getComputedStyle(arguments[0]).opacity", preview)) < 0.6
        browser.find_element(By.CSS_SELECTOR, "#answers button").click()
        assert browser.find_element(By.ID, "status").text == "Sprawdzanie…"
        _wait(browser, '.answer[data-key="phi_1"] .verdict.incorrect', 60)
        _wait(browser, '.answer[data-key="phi_1"] .preview.ok:not(.stale) .katex', 60)  # the new reading came


def test_the_back_button_shows_the_result_just_earned(browser, server):
    """The list of assignments → an exercise → check → back: the list shows the new best result (the browser
    kept the old list before, and a student thought the submission was lost)."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(f"{server}/?token={EVIL}&lang=en")
    link = _wait(browser, '.assignments a[href^="/a/two-layer-relu"]')[0]
    item = link.find_element(By.XPATH, "..")
    assert "Correct: 1 of 13" not in item.text
    link.click()
    _wait(browser, ".question .katex")
    _fill(browser, {"phi_1": "g_1"})
    _submit(browser)
    assert browser.find_element(By.ID, "status").text == "Correct: 1 of 13"
    browser.back()
    item = _wait(browser, '.assignments a[href^="/a/two-layer-relu"]')[0].find_element(By.XPATH, "..")
    assert "Correct: 1 of 13" in item.text


def test_an_unreadable_answer_is_explained_once(browser, server):
    """After checking, an unreadable answer's message stands once, in its verdict, not a second time in the
    preview above it (on a phone the two filled the screen with the same sentence)."""
    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=ru")
    _wait(browser, ".question .katex")
    _fill(browser, {"phi_2": "(g_2 + 1"})
    message = _wait(browser, '.answer[data-key="phi_2"] .preview.bad')[0].text
    _submit(browser)
    box = browser.find_element("css selector", '.answer[data-key="phi_2"]')
    assert _verdict(browser, "phi_2").get_attribute("class") == "verdict invalid"
    assert box.text.count(message) == 1, box.text
    browser.refresh()  # reopened: the verdict is shown again, and the preview of the same text must not repeat it
    _wait(browser, '.answer[data-key="phi_2"] .verdict.invalid')
    browser.execute_script("return new Promise(function (done) { setTimeout(done, 1500); })")  # the previews' turn
    box = browser.find_element("css selector", '.answer[data-key="phi_2"]')
    assert box.text.count(message) == 1, box.text


def test_a_verdict_greys_when_its_answer_is_edited(browser, server):
    """Reloaded or just checked, a verdict speaks of the answer it was given: once the student edits that
    answer the verdict greys (it says "missing" or "correct" of a text no longer there), the others stay."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(f"{server}/a/two-layer-relu?token={JAN}&lang=pl")
    _wait(browser, ".question .katex")
    _fill(browser, {"phi_1": "g_1"})
    _submit(browser)
    browser.find_element(By.ID, "a-phi_2").send_keys("g_2")
    edited, kept = _verdict(browser, "phi_2"), _verdict(browser, "phi_1")
    assert "stale" in edited.get_attribute("class").split() and "stale" not in kept.get_attribute("class").split()
    opacity = "return Number(getComputedStyle(arguments[0]).opacity)"
    assert browser.execute_script(opacity, edited) < 0.6 and browser.execute_script(opacity, kept) == 1
    _submit(browser)
    assert _verdict(browser, "phi_2").get_attribute("class") == "verdict correct"
