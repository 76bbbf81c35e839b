"""The Markdown verdict summary: the primary endpoints and gate deltas, safe to render.

Rendered with markdown-it-py (CommonMark + GFM tables, raw HTML allowed, linkify on: the
most permissive settings a CI page could use), then read back with Python's HTML parser.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from outputs_support import degraded_study
from report_support import PROTOCOL, build_layout

from validation.gate import run_gate
from validation.outputs.checks import study_checks
from validation.outputs.publish import Outputs, publish_gate, publish_study
from validation.outputs.summary import ci_run_link, md_escape, study_summary
from validation.protocol.lock import lock_protocol
from validation.results import read_results_document
from validation.study import run_study

HOSTILE_TITLE = (
    "<script>alert(1)</script> & <b>bold</b> | pipe [click](javascript:alert(1)) "
    "![img](http://e.vil/x.png) https://e.vil/a www.e.vil a@e.vil <http://e.vil> *em* `code` \\"
)
MD = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(["table", "linkify"])
ALLOWED = {
    "h3",
    "p",
    "strong",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "ul",
    "li",
    "code",
    "br",
}


class Tags(HTMLParser):
    """Every tag and attribute of a rendered page, and the cells of each table row."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append(0)
        if tag in ("td", "th"):
            self.rows[-1] += 1


def render(text: str) -> Tags:
    parser = Tags()
    parser.feed(MD.render(text))
    return parser


