"""Adjudication: declared rules that turn several truthers' reads into the reference
standard, with the number of cases decided by each path (STARD flow)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from validation.stats._checks import check_method
from validation.stats._params import Options, validate_params
from validation.stats._results import ResultMixin, jsonable
from validation.stats.agreement.ratings import check_frame, check_ids, plain

__all__ = [
    "ADJUDICATION_PATHS",
    "ADJUDICATION_RULES",
    "TIE_POLICIES",
    "Adjudication",
    "adjudicate",
]

ADJUDICATION_RULES = ("majority", "consensus_with_adjudicator", "any_positive", "all_positive")
TIE_POLICIES = ("error", "adjudicator", "unresolved")
#: every path a case can take, in STARD-flow order
ADJUDICATION_PATHS = (
    "unanimous",
    "single_read",
    "majority",
    "by_rule",
    "adjudicated",
    "unresolved",
)


@dataclass(frozen=True)
class Adjudication(ResultMixin):
    """The reference standard derived from several truthers' reads.

    Attributes
    ----------
    rule : str
        The declared rule.
    reference : pandas.DataFrame
        One row per case: ``case``, ``label`` (the reference label; ``None`` when
        unresolved), ``path`` (one of :data:`ADJUDICATION_PATHS`), ``n_reads`` (primary
        truthers' reads of the case) and ``n_agree`` (primary reads equal to the
        reference label).
    counts : dict
        Number of cases per path, every path present (0 when unused).
    n_cases : int
    on_tie : str or None
        Where a majority tie went (``majority`` rule only).
    adjudicator : str or None
        The adjudicator's rater id.
    n_adjudicator_reads_unused : int
        Adjudicator reads of cases that did not need adjudication.
    """

    rule: str
    reference: pd.DataFrame = field(compare=False)
    counts: dict[str, int]
    n_cases: int
    on_tie: str | None = None
    adjudicator: Any = None
    n_adjudicator_reads_unused: int = 0

    @property
    def resolved(self) -> pd.DataFrame:
        """The cases with a reference label (``path != "unresolved"``)."""
        return self.reference[self.reference["path"] != "unresolved"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: the rule and the per-path counts (not the per-case table)."""
        return jsonable(
            {
                "rule": self.rule,
                "on_tie": self.on_tie,
                "adjudicator": None if self.adjudicator is None else str(self.adjudicator),
                "n_cases": self.n_cases,
                "counts": dict(self.counts),
                "n_adjudicator_reads_unused": self.n_adjudicator_reads_unused,
            }
        )


def _binary_labels(labels: pd.Series, positive: Any, label: str) -> Any:
    """The negative label of a binary reading scale (``None`` if only positives)."""
    others = [v for v in pd.unique(labels) if not v == positive]
    if len(others) > 1:
        raise ValueError(
            f"rules 'any_positive' and 'all_positive' need binary labels: {plain(positive)!r} "
            f"(positive=) and one other value, found {len(others)} others in column "
            f"{label!r}: {plain(others[:4])!r}"
        )
    return others[0] if others else None


