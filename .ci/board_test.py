"""The wallboard in a real browser, driven like a supervisor would use it.

    python3 .ci/board_test.py BINARY PORT

Starts `callboard serve` itself (so it can stop and restart it), opens the
pages in headless Chromium through chromedriver, and checks: no console
errors; the figures equal the REST snapshot of the same sequence number; the
overview alternates; the connection banner appears when the server stops
and goes when it is back; 20 services fit at 1920x1080. It reports (does not
assert) how long a snapshot takes to render for 20 services and 500 agents.
"""
import csv as csvlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

BIN, PORT = sys.argv[1], int(sys.argv[2])
BASE = f"http://127.0.0.1:{PORT}"


def serve(*extra):
    # Each start is a fresh service (no event log read back): what an earlier
    # run posted must not be counted again, nor its ids taken as repeats.
    env = {**os.environ, "CALLBOARD_EVENT_LOG": "none"}
    p = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{PORT}", "--log", "warn", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{BASE}/readyz", timeout=1)
            return p
        except OSError:
            time.sleep(0.1)
    sys.exit("board: the server did not start")


def rest(tenant):
    with urllib.request.urlopen(f"{BASE}/api/v1/tenants/{tenant}/snapshot") as r:
        return int(r.headers["x-callboard-seq"]), json.load(r)


def browser():
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1920,1080"]:
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def wait(cond, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    sys.exit(f"board: timed out waiting for {what}")


def at_same_seq(d, check, where):
    """check(seq, snap) once the board shows the demo's REST snapshot of the
    same sequence number (the board re-renders each second: tried 50 times)."""
    for _ in range(50):
        seq, snap = rest("demo")
        if d.execute_script("return window.callboard.seq") == seq:
            return check(seq, snap)
        time.sleep(0.05)
    sys.exit(f"board: never saw the REST snapshot's sequence number {where}")


def _exists(tenant):
    try:
        rest(tenant)
        return True
    except OSError:  # 404 until the shard first publishes it
        return False


def cells(d, selector):
    # Read in one script: the board re-renders each second, so elements found
    # in one call may be gone by the next.
    return d.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(c => c.innerText.split('\\n')[0])",
        selector)