def test_the_renderer_would_link_and_pass_html() -> None:
    # the checks below can fail: unescaped, these values become links, images and raw HTML
    tags = {t for t, _ in render(f"x {HOSTILE_TITLE}").tags}
    assert {"a", "img", "script", "b", "em", "code"} <= tags


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_md_escape_renders_as_the_same_text(value: str) -> None:
    escaped = md_escape(value)
    out = MD.render(f"a {escaped} b").strip()
    expected = re.sub(r"\s+", " ", re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", value)).strip()
    assert out.startswith("<p>") and out.endswith("</p>")
    inner = html.unescape(out[3:-4])
    assert "<" not in out[3:-4]  # no tag of the value's making
    assert re.sub(r"\s+", " ", inner) == re.sub(
        r"\s+", " ", f"a {expected} b".replace("\x00", "\ufffd")
    )
    cells = render(f"| h |\n| --- |\n| {escaped} |\n").rows
    assert cells == [1, 1]


@pytest.fixture
def hostile_study(tmp_path: Path) -> Path:
    root = build_layout(tmp_path)
    proto = root / "protocols" / "full.yaml"
    title = HOSTILE_TITLE.replace("\\", "\\\\").replace('"', '\\"')
    proto.write_text(
        PROTOCOL.replace(
            "title: Full report fixture & <b>bold</b> check", f'title: "{title}\\nline 2"'
        ),
        encoding="utf-8",
    )
    lock_protocol(proto)
    return run_study(proto, out_dir=root / "studies" / "full", render=False).study_dir


def test_study_summary_is_safe_and_lists_the_primary_endpoints(
    hostile_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for var in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    doc = read_results_document(hostile_study)
    assert doc["study"]["title"] == HOSTILE_TITLE + "\nline 2"
    report = tmp_path / "x](javascript:alert(1)) <img src=x>" / "report.html"
    text = study_summary(
        doc, results_sha256="ab" * 32, audit_head="cd" * 32, report=report, checks=study_checks(doc)
    )
    page = render(text)
    assert {t for t, _ in page.tags} <= ALLOWED, page.tags
    # every table row has as many cells as its header
    assert page.rows == [7] * 8  # header, 6 criteria (primary and secondary), the verdict
    out = MD.render(text)
    heading = re.search(r"<h3>(.*?)</h3>", out).group(1)  # type: ignore[union-attr]
    heading = html.unescape(heading.replace("<strong>", "").replace("</strong>", ""))
    assert heading == "radval run: FAIL: " + HOSTILE_TITLE + " line 2"
    assert html.unescape(re.sub(r"<[^>]+>", "", out)).count(str(report)) == 1
    lines = text.splitlines()
    assert (
        lines[6]
        == "| endpoint | estimate | CI | difference vs baseline (CI) | p | criterion | decision |"
    )
    ep = {e["id"]: e for e in doc["endpoints"]}["sensitivity_primary"]
    assert lines[8] == (
        f"| auc\\_primary | {ep_num(doc, 'auc_primary', 'estimate')} | "
        f"{ep_num(doc, 'auc_primary', 'ci_low')} to "
        f"{ep_num(doc, 'auc_primary', 'ci_high')} (95%) | n/a | {ep_p(doc, 'auc_primary')} | H1\\: "
        "auc \\> 0\\.75 "
        "\\(superiority\\)\\, one\\-sided p \\< 0\\.025\\; and ci\\_low \\> 0\\.75 | PASS |"
    )
    assert lines[9] == (
        f"| sensitivity\\_primary | {ep['estimate']:.4g} | {ep['ci_low']:.4g} to "
        f"{ep['ci_high']:.4g} "
        "(95%) | n/a | n/a | ci\\_low of sensitivity \\(95\\% CI\\) \\>\\= 0\\.7 | **FAIL** |"
    )


def ep_num(doc: dict, eid: str, key: str) -> str:
    return f"{next(e for e in doc['endpoints'] if e['id'] == eid)[key]:.4g}"


def ep_p(doc: dict, eid: str) -> str:
    return f"{next(e for e in doc['endpoints'] if e['id'] == eid)['p_value']:.3g}"


def test_summary_goes_to_the_file_and_is_appended_to_the_github_step_summary(
    hostile_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = tmp_path / "step_summary.md"
    step.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "example/radiology-model")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    lines: list[str] = []
    publish_study(
        Outputs(summary=tmp_path / "s.md"),
        study_dir=hostile_study,
        report_path=None,
        echo=lines.append,
    )
    assert lines == [f"summary: {tmp_path / 's.md'}", "summary: appended to $GITHUB_STEP_SUMMARY"]
    own = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert step.read_text(encoding="utf-8") == "earlier step\n" + own
    assert own.rstrip().endswith(
        "Artifacts: [CI run 4242 "
        "(artifacts)](https://github.com/example/radiology-model/actions/runs/4242)"
    )
    links = [a for t, a in render(own).tags if t == "a"]
    assert links == [{"href": "https://github.com/example/radiology-model/actions/runs/4242"}]
    # a variable that is not of GitHub's shape gives no link at all
    monkeypatch.setenv("GITHUB_REPOSITORY", "a/b)](javascript:alert(1))")
    assert ci_run_link() is None


def test_gate_summary_shows_the_deltas_and_the_failed_rules(layout: Path, tmp_path: Path) -> None:
    res = run_gate(degraded_study(layout), layout / "studies" / "released", out=tmp_path / "gate")
    lines: list[str] = []
    publish_gate(
        Outputs(summary=tmp_path / "gate.md"),
        result=res,
        gate_dir=tmp_path / "gate",
        echo=lines.append,
    )
    text = (tmp_path / "gate.md").read_text(encoding="utf-8")
    page = render(text)
    assert {t for t, _ in page.tags} <= ALLOWED
    assert text.startswith("### radval release gate: **FAIL**: degraded vs released\n")
    rows = [line for line in text.splitlines() if line.startswith("| auc |")]
    auc = next(c for c in res["comparisons"] if c["id"] == "auc")
    assert rows == [
        f"| auc | {auc['estimate_a']:.4g} | {auc['estimate_b']:.4g} | {auc['difference']:+.4g} | "
        f"{auc['ci_low']:.4g} to {auc['ci_high']:.4g} | 0.02 | {auc['p_value']:.3g} | **FAIL** |"
    ]
    regressions = [r for r in res["subgroups"] if r["status"] == "regression"]
    assert page.rows == [8] * (1 + len(res["comparisons"])) + (
        [5] * (1 + len(regressions)) if regressions else []
    )
