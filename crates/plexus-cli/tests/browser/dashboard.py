"""The dashboard in a real browser: headless Chromium from the system
(never downloaded), driven by Playwright. Run by tests/dashboard_browser.rs,
which starts the two daemons and checks the files afterwards.

Argument: one JSON object with url_a, url_b (login URLs with the token),
share_path (a file on A's machine), topic, and screenshots (a folder, or
null). Prints what it checked; exits non-zero on the first failure.
"""

import http.server
import json
import os
import re
import sys
import threading

from playwright.sync_api import expect, sync_playwright

args = json.loads(sys.argv[1])
# Screenshots (docs/dashboard*.png come from here): one per section, and
# the whole page, in the folder `screenshots` names.
chromium = os.environ.get("PLEXUS_CHROMIUM", "/usr/bin/chromium")
TIMEOUT = 30_000


def log(line):
    print(line, flush=True)


def origin(url):
    return url.split("/?")[0]


def open_dashboard(context, url):
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    # The login redirected to the page, and the token left the URL.
    assert page.url == origin(url) + "/", page.url
    expect(page.locator("#conn")).to_have_text("live")
    expect(page.locator("#peer-id")).not_to_be_empty()
    return page


class Elsewhere(http.server.BaseHTTPRequestHandler):
    """Another site on this host: same site for cookies, another origin."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<p>elsewhere</p>")

    def log_message(self, *args):
        pass


def shoot(page, name, selector):
    """Saves a screenshot of one section as SCREENSHOTS/dashboard-NAME.png."""
    shots = args.get("screenshots")
    if shots:
        # The sticky header would cover the top of a tall section.
        page.evaluate("document.querySelector('header').style.position = 'static'")
        page.locator(selector).screenshot(path=os.path.join(shots, f"dashboard-{name}.png"))
        page.evaluate("document.querySelector('header').style.position = ''")


def subscribe(page, topic):
    page.fill("#sub-topic", topic)
    page.click("#sub-form button")
    box = page.locator(f'.topic[data-topic="{topic}"]')
    expect(box.locator(".muted")).to_have_text("subscribed")
    return box


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True)
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    a = open_dashboard(context, args["url_a"])
    b = open_dashboard(context, args["url_b"])
    for cookie in context.cookies():
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    assert a.evaluate("document.cookie") == "", "scripts cannot read the token"
    log("logged in to both dashboards; cookies HttpOnly and SameSite=Strict")

    # Share through A's page.
    a.fill("#share-path", args["share_path"])
    a.fill("#share-tags", "browser, test")
    a.click("#share-form button")
    expect(a.locator("#share-result")).to_have_text(re.compile("^plexus1"))
    ticket = a.locator("#share-result").text_content()
    name = os.path.basename(args["share_path"])
    expect(a.locator("#blob-rows")).to_contain_text(name)
    log(f"shared {name} through A's page")

    # Get it on B's page by ticket; progress reaches 100%.
    b.fill("#get-target", ticket)
    b.click("#get-form button")
    card = b.locator(".download", has_text=name)
    expect(card).to_have_class(re.compile("done"))
    expect(card.locator(".figures")).to_contain_text("100%")
    assert card.locator("progress").evaluate("p => p.value") == 1
    expect(b.locator("#blob-rows")).to_contain_text(name)
    log("B's page fetched it by ticket: progress 100%")

    # A's page shares a second file with tags; B's page connects to A,
    # searches, and fetches the hit with its Get button.
    a.fill("#share-path", args["share_path2"])
    a.fill("#share-tags", "holiday, beach")
    a.click("#share-form button")
    expect(a.locator("#share-result")).not_to_have_text(ticket)
    expect(a.locator("#share-result")).to_have_text(re.compile("^plexus1"))
    b.fill("#connect-addr", args["addr_a"])
    b.click("#connect-form button")
    expect(b.locator("#connect-state")).to_contain_text("connected to")
    name2 = os.path.basename(args["share_path2"])
    hit = b.locator("#hit-rows tr", has_text=name2)
    for attempt in range(4):
        b.fill("#search-words", "holiday")
        b.click("#search-form button")
        expect(b.locator("#search-state")).to_contain_text("result", timeout=TIMEOUT)
        if hit.count() > 0:
            break
    expect(hit).to_have_count(1)
    shoot(b, "search", "#search")
    hit.locator("button", has_text="Get").click()
    card = b.locator(".download", has_text=name2)
    expect(card).to_have_class(re.compile("done"))
    expect(card.locator(".figures")).to_contain_text("100%")
    log(f"B's page found {name2} by search and fetched it with Get: 100%")

    # A get started on B from the command line is in B's list too.
    cli_card = b.locator(".download", has_text=args["cli_name"])
    expect(cli_card).to_have_count(1)
    expect(cli_card).to_have_class(re.compile("done"), timeout=60_000)
    expect(cli_card.locator(".figures")).to_contain_text("100%")
    expect(b.locator("#download-counts")).to_contain_text("3 ended")
    log(f"B's page lists {args['cli_name']}, fetched by `plexus get`: 100%")
    shoot(b, "content", "#content")

    # Storage: B's page stores a file on two holders (A and C, both
    # connected by now), lists it with its health, and unstores it.
    expect(b.locator("#pins-state")).to_contain_text("as of")
    expect(b.locator("#no-pins")).to_be_visible()
    expect(b.locator("#pin-rows tr")).to_have_count(0)
    b.fill("#store-path", args["share_path2"])
    b.fill("#store-redundancy", "2")
    b.click("#store-form button")
    expect(b.locator("#store-result")).to_have_text(re.compile("^plexusstore1"))
    row = b.locator("#pin-rows tr.own", has_text=name2)
    expect(row).to_contain_text("2/2 alive, 1 needed")
    expect(row).to_contain_text("2 replicas")
    expect(b.locator("#pin-counts")).to_contain_text("1 stored by this node")
    log(f"B's Storage section stored {name2} on 2 holders: 2/2 alive")
    shoot(b, "storage", "#storage")
    b.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Unstore").click()
    expect(b.locator("#store-state")).to_contain_text("2 holders released it")
    expect(b.locator("#pin-rows tr")).to_have_count(0)
    log("B's page unstored it: both holders released it")

    # Compute: B's page runs a job; A, the one peer with --compute, runs
    # its 4 units; the page shows the result and the output's bytes.
    expect(b.locator("#compute-worker")).to_contain_text("does not compute")
    b.fill("#job-module", args["job_module"])
    b.fill("#job-inputs", args["job_inputs"])
    b.fill("#job-quorum", "1")
    b.click("#job-form button")
    job = b.locator(".job").first
    expect(job).to_have_class(re.compile("done"), timeout=60_000)
    expect(job.locator(".figures")).to_contain_text("4 units")
    expect(job.locator("li")).to_contain_text("4 agreed, 0 lost")
    hexed = job.locator(".output").get_attribute("data-hex")
    assert hexed == args["job_hex"], (hexed, args["job_hex"])
    expect(job.locator("a", has_text="Save output")).to_be_visible()
    expect(a.locator("#compute-worker")).to_contain_text("4 done")
    log("B's page ran a job of 4 units on A: output as computed here")
    shoot(b, "compute", "#compute")

    # Chat: both pages subscribe; A's page sends, B's page shows it.
    topic = args["topic"]
    box_a, box_b = subscribe(a, topic), subscribe(b, topic)

    # A page of another origin on the same host (same site, so the browser
    # sends the cookie) tries to post on the topic through A: refused.
    server = http.server.HTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    evil = context.new_page()
    evil.on("console", lambda m: log(f"other page console: {m.text}"))
    evil.goto(f"http://127.0.0.1:{server.server_port}/")
    target = f"{origin(args['url_a'])}/v1/pubsub/{topic}"
    with evil.expect_response(lambda r: "/v1/pubsub/" in r.url) as answer:
        evil.evaluate(
            "url => fetch(url, {method: 'POST', mode: 'no-cors', credentials: 'include', body: 'forged'})",
            target,
        )
    assert answer.value.status == 403, answer.value.status
    # Nor may it read (or, for a topic, join) with the cookie.
    for path in ["/v1/status", f"/v1/pubsub/{topic}"]:
        with evil.expect_response(lambda r: r.url.endswith(path)) as answer:
            evil.evaluate(
                "url => fetch(url, {mode: 'no-cors', credentials: 'include'})",
                origin(args["url_a"]) + path,
            )
        assert answer.value.status == 403, (path, answer.value.status)
    log("a page of another origin got 403 posting, reading and subscribing through A")

    box_a.locator("input").fill("hello from the browser")
    box_a.locator("button", has_text="Send").click()
    expect(box_a.locator(".log")).to_contain_text("hello from the browser")
    expect(box_b.locator(".log")).to_contain_text("hello from the browser")
    assert "forged" not in box_b.locator(".log").text_content()
    log("A's page sent a chat message; B's page showed it")
    shoot(b, "topics", "#topics")
    shoot(b, "node", "#node")
    shoot(b, "peers", "#peers")

    shots = args.get("screenshots")
    if shots:
        b.evaluate("window.scrollTo(0, 0)")
        b.screenshot(path=os.path.join(shots, "dashboard.png"), full_page=True)
        log(f"screenshot in {shots}")
    browser.close()
log("browser test passed")
