"""Great Expectations Data Docs that read offline.

GX renders its Data Docs with Bootstrap, jQuery, Font Awesome and Vega fetched from CDNs: on a
machine without internet (where registers with personal data are checked) the pages come out
unstyled and the index page's table, filled in by JavaScript, is empty. Rather than vendor
those libraries (hundreds of kilobytes, for a few tables), the rendered pages are
post-processed: every remote stylesheet, script and image is removed, a small stylesheet for
the classes the pages use is inlined, and the index gets a plain list of the validation and
expectation pages with their verdicts. Nothing on the pages then asks the network for anything.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

MARK = "<!-- reglink: offline -->"
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>\s*", re.I)
_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>\s*", re.I)
_REMOTE_IMG = re.compile(r"<img\b[^>]*\bsrc=[\"']https?://[^>]*>", re.I)
_REMOTE_IMG_MULTI = re.compile(r"<img\s[^>]*?src=\s*[\"']https?://.*?>", re.I | re.S)
_REMOTE_FORM = re.compile(r"<form\b[^>]*\baction=[\"']https?://.*?</form>", re.I | re.S)

STYLE = """<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1a1a1a;
margin:0;line-height:1.4;font-size:15px}
a{color:#005a8c}.container-fluid{padding:0 1rem}.row{display:flex;flex-wrap:wrap}
.col-md-2,.col-lg-2{flex:0 0 16rem;max-width:16rem}.col-md-10,.col-lg-10{flex:1;min-width:0}
.col-12,.col-xs-12,.col-sm-12{width:100%}
nav.navbar{background:#0b3954;color:#fff;padding:.5rem 1rem}nav.navbar a{color:#fff}
table{border-collapse:collapse;margin:.3rem 0}th,td{border:1px solid #c8c8c8;padding:.2rem .5rem;
vertical-align:top;text-align:left}.table-responsive{overflow-x:auto}
.card{border:1px solid #c8c8c8;border-radius:4px;margin:.6rem 0}.card-header{background:#e4e9ee;
padding:.3rem .6rem}.card-body{padding:.4rem .6rem}
.text-success{color:#0b5d1e}.text-danger{color:#a30000;font-weight:600}.text-muted{color:#555}
.badge{display:inline-block;padding:0 .35rem;border-radius:3px;background:#e4e9ee;font-size:.85em}
.alert{padding:.3rem .6rem;background:#f3f5f7;border-left:4px solid #c8c8c8;margin:.3rem 0}
.fas,.fa,.far{font-style:normal}.fa-check-circle::before{content:"\u2714 passed";color:#0b5d1e}
.fa-times::before{content:"\u2718 FAILED";color:#a30000;font-weight:700}
.fas:not(.fa-check-circle):not(.fa-times),.far,.fa{display:none}.cooltip .top{display:none}
.nav{list-style:none;padding-left:0}.nav-link{display:block;padding:.1rem 0}
.sticky,.sticky-top{position:static}ul.ge-navigation-sidebar-content{padding-left:1rem}
.reglink-offline{background:#f3f5f7;padding:.5rem 1rem;margin:.5rem 1rem;border-radius:4px}
.reglink-failed{color:#a30000;font-weight:600}.reglink-succeeded{color:#0b5d1e;font-weight:600}
</style>"""


def _validation_list(site: Path) -> str:
    """The index page's table as plain HTML: every validation page with its verdict (from
    the stored validation result beside it), every expectation suite page."""
    store = site.parent.parent / "validations"  # uncommitted/validations
    items = []
    for page in sorted(site.glob("validations/**/*.html")):
        rel = page.relative_to(site / "validations").with_suffix(".json")
        verdict = ""
        result = store / rel
        if result.is_file():
            ok = json.loads(result.read_text(encoding="utf-8")).get("success")
            verdict = (" — <span class='reglink-succeeded'>Succeeded</span>" if ok
                       else " — <span class='reglink-failed'>Failed</span>")
        items.append(f"<li><a href='{html.escape(page.relative_to(site).as_posix())}'>"
                     f"validation {html.escape(rel.with_suffix('').as_posix())}</a>{verdict}</li>")
    for page in sorted(site.glob("expectations/**/*.html")):
        items.append(f"<li><a href='{html.escape(page.relative_to(site).as_posix())}'>"
                     f"expectation suite {html.escape(page.stem)}</a></li>")
    return ("<div class='reglink-offline'><strong>Validation results</strong> (this list needs "
            "no JavaScript or network)<ul>" + "".join(items) + "</ul></div>")


def make_offline(site: Path) -> list[Path]:
    """Post-process every page of a Data Docs site (the folder of its index.html) in place;
    idempotent. Returns the pages changed."""
    changed = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        if MARK in text:
            continue
        for rx in (_REMOTE_LINK, _REMOTE_SCRIPT, _REMOTE_IMG, _REMOTE_IMG_MULTI, _REMOTE_FORM):
            text = rx.sub("", text)
        text = re.sub(r"<head>", "<head>" + MARK + STYLE, text, count=1, flags=re.I)
        if page == site / "index.html":
            text = re.sub(r"(<body[^>]*>)", r"\1" + _validation_list(site).replace("\\", "\\\\"),
                          text, count=1, flags=re.I)
        page.write_text(text, encoding="utf-8")
        changed.append(page)
    return changed


def remote_references(site: Path) -> list[str]:
    """Every http(s) URL a page would fetch (stylesheets, scripts, images): none after
    `make_offline`; plain links to web pages are not fetches and are not listed."""
    fetch = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=[\"'](https?://[^\"']+)", re.I | re.S)
    found = []
    for page in sorted(site.rglob("*.html")):
        found += fetch.findall(page.read_text(encoding="utf-8"))
    return found
