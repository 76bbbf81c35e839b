"""The operating threshold a protocol takes from a model card.

``radval train`` writes ``model_card.json`` with the threshold it fixed or chose on its
tuning split (``operating_point.threshold``). A protocol's model block that names the
card (``card``) and states no ``threshold`` uses the card's; one that states both must
state the card's exactly (:func:`validation.protocol.load.check_protocol` reports a
disagreement). The lock records the card's sha256, so the threshold cannot change after
the lock without the run noticing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from validation.errors import ProtocolError

__all__ = ["card_threshold"]


def card_threshold(path: Path, *, where: str) -> float:
    """Read ``operating_point.threshold`` from a model card JSON file.

    Parameters
    ----------
    path : Path
        The model card (``model_card.json`` written by ``radval train``).
    where : str
        The protocol field that names it (``model.card``), for messages.

    Raises
    ------
    ProtocolError
        The file cannot be read, is not JSON, or holds no finite number in [0, 1] at
        ``operating_point.threshold``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProtocolError(
            f"model card {path} ({where}): cannot read it: {exc.strerror or exc}"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"model card {path} ({where}): not valid JSON: {exc}") from None
    op = data.get("operating_point") if isinstance(data, dict) else None
    value = op.get("threshold") if isinstance(op, dict) else None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0.0 <= value <= 1.0
    ):
        raise ProtocolError(
            f"model card {path} ({where}): expected a number in [0, 1] at "
            f"operating_point.threshold, found {value!r}"
        )
    return float(value)