def main():
    server = serve()
    d = browser()
    try:
        # Figures equal REST at the same sequence number.
        d.get(f"{BASE}/?tenant=demo&view=services&lang=en&rotate=3600")
        wait(lambda: d.execute_script("return window.callboard.renders") > 0, "a first render")
        for _ in range(50):
            seq, snap = rest("demo")
            shown = d.execute_script("return window.callboard.seq")
            if shown == seq:
                total = cells(d, "tr.total td")
                want = [f"{snap['totals'][k]:,}" for k in ("waiting", "inbound", "answered", "abandoned")]
                assert total[1:5] == want, f"board {total[1:5]} != REST {want} at seq {seq}"
                print(f"board: totals equal REST at seq {seq}: {want}")
                break
            time.sleep(0.05)
        else:
            sys.exit("board: never saw the REST snapshot's sequence number")

        # The services board puts the last 15 minutes beside today and the
        # estimated wait per service (최근 15분, 예상 대기시간); the dashboard
        # adds each queue's estimate with its accuracy, and a staffing panel
        # (필요 상담원): each equal to REST at the same sequence number.
        from decimal import Decimal, ROUND_HALF_UP
        def pct(v):  # as the board's toFixed(1) rounds the same double
            return "-" if v is None else f"{Decimal(v).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"
        # (English last: the clock check below reads an English clock.)
        for lang, words in (("ko", ("최근 15분", "예상 대기시간", "필요 상담원", "예측 오차(평균/90%)")),
                            ("en", ("Last 15 min", "Est. wait", "Agents needed", "Est. error (mean/p90)"))):
            d.get(f"{BASE}/?tenant=demo&view=services&lang={lang}&rotate=3600")
            wait(lambda: d.execute_script("return window.callboard.renders") > 0, "the services board")
            heads = d.execute_script("return [...document.querySelectorAll('thead th')].map(c => c.innerText)")
            assert words[0] in heads and words[1] in heads, heads
            def check(seq, snap):
                total = cells(d, "tr.total td")
                w = next(w for w in snap["totals"]["recent"] if w["minutes"] == 15)
                want = [pct(snap["totals"]["answer_rate"]), pct(w["answer_rate"]),
                        pct(snap["totals"]["service_level"]), pct(w["service_level"])]
                assert total[5:9] == want, f"board {total[5:9]} != REST {want} at seq {seq}"
                ewts = [q["ewt_s"] for q in snap["queues"] if q["ewt_s"] is not None]
                assert (total[9] == "-") == (not ewts), (total[9], ewts)
                print(f"board ({lang}): today and last 15 min equal REST at seq {seq}: {want}, est. wait {total[9]}")
            at_same_seq(d, check, "on the services board")
            d.get(f"{BASE}/?tenant=demo&view=dashboard&lang={lang}")
            wait(lambda: d.execute_script("return window.callboard.renders") > 0, "the dashboard")
            text = d.find_element("tag name", "body").text
            assert words[2] in text and words[3] in text, f"dashboard lacks {words[2:]}"
            def check(seq, snap):
                rows = d.execute_script(
                    "return [...document.querySelectorAll('#staffing tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
                dash = lambda v: "-" if v is None else f"{v:,}"
                # The services most short of agents first.
                order = sorted(snap["services"], key=lambda s: (
                    -(s["staffing_gap"] if s["staffing_gap"] is not None else -10**9), s["service"]))
                want = [[s["service"], dash(s["agents_required"]), dash(s["agents_available"]), dash(s["staffing_gap"])]
                        for s in order]
                # A prefix: as many as the panel holds at this size.
                assert rows and rows == want[:len(rows)], f"staffing {rows} != REST {want}"
                print(f"board ({lang}): staffing panel equals REST at seq {seq}: {want}")
            at_same_seq(d, check, "on the dashboard")
            d.save_screenshot(os.path.join("target", "board-screenshots", f"dashboard-staffing-{lang}.png"))
            # Each tile says yesterday's figure by the same time (the demo
            # has a week of history): the sums of yesterday's intervals that
            # had ended by now less a day.
            def tiles_match():
                tiles = d.execute_script("return window.callboard.tiles || {}")
                seq, snap = rest("demo")
                tz = ZoneInfo(snap["tz"])
                at = datetime.fromisoformat(snap["at"].replace("Z", "+00:00"))
                day = (at - timedelta(days=1)).astimezone(tz).date()
                with urllib.request.urlopen(f"{BASE}/api/v1/tenants/demo/history?from={day}&to={day}&by=tenant&step=interval") as r:
                    rows = json.load(r)["rows"]
                until = at - timedelta(days=1)
                done = [r for r in rows if datetime.fromisoformat(r["period"]) + timedelta(minutes=15) <= until]
                inbound = sum(r["inbound"] for r in done)
                word = "어제 이 시각" if lang == "ko" else "yesterday by now"
                want = f"{word} {inbound:,}"
                return (tiles.get("consult", "").endswith(want) and tiles) or None
            tiles = wait(tiles_match, f"yesterday's figures on the tiles ({lang})", 20)
            assert ("목표 90%" if lang == "ko" else "target 90%") in tiles["answer_rate"], tiles
            print(f"board ({lang}): tiles show target and yesterday by now: {tiles}")
            # The IVR chart counts from 0, says which line is which (no
            # cursor values), and draws the hour under way dashed.
            y_min = wait(lambda: d.execute_script(
                "const c = window.callboard.ivr && window.callboard.ivr.chart;"
                "return c && c.scales.y.min !== null && c.scales.y.min !== undefined ? [c.scales.y.min] : null"),
                "the IVR chart's scale")[0]
            assert y_min == 0, y_min
            ivr = d.execute_script("return {legend: window.callboard.ivr.legend}")
            assert "--" not in ivr["legend"] and ("So far" in ivr["legend"] or "This hour so far" in ivr["legend"]
                                                   or "진행 중" in ivr["legend"]), ivr
            # Callbacks add up on the screen (requested = completed + failed
            # + deleted + open), and the open ones per agent show the
            # agent's name as every other view does.
            def check(seq, snap):
                shown = d.execute_script(
                    "return Object.fromEntries([...document.querySelectorAll('.cbs div[data-k]')]"
                    ".map(e => [e.dataset.k, e.querySelector('b').innerText]))")
                nums = {k: int(v.replace(",", "")) for k, v in shown.items() if k != "processing_rate"}
                cb = snap["callbacks"]
                assert nums == {k: cb[k] for k in nums}, (nums, cb)
                assert nums["requested"] == nums["completed"] + nums["failed"] + nums["deleted"] + nums["open"], nums
                names = {a["agent"]: a["name"] or a["agent"] for a in snap["agent_list"]}
                listed = d.execute_script(
                    "return [...document.querySelectorAll('#callbacks tbody tr')].map(r => r.cells[0].innerText)")
                want = [names.get(a["agent"], a["agent"]) for a in cb.get("open_by_agent", [])[:len(listed)]]
                assert listed == want, f"open per agent {listed} != {want}"
                print(f"board ({lang}): callbacks add up {nums}; open per agent by name {listed[:3]}")
            at_same_seq(d, check, "for the callbacks")

        # The navigation stays on one line in both languages, at 1280x720 too.
        for size in ((1280, 720), (1920, 1080)):
            d.set_window_size(*size)
            for lang in ("ko", "en"):  # English last: the clock check reads an English clock
                d.get(f"{BASE}/?tenant=demo&view=agents&lang={lang}&rotate=3600")
                wait(lambda: d.execute_script("return window.callboard.renders") > 0, "the agent board")
                tops = d.execute_script("return [...document.querySelectorAll('#views a')].map(a => a.getBoundingClientRect().top)")
                assert len(set(tops)) == 1, f"the {lang} navigation wraps at {size}: {tops}"
                # (Read in one script: the board is redrawn with every snapshot.)
                note = d.execute_script("const n = document.querySelector('p.note'); return n && n.innerText")
                assert note, "the agent board says how agents in several services count"
        d.set_window_size(1920, 1080)
        print("board: the navigation stays on one line in both languages at 1280x720 and 1920x1080")

        # Nothing on any view is cut or hidden, in either language, at
        # 1280x720, 1920x1080 and 3840x2160 (a table's last column cut to
        # "Abandor" was one such; a box's last rows under its edge another).
        overflow = open(os.path.join(os.path.dirname(__file__), "board_overflow.js")).read()
        for size in ((1280, 720), (1920, 1080), (3840, 2160)):
            d.set_window_size(*size)
            for view in ("services", "agents", "dashboard", "waiting-calls", "agent-list", "agent-stats", "reports"):
                for lang in ("ko", "en"):
                    d.get(f"{BASE}/?tenant=demo&view={view}&lang={lang}&rotate=3600")
                    wait(lambda: d.execute_script("return window.callboard.renders") >= 2, f"{view} drawn")
                    if view == "reports":
                        wait(lambda: d.execute_script("return window.callboard.reportRows || 0") > 0, "the report")
                    # A snapshot drawn a second later must fit too (boards
                    # are laid out once and updated in place).
                    time.sleep(1.2)
                    bad = d.execute_script(overflow)
                    assert not bad, f"{view}/{lang} at {size[0]}x{size[1]}: {bad[:5]}"
            print(f"board: nothing cut or hidden on any view in ko and en at {size[0]}x{size[1]}")
        d.set_window_size(1920, 1080)

        # A message to the floor runs as a ticker on every board of the
        # tenant within seconds, the board still fits beside it, and it
        # goes when deleted.
        text = "14:00 시스템 점검 예정: 통화는 계속됩니다"
        req = urllib.request.Request(f"{BASE}/api/v1/tenants/demo/messages", method="POST",
                                     data=json.dumps({"text": text, "expires_in_s": 600}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 201
            posted = json.load(r)
        for view, lang in (("services", "ko"), ("dashboard", "en")):
            d.get(f"{BASE}/?tenant=demo&view={view}&lang={lang}&rotate=3600")
            wait(lambda: d.execute_script("return (window.callboard.messages || []).length") == 1, "the ticker", 15)
            assert d.find_element("id", "ticker").is_displayed()
            assert d.execute_script("return document.getElementById('ticker-text').textContent") == text
            time.sleep(1.2)
            bad = d.execute_script(overflow)
            assert not bad, f"{view}/{lang} with a ticker: {bad[:5]}"
        d.save_screenshot(os.path.join("target", "board-screenshots", "ticker-en.png"))
        urllib.request.urlopen(urllib.request.Request(
            f"{BASE}/api/v1/tenants/demo/messages/{posted['id']}", method="DELETE"))
        wait(lambda: not d.find_element("id", "ticker").is_displayed(), "the ticker to go", 15)
        print("board: a message to the floor runs as a ticker on the boards, which still fit, and goes when deleted")

        # The waiting calls, longest first, as REST lists them at the same
        # sequence number, with the open callbacks that add up to the total.
        for lang in ("ko", "en"):
            d.get(f"{BASE}/?tenant=demo&view=waiting-calls&lang={lang}&rotate=3600")
            wait(lambda: d.execute_script("return window.callboard.renders") > 0, "the waiting calls")
            def check(seq, snap):
                rows = d.execute_script(
                    "return [...document.querySelectorAll('table.calls tbody tr:not(.more)')]"
                    ".map(r => [r.cells[0].firstChild.textContent, r.cells[2].innerText])")
                want = [[c["queue"], str(c["position"])] for c in snap["waiting_calls"]][:60]
                assert rows == want, f"waiting calls {rows} != REST {want}"
                waits = [c["wait_s"] for c in snap["waiting_calls"]]
                assert waits == sorted(waits, reverse=True), waits
                cb = d.execute_script(
                    "return [...document.querySelectorAll('table.open-cb tbody tr')].map(r => r.cells[1].innerText)")
                parts = [int(v.replace(",", "")) for v in cb[:-1]]
                assert sum(parts) == int(cb[-1].replace(",", "")) == snap["callbacks"]["open"], (cb, snap["callbacks"])
                print(f"board ({lang}): {len(rows)} waiting calls as REST, longest first; open callbacks {cb}")
            at_same_seq(d, check, "on the waiting calls")
            d.save_screenshot(os.path.join("target", "board-screenshots", f"waiting-calls-{lang}.png"))

        # The clock shows the tenant's time (Seoul), not the browser's.
        def clock_is_seoul():
            shown = d.find_element("id", "clock").text
            want = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%H:%M")
            return shown.startswith(want) and shown
        shown = wait(clock_is_seoul, "the clock in Seoul time", 5)
        print(f"board: clock shows the tenant's time {shown} (Asia/Seoul)")

        # An unknown tenant: a message that says so, and no clock in the
        # screen's own zone (the tenant's zone is not known).
        d.get(f"{BASE}/?tenant=no-such-tenant&view=services&lang=en")
        wait(lambda: d.execute_script("return window.callboard.unknown === true"), "the unknown-tenant message", 15)
        text = d.find_element("id", "board").text
        assert "No data for tenant 'no-such-tenant'" in text, text
        assert d.find_element("id", "clock").text == "--:--:--", d.find_element("id", "clock").text
        print(f"board: an unknown tenant is named as such: {text.splitlines()[0]}")

        # Reports (통계): the demo's week of history, day by day, as a table
        # and a chart; the table's total is the REST report's; the CSV link
        # gives the same report for Excel.
        today = datetime.now(ZoneInfo("Asia/Seoul")).date()
        frm, to = today - timedelta(days=7), today - timedelta(days=1)
        query = f"from={frm}&to={to}&by=tenant&step=day"
        def report_days():
            with urllib.request.urlopen(f"{BASE}/api/v1/tenants/demo/history?{query}") as r:
                rows = json.load(r)["rows"]
            return len(rows) == 7 and rows
        rows = wait(report_days, "a week of history in the store", 30)
        for lang, label in (("ko", "통계"), ("en", "Reports")):
            d.get(f"{BASE}/?tenant=demo&view=reports&lang={lang}&{query}")
            wait(lambda: d.execute_script("return window.callboard.reportRows || 0") == 7, f"the report ({lang})")
            assert d.find_element("id", "view-name").text == label
            total = d.execute_script(
                "return [...document.querySelectorAll('#rep-table tr.total td')].map(c => c.innerText)")
            want = f"{sum(r['inbound'] for r in rows):,}"
            assert total[1] == want, f"report total inbound {total[1]} != REST {want}"
            assert d.find_elements("css selector", "#rep-chart .uplot"), "the report's chart"
            d.save_screenshot(os.path.join("target", "board-screenshots", f"reports-{lang}.png"))
        href = d.find_element("id", "rep-csv").get_attribute("href")
        with urllib.request.urlopen(href) as r:
            csv = r.read().decode("utf-8")
            assert r.headers["content-type"].startswith("text/csv"), r.headers["content-type"]
        assert csv.startswith("\ufeffperiod,inbound,"), csv[:40]
        assert len(csv.strip().splitlines()) == 8, csv
        # Beside it, the CSV for people in the page's language: headings,
        # dates, h:mm:ss and percentages as a spreadsheet reads them.
        href = d.find_element("id", "rep-excel").get_attribute("href")
        assert "format=excel" in href and "lang=en" in href, href

        with urllib.request.urlopen(href) as r:
            table = list(csvlib.reader(r.read().decode("utf-8-sig").splitlines()))
        head = table[0]
        assert head[:4] == ["Period", "Inbound", "Answered", "Abandoned"], head
        first = dict(zip(head, table[1]))
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", first["Period"]), first
        assert re.fullmatch(r"\d+:\d\d:\d\d", first["AHT"]), first
        assert re.fullmatch(r"\d+\.\d%", first["Answer rate"]), first
        print(f"board: reports show the week's {len(rows)} days, total inbound {want} as REST; CSV for Excel")

        # The overview alternates between the two boards.
        d.get(f"{BASE}/?tenant=demo&view=overview&lang=ko&rotate=2")
        wait(lambda: d.execute_script("return window.callboard.renders") > 0, "the overview")
        first = d.find_element("id", "view-name").text
        second = wait(lambda: (t := d.find_element("id", "view-name").text) != first and t, "the overview to switch", 6)
        assert {first, second} == {"매체별 현황", "상담원별 현황"}, (first, second)
        print(f"board: overview alternates: {first} -> {second}")

        # The banner appears when the server goes, and goes when it is back.
        server.terminate()
        server.wait(10)
        wait(lambda: d.find_element("id", "banner").is_displayed(), "the lost-connection banner")
        assert "lost" in d.find_element("tag name", "body").get_attribute("class")
        print(f"board: banner shown: {d.find_element('id', 'banner').text}")
        server = serve()
        wait(lambda: not d.find_element("id", "banner").is_displayed(), "the banner to go", 40)
        print("board: reconnected, banner gone")

        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"
                  and "api/v1/ws" not in e["message"] and "no-such-tenant" not in e["message"]]
        assert not errors, errors
        print("board: no console errors (besides the refused reconnections while the server was down)")

        # A big tenant: 20 services, 500 agents.
        server.terminate()
        server.wait(10)
        server = serve("--simulate-tenants", "0")
        now = int(time.time() * 1000) - 1000
        lines = []
        for a in range(500):
            lines.append({"v": 1, "id": f"a{a}", "ts": now, "tenant": "big", "type": "agent.state",
                          "agent": f"agent-{a:03}", "state": ["ready", "talking", "away", "wrap_up"][a % 4],
                          "services": [f"service-{a % 20:02}"]})
        for c in range(2000):
            lines.append({"v": 1, "id": f"c{c}", "ts": now, "tenant": "big", "type": "call.queued",
                          "call": f"c{c}", "queue": f"q{c % 40:02}", "service": f"service-{c % 20:02}"})
        body = "\n".join(json.dumps(x) for x in lines).encode()
        urllib.request.urlopen(urllib.request.Request(f"{BASE}/api/v1/events", data=body, method="POST"))
        def big_ready():
            try:
                return rest("big")[1]["totals"]["inbound"] == 2000
            except OSError:  # 404 until the shard first publishes it
                return False
        wait(big_ready, "the big tenant")
        for view in ("services", "agents", "agent-list", "dashboard"):
            d.get(f"{BASE}/?tenant=big&view={view}&lang=ko&rotate=3600")
            wait(lambda: d.execute_script("return window.callboard.renders") >= 4, f"renders of {view}", 20)
            ms = d.execute_script("return window.callboard.lastRenderMs")
            # The last row or card ends inside the window (main clips, so
            # the page itself never scrolls).
            fits = d.execute_script("""
                const items = document.querySelectorAll('#board tr, #board .agent, #board .box');
                const last = items[items.length - 1];
                return !!last && last.getBoundingClientRect().bottom <= window.innerHeight;""")
            print(f"board: 20 services / 500 agents, {view}: render {ms:.1f} ms, fits 1920x1080: {fits}")
            assert fits, f"{view} of 20 services / 500 agents does not fit 1920x1080"
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        print("board: no console errors on any view")

        # The supervisor's desk: 200 agents' statistics fit 1920x1080, and
        # sort by a column when its heading is clicked.
        lines = []
        for a in range(200):
            agent = f"desk-{a:03}"
            lines.append({"v": 1, "id": f"d{a}-login", "ts": now - 3_600_000, "tenant": "desk",
                          "type": "agent.state", "agent": agent, "state": "ready",
                          "services": ["sales"], "name": f"Agent {a:03}"})
            lines.append({"v": 1, "id": f"d{a}-now", "ts": now - 600_000, "tenant": "desk",
                          "type": "agent.state", "agent": agent,
                          "state": ["ready", "talking", "away", "wrap_up"][a % 4],
                          **({"reason": "meal"} if a % 4 == 2 else {})})
            for m in range(a % 3):  # rings that nobody answers
                call = f"m{a}-{m}"
                lines.append({"v": 1, "id": f"{call}-q", "ts": now - 500_000, "tenant": "desk",
                              "type": "call.queued", "call": call, "queue": "sales"})
                lines.append({"v": 1, "id": f"{call}-r", "ts": now - 499_000, "tenant": "desk",
                              "type": "call.ringing", "call": call, "queue": "sales", "agent": agent})
                lines.append({"v": 1, "id": f"{call}-a", "ts": now - 490_000, "tenant": "desk",
                              "type": "call.abandoned", "call": call, "queue": "sales"})
        body = "\n".join(json.dumps(x) for x in lines).encode()
        urllib.request.urlopen(urllib.request.Request(f"{BASE}/api/v1/events", data=body, method="POST"))
        wait(lambda: len(rest("desk")[1]["agent_list"]) == 200 if _exists("desk") else False, "the desk tenant")
        for lang, label in (("en", "Agent statistics"), ("ko", "상담원 통계")):
            d.get(f"{BASE}/?tenant=desk&view=agent-stats&lang={lang}")
            wait(lambda: d.execute_script("return window.callboard.renders") >= 2, "agent statistics")
            assert d.find_element("id", "view-name").text == label
            rows = d.execute_script("return document.querySelectorAll('#board tbody tr').length")
            assert rows == 200, rows
            fits = d.execute_script("""
                const rows = document.querySelectorAll('#board tbody tr');
                return [...rows].every(r => r.getBoundingClientRect().bottom <= window.innerHeight
                                         && r.getBoundingClientRect().right <= window.innerWidth);""")
            assert fits, f"200 agents' statistics ({lang}) do not fit 1920x1080"
            # Login time is a duration in hours and minutes, never a clock
            # time: the desk's agents logged in an hour ago.
            logins = d.execute_script("return [...document.querySelectorAll('#board td.login')].map(c => c.innerText)")
            # (Login time counts from the tenant's midnight: within an hour
            # after it, under an hour.)
            tz = ZoneInfo(rest("desk")[1]["tz"])
            local = datetime.now(tz)
            since_midnight = (local - local.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
            if since_midnight > 3700:
                pattern = r"^1시간 \d+분$" if lang == "ko" else r"^1 h \d+ min$"
            else:
                pattern = r"^(1시간 )?\d+분$" if lang == "ko" else r"^(1 h )?\d+ min$"
            assert logins and all(re.match(pattern, v) for v in logins), logins[:5]
            d.save_screenshot(os.path.join("target", "board-screenshots", f"agent-stats-{lang}.png"))
        # A click as a user makes it, in one script (the heading is redrawn too).
        d.execute_script("document.querySelector('th[data-sort=missed]').click()")
        wait(lambda: "sort=missed" in d.current_url, "the sort to apply")
        # Read in one script: the table is redrawn with every snapshot.
        first = wait(lambda: d.execute_script(
            "const r = document.querySelector('#board tbody tr');"
            "return r && [...r.children].map(c => c.innerText)"), "the sorted table")
        assert first[3] == "2", f"sorted by missed, the first row shows {first[3]}"
        print(f"board: 200 agents' statistics fit 1920x1080 in both languages; sorted by missed: {first[0]} first")
        d.get(f"{BASE}/?tenant=desk&view=agent-list&lang=en")
        wait(lambda: d.find_elements("css selector", ".agent"), "the agent list")
        meta = d.execute_script("return document.querySelector('.agent .meta').innerText")
        assert "Missed" in meta and "AHT" in meta, meta
        print(f"board: agent cards show missed and AHT: {meta!r}")

        # Alarms: agents past their state's limit (break 15 min, wrap-up 2
        # min: the built-in limits) are marked on both agent views, also when
        # they cross it between snapshots; a tile that is red flashes, says
        # since when, its target and (with no history) nothing of yesterday;
        # &sound=1 beeps once for it.
        now = int(time.time() * 1000) - 1000
        lines = []
        for agent, state, ago_s in (("long-break", "away", 1200), ("short-break", "away", 60),
                                    ("long-wrap", "wrap_up", 300), ("on-call", "talking", 60),
                                    ("wrap-soon", "wrap_up", 115)):
            lines.append({"v": 1, "id": f"{agent}-in", "ts": now - ago_s * 1000, "tenant": "alarm",
                          "type": "agent.state", "agent": agent, "state": state, "services": ["sales"],
                          **({"reason": "break"} if state == "away" else {})})
        for c in range(20):  # all abandoned: answer rate 0 %
            lines.append({"v": 1, "id": f"q{c}", "ts": now - 600_000, "tenant": "alarm", "type": "call.queued",
                          "call": f"x{c}", "queue": "sales"})
            lines.append({"v": 1, "id": f"a{c}", "ts": now - 590_000, "tenant": "alarm", "type": "call.abandoned",
                          "call": f"x{c}", "queue": "sales"})
        body = "\n".join(json.dumps(x) for x in lines).encode()
        urllib.request.urlopen(urllib.request.Request(f"{BASE}/api/v1/events", data=body, method="POST"))
        wait(lambda: _exists("alarm") and rest("alarm")[1]["totals"]["abandoned"] == 20, "the alarm tenant")
        assert rest("alarm")[1]["state_limits_s"] == {"away": 900, "talking": 600, "wrap_up": 120}
        d.get(f"{BASE}/?tenant=alarm&view=agent-list&lang=en")
        wait(lambda: d.find_elements("css selector", ".agent"), "the alarm tenant's agents")
        over = lambda sel: sorted(d.execute_script(
            f"return [...document.querySelectorAll('{sel}')].map(e => e.querySelector('.name, td').innerText)"))
        assert over(".agent.over") == ["long-break", "long-wrap"], over(".agent.over")
        # wrap-soon passes its 2 minutes while the board is shown.
        wait(lambda: over(".agent.over") == ["long-break", "long-wrap", "wrap-soon"], "wrap-soon to pass its limit", 15)
        d.get(f"{BASE}/?tenant=alarm&view=agent-stats&lang=ko")
        wait(lambda: d.find_elements("css selector", "#board tbody tr"), "the alarm tenant's statistics")
        assert over("#board tr.over") == ["long-break", "long-wrap", "wrap-soon"], over("#board tr.over")
        d.execute_script("localStorage.clear()")
        d.get(f"{BASE}/?tenant=alarm&view=dashboard&lang=en&sound=1")
        wait(lambda: d.execute_script("return (window.callboard.tiles || {}).answer_rate"), "the tiles")
        tile = d.execute_script("const v = document.getElementById('tile-answer_rate');"
                                "return {cls: v.className, ref: document.getElementById('ref-answer_rate').innerText,"
                                "        since: document.getElementById('since-answer_rate').innerText}")
        assert "alert" in tile["cls"] and "flash" in tile["cls"], tile
        assert tile["since"].startswith("since ") and "target 90%" in tile["ref"], tile
        assert "yesterday" not in tile["ref"], tile  # no history of this tenant
        assert wait(lambda: d.execute_script("return window.callboard.beeps"), "a beep") == 1
        time.sleep(5)  # a flash is brief, and the beep is not repeated
        assert "flash" not in d.execute_script("return document.getElementById('tile-answer_rate').className")
        assert d.execute_script("return window.callboard.beeps") == 1
        # A reload keeps since when (the browser remembers it), from its
        # first draw on: moved ten minutes back in the browser's memory, the
        # tile says so as soon as it is drawn, not "since now".
        first = tile["since"]
        d.execute_script("const k = 'callboard.alarms.alarm', m = JSON.parse(localStorage.getItem(k));"
                         "for (const a of Object.values(m)) a[1] -= 600000;"
                         "localStorage.setItem(k, JSON.stringify(m));")
        hh, mm = map(int, first.removeprefix("since ").split(":"))
        moved = (hh * 60 + mm - 10) % (24 * 60)
        expected = f"since {moved // 60:02d}:{moved % 60:02d}"
        d.get(f"{BASE}/?tenant=alarm&view=dashboard&lang=en")
        again = wait(lambda: d.execute_script("return (window.callboard.tiles || {}).answer_rate"), "the tiles again")
        assert again.startswith(expected), (first, expected, again)
        print(f"board: agents past their limits marked on both views; red tile flashes once, says {first!r}, beeps once")

        # With tokens configured the board asks for one, keeps it, and shows
        # that tenant; a wrong one is asked for again.
        server.terminate()
        server.wait(10)
        token = "kiosk-token-for-the-test"
        lead = "team-lead-token-for-the-test"
        admin = "admin-token-for-the-test"
        cfg = os.path.join(tempfile.mkdtemp(), "callboard.toml")
        sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
        with open(cfg, "w") as f:
            f.write(f'[[tokens]]\nname = "test"\nsha256 = "{sha(token)}"\n'
                    'role = "tenant"\ntenant = "demo"\n'
                    f'[[tokens]]\nname = "lead"\nsha256 = "{sha(lead)}"\n'
                    'role = "tenant"\ntenant = "demo"\nservices = ["sales", "support"]\n'
                    f'[[tokens]]\nname = "ops"\nsha256 = "{sha(admin)}"\nrole = "admin"\n')
        server = serve("--config", cfg)
        d.get(f"{BASE}/?tenant=demo&view=services&lang=en")
        d.execute_script("localStorage.clear()")
        d.get(f"{BASE}/?tenant=demo&view=services&lang=en")
        wait(lambda: d.find_element("id", "login").get_attribute("open") is not None, "the token dialog")
        d.find_element("id", "login-token").send_keys(token)
        d.find_element("id", "login-ok").click()
        wait(lambda: d.find_elements("css selector", "tr.total"), "the board after login")
        assert d.execute_script("return localStorage.getItem('callboard.token')") == token
        d.get(f"{BASE}/?tenant=demo&view=services&lang=en")
        wait(lambda: d.find_elements("css selector", "tr.total"), "the board with the kept token")
        print("board: token asked for, kept in the browser, board shown")

        # A team lead's token: only its services, with their own totals,
        # equal to REST at the same sequence number; reports of them only.
        def scoped_rest():
            req = urllib.request.Request(f"{BASE}/api/v1/tenants/demo/snapshot",
                                         headers={"Authorization": f"Bearer {lead}"})
            with urllib.request.urlopen(req) as r:
                return int(r.headers["x-callboard-seq"]), json.load(r)
        for lang in ["en", "ko"]:
            d.get(f"{BASE}/?tenant=demo&view=services&lang={lang}&token={lead}")
            wait(lambda: d.find_elements("css selector", "tr.total"), "the lead's board")
            for _ in range(50):
                seq, snap = scoped_rest()
                if d.execute_script("return window.callboard.seq") == seq:
                    break
                time.sleep(0.05)
            else:
                sys.exit("board: the lead's board never showed REST's sequence number")
            rows = d.execute_script(
                "return [...document.querySelectorAll('#board tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
            assert [r[0] for r in rows[:-1]] == ["sales", "support"], rows
            assert rows[-1][2] == f"{snap['totals']['inbound']:,}", (rows[-1], snap["totals"]["inbound"])
            assert snap["scope"] == ["sales", "support"] and "billing" not in json.dumps(snap)
            title = d.find_element("id", "scope").text
            assert title == "sales, support", title
        for view in ["dashboard", "agent-list", "waiting-calls"]:
            d.get(f"{BASE}/?tenant=demo&view={view}&lang=en&token={lead}")
            wait(lambda: d.execute_script("return window.callboard.seq"), f"the lead's {view}")
            time.sleep(0.5)
            text = d.find_element("id", "board").text
            assert "billing" not in text, (view, text[:400])
            cut = d.execute_script(overflow)
            assert not cut, (view, cut[:5])
        d.get(f"{BASE}/?tenant=demo&view=reports&by=service&lang=en&token={lead}")
        wait(lambda: d.execute_script("return window.callboard.reportRows || 0") > 0, "the lead's report")
        text = d.find_element("id", "board").text
        assert "sales" in text and "billing" not in text, text[:400]
        print("board: a team lead's token shows its two services only, totals equal REST, nothing cut")

        # Views that list no agents get snapshots without the agent list
        # (most of a large tenant's bytes); the agent views get it.
        for view, listed in [("services", False), ("dashboard", False), ("waiting-calls", False), ("agent-list", True)]:
            d.get(f"{BASE}/?tenant=demo&view={view}&lang=en&token={token}")
            wait(lambda: d.execute_script("return window.callboard.seq"), f"{view} with its snapshots")
            n = d.execute_script("return window.callboard.agentsListed")
            assert (n > 0) == listed, (view, n)
        print("board: services, dashboard and waiting calls take snapshots without the agent list; the agent list with it")

        # The browser takes compression, and the agent views are sent at
        # most one snapshot a second while the others get each one.
        counts = {}
        for view in ["services", "agent-list"]:
            d.get(f"{BASE}/?tenant=demo&view={view}&lang=en&token={token}")
            wait(lambda: d.execute_script("return window.callboard.seq"), f"{view} with its snapshots")
            ext = d.execute_script("return window.callboard.wsExtensions")
            assert ext.startswith("permessage-deflate"), (view, ext)
            before = d.execute_script("return window.callboard.received")
            time.sleep(5)
            counts[view] = d.execute_script("return window.callboard.received") - before
            assert d.execute_script("return window.callboard.seq"), view
        # The services view gets every changed snapshot, about one a second
        # of the demo's traffic (5 in 5 s on a busy machine); the agent list
        # never more, and at most one each 0.9 s.
        assert counts["agent-list"] <= 6 and counts["services"] >= counts["agent-list"], counts
        print(f"board: compressed websocket ({ext}); in 5 s, {counts['services']} snapshots to services, {counts['agent-list']} to the agent list")
        d.set_window_size(3840, 2160)
        d.get(f"{BASE}/?tenant=demo&view=services&lang=ko")
        wait(lambda: d.find_elements("css selector", "tr.total"), "the 4K board")
        time.sleep(0.5)
        d.save_screenshot(os.path.join("target", "board-screenshots", "services-ko-4k.png"))
        print("board: 4K screenshot written")
    finally:
        d.quit()
        server.terminate()
    print("board: browser test passed")


main()
