#!/usr/bin/env python3
"""Checks `flopmeter report --html` in a real headless browser (Chromium).

    python3 check_html_report.py --flopmeter PATH/TO/flopmeter --artifacts DIR
                                 [--chromium PATH] [--skip-exit-code N]

Synthesizes a 4-rank job (which declares a model and a plan) with the built command, writes
`report --html DIR/report.html`, and checks:
  1. the file is self-contained: no <script src>, no <link> to a style sheet or any other
     file, no @import and no url() to anything but a fragment or a data: URL in style sheets
     or style attributes, no http(s):// or protocol-relative reference in any attribute
     (the sources cited in the text may name web addresses: text loads nothing);
  2. loaded in headless Chromium (--dump-dom, console sent to stderr with
     --enable-logging=stderr --v=0): no console message at all (the page has no script, so
     any message, error or not, is something the browser complained about; this Chromium
     logs every console level as INFO, so levels cannot be told apart) and no JavaScript
     error line; every chart (svg.chart: chart-timeline, chart-phases, chart-classes,
     chart-kernels, chart-callsites, chart-ranks, chart-estimates) is in the loaded DOM and
     holds its marks: bars, points or a series with points, as many as the report's JSON
     says it has rows for;
  3. a screenshot (--screenshot, 1200 px wide) is written to DIR/report.png: a PNG of that
     width with more than one colour;
  4. printing to PDF (--print-to-pdf) writes DIR/report.pdf: a PDF of at least one A4 page.
The artifacts (job, report, DOM, browser log, screenshot, PDF) stay in DIR; their paths are
printed.

Without Chromium it prints "SKIPPED: chromium not installed" and exits with
--skip-exit-code (default 0; ctest passes the code it is told to report as skipped).
Exits 1 when a check fails.
"""

import argparse
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

CHARTS = ["chart-timeline", "chart-phases", "chart-classes", "chart-kernels",
          "chart-callsites", "chart-ranks", "chart-estimates"]
WIDTH = 1200
HEIGHT = 3000
A4 = (595.0, 842.0)  # points

ERRORS = []


def fail(msg):
    ERRORS.append(msg)
    print("FAIL: " + msg)


def ok(msg):
    print("ok: " + msg)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("command failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr))
    return r.stdout


def find_chromium(given):
    if given:
        return given if shutil.which(given) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


# ---- 1. self-contained -------------------------------------------------------------------

EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)
URL_FN = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.I | re.S)
REF_ATTRS = {"src", "href", "xlink:href", "srcset", "poster", "data", "action", "formaction",
             "background", "cite", "longdesc", "manifest", "ping"}


def bad_urls(css):
    """url(...) in CSS that point outside the file (not a fragment, not data:)."""
    return [u for _, u in URL_FN.findall(css)
            if not (u.startswith("#") or u.lower().startswith("data:"))]


