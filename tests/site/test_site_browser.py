"""The documentation site, read in a real browser: Debian's chromium, driven by chromedriver.

The site is built once into a temporary directory and served on 127.0.0.1.  Without
chromium and chromium-driver (``apt-get install -y chromium chromium-driver``) or the
``site`` extra these tests skip, saying so; with ``RLSPEC_REQUIRE_BROWSER=1`` (set by
``.ci/run``) they fail instead, so CI cannot skip them by accident.
"""

import functools
import http.server
import io
import os
import re
import shutil
import threading
from urllib.parse import urldefrag, urlparse

import pytest

REQUIRED = os.environ.get("RLSPEC_REQUIRE_BROWSER") == "1"


def _missing(reason: str):
    if REQUIRED:
        pytest.fail(f"RLSPEC_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


for _module in ("selenium", "markdown", "latex2mathml", "matplotlib"):
    try:
        __import__(_module)
    except ImportError:
        _missing(f"{_module} is not installed: pip install -e '.[site]'")
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    _missing("Debian's chromium and chromedriver are not installed: "
             "apt-get install -y chromium chromium-driver")

from matplotlib import image as matplotlib_image  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from rlspec.site import build, gather  # noqa: E402

# A few entries are verified at build time (1 generated case each, ~3 s), so that both the
# verified and the "not run in this build" renderings are on the pages under test.
VERIFIED_IN_TEST = ["gae.advantage", "dpo.loss", "td.sarsa"]

# Visible text outside code that still looks like TeX: $$, $...$, or a TeX command.
RAW_TEX = re.compile(r"\$\$|\$[^$\s][^$]*\$|\\[A-Za-z]{2,}")

# What the crawl needs from a page, in one round trip: the text a reader sees outside code
# (TeX in docstrings is source, not math), the links, the ids, the images that failed.
PAGE_FACTS = """
const prose = document.body.cloneNode(true);
prose.querySelectorAll('pre, code, script').forEach(node => node.remove());
document.body.append(prose);
const text = prose.innerText;
prose.remove();
return {
  prose: text,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(node => node.id),
  brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                    .map(i => i.src),
};
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("site")
    rows = gather.run_verification(VERIFIED_IN_TEST, max_examples=1)
    build.build(outdir, rows, max_examples=1)
    handler = functools.partial(_QuietHandler, directory=str(outdir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield outdir, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _console_errors(driver) -> list[str]:
    return [record["message"] for record in driver.get_log("browser")
            if record["level"] == "SEVERE"]


def test_every_page_loads_cleanly_renders_its_math_and_links_only_to_what_exists(site, browser):
    outdir, base = site
    to_visit, visited, problems = [base + "index.html"], set(), []
    anchors_wanted: dict[str, set[str]] = {}
    anchors_found: dict[str, set[str]] = {}
    while to_visit:
        url = to_visit.pop()
        if url in visited:
            continue
        visited.add(url)
        path = outdir / urlparse(url).path.lstrip("/")
        if not path.is_file():
            problems.append(f"link to a missing page: {url}")
            continue
        browser.get(url)
        problems += [f"{url}: console: {message}" for message in _console_errors(browser)]
        facts = browser.execute_script(PAGE_FACTS)
        prose = facts["prose"]
        problems += [f"{url}: raw TeX {match.group(0)!r} in {prose[max(0, match.start() - 40):match.end() + 40]!r}"
                     for match in RAW_TEX.finditer(prose)]
        problems += [f"{url}: image did not load: {src}" for src in facts["brokenImages"]]
        anchors_found[url] = set(facts["ids"])
        for link in facts["links"]:
            target, fragment = urldefrag(link)
            if not target.startswith(base):
                continue  # the site has no external links today; none is followed
            if target.endswith(".html") and target not in visited:
                to_visit.append(target)
            elif not target.endswith(".html") and not (outdir / urlparse(target).path.lstrip("/")).is_file():
                problems.append(f"{url}: link to a missing file: {link}")
            if fragment:
                anchors_wanted.setdefault(target, set()).add(fragment)
    problems += [f"{target}#{fragment}: no element with this id"
                 for target, fragments in anchors_wanted.items()
                 for fragment in fragments - anchors_found.get(target, set())]
    assert not problems, "\n".join(problems[:30])
    pages = {path.relative_to(outdir).as_posix() for path in outdir.rglob("*.html")}
    reached = {urlparse(url).path.lstrip("/") for url in visited}
    assert pages <= reached, f"pages no link leads to: {sorted(pages - reached)}"


def _search(browser, base, query) -> dict[str, str]:
    """Type ``query`` into the search page; return {spec ID: the result's text} in order."""
    browser.get(base + "search.html")
    browser.find_element(By.ID, "query").send_keys(query)
    WebDriverWait(browser, 5).until(
        lambda driver: driver.find_element(By.ID, "count").text.endswith(("entry", "entries")))
    found = {item.find_element(By.TAG_NAME, "a").text: item.text.lower()
             for item in browser.find_elements(By.CSS_SELECTOR, "#results li")}
    assert not _console_errors(browser)
    return found


def test_search_finds_gae_and_dpo_by_a_word_of_their_id_or_title(site, browser):
    _, base = site
    found = _search(browser, base, "gae")
    assert list(found)[:3] == ["gae.advantage", "gae.lambda-return", "gae.lambda-weighted-sum"]
    assert "rlhf.masked-gae" in found  # by the word GAE of its title
    found = _search(browser, base, "DPO")
    assert {"dpo.loss", "dpo.gradient", "dpo.ipo", "dpo.hinge"} <= set(found)
    assert all("dpo" in text for text in found.values())
    assert list(_search(browser, base, "clipped value")) == ["ppo.value-clipping"]
    assert _search(browser, base, "nosuchwordanywhere") == {}


def test_search_takes_its_query_from_the_address(site, browser):
    _, base = site
    browser.get(base + "search.html?q=DPO")
    WebDriverWait(browser, 5).until(lambda driver: driver.find_element(By.ID, "count").text)
    assert "dpo.loss" in [link.text for link in browser.find_elements(By.CSS_SELECTOR, "#results a")]


def test_a_failure_report_points_at_its_entry_page_on_the_site(site, browser):
    import rlspec

    def sarsa_with_the_max(action_values, state, action, reward, next_state, next_action,
                           terminated, alpha, gamma):
        updated = action_values.copy()
        target = reward + gamma * (1 - terminated) * action_values[next_state].max()
        updated[state, action] += alpha * (target - updated[state, action])
        return updated

    report = rlspec.check("td.sarsa", sarsa_with_the_max, max_examples=5)
    assert not report.passed
    assert str(report).splitlines()[-1] == (
        "  the entry: rlspec show td.sarsa, or entries/td.sarsa.html of the documentation "
        "site (rlspec site OUT)")
    _, base = site
    browser.get(base + report.site_page)
    assert "SARSA" in browser.find_element(By.TAG_NAME, "h1").text


def test_a_screenshot_of_an_entry_page_shows_rendered_math_and_content(site, browser, tmp_path):
    _, base = site
    browser.get(base + "entries/gae.advantage.html")
    formula = browser.find_element(By.CSS_SELECTOR, "math[display=block]")
    assert formula.size["width"] > 100 and formula.size["height"] > 15, \
        f"display math drawn at {formula.size}: is MathML rendered?"
    picture = browser.get_screenshot_as_png()
    (tmp_path / "gae.advantage.png").write_bytes(picture)
    pixels = matplotlib_image.imread(io.BytesIO(picture), format="png")[..., :3]
    height, width = pixels.shape[:2]
    assert (width, height) >= (1000, 700), f"screenshot is only {width}x{height}"
    not_white = (pixels < 0.9).any(axis=2).mean()
    # Text, the header bar and the formulas cover a few percent of a page; a blank or
    # error page is (nearly) one colour.
    assert 0.02 < not_white < 0.9, f"{not_white:.1%} of the screenshot is not white"
    assert pixels.reshape(-1, 3).std(axis=0).max() > 0.1
