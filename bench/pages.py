"""Page speed, measured (issue 14): click to settled page, per page and main action, per persona.

    python -m bench.pages [--events N] [--repeat K] [--persona SUB ...]

Starts the stack the browser tests start (`bench.pages_stack`: demo provider, seeded demo
database, optionally N generated events before the demo history, sealed, console on a free
port), drives Chromium (Playwright, /usr/bin/chromium, headless) through sign-in, every page
in each persona's sidebar and the main read-only actions below, K times, and prints p50 / p95
per page and action against the targets (p95 ≤ 0.5 s per action; sign-in to home ≤ 2 s).
A benchmark, not a test: nothing asserts a time, and `make test` never runs it. Figures go
to data/bench/pages-<time>.json.

Settled: Streamlit's app element says `data-test-script-state=notRunning` after a run that
started after the click, and no new run starts for `QUIET` seconds. The time is taken from
a MutationObserver in the page (the moment the state last became notRunning), not from the
polling, so the quiet wait does not count. Sign-in to home is the machine's part of it:
from the provider's Authorize click to the code screen settled, plus from the Verify click
to the home page settled (typing the code is the person's time, not the console's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from playwright.sync_api import Browser, Error, Page, sync_playwright

from audit.settings import PROJECT_ROOT
from bench.common import percentile
from bench.pages_stack import Stack, services_of, stack

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
QUIET = 0.4  # seconds without a new script run before a page counts as settled
NO_RUN = 3.0  # a click that starts no run within this is reported as such
TIMEOUT = 180.0
PERSONAS = ["sam.support", "ada.admin", "audrey.auditor"]
# (persona, page, button): the main action of a page, read-only and repeatable
ACTIONS = [
    ("audrey.auditor", "Audit log", "Search"),
    ("audrey.auditor", "Audit log", "Older"),
    ("audrey.auditor", "Grant timeline", "Show"),
    ("audrey.auditor", "Verify", "Verify now"),
    ("sam.support", "Customer data", "Read"),
]
ACTION_TARGET, SIGN_IN_TARGET = 0.5, 2.0

OBSERVER = """
window.__ghRuns = [];
new MutationObserver((records) => {
  for (const r of records) {
    window.__ghRuns.push([Date.now(), r.target.getAttribute('data-test-script-state')]);
  }
}).observe(document, {attributes: true, subtree: true,
                      attributeFilter: ['data-test-script-state']});
"""
STATE = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  return [app ? app.getAttribute('data-test-script-state') : null, window.__ghRuns || [],
          Date.now()];
}"""


@dataclass
class Timings:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, seconds: float | None) -> None:
        if seconds is None:
            self.notes.append(f"{what}: the click started no script run")
        else:
            self.samples[what].append(seconds)