class StaticScan(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.in_style = False
        self.text_urls = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and "src" in a:
            self.problems.append("<script src=%r>" % a["src"])
        if tag == "link":
            self.problems.append("<link rel=%r href=%r>" % (a.get("rel"), a.get("href")))
        if tag == "style":
            self.in_style = True
        for name, value in attrs:
            if value is None:
                continue
            if name in REF_ATTRS and value.strip() and not value.strip().startswith("#") \
                    and not value.strip().lower().startswith("data:"):
                self.problems.append("<%s %s=%r>: a reference to another file" %
                                     (tag, name, value))
            elif EXTERNAL.search(value):
                self.problems.append("<%s %s=%r>: an outside address" % (tag, name, value))
            if name == "style":
                for u in bad_urls(value):
                    self.problems.append("<%s style>: url(%s)" % (tag, u))
                if "@import" in value.lower():
                    self.problems.append("<%s style>: @import" % tag)

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            if "@import" in data.lower():
                self.problems.append("<style>: @import")
            for u in bad_urls(data):
                self.problems.append("<style>: url(%s)" % u)
        else:
            self.text_urls += len(re.findall(r"https?://", data))


def check_self_contained(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    scan = StaticScan()
    scan.feed(text)
    scan.close()
    for p in scan.problems:
        fail("%s is not self-contained: %s" % (os.path.basename(path), p))
    if not scan.problems:
        ok("the HTML is self-contained: no <script src>, <link>, @import or url() loads "
           "anything (%d web addresses appear as cited text only)" % scan.text_urls)


# ---- 2. the loaded DOM -------------------------------------------------------------------

class ChartScan(html.parser.HTMLParser):
    """Collects every svg.chart of a document with the marks inside it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.charts = {}  # id -> {"viewbox", "bar", "point", "series_points", "empty"}
        self.current = None
        self.depth = 0
        self.in_text = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "svg":
            if self.current is not None:
                self.depth += 1
            elif "chart" in classes:
                cid = a.get("id") or "(no id %d)" % len(self.charts)
                if cid in self.charts:
                    fail("two charts with id %s" % cid)
                self.current = self.charts[cid] = {
                    "viewbox": a.get("viewbox", ""), "bar": 0, "bar_width": 0.0, "point": 0,
                    "series_points": 0, "texts": []}
                self.depth = 0
            return
        if self.current is None:
            return
        c = self.current
        if tag == "rect" and "bar" in classes:
            c["bar"] += 1
            try:
                c["bar_width"] += float(a.get("width", "0"))
            except ValueError:
                fail("a bar with width %r" % a.get("width"))
        elif tag == "circle" and "point" in classes:
            c["point"] += 1
        elif tag == "polyline" and "series" in classes:
            c["series_points"] += len((a.get("points") or "").split())
        elif tag == "text":
            self.in_text = True
            c["texts"].append("")

    def handle_endtag(self, tag):
        if tag == "svg" and self.current is not None:
            if self.depth:
                self.depth -= 1
            else:
                self.current = None
        elif tag == "text":
            self.in_text = False

    def handle_data(self, data):
        if self.current is not None and self.in_text:
            self.current["texts"][-1] += data


def expected_marks(report, top):
    """How many marks each chart must hold, from `report --json`."""
    phases = sum(1 for p in report["by_phase"] if p["launches"] > 0)
    classes = sum(1 for c in report["by_class"] if c["measured"] + c["extrapolated"] > 0)
    estimates = sum(1 for e in report["estimates"] if e["available"] and e["ratio"] is not None)
    return {
        "chart-phases": ("bar", phases),
        "chart-classes": ("bar", classes),
        "chart-kernels": ("bar", min(top, len(report["signatures"]))),
        "chart-callsites": ("bar", min(top, len(report["callsites"]))),
        "chart-ranks": ("bar", len(report["traces"])),
        "chart-estimates": ("point", estimates),
        "chart-timeline": ("series_points", len([b for b in report["timeline"]["buckets"]])),
    }


def check_dom(dom, report, top):
    scan = ChartScan()
    scan.feed(dom)
    scan.close()
    want = expected_marks(report, top)
    for cid in CHARTS:
        c = scan.charts.get(cid)
        if c is None:
            fail("chart %s is not in the loaded page" % cid)
            continue
        vb = c["viewbox"].split()
        if len(vb) != 4 or not all(float(v) > 0 for v in vb[2:]):
            fail("chart %s: viewBox %r" % (cid, c["viewbox"]))
        if any("nothing to show" in t or t.startswith("no estimate") for t in c["texts"]):
            fail("chart %s says it has nothing to show" % cid)
        kind, n = want[cid]
        got = c[kind]
        if kind == "series_points":
            # one point per timeline bucket with compute so far: at least 2, at most all
            good = 2 <= got <= n
        else:
            good = got == n and n > 0
        if not good:
            fail("chart %s: %d %s, expected %s %d" % (cid, got, kind,
                                                      "at most" if kind == "series_points"
                                                      else "", n))
        elif kind == "bar" and not c["bar_width"] > 0:
            fail("chart %s: its bars have no width" % cid)
        else:
            ok("chart %s: %d %s" % (cid, got, kind.replace("_", " ")))
    extra = sorted(set(scan.charts) - set(CHARTS))
    if extra:
        print("note: charts not checked here: %s" % ", ".join(extra))


# ---- 3. and 4. screenshot and PDF --------------------------------------------------------

def png_info(path):
    """(width, height, distinct byte values in the pixel rows) of a non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width, height = 8, [], 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(idat))
    return width, height, len(set(raw[:4 << 20]))


def check_png(path):
    try:
        w, h, values = png_info(path)
    except (OSError, ValueError, zlib.error, struct.error) as e:
        fail("screenshot %s: %s" % (path, e))
        return
    if w != WIDTH or h < 100:
        fail("screenshot %s is %dx%d, expected %d wide" % (path, w, h, WIDTH))
    elif values < 8:
        fail("screenshot %s looks blank (%d distinct byte values)" % (path, values))
    else:
        ok("screenshot %dx%d" % (w, h))


def check_pdf(path):
    with open(path, "rb") as f:
        pdf = f.read()
    if not pdf.startswith(b"%PDF-") or b"%%EOF" not in pdf[-1024:]:
        fail("%s is not a complete PDF (%d bytes)" % (path, len(pdf)))
        return
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf, re.S)]
    counts += [int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", pdf, re.S)]
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    pages = max(counts) if counts else len(boxes)
    if pages < 1:
        fail("%s has no pages" % path)
    elif boxes and not all(abs(float(w) - A4[0]) < 2 and abs(float(h) - A4[1]) < 2
                           for w, h in boxes):
        fail("%s: pages are not A4: %s" % (path, sorted(set(boxes))))
    else:
        ok("printed to PDF: %d A4 page(s), %d bytes" % (pages, len(pdf)))


# ---- the browser -------------------------------------------------------------------------

CONSOLE = re.compile(r"^\[[^\]]*:(\w+):CONSOLE[(:](\d+)\)?\] (.*)$")


def chromium(browser, profile, *args, timeout=180):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
           "--user-data-dir=" + profile] + list(args)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flopmeter", required=True, help="the built flopmeter command")
    ap.add_argument("--artifacts", help="folder for the artifacts (default: a new temporary "
                    "folder, kept)")
    ap.add_argument("--chromium", help="the browser (default: chromium on PATH)")
    ap.add_argument("--skip-exit-code", type=int, default=0,
                    help="exit status when Chromium is missing (default 0)")
    args = ap.parse_args()

    browser = find_chromium(args.chromium)
    if not browser:
        print("SKIPPED: chromium not installed (Debian package chromium; or pass --chromium)")
        return args.skip_exit_code

    fm = os.path.abspath(args.flopmeter)
    art = os.path.abspath(args.artifacts) if args.artifacts else tempfile.mkdtemp(
        prefix="flopmeter-html-")
    os.makedirs(art, exist_ok=True)
    job = os.path.join(art, "job")
    if os.path.isdir(job):
        shutil.rmtree(job)
    page = os.path.join(art, "report.html")
    top = 15
    run([fm, "synth", "--quiet", "--all-ranks", "--world-size", "4", "--steps", "130",
         "--signatures", "60", "--launches-per-step", "150", "--out", job])
    run([fm, "report", "--top", str(top), "--html", page, job])
    report = json.loads(run([fm, "report", "--json", job]))
    print("report: " + page)

    check_self_contained(page)

    url = "file://" + page
    with tempfile.TemporaryDirectory(prefix="flopmeter-chromium-") as profile:
        # (a) load, console, DOM
        r = chromium(browser, profile, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
        log = r.stderr.decode("utf-8", "replace")
        dom = r.stdout.decode("utf-8", "replace")
        with open(os.path.join(art, "chromium-dump-dom.log"), "w") as f:
            f.write(log)
        with open(os.path.join(art, "report-dom.html"), "w") as f:
            f.write(dom)
        if r.returncode != 0:
            fail("chromium --dump-dom exited with %d" % r.returncode)
        console = [line for line in log.splitlines() if CONSOLE.match(line)]
        js = [line for line in log.splitlines()
              if "Uncaught" in line and line not in console]
        for line in console + js:
            fail("browser console: " + line)
        if not console and not js:
            ok("loaded with no console message and no JavaScript error")
        if "<svg" not in dom:
            fail("the dumped DOM holds no svg (%d bytes)" % len(dom))
        else:
            check_dom(dom, report, top)

        # (b) screenshot
        png = os.path.join(art, "report.png")
        if os.path.exists(png):
            os.remove(png)
        r = chromium(browser, profile, "--window-size=%d,%d" % (WIDTH, HEIGHT),
                     "--screenshot=" + png, url)
        if r.returncode != 0 or not os.path.isfile(png):
            fail("chromium --screenshot failed (%d): %s" %
                 (r.returncode, r.stderr.decode("utf-8", "replace")[-1000:]))
        else:
            check_png(png)
            print("screenshot: " + png)

        # (c) print to PDF
        pdf = os.path.join(art, "report.pdf")
        if os.path.exists(pdf):
            os.remove(pdf)
        r = chromium(browser, profile, "--no-pdf-header-footer", "--print-to-pdf=" + pdf, url)
        if r.returncode != 0 or not os.path.isfile(pdf):
            fail("chromium --print-to-pdf failed (%d): %s" %
                 (r.returncode, r.stderr.decode("utf-8", "replace")[-1000:]))
        else:
            check_pdf(pdf)
            print("pdf: " + pdf)

    if ERRORS:
        print("%d check(s) failed; artifacts in %s" % (len(ERRORS), art))
        return 1
    print("PASSED: the HTML report loads cleanly in %s, with every chart; artifacts in %s" %
          (os.path.basename(browser), art))
    return 0


if __name__ == "__main__":
    sys.exit(main())
