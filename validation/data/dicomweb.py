"""A test set from a PACS/VNA over DICOMweb (QIDO-RS search, WADO-RS retrieve) into a cache.

Studies matching the filters are listed with QIDO-RS, their instances listed per study,
and every instance not yet in the cache retrieved with WADO-RS and written atomically as
``CACHE/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``: an interrupted
retrieval is resumed by running it again (instances already cached are not fetched
twice). ``CACHE/dicomweb.json`` records the source (without credentials), the time of
retrieval, the filters and the sha256 of every instance.

Credentials come only from the environment (:data:`TOKEN_ENV` for a bearer token, or
:data:`USER_ENV` and :data:`PASSWORD_ENV` for basic authentication); a URL with a user or
password in it is refused, and no credential is ever written or printed.

References
----------
DICOM PS3.18 (Web Services): 10.6 QIDO-RS, 10.4 WADO-RS. dicomweb-client:
Herrmann MD et al. J Digit Imaging 2022;35:1719-1737. doi:10.1007/s10278-022-00683-y
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from validation.errors import DicomWebError, InputError
from validation.io import sha256_file, write_bytes_atomic, write_text_atomic

TOKEN_ENV = "RADVAL_DICOMWEB_TOKEN"
USER_ENV = "RADVAL_DICOMWEB_USER"
PASSWORD_ENV = "RADVAL_DICOMWEB_PASSWORD"
#: The provenance file written into the cache folder.
PROVENANCE = "dicomweb.json"

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# QIDO-RS attribute tags of the identifiers (PS3.18 Table 10.6.1-5)
_STUDY, _SERIES, _SOP = "0020000D", "0020000E", "00080018"


@dataclass(frozen=True)
class Retrieval:
    """What one retrieval did: the source, when, and the instances in the cache."""

    source_url: str
    retrieved_at: str
    n_studies: int
    n_instances: int
    n_fetched: int
    instances: dict[str, str]


def check_url(url: str) -> str:
    """``url`` when it is an http(s) URL without credentials; else :class:`InputError`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"--dicomweb: expected an http(s) URL of a DICOMweb service, found {parts.scheme!r}"
            " scheme"
            if parts.scheme
            else "--dicomweb: expected an http(s) URL, found no scheme"
        )
    if parts.username is not None or parts.password is not None:
        raise InputError(
            "--dicomweb: the URL holds a user name or password; pass credentials only through "
            f"the environment ({TOKEN_ENV}, or {USER_ENV} and {PASSWORD_ENV})"
        )
    return url.rstrip("/")


def session_from_env(environ: Mapping[str, str] | None = None) -> requests.Session:
    """A session authenticated from the environment (bearer token or basic), if set."""
    env = os.environ if environ is None else environ
    session = requests.Session()
    token = env.get(TOKEN_ENV, "")
    user, password = env.get(USER_ENV, ""), env.get(PASSWORD_ENV, "")
    if token and (user or password):
        raise InputError(
            f"both {TOKEN_ENV} and {USER_ENV}/{PASSWORD_ENV} are set; set one kind of "
            "DICOMweb credential"
        )
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    elif user or password:
        if not (user and password):
            raise InputError(f"set both {USER_ENV} and {PASSWORD_ENV} for basic authentication")
        session.auth = (user, password)
    return session


def _uid(item: Mapping[str, Any], tag: str, what: str, url: str) -> str:
    try:
        value = str(item[tag]["Value"][0])
    except (KeyError, IndexError, TypeError):
        raise DicomWebError(f"{url}: a QIDO-RS {what} result has no {what} UID") from None
    if not _UID.match(value) or len(value) > 64:
        raise DicomWebError(f"{url}: expected a DICOM UID for the {what}, found {value[:80]!r}")
    return value