@validate_params(
    {
        "rule": [Options(ADJUDICATION_RULES)],
        "case": [str],
        "rater": [str],
        "label": [str],
        "on_tie": [Options(TIE_POLICIES), None],
    }
)
def adjudicate(
    truthing: pd.DataFrame,
    *,
    rule: str,
    case: str = "case",
    rater: str = "rater",
    label: str = "label",
    adjudicator: Any = None,
    on_tie: str | None = None,
    positive: Any = 1,
) -> Adjudication:
    """Derive the reference standard from several truthers' reads by a declared rule.

    Primary reads are all reads except the adjudicator's. For each case:

    - every primary read agrees: path ``unanimous`` (``single_read`` if only one
      truther read the case), label = that read, under every rule;
    - ``majority``: a label with more than half the primary reads wins (``majority``);
      a case without a strict majority (a tie, or a plurality only) goes where
      ``on_tie`` says: ``"adjudicator"`` (the adjudicator's read, path
      ``adjudicated``; ``unresolved`` if the adjudicator did not read it),
      ``"unresolved"``, or ``"error"`` (the default: raise, listing the first case);
    - ``consensus_with_adjudicator``: any disagreement is settled by the adjudicator's
      read (``adjudicated``), ``unresolved`` without one;
    - ``any_positive`` / ``all_positive`` (binary labels): positive if any / all
      primary reads are ``positive`` (discordant cases take path ``by_rule``);
    - a case with no primary read is ``unresolved``.

    Unresolved cases keep ``label = None`` and are counted; whether they are excluded
    from the analysis (and reported in the STARD flow) is the caller's decision.

    Parameters
    ----------
    truthing : pandas.DataFrame
        One row per read: case, rater (truther), label. Rows with a missing label are
        reads not made.
    rule : {"majority", "consensus_with_adjudicator", "any_positive", "all_positive"}
    case, rater, label : str
        Column names.
    adjudicator : optional
        The adjudicator's rater id (its reads are not votes). Required by
        ``consensus_with_adjudicator`` and by ``on_tie="adjudicator"``; not used by
        ``any_positive`` / ``all_positive``.
    on_tie : {"error", "adjudicator", "unresolved"}, optional
        ``majority`` only; default ``"error"``.
    positive : optional
        The positive label for ``any_positive`` / ``all_positive`` (default 1).

    Returns
    -------
    Adjudication

    Raises
    ------
    ValueError
        Unknown rule or tie policy, a missing adjudicator where one is needed, an
        option the rule does not use, non-binary labels for the binary rules, a bad
        truthing table, or (``on_tie="error"``) a majority tie.

    References
    ----------
    Bossuyt PM et al. (2015). STARD 2015: an updated list of essential items for
    reporting diagnostic accuracy studies. BMJ 351:h5527. doi:10.1136/bmj.h5527.
    FDA (2012). Clinical Performance Assessment: Considerations for Computer-Assisted
    Detection Devices Applied to Radiology Images and Radiology Device Data.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"case": [1, 1, 1, 2, 2, 2],
    ...                   "rater": ["A", "B", "C"] * 2,
    ...                   "label": [1, 1, 1, 1, 0, 0]})
    >>> adjudicate(t, rule="majority").counts["majority"]
    1
    """
    if on_tie is not None and rule != "majority":
        raise ValueError(
            f"on_tie is only used by rule='majority', got on_tie={on_tie!r} with rule={rule!r}"
        )
    tie = "error" if (on_tie is None and rule == "majority") else on_tie
    if tie is not None:
        check_method(tie, TIE_POLICIES, what="on_tie")
    binary = rule in ("any_positive", "all_positive")
    if binary and adjudicator is not None:
        raise ValueError(
            f"rule={rule!r} does not use an adjudicator, got adjudicator={plain(adjudicator)!r}"
        )
    if adjudicator is None and (rule == "consensus_with_adjudicator" or tie == "adjudicator"):
        what = (
            "rule='consensus_with_adjudicator'" if tie != "adjudicator" else "on_tie='adjudicator'"
        )
        raise ValueError(f"{what} needs adjudicator= (the adjudicator's rater id)")
    frame = check_frame(
        truthing, (("case", case), ("rater", rater), ("label", label)), name="truthing"
    )
    check_ids(frame, (case, rater), name="truthing")
    case_ids = frame[case].drop_duplicates().tolist()
    reads = frame[frame[label].notna()]
    is_adj = (
        (reads[rater] == adjudicator).to_numpy()
        if adjudicator is not None
        else np.zeros(len(reads), dtype=bool)
    )
    primary, adj = reads[~is_adj], reads[is_adj]
    negative = _binary_labels(primary[label], positive, label) if binary else None
    adj_read = dict(zip(adj[case].tolist(), adj[label].tolist(), strict=True))
    groups: dict[Any, list[Any]] = {}
    for cid, value in zip(primary[case].tolist(), primary[label].tolist(), strict=True):
        groups.setdefault(cid, []).append(value)
    out_label: list[Any] = []
    out_path: list[str] = []
    n_reads: list[int] = []
    n_agree: list[int] = []
    used_adj = 0
    first_tie: tuple[Any, dict[Any, int]] | None = None
    n_ties = 0
    for cid in case_ids:
        votes = groups.get(cid, [])
        tally = Counter(votes).most_common()
        decided: Any = None
        if not votes:
            path = "unresolved"
        elif len(tally) == 1:
            path, decided = ("single_read" if len(votes) == 1 else "unanimous"), votes[0]
        elif binary:
            any_pos = rule == "any_positive"
            decided, path = (positive if any_pos else negative), "by_rule"
        elif rule == "majority" and tally[0][1] * 2 > len(votes):
            decided, path = tally[0][0], "majority"
        else:
            if rule == "majority":
                n_ties += 1
                if first_tie is None:
                    first_tie = (cid, dict(tally))
                if tie == "error":
                    continue
                if tie == "unresolved":
                    out_label.append(None)
                    out_path.append("unresolved")
                    n_reads.append(len(votes))
                    n_agree.append(0)
                    continue
            if cid in adj_read:
                decided, path = adj_read[cid], "adjudicated"
                used_adj += 1
            else:
                path = "unresolved"
        out_label.append(decided)
        out_path.append(path)
        n_reads.append(len(votes))
        n_agree.append(0 if decided is None else sum(1 for v in votes if v == decided))
    if tie == "error" and first_tie is not None:
        cid, tally_d = first_tie
        raise ValueError(
            f"rule='majority': {n_ties} case(s) have no strict majority (first: case "
            f"{plain(cid)!r} "
            f"with reads {plain(tally_d)!r}); declare on_tie='adjudicator' or on_tie='unresolved'"
        )
    reference = pd.DataFrame(
        {
            "case": list(case_ids),
            "label": pd.Series(out_label, dtype=object),
            "path": out_path,
            "n_reads": np.asarray(n_reads, dtype=np.int64),
            "n_agree": np.asarray(n_agree, dtype=np.int64),
        }
    )
    counts = {p: int(np.sum(reference["path"].to_numpy() == p)) for p in ADJUDICATION_PATHS}
    return Adjudication(
        rule=rule,
        reference=reference,
        counts=counts,
        n_cases=len(case_ids),
        on_tie=tie,
        adjudicator=adjudicator,
        n_adjudicator_reads_unused=int(len(adj_read) - used_adj),
    )
