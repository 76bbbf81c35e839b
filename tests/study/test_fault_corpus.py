"""A small fault corpus driven through the CLI in subprocesses.

Each case breaks one input of a working study layout (bad YAML, bad CSVs, hostile
strings, truncated Parquet, wrong types, paths leaving their folder) and runs the
command a user would. Every case must end with exit 2, a message naming the broken
file, and no traceback; nothing may hang. (An internal error is exit 3: see
``tests/cli/test_exit_policy.py``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from study_support import lean

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    """Break a file under the layout, then run ``args``; ``names`` is the file to be named."""

    breaks: Callable[[Path], Path]
    args: Callable[[Path, Path], list[str | Path]]


def _proto(root: Path) -> Path:
    return root / "protocols" / "triage_standalone.yaml"


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _with_proto(edit: Callable[[str], str]) -> Callable[[Path], Path]:
    def breaks(root: Path) -> Path:
        path = _proto(root)
        text = path.read_text(encoding="utf-8")
        broken = edit(text)
        assert broken != text, "the fault case no longer changes the protocol (the demo's changed)"
        path.write_text(broken, encoding="utf-8")
        return path

    return breaks


def _manifest_text(edit: Callable[[str], str]) -> Callable[[Path], Path]:
    def breaks(root: Path) -> Path:
        path = root / "data" / "test" / "manifest.csv"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
        return path

    return breaks


def _readings(data: str | bytes, name: str = "readings.csv") -> Callable[[Path], Path]:
    return lambda root: _write(root / "readings" / name, data)


def _scores(make: Callable[[Path, Path], None]) -> Callable[[Path], Path]:
    def breaks(root: Path) -> Path:
        path = root / "scores" / "candidate.parquet"
        make(root, path)
        return path

    return breaks


def _truncate(root: Path, path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _provenance(block: object) -> Callable[[Path, Path], None]:
    def make(root: Path, path: Path) -> None:
        table = pq.read_table(path)
        meta = {b"radval": json.dumps(block).encode()}
        pq.write_table(table.replace_schema_metadata(meta), path)

    return make


def _duplicate_score_column(root: Path, path: Path) -> None:
    table = pq.read_table(path)
    pq.write_table(
        pa.table(
            [table["case_id"], table["score"], table["score"]], names=["case_id", "score", "score"]
        ),
        path,
    )


def _text_scores(root: Path, path: Path) -> None:
    table = pq.read_table(path)
    scores = pa.array(["high"] * table.num_rows)
    pq.write_table(pa.table([table["case_id"], scores], names=["case_id", "score"]), path)


def _nested_case_ids(root: Path, path: Path) -> None:
    table = pq.read_table(path)
    ids = pa.array([[c] for c in table["case_id"].to_pylist()])
    pq.write_table(pa.table([ids, table["score"]], names=["case_id", "score"]), path)


def _fake_xlsx(root: Path) -> Path:
    return _write(root / "readings" / "study.xlsx", "reader,modality,case,truth,score\n")


def _truncated_xlsx(root: Path) -> Path:
    path = root / "readings" / "cut.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>" * 50)
    path.write_bytes(path.read_bytes()[:60])
    return path


def _bomb() -> str:
    return "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
        for p, n in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
    )


def _seg_escape(root: Path) -> Path:
    import numpy as np

    test = root / "data" / "test"
    (test / "masks").mkdir()
    np.save(test / "masks" / "m.npy", np.ones((4, 4), dtype=np.uint8))
    secret = root / "secret.npy"
    np.save(secret, np.ones((4, 4), dtype=np.uint8))
    manifest = test / "manifest.csv"
    lines = manifest.read_text().splitlines()
    manifest.write_text(
        "\n".join([lines[0] + ",mask_path"] + [line + ",masks/m.npy" for line in lines[1:]]) + "\n"
    )
    preds = root / "scores" / "seg" / "predictions.csv"
    rows = [line.split(",")[0] for line in lines[1:]]
    _write(preds, "case_id,mask_path\n" + "".join(f"{c},../../secret.npy\n" for c in rows))
    proto = _proto(root)
    seg = (
        "segmentation:\n  predictions: ../scores/seg/predictions.csv\n  spacing_mm: [1, 1]\n"
        "  empty_policy: {both_empty: best, reference_empty: worst, prediction_empty: worst}\n"
        "  endpoints:\n    - {id: dice, role: secondary, metric: dice}\n"
    )
    text = lean(proto.read_text())
    proto.write_text(text.replace("multiplicity:\n", seg + "multiplicity:\n", 1))
    return preds


def _age_999(text: str) -> str:
    lines = text.splitlines()
    column = lines[0].split(",").index("age")
    first = lines[1].split(",")
    first[column] = "999"
    return "\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n"


def _readings_subset(keep: Callable[[list[str]], bool]) -> Callable[[Path], Path]:
    def breaks(root: Path) -> Path:
        path = root / "readings" / "readings.csv"
        lines = path.read_text().splitlines()
        path.write_text("\n".join([lines[0], *[x for x in lines[1:] if keep(x.split(","))]]) + "\n")
        return path

    return breaks


def _all_positive(root: Path) -> Path:
    path = root / "readings" / "readings.csv"
    lines = path.read_text().splitlines()
    rows = [x.split(",") for x in lines[1:]]
    path.write_text("\n".join([lines[0], *[",".join([*r[:3], "1", r[4]]) for r in rows]]) + "\n")
    return path


def _huge_score_text(root: Path, path: Path) -> None:
    table = pq.read_table(path)
    scores = pa.array(["9" * 400] * table.num_rows)
    pq.write_table(pa.table([table["case_id"], scores], names=["case_id", "score"]), path)


def _binary_case_ids(root: Path, path: Path) -> None:
    table = pq.read_table(path)
    ids = pa.array([b"\xff" + c.encode() for c in table["case_id"].to_pylist()])
    pq.write_table(pa.table([ids, table["score"]], names=["case_id", "score"]), path)


def _run_reader_study(root: Path, broken: Path) -> list[str | Path]:
    return [
        "run",
        root / "protocols" / "reader_study.yaml",
        "--out",
        root / "study",
        "--unlocked",
        "--no-report",
    ]


def _run(root: Path, broken: Path) -> list[str | Path]:
    return ["run", _proto(root), "--out", root / "study", "--unlocked", "--no-report"]


def _check(root: Path, broken: Path) -> list[str | Path]:
    return ["protocol", "check", broken]


def _manifest_check(root: Path, broken: Path) -> list[str | Path]:
    return ["manifest", "check", broken]


def _mrmc(root: Path, broken: Path) -> list[str | Path]:
    return ["mrmc", broken]


CORPUS: dict[str, Case] = {
    # protocols
    "yaml alias bomb": Case(_with_proto(lambda t: t + _bomb()), _check),
    "yaml deep nesting": Case(_with_proto(lambda t: t + "x: " + "[" * 20000 + "]" * 20000), _check),
    "yaml recursive alias": Case(_with_proto(lambda t: t + "loop: &l [*l]\n"), _check),
    "yaml python tag": Case(
        _with_proto(lambda t: t + "x: !!python/object/apply:os.system [id]\n"), _check
    ),
    "yaml impossible date": Case(_with_proto(lambda t: t + "when: 2024-02-30\n"), _check),
    "yaml two documents": Case(_with_proto(lambda t: t + "---\nseed: 1\n"), _check),
    "yaml top-level list": Case(_with_proto(lambda t: "- a\n- b\n"), _check),
    "yaml not utf-8": Case(lambda r: _write(_proto(r), b"version: 1\nstudy: \xff\xfe\n"), _check),
    "yaml nan acceptance": Case(
        _with_proto(lambda t: t.replace("value: 0.75", "value: .nan")), _check
    ),
    "yaml inf threshold": Case(
        _with_proto(
            lambda t: t.replace(
                "  scores: ../scores/candidate.parquet\n",
                "  scores: ../scores/candidate.parquet\n  threshold: .inf\n",
            )
        ),
        _check,
    ),
    "yaml oversized": Case(_with_proto(lambda t: t + "#" + "x" * (1 << 20) + "\n"), _check),
    "yaml nan run": Case(_with_proto(lambda t: t.replace("value: 0.75", "value: .nan")), _run),
    # manifests
    "manifest duplicate column": Case(
        _manifest_text(lambda t: t.replace("case_id,", "case_id,site,", 1).replace("\n", "\n", 1)),
        _manifest_check,
    ),
    "manifest binary": Case(
        lambda r: _write(r / "data" / "test" / "manifest.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff"),
        _manifest_check,
    ),
    "manifest empty": Case(
        lambda r: _write(r / "data" / "test" / "manifest.csv", ""), _manifest_check
    ),
    "manifest header only": Case(
        _manifest_text(lambda t: t.splitlines()[0] + "\n"), _manifest_check
    ),
    "manifest unterminated quote": Case(
        _manifest_text(lambda t: t + '"C9999,P1,"images/x\n'), _manifest_check
    ),
    "manifest path traversal": Case(
        _manifest_text(lambda t: t.replace("images/case0003.dcm", "../../../etc/passwd")),
        _manifest_check,
    ),
    "manifest absolute path": Case(
        _manifest_text(lambda t: t.replace("images/case0003.dcm", "/etc/passwd")), _manifest_check
    ),
    "manifest nul in path": Case(
        _manifest_text(lambda t: t.replace("images/case0003.dcm", "images/a\x00b.dcm")),
        _manifest_check,
    ),
    "manifest age 999": Case(_manifest_text(_age_999), _manifest_check),
    "manifest truncated parquet": Case(
        lambda r: _write(r / "data" / "test" / "m.parquet", b"PAR1\x00\x00garbage"), _manifest_check
    ),
    "manifest path traversal run": Case(
        _manifest_text(lambda t: t.replace("images/case0003.dcm", "../../../etc/passwd")), _run
    ),
    # readings
    "readings xlsx that is text": Case(_fake_xlsx, _mrmc),
    "readings truncated xlsx": Case(_truncated_xlsx, _mrmc),
    "readings duplicate column": Case(
        _readings("reader,modality,case,truth,score,score\nR1,A,c1,1,0.5,0.6\n"), _mrmc
    ),
    "readings binary": Case(_readings(b"\xff\xfe\x00r\x00e\x00\x00\x00"), _mrmc),
    "readings nan score": Case(
        _readings("reader,modality,case,truth,score\nR1,A,c1,1,nan\n"), _mrmc
    ),
    "readings truth 2": Case(_readings("reader,modality,case,truth,score\nR1,A,c1,2,0.5\n"), _mrmc),
    "readings imrmc without data": Case(_readings("NR: 2\n", "x.imrmc"), _mrmc),
    "readings lrc garbage": Case(_readings('title\nR1\n"A" "B"\nnot numbers\n', "x.lrc"), _mrmc),
    "readings unknown extension": Case(_readings("x", "x.txt"), _mrmc),
    "readings one reader": Case(_readings_subset(lambda r: r[0] == "R1"), _mrmc),
    "readings one reader run": Case(
        _readings_subset(lambda r: r[0] in ("R1", "AI")), _run_reader_study
    ),
    "readings all positive run": Case(_all_positive, _run_reader_study),
    # scores
    "scores truncated parquet": Case(_scores(_truncate), _run),
    "scores provenance not json": Case(
        _scores(
            lambda r, p: pq.write_table(
                pq.read_table(p).replace_schema_metadata({b"radval": b"{not json"}), p
            )
        ),
        _run,
    ),
    "scores provenance a list": Case(_scores(_provenance([1, 2])), _run),
    "scores provenance wrong types": Case(
        _scores(_provenance({"n_failed": "three", "failures": 5, "checkpoint_sha256": 7})), _run
    ),
    "scores provenance bad failures": Case(_scores(_provenance({"failures": [17]})), _run),
    "scores provenance bad sha": Case(
        _scores(_provenance({"model": {"spec_sha256": "not-a-hash"}})), _run
    ),
    "scores provenance nan threshold": Case(
        _scores(
            lambda r, p: pq.write_table(
                pq.read_table(p).replace_schema_metadata(
                    {b"radval": b'{"operating_threshold": NaN}'}
                ),
                p,
            )
        ),
        _run,
    ),
    "scores duplicate column": Case(_scores(_duplicate_score_column), _run),
    "scores text values": Case(_scores(_text_scores), _run),
    "scores nested case ids": Case(_scores(_nested_case_ids), _run),
    "scores binary case ids": Case(_scores(_binary_case_ids), _run),
    "scores huge numbers": Case(_scores(_huge_score_text), _run),
    "scores provenance deep json": Case(
        _scores(
            lambda r, p: pq.write_table(
                pq.read_table(p).replace_schema_metadata(
                    {b"radval": b"[" * 100_000 + b"]" * 100_000}
                ),
                p,
            )
        ),
        _run,
    ),
    "scores failures csv binary": Case(
        lambda r: _write(r / "scores" / "candidate.failures.csv", b"\xff\xfe\x00\x01"), _run
    ),
    # segmentation predictions that leave their folder
    "segmentation mask path escapes": Case(_seg_escape, _run),
}


def _radval(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RADVAL_CRASH_DIR": str(cwd / "crashes")}
    return subprocess.run(
        [sys.executable, "-m", "validation", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_fault_is_a_located_exit_2(name: str, layout: Path) -> None:
    case = CORPUS[name]
    broken = case.breaks(layout)
    result = _radval(*case.args(layout, broken), cwd=layout)
    assert "Traceback" not in result.stderr, result.stderr
    assert not (layout / "crashes").exists(), result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines, "no message"
    if case.args is _check:
        # one line per problem (file:line: path: message), then the count
        assert all(line.startswith(f"{broken}") for line in lines[:-1]), lines
        assert lines[-1] == f"radval: error: {broken}: 1 problem(s)", lines
    elif case.args is _manifest_check:
        # manifest check lists every problem, one line each, each naming the file
        assert all(line.startswith(f"radval: error: {broken}") for line in lines), lines
    else:
        assert len(lines) == 1, lines
        assert lines[0].startswith("radval: error: "), lines
        assert str(broken) in lines[0] or broken.name in lines[0], (str(broken), lines)
    assert not (layout / "study" / "results.json").exists()


def test_scores_reader_messages(tmp_path: Path) -> None:
    from validation.errors import InputError
    from validation.study.inputs import read_scores, scores_provenance

    huge = tmp_path / "s.csv"
    huge.write_text("case_id,score\n007,0.5\nc2," + "9" * 400 + "\n")
    with pytest.raises(InputError) as info:
        read_scores(huge)
    assert str(info.value) == f"{huge}: row 2, field 'score': expected a finite number, found inf"
    huge.write_text("case_id,score\nc2," + "9" * 400 + "\n")  # read as an integer too big
    with pytest.raises(InputError) as info:
        read_scores(huge)
    assert str(info.value) == (
        f"{huge}: row 1, field 'score': expected a finite number, found {'9' * 57}..."
    )
    huge.write_text("case_id,score\n007,0.5\n")
    assert read_scores(huge)["case_id"].tolist() == ["007"]  # identifiers stay text

    path = tmp_path / "p.parquet"
    for block, problem in [
        ([1, 2], "expected a JSON object, found list [1, 2]"),
        ({"n_failed": "three"}, "'n_failed' should be a non-negative integer, found str \"three\""),
        ({"failures": [17]}, "'failures[0]' should be an object with a case_id, found int 17"),
        (
            {"model": {"spec_sha256": "x"}},
            "'model.spec_sha256' should be 64 lower-case hex digits or null, found str \"x\"",
        ),
        (
            {"operating_threshold": float("nan")},
            "'operating_threshold' should be a finite number or null, found float NaN",
        ),
    ]:
        table = pa.table({"case_id": ["a"], "score": [0.5]})
        pq.write_table(table.replace_schema_metadata({b"radval": json.dumps(block).encode()}), path)
        with pytest.raises(InputError) as info:
            scores_provenance(path)
        assert str(info.value) == (
            f"{path}: the radval provenance block in the Parquet metadata is malformed: {problem}"
        )