def _call(url: str, what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        hint = " (check the credentials in the environment)" if code in (401, 403) else ""
        raise DicomWebError(f"{url}: {what} failed with HTTP {code}{hint}") from None
    except requests.RequestException as exc:
        raise DicomWebError(f"{url}: {what} failed: {type(exc).__name__}") from None


def _parts(body: bytes, content_type: str) -> list[bytes]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        return []
    delimiter = b"--" + match.group(1).encode("ascii")
    out = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, payload = chunk.partition(b"\r\n\r\n")
        if sep:
            out.append(payload[:-2] if payload.endswith(b"\r\n") else payload)
    return out


def _wado_instance(session: requests.Session, base: str, uids: tuple[str, str, str]) -> bytes:
    """One instance by WADO-RS as a DICOM Part 10 file (preamble added when the server's
    copy lacks it; the SOP Instance UID is checked)."""
    st, se, sop = uids
    response = session.get(
        f"{base}/studies/{st}/series/{se}/instances/{sop}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        timeout=60,
    )
    response.raise_for_status()
    parts = _parts(response.content, response.headers.get("Content-Type", ""))
    if len(parts) != 1:
        raise DicomWebError(
            f"{base}: WADO-RS retrieval of instance {sop}: expected one application/dicom "
            f"part, found {len(parts)}"
        )
    try:
        ds = pydicom.dcmread(io.BytesIO(parts[0]), force=True)
        found = str(ds.SOPInstanceUID)
    except Exception as exc:  # noqa: BLE001 - whatever the server sent is not usable DICOM
        raise DicomWebError(
            f"{base}: WADO-RS retrieval of instance {sop}: the part is not DICOM ({exc})"
        ) from None
    if found != sop:
        raise DicomWebError(
            f"{base}: WADO-RS retrieval of instance {sop}: expected that SOP Instance UID, "
            f"found {found}"
        )
    if parts[0][128:132] == b"DICM":
        return parts[0]
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def retrieve(
    url: str,
    cache: Path,
    *,
    study_filter: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Retrieval:
    """Search (QIDO-RS) and retrieve (WADO-RS) matching studies into ``cache``.

    Parameters
    ----------
    url
        Base URL of the DICOMweb service (e.g. ``http://pacs/dicom-web``), no credentials.
    cache
        Folder of the local copy; created if needed; instances already there are kept.
    study_filter
        QIDO-RS study-level matching keys, e.g. ``{"ModalitiesInStudy": "CR"}``.
    session
        Authenticated session (default :func:`session_from_env`).
    progress
        Called as ``progress(done, total)`` after each instance.
    """
    base = check_url(url)
    http = session or session_from_env()
    client = DICOMwebClient(url=base, session=http)
    filters = dict(study_filter or {})
    studies = _call(
        base,
        "QIDO-RS study search",
        lambda: client.search_for_studies(search_filters=filters, get_remaining=True),
    )
    todo: list[tuple[str, str, str]] = []
    for study in studies:
        st = _uid(study, _STUDY, "study", base)
        found = _call(
            base,
            f"QIDO-RS instance search of study {st}",
            partial(client.search_for_instances, study_instance_uid=st, get_remaining=True),
        )
        todo += [
            (st, _uid(i, _SERIES, "series", base), _uid(i, _SOP, "instance", base)) for i in found
        ]
    cache.mkdir(parents=True, exist_ok=True)
    instances: dict[str, str] = {}
    fetched = 0
    for done, (st, se, sop) in enumerate(sorted(set(todo)), start=1):
        rel = f"{st}/{se}/{sop}.dcm"
        path = cache / rel
        if not path.is_file():
            data = _call(
                base,
                f"WADO-RS retrieval of instance {sop}",
                partial(_wado_instance, http, base, (st, se, sop)),
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, data)
            fetched += 1
        instances[rel] = sha256_file(path)
        if progress is not None:
            progress(done, len(todo))
    record = Retrieval(
        source_url=base,
        retrieved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n_studies=len(studies),
        n_instances=len(instances),
        n_fetched=fetched,
        instances=instances,
    )
    provenance = {
        "source_url": record.source_url,
        "retrieved_at": record.retrieved_at,
        "study_filter": filters,
        "n_studies": record.n_studies,
        "instances": record.instances,
    }
    write_text_atomic(cache / PROVENANCE, json.dumps(provenance, indent=2) + "\n")
    return record