def settled(page: Page, clicked: float) -> float | None:
    """Seconds from `clicked` (time.time()) to the settled page; None if no run started."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            state, runs, now = page.evaluate(STATE)
        except Error:  # a navigation replaced the document: ask the new one
            time.sleep(0.05)
            continue
        since = [(t / 1000, s) for t, s in runs if t / 1000 >= clicked - 0.005]
        started = any(s == "running" for _, s in since)
        if state == "notRunning" and started:
            last = max(t for t, s in since if s == "notRunning")
            if now / 1000 - last >= QUIET:
                return float(last - clicked)
        elif state == "notRunning" and now / 1000 - clicked > NO_RUN:
            return None
        time.sleep(0.05)
    raise TimeoutError(f"the page did not settle within {TIMEOUT:.0f} s")


def timed_click(page: Page, locator: object) -> float | None:
    clicked = time.time()
    locator.click()  # type: ignore[attr-defined]
    return settled(page, clicked)


def sign_in(page: Page, s: Stack, sub: str, timings: Timings) -> None:
    from access import runtime
    from access.identity.mfa import demo_code
    from tests.e2e.backstage import Backstage

    page.goto(s.console)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/oauth2/authorize**")
    page.locator("input[name=sub]").fill(sub)
    to_code = timed_click(page, page.get_by_role("button", name="Authorize", exact=True))
    with services_of(s.data):
        gh = runtime.build_for_cli()
        Backstage(gh, s.idp, {}).forget_last_code(sub)  # a second sign-in in one time step
        code = demo_code(gh, s.idp, sub)
    page.get_by_label("6-digit code").fill(code)
    to_home = timed_click(page, page.get_by_role("button", name="Verify", exact=True))
    if to_code is not None and to_home is not None:
        timings.add("sign-in: Authorize → code screen", to_code)
        timings.add("sign-in: Verify → home", to_home)
        timings.add("sign-in to home (both)", to_code + to_home)


NAV_LINKS = "[data-testid=stSidebarNav] a"


def nav_titles(page: Page) -> list[str]:
    """The titles of the persona's pages (a link's last line: its icon is a ligature)."""
    page.locator(NAV_LINKS).first.wait_for()
    texts = page.evaluate(f"""() => Array.from(document.querySelectorAll('{NAV_LINKS}'))
        .map(a => a.innerText.trim().split('\\n').pop().trim())""")
    return [str(t) for t in texts]


def open_page(page: Page, title: str) -> float | None:
    links = page.locator(NAV_LINKS)
    link = next(links.nth(i) for i in range(links.count())
                if links.nth(i).inner_text().strip().split("\n")[-1].strip() == title)
    return timed_click(page, link)


def visit(page: Page, sub: str, titles: list[str], timings: Timings) -> None:
    for title in titles:
        timings.add(f"{sub}: open {title}", open_page(page, title))
        for who, where, label in ACTIONS:
            if (who, where) == (sub, title):
                button = page.get_by_role("button", name=label, exact=True)
                if button.count() and button.first.is_enabled():
                    timings.add(f"{sub}: {title} → {label}", timed_click(page, button.first))
                else:
                    timings.notes.append(f"{sub}: {title} has no enabled {label!r} button")


def drive(browser: Browser, s: Stack, personas: list[str], repeat: int) -> Timings:
    timings = Timings()
    for sub in personas:
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(OBSERVER)
            context.set_default_timeout(TIMEOUT * 1000)
            page = context.new_page()
            sign_in(page, s, sub, timings)
            visit(page, sub, [t for t in nav_titles(page) if t != "Home"] + ["Home"], timings)
            context.close()
        print(f"  {sub}: done", flush=True)
    return timings


def report(timings: Timings, s: Stack) -> list[dict[str, object]]:
    rows = []
    print(f"\n| page or action ({s.events:,} generated events + demo) | n | p50 | p95 | "
          "target | met |\n|---|---|---|---|---|---|")
    for what, values in timings.samples.items():
        target = SIGN_IN_TARGET if what.startswith("sign-in to home") else \
            None if what.startswith("sign-in:") else ACTION_TARGET
        p50, p95 = percentile(values, 50), percentile(values, 95)
        met = None if target is None else p95 <= target
        print(f"| {what} | {len(values)} | {p50:.2f} s | {p95:.2f} s | "
              f"{'-' if target is None else f'p95 ≤ {target} s'} | "
              f"{ {None: '-', True: 'met', False: '**missed**'}[met]} |")
        rows.append({"what": what, "n": len(values), "p50": p50, "p95": p95, "target": target,
                     "met": met, "samples": values})
    for note in dict.fromkeys(timings.notes):
        print(f"note: {note}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=0,
                        help="generated events loaded before the demo history (0: demo only)")
    parser.add_argument("--repeat", type=int, default=5, help="sign-ins and walks per persona")
    parser.add_argument("--persona", action="append", choices=PERSONAS, default=[])
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          f"on {os.cpu_count()} cores", flush=True)
    started = time.perf_counter()
    with stack(args.events) as s, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            timings = drive(browser, s, args.persona or PERSONAS, args.repeat)
        finally:
            browser.close()
        rows = report(timings, s)
    end_load = os.getloadavg()
    print(f"load average at end: {end_load[0]:.1f} / {end_load[1]:.1f} / {end_load[2]:.1f}; "
          f"{time.perf_counter() - started:.0f} s in all")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = PROJECT_ROOT / "data" / "bench" / f"pages-{args.events}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"events": args.events, "load_start": load, "load_end": end_load,
                               "rows": rows}, indent=1) + "\n")
    print(f"figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
