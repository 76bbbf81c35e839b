"""A study's verdict and endpoint estimates as a DICOM Comprehensive SR, and STOW-RS.

Sites file validation reports in their PACS next to the images. The SR's content tree
is the verdict and, for every primary and secondary endpoint, its estimate, confidence
limits, confidence level and decision, under a root container whose codes come from a
private coding scheme (``99RADVAL``, PS3.3 8.2: designators starting ``99`` are private).
The document belongs to a *validation pseudo-patient* (``RADVAL^VALIDATION``, Patient ID
``RADVAL-<study id>``): it summarises a whole test set, and no patient's name or ID from
the test set is written into it.

References
----------
DICOM PS3.3 A.35.3 (Comprehensive SR IOD), C.17 (SR Document modules); PS3.18 10.5
(STOW-RS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import highdicom as hd
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from validation import __version__
from validation.errors import DicomWebError

COMPREHENSIVE_SR = UID("1.2.840.10008.5.1.4.1.1.88.33")
SCHEME = "99RADVAL"


def _code(value: str, meaning: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


TITLE = _code("VALREPORT", "AI validation study report")
NO_UNITS = hd.sr.CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")
_HAS = hd.sr.RelationshipTypeValues.CONTAINS


def _text(name: str, meaning: str, value: object) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(
        name=_code(name, meaning), value=str(value)[:1024], relationship_type=_HAS
    )


def _num(name: str, meaning: str, value: float) -> hd.sr.NumContentItem:
    return hd.sr.NumContentItem(
        name=_code(name, meaning), value=float(value), unit=NO_UNITS, relationship_type=_HAS
    )


def _endpoint(ep: Mapping[str, Any]) -> hd.sr.ContainerContentItem:
    box = hd.sr.ContainerContentItem(name=_code("ENDPOINT", "Endpoint"), relationship_type=_HAS)
    items: list[Any] = [
        _text("ENDPOINTID", "Endpoint identifier", ep["id"]),
        _text("ROLE", "Endpoint role", ep["role"]),
        _text("METRIC", "Metric", ep["metric"]),
    ]
    for key, code, meaning in (
        ("estimate", "ESTIMATE", "Estimate"),
        ("ci_low", "CILOW", "Lower confidence limit"),
        ("ci_high", "CIHIGH", "Upper confidence limit"),
        ("confidence_level", "CONFLEVEL", "Confidence level"),
    ):
        if ep.get(key) is not None:
            items.append(_num(code, meaning, ep[key]))
    if ep.get("method"):
        items.append(_text("METHOD", "Method", ep["method"]))
    criterion = ep.get("criterion") or {}
    if criterion.get("text"):
        items.append(_text("CRITERION", "Acceptance criterion", criterion["text"]))
    items.append(_text("DECISION", "Decision", ep["decision"]))
    box.ContentSequence = hd.sr.ContentSequence(items)
    return box


def results_sr(doc: Mapping[str, Any], *, now: datetime | None = None) -> Dataset:
    """The study verdict and primary/secondary estimates of ``results.json`` as an SR.

    ``doc`` is the results document (:func:`validation.results.read_results_document`).
    """
    when = now or datetime.now(UTC)
    study = doc["study"]
    root = hd.sr.ContainerContentItem(name=TITLE, template_id=None)
    items: list[Any] = [
        _text("STUDYID", "Validation study identifier", study["id"]),
        _text("STUDYTITLE", "Validation study title", study["title"]),
        _text("PROTOCOLVERSION", "Protocol version", study["version"]),
        _text("VERDICT", "Study verdict", doc["verdict"]["decision"]),
        _text("MULTIPLICITY", "Multiplicity strategy", doc["verdict"]["multiplicity"]),
        _text("SOFTWARE", "Analysis software", f"radval {doc.get('radval_version', '')}"),
    ]
    items += [_endpoint(ep) for ep in doc["endpoints"] if ep["role"] in ("primary", "secondary")]
    root.ContentSequence = hd.sr.ContentSequence(items)

    ds = Dataset()
    sop_uid = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = COMPREHENSIVE_SR
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = sop_uid
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    ds.StudyDate = ds.ContentDate = ds.SeriesDate = date
    ds.StudyTime = ds.ContentTime = ds.SeriesTime = time
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.PatientName = "RADVAL^VALIDATION"
    ds.PatientID = _patient_id(str(study["id"]))
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyID = str(study["id"])[:16]
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"AI validation: {study['title']}"[:64]
    ds.SeriesDescription = "radval results"
    ds.Modality = "SR"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Manufacturer = "radval"
    ds.SoftwareVersions = __version__
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = []
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.CodingSchemeIdentificationSequence = [_scheme()]
    for element in root:
        ds.add(element)
    return ds


def _scheme() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = "radval validation report concepts"
    item.CodingSchemeResponsibleOrganization = "radval"
    return item


def _patient_id(study_id: str) -> str:
    return ("RADVAL-" + re.sub(r"[^A-Za-z0-9._-]", "_", study_id))[:64]


def stow(ds: Dataset, url: str, *, session: requests.Session) -> None:
    """Store ``ds`` with STOW-RS at the DICOMweb service ``url`` (no credentials in it)."""
    client = DICOMwebClient(url=url.rstrip("/"), session=session)
    try:
        client.store_instances([ds])
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        raise DicomWebError(f"{url}: STOW-RS of the results SR failed with HTTP {code}") from None
    except requests.RequestException as exc:
        raise DicomWebError(f"{url}: STOW-RS failed: {type(exc).__name__}") from None
