"""The HTML report from a real study folder: sections, escaping, determinism, snapshots, PDF."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_support import INJECT

from validation import audit
from validation.errors import ReportError
from validation.report.context import SECTIONS
from validation.report.render import REPORT_HTML, pdf_document, render_html, render_report
from validation.results import dumps_results
from validation.study import StudyOutcome

SECTION_IDS = [s[0] for s in SECTIONS]
TEMPLATES = Path(__file__).resolve().parents[2] / "validation" / "report" / "templates"


def section(page: str, sid: str) -> str:
    """The HTML of one ``<section id="sec-...">``."""
    match = re.search(rf'<section id="sec-{re.escape(sid)}"[^>]*>(.*?)</section>', page, re.S)
    assert match is not None, f"section {sid} missing"
    return match.group(1)


def edit_results(study: Path, change) -> None:
    """Apply ``change`` to results.json in place (re-serialised as the runner does)."""
    path = study / "results.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(dumps_results(doc), encoding="utf-8")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001 - HTMLParser signature
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_runner_renders_the_report_and_logs_it(study_outcome: StudyOutcome) -> None:
    assert study_outcome.report_path is not None, study_outcome.warnings
    assert study_outcome.report_path == study_outcome.study_dir / REPORT_HTML
    assert not [w for w in study_outcome.warnings if "report" in w]
    actions = [e["action"] for e in audit.read_entries(study_outcome.study_dir)]
    assert actions == ["lock", "run", "render"]
    assert audit.verify(study_outcome.study_dir).ok


def test_every_section_present_and_mapped(study_dir: Path) -> None:
    page = render_html(study_dir)
    for sid, title, r_items, _fda, stard, claim in SECTIONS:
        body = section(page, sid)
        assert f"Serves {', '.join(r_items)}" in body
        assert f"STARD 2015: {stard}" in body and f"CLAIM 2024: {claim}" in body
        assert f'href="#sec-{sid}"' in page and html.escape(title) in page
    # every analysis of the fixture is present; segmentation and the (opt-in) failure-case
    # gallery are honestly absent
    for sid in SECTION_IDS:
        absent = "Not applicable:" in section(page, sid)
        assert absent == (sid in ("segmentation", "gallery")), sid
    # STARD flow diagram from the data summary, with the 2x2 counts
    doc = json.loads((study_dir / "results.json").read_text())
    flow = doc["data_summary"]["flow"]
    test_data = section(page, "test-data")
    assert "<title>STARD 2015 flow diagram</title>" in test_data
    for key in ("tp", "fn", "fp", "tn"):
        assert f"{key.upper()} = {flow[key]}" in test_data
    # document control + running header
    assert 'class="runhead">full-study &middot; protocol v2.1' in page
    assert doc["protocol"]["sha256"] in page and doc["audit"]["head_hash"] in page


def test_numbers_are_formatted_consistently(study_dir: Path) -> None:
    page = render_html(study_dir)
    doc = json.loads((study_dir / "results.json").read_text())
    auc = next(e for e in doc["endpoints"] if e["id"] == "auc_primary")
    text = f"{auc['estimate']:.3f} (95% CI {auc['ci_low']:.3f}\u2013{auc['ci_high']:.3f})"
    assert text in section(page, "summary")
    assert text in section(page, "roc")
    assert "nan" not in page.lower().replace("nanc", "")  # no NaN leaks ("finance" etc. excluded)
    # decisions are badges with words, not colour alone
    assert '<span class="badge badge-fail">FAIL</span>' in section(page, "summary")
    assert '<span class="badge badge-pass">PASS</span>' in section(page, "summary")
    # exploratory endpoints are marked as such
    endpoints = section(page, "endpoints")
    row = re.search(r"<tr class=\"([^\"]*)\"><td><code>ppv_<wbr>exploratory</code>", endpoints)
    assert row is not None and "exploratory" in row.group(1)


def test_injection_is_rendered_as_text(study_dir: Path) -> None:
    page = render_html(study_dir)
    assert INJECT not in page
    escaped = html.escape(INJECT, quote=False)
    # as a site/manufacturer (tables and SVG forest labels), a reader (table and SVG) ...
    assert page.count(escaped) >= 10
    assert re.search(
        r"<text[^>]*>&lt;script&gt;alert\(1\)&lt;/script&gt;</text>", section(page, "subgroups")
    ), "SVG forest label not escaped"
    assert re.search(r"<text[^>]*>&lt;script&gt;alert\(1\)&lt;/script&gt;</text>", page), (
        "SVG reader label"
    )
    # ... and the protocol title with markup in it
    assert "Full report fixture &amp; &lt;b&gt;bold&lt;/b&gt; check" in page
    parser = _Collect()
    parser.feed(page)
    # the one script element is the report's own (hash-allowed), never an injected one
    assert parser.tags.count("script") == 1 and "b" not in parser.tags
    assert not any(name.startswith("on") for name, _ in parser.attrs)


def test_injection_in_case_ids_failures_and_deviations(study_dir: Path) -> None:
    def change(doc: dict) -> None:
        doc["failures"] = [
            {"case_id": INJECT, "reason": "decode error <img src=x onerror=alert(1)>"}
        ]
        doc["protocol"]["deviations"] = [
            {
                "id": "D1",
                "description": INJECT,
                "declared_at": "2026-11-30",
                "declared_by": "<i>me</i>",
            }
        ]

    edit_results(study_dir, change)
    page = render_html(study_dir)
    limitations = section(page, "limitations")
    assert limitations.count(html.escape(INJECT, quote=False)) == 2
    assert "&lt;img src=x onerror=alert(1)&gt;" in limitations and "<img" not in page
    assert "&lt;i&gt;me&lt;/i&gt;" in limitations


def test_rendering_twice_gives_identical_html(study_dir: Path) -> None:
    first = render_report(study_dir).read_bytes()
    audit.record_render(study_dir, study_dir / REPORT_HTML)  # what `radval report` does in between
    second = render_report(study_dir).read_bytes()
    assert first == second


def test_changed_results_change_the_right_cells(study_dir: Path) -> None:
    before = render_html(study_dir)

    def change(doc: dict) -> None:
        ep = next(e for e in doc["endpoints"] if e["id"] == "specificity")
        ep.update(estimate=0.4321, ci_low=0.3111, ci_high=0.5999)
        doc["confusion_matrix"]["fp"] = 777

    edit_results(study_dir, change)
    after = render_html(study_dir)
    assert "0.432" in section(after, "endpoints") and "95% CI 0.311\u20130.600" in section(
        after, "endpoints"
    )
    assert "0.432" not in section(before, "endpoints")
    assert "FP = 777" in section(after, "confusion") and "FP = 777" not in section(
        before, "confusion"
    )
    changed = {sid for sid in SECTION_IDS if section(before, sid) != section(after, sid)}
    # the provenance appendix names the new results.json hash; nothing else may move
    assert changed == {"endpoints", "confusion", "provenance"}


def test_absent_analyses_say_so(study_dir: Path) -> None:
    def change(doc: dict) -> None:
        for key in (
            "roc",
            "confusion_matrix",
            "subgroups",
            "calibration",
            "reader_study",
            "detection",
        ):
            doc[key] = None
        doc["protocol"]["lock"] = None
        doc["audit"] = None
        doc["model"]["model_card"] = {
            "architecture": "DenseNet <121>",
            "training_data": {"sites": 3},
        }

    edit_results(study_dir, change)
    (study_dir / "audit.jsonl").unlink()
    (study_dir / "audit.head").unlink()
    page = render_html(study_dir)
    for sid in (
        "roc",
        "confusion",
        "subgroups",
        "calibration",
        "reader-study",
        "detection",
        "segmentation",
    ):
        assert "Not applicable:" in section(page, sid), sid
    assert page.count(">not applicable</td>") == 8  # with the (opt-in) failure-case gallery
    assert "not locked (exploratory run)" in page
    assert "The protocol was not locked before the run" in section(page, "limitations")
    assert "no audit log in the study folder" in section(page, "signoff")
    card = section(page, "intended-use")
    # known fields go to their panel, unknown ones are kept under "Other recorded fields"
    assert "<h4>Training data</h4>" in card and "<td>sites: 3</td>" in card
    assert "<th>architecture</th><td>DenseNet &lt;121&gt;</td>" in card


def test_not_estimable_cells_are_shown(study_dir: Path) -> None:
    sub = section(render_html(study_dir), "subgroups")
    assert sub.count("not estimable</text>") == 2  # one forest row per metric (sensitivity, auc)
    assert re.search(r"Tiny &amp; Co</td>.*?NOT ESTIMABLE", sub, re.S)
    assert "n=12 &lt; min_n=20" in sub


def test_signatures_from_the_audit_log(study_dir: Path) -> None:
    audit.sign(study_dir, name="Dr <A> Reviewer", role="Biostatistician", meaning="approval")
    sign = section(render_html(study_dir), "signoff")
    assert "Dr &lt;A&gt; Reviewer" in sign and "approval" in sign and "this version" in sign
    assert re.search(
        r"Biostatistician</td><td>yes</td><td><span class=\"badge badge-pass\">PASS</span> signed",
        sign,
    )
    assert re.search(
        r"Clinical lead</td><td>yes</td><td><span class=\"badge badge-pending\">", sign
    )
    # a signature of another results.json is shown as such
    edit_results(study_dir, lambda doc: doc.update(seed=1))
    sign = section(render_html(study_dir), "signoff")
    assert "another version" in sign and "awaiting signature" in sign


def test_tampered_audit_log_is_reported(study_dir: Path) -> None:
    log = study_dir / "audit.jsonl"
    log.write_text(log.read_text().replace("Test Runner", "Someone Else"))
    sign = section(render_html(study_dir), "signoff")
    assert "badge-fail" in sign and "failed verification" in sign


def test_self_contained_no_external_reference(study_dir: Path) -> None:
    page = render_html(study_dir)
    parser = _Collect()
    parser.feed(page)
    assert not {"link", "img", "iframe", "object", "embed"} & set(parser.tags)
    # one inline script, no src, allowed by its sha256 in the CSP (no 'unsafe-inline')
    assert parser.tags.count("script") == 1 and not any(k == "src" for k, _ in parser.attrs)
    source = (TEMPLATES / "report.js").read_bytes()
    digest = base64.b64encode(hashlib.sha256(source).digest()).decode()
    assert f"<script>{source.decode()}</script>" in page
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp.group(1)
    assert "unsafe-inline'; img" in csp.group(1) and "script-src 'unsafe" not in csp.group(1)
    urls = re.findall(r"https?://[^\s\"'<>)]+", page)
    assert set(urls) == {"http://www.w3.org/2000/svg"}
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    assert "default-src 'none'" in page


def test_svg_charts_are_accessible_and_print_safe(study_dir: Path) -> None:
    page = render_html(study_dir)
    svgs = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(svgs) >= 8  # flow, ROC, 2 forests, calibration, FOM dots, reader ROC, FROC
    for svg in svgs:
        assert re.match(r'<svg [^>]*role="img"[^>]*><title>[^<]+</title><desc>[^<]+</desc>', svg)
        assert not re.search(r"\s(class|style)=", svg)


def test_templates_do_no_arithmetic() -> None:
    expr = re.compile(r"({{.*?}}|{%.*?%})", re.S)
    arithmetic = re.compile(r"\s[-+*/%]\s|\*\*|//")
    for path in sorted(TEMPLATES.rglob("*.j2")):
        for block in expr.findall(path.read_text(encoding="utf-8")):
            assert not arithmetic.search(block), f"{path.name}: arithmetic in {block!r}"


def test_template_override_folder(study_dir: Path, tmp_path: Path) -> None:
    custom = tmp_path / "house"
    custom.mkdir()
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8") + "\n/* house-style-marker */\n"
    (custom / "report.css").write_text(css, encoding="utf-8")
    page = render_html(study_dir, template_dir=custom)
    assert "house-style-marker" in page and 'id="sec-signoff"' in page


def test_pdf_renders_with_page_count_and_running_header(study_dir: Path) -> None:
    document = pdf_document(render_html(study_dir))
    assert 12 <= len(document.pages) <= 45

    def texts(box, out):  # noqa: ANN001 - WeasyPrint box tree
        if getattr(box, "text", None):
            out.append(box.text)
        for child in getattr(box, "children", None) or []:
            texts(child, out)
        return out

    def too_wide(box, limit, out):  # noqa: ANN001 - WeasyPrint box tree
        if (
            type(box).__name__ in ("TableBox", "InlineReplacedBox", "BlockReplacedBox")
            and box.width > limit
        ):
            out.append(type(box).__name__)
        for child in getattr(box, "children", None) or []:
            too_wide(child, limit, out)
        return out

    for pg in document.pages:  # nothing is cut off at the page's right margin
        content = pg._page_box.children[0].width
        assert too_wide(pg._page_box, content + 1, []) == []
    last = texts(document.pages[-1]._page_box, [])
    assert f"Page {len(document.pages)} of {len(document.pages)}" in last
    assert any(t.startswith("full-study \u00b7 protocol v2.1") for t in last)
    assert document.write_pdf().startswith(b"%PDF")


def _cell_lines(document) -> list[tuple[str, list[str], float]]:  # noqa: ANN001 - WeasyPrint document
    """(source text, laid-out lines, overflow in px) of every table cell of a laid-out report."""
    from weasyprint.formatting_structure import boxes

    def lines_of(box):  # noqa: ANN001, ANN202
        for child in getattr(box, "children", None) or []:
            if isinstance(child, boxes.LineBox):
                yield child
            elif not isinstance(child, boxes.TableCellBox):
                yield from lines_of(child)

    def texts(box):  # noqa: ANN001, ANN202
        if isinstance(box, boxes.TextBox):
            yield box
        for child in getattr(box, "children", None) or []:
            yield from texts(child)

    def cells(box):  # noqa: ANN001, ANN202
        if isinstance(box, boxes.TableCellBox):
            yield box
        for child in getattr(box, "children", None) or []:
            yield from cells(child)

    def source_text(el) -> str:  # noqa: ANN001 - the cell's text as written, blocks apart
        parts = [el.text or ""]
        for child in el:
            inner = source_text(child)
            block = str(child.tag).rsplit("}", 1)[-1] in (
                "div",
                "p",
                "br",
                "li",
                "ul",
                "table",
                "tr",
            )
            parts += [f" {inner} " if block else inner, child.tail or ""]
        return "".join(parts)

    out = []
    for page in document.pages:
        for cell in cells(page._page_box):
            source = " ".join(source_text(cell.element).split()) if cell.element is not None else ""
            # <wbr> is laid out as a zero-width space: a marked break, not text
            lines = [
                "".join(t.text for t in texts(line)).replace("\u200b", "")
                for line in lines_of(cell)
            ]
            right = cell.content_box_x() + cell.width
            over = max(
                (t.position_x + t.width - right for line in lines_of(cell) for t in texts(line)),
                default=0.0,
            )
            out.append((source, lines, over))
    return out


def test_pdf_tables_never_break_a_word(study_dir: Path) -> None:
    """Table text wraps at spaces, hyphens and marked identifier breaks; only long tokens (hashes) split."""
    document = pdf_document(render_html(study_dir))
    broken, wrapped, hashes = [], 0, 0
    for source, lines, over in _cell_lines(document):
        assert over <= 0.5, f"text runs out of its cell by {over:.1f}px: {source[:80]!r}"
        for a, b in zip(lines, lines[1:], strict=False):
            a, b = a.rstrip(), b.lstrip()
            if not a or not b:
                continue
            wrapped += 1
            left, right = a.split()[-1], b.split()[0]
            if (
                left[-1] in "-_./:,;)\u2013\u2014"
                or right[0] in "-_./"
                or f"{left} {right}" in source
            ):
                continue  # a break at a space, a hyphen or a marked break in an identifier
            token = next((t for t in source.split() if left + right in t), left + right)
            if len(token) >= 40:
                hashes += 1  # a sha256 or another long token may break anywhere
                continue
            broken.append(f"{left}|{right} (in {token!r})")
    assert wrapped > 100 and hashes > 0  # the check saw wrapped text, and long hashes do wrap
    assert broken == []


@pytest.mark.parametrize("bad", ["missing", "invalid"])
def test_bad_study_folder_is_input_error(tmp_path: Path, bad: str) -> None:
    from validation.errors import InputError

    folder = tmp_path / "s"
    if bad == "invalid":
        folder.mkdir()
        (folder / "results.json").write_text('{"schema": "radval.results/1"}')
    with pytest.raises(
        InputError, match="does not exist" if bad == "missing" else "results do not match"
    ):
        render_html(folder)


def test_minimal_results_render(study_dir: Path) -> None:
    def change(doc: dict) -> None:
        for key in (
            "roc",
            "confusion_matrix",
            "subgroups",
            "calibration",
            "reader_study",
            "detection",
            "segmentation",
            "model",
            "baseline_model",
            "audit",
        ):
            doc[key] = None
        doc.update(endpoints=[], comparisons=[], failures=[], warnings=["low <n>"])
        doc["verdict"]["primary"] = [
            {"endpoint_id": "gone", "decision": "fail", "p_value": None, "p_adjusted": None}
        ]
        doc["inputs"] = {"manifest": doc["inputs"]["manifest"], "scores": None}
        doc["data_summary"] = {
            "n_cases": 0,
            "n_patients": None,
            "n_positive": 0,
            "n_negative": 0,
            "characteristics": [],
            "flow": {"assessed": 3, "excluded": [{"reason": "bad <dicom>", "n": 3}], "analysed": 0},
        }

    edit_results(study_dir, change)
    page = render_html(study_dir)
    assert "Excluded (n = 3)</text>" in page and "bad &lt;dicom&gt;: n = 3" in page
    assert "<code>gone</code>" in section(page, "summary") and "Warning: low &lt;n&gt;" in page
    assert page.count(">not applicable</td>") == 8  # with the (opt-in) failure-case gallery


def test_model_training_kernels_and_operating_point_source_are_shown(study_dir: Path) -> None:
    selection = {
        "rule": "sensitivity",
        "target": 0.9,
        "on": "tuning",
        "tuning_split": {"n_cases": 250, "n_patients": 212, "case_list_sha256": "ab" * 32},
        "at_threshold": {
            k: {"estimate": 0.9, "ci_low": 0.83, "ci_high": 0.94, "confidence_level": 0.95}
            for k in ("sensitivity", "specificity")
        },
        "threshold_bootstrap": {"sd": 0.0123, "n_resamples": 1000},
    }

    def change(doc: dict) -> None:
        doc["model"]["threshold_source"] = "model card"
        doc["model"]["model_card"] = {
            "operating_point": {"threshold": 0.31, "source": "selected", "selection": selection},
            "checkpoint": {"sha256": "cd" * 32},
            "training": {
                "device": "cpu",
                "cpu_capability": "AVX2 <x>",
                "torch_threads": 1,
                "seed": 4,
                "epochs": 12,
                "software": {"torch": "2.13.0+cpu"},
                "reproducibility": "byte-identical on the same kernels",
            },
        }

    edit_results(study_dir, change)
    page = render_html(study_dir)
    prov = section(page, "provenance")
    assert "<h3>Model training</h3>" in prov
    row = re.search(r"<td>Model under test[^<]*</td>(.*?)</tr>", prov, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells == ["cpu", "AVX2 &lt;x&gt;", "1", "4", "12", "2.13.0+cpu", "cd" * 32]
    assert "Reproducibility: byte-identical on the same kernels." in prov
    use = html.unescape(section(page, "intended-use"))
    assert (
        "taken from the model card: chosen at training by rule sensitivity \u2265 0.9 on a "
        "held-out tuning split of 250 cases (212 patients"
    ) in use
    assert "threshold sd 0.0123 over 1000 bootstrap resamples" in use


def test_summary_says_where_performance_is_lower(study_dir: Path) -> None:
    page = render_html(study_dir)
    summary = section(page, "summary")
    assert (
        "No pre-specified subgroup performs lower: none of the 12 estimable pre-specified"
        in summary
    )
    assert "<th>Where performance is lower</th><td>none among the pre-specified" in page

    def lower(doc: dict) -> None:
        for d in doc["subgroups"]["disparity"]:
            if (d["attribute"], d["group"], d["metric"]) == ("sex", "M", "sensitivity"):
                d.update(difference_ci_high=-0.01, flagged=True)

    edit_results(study_dir, lower)
    page = render_html(study_dir)
    summary = section(page, "summary")
    assert re.search(
        r"<li><strong>Sensitivity</strong> in <strong>sex: M</strong> .*?; the rest [0-9.]+, "
        r"difference \u2212[0-9.]+ \(95% CI \u2212[0-9.]+ to \u22120\.010\)"
        r' <span class="flag">FLAGGED</span></li>',
        summary,
    ), summary
    assert (
        '<a href="#where-lower">1 pre-specified subgroup result(s)</a>: Sensitivity in sex: M'
        in page
    )
    callout = (
        section(page, "subgroups").split('id="subgroup-callout"')[1].split("</div>\n</div>")[0]
    )
    lower_col, higher_col = callout.split("<h3>Higher than the rest</h3>")
    assert "sex: M" in lower_col and "sex: M" not in higher_col
    assert "No group is higher than the rest." in higher_col


def test_script_hash_follows_a_template_override(study_dir: Path, tmp_path: Path) -> None:
    custom = tmp_path / "house"
    custom.mkdir()
    (custom / "report.js").write_text("/* house script */\n", encoding="utf-8")
    page = render_html(study_dir, template_dir=custom)
    digest = base64.b64encode(hashlib.sha256(b"/* house script */\n").digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page
    assert "<script>/* house script */\n</script>" in page
    (custom / "report.js").write_text("x = '</script><b>';\n", encoding="utf-8")
    with pytest.raises(ReportError, match=r"^report\.js must not contain '</' or '<!--'"):
        render_html(study_dir, template_dir=custom)


def test_truthing_and_measurement_sections(study_dir: Path) -> None:
    page = render_html(study_dir)
    doc = json.loads((study_dir / "results.json").read_text())
    truthing = section(page, "truthing")
    # the hostile truther id is escaped, never markup
    assert html.escape(INJECT) in truthing and INJECT not in truthing
    for a in doc["truthing"]["agreement"]:
        text = f"{a['estimate']:.3f} (95% CI {a['ci_low']:.3f}\u2013{a['ci_high']:.3f})"
        assert text in truthing
    assert "Cohen&#39;s kappa" in truthing and "Gwet&#39;s AC1" in truthing
    n_adj = {p["path"]: p["n"] for p in doc["truthing"]["paths"]}["adjudicated"]
    assert f'<td>Decided by the adjudicator</td><td class="num">{n_adj}</td>' in truthing
    assert "cases compared; 0 differ." in truthing
    measurement = section(page, "measurement")
    assert "<title>Bland-Altman plot of nodule volume</title>" in measurement
    ba = doc["measurement"]["bland_altman"]
    n_pairs = doc["measurement"]["n"]
    assert measurement.count("<circle ") == n_pairs + 1  # the pairs and the legend's marker
    assert f"Upper limit of agreement (mL)</td><td>{ba['loa_high']['estimate']:.3f}" in measurement
    assert f"site = {html.escape(INJECT)}" in measurement
