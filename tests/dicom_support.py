"""Real DICOM objects for the SEG/SR/DICOMweb tests: a synthetic CT series (pydicom) and
DICOM SEG / TID 1500 SR built on it with highdicom. Nothing here is a mock."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

FINDING = hd.sr.CodedConcept(value="39607008", scheme_designator="SCT", meaning="Lung")
NODULE = hd.sr.CodedConcept(value="27925004", scheme_designator="SCT", meaning="Nodule")


def ct_series(
    *,
    n_slices: int,
    rows: int,
    cols: int,
    spacing: float,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    slice_spacing: float = 2.0,
    frame_uid: str | None = None,
    study_uid: str | None = None,
    patient_id: str = "SYN-0001",
) -> list[Dataset]:
    """A synthetic axial CT series (in memory) with full geometry."""
    frame_uid = frame_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    out = []
    for k in range(n_slices):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        sop = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientID = patient_id
        ds.PatientName = "SYNTH^CT"
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.StudyDate = "20260101"
        ds.StudyTime = "090000"
        ds.AccessionNumber = "ACC1"
        ds.StudyID = "1"
        ds.ReferringPhysicianName = ""
        ds.Modality = "CT"
        ds.Manufacturer = "radval-tests"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * slice_spacing]
        ds.PixelSpacing = [spacing, spacing]
        ds.SliceThickness = slice_spacing
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.PixelData = np.full((rows, cols), 1024, dtype=np.uint16).tobytes()
        out.append(ds)
    return out


def segment(
    label: str, number: int, code: hd.sr.CodedConcept = NODULE
) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=code,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="radval-test-model", version="1", family=codes.cid7162.ArtificialIntelligence
        ),
    )


def make_seg(
    sources: list[Dataset],
    masks: np.ndarray,
    *,
    labels: Sequence[str] = ("nodule",),
    fractional: bool = False,
) -> hd.seg.Segmentation:
    """A SEG over ``sources``; ``masks`` is ``(slices, rows, cols[, segments])``."""
    arr = masks if masks.ndim == 4 else masks[..., None]
    descriptions = [segment(lab, i + 1) for i, lab in enumerate(labels)]
    if fractional:
        seg_type = hd.seg.SegmentationTypeValues.FRACTIONAL
        arr = arr.astype(np.float32)
    else:
        seg_type = hd.seg.SegmentationTypeValues.BINARY
        arr = arr.astype(np.uint8)
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=arr,
        segmentation_type=seg_type,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=100,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="radval-tests",
        manufacturer_model_name="seg-model",
        software_versions="1",
        device_serial_number="1",
        omit_empty_frames=False,
    )


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines ``dciodvfy`` (dicom3tools) prints for ``path``; [] when clean."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        raise RuntimeError("dciodvfy is not installed (Debian package dicom3tools)")
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def read(path: Path) -> Dataset:
    return pydicom.dcmread(path)


PROBABILITY = hd.sr.CodedConcept(
    value="111047", scheme_designator="DCM", meaning="Probability of cancer"
)
NO_UNITS = hd.sr.CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")


def roi_group(
    source: Dataset,
    region: tuple[str, Sequence[Sequence[float]]],
    *,
    tracking: str,
    finding: hd.sr.CodedConcept = NODULE,
    score: float | None = None,
    qualitative: tuple[hd.sr.CodedConcept, hd.sr.CodedConcept] | None = None,
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """A TID 1410 group: ``region`` is ``(graphic type, [[column, row], ...])``."""
    kind, data = region
    image_region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues[kind],
        graphic_data=np.asarray(data, dtype=float),
        source_image=hd.sr.SourceImageForRegion.from_source_image(source),
    )
    measurements = []
    if score is not None:
        measurements.append(hd.sr.Measurement(name=PROBABILITY, value=score, unit=NO_UNITS))
    evaluations = []
    if qualitative is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(name=qualitative[0], value=qualitative[1]))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=tracking),
        referenced_region=image_region,
        finding_type=finding,
        measurements=measurements or None,
        qualitative_evaluations=evaluations or None,
    )


def make_sr(sources: list[Dataset], groups: list) -> hd.sr.Comprehensive3DSR:
    """A TID 1500 measurement report by a device observer over ``sources``."""
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="radval-test-cad"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=hd.sr.CodedConcept("25045-6", "LN", "CT unspecified body region"),
        imaging_measurements=groups or None,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=sources,
        content=report[0],
        series_number=5,
        series_instance_uid=generate_uid(),
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="radval-tests",
    )


ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@dataclass(frozen=True)
class OrthancServer:
    """A real Orthanc on a loopback port: REST at ``rest``, DICOMweb at ``dicomweb``."""

    rest: str
    dicomweb: str
    user: str
    password: str

    def upload(self, path: Path) -> None:
        """Store one DICOM file byte for byte (Orthanc REST ``POST /instances``)."""
        r = requests.post(
            f"{self.rest}/instances",
            data=path.read_bytes(),
            auth=(self.user, self.password),
            timeout=30,
        )
        r.raise_for_status()


def orthanc_missing() -> str | None:
    """Why a real Orthanc cannot be started here (``None`` when it can)."""
    if not ORTHANC.is_file():
        return f"{ORTHANC} is missing: apt-get install orthanc orthanc-dicomweb"
    if not DICOMWEB_PLUGIN.is_file():
        return f"{DICOMWEB_PLUGIN} is missing: apt-get install orthanc-dicomweb"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def orthanc_server(folder: Path) -> Iterator[OrthancServer]:
    """Start Orthanc (DICOMweb plugin, basic auth, loopback only, storage in ``folder``)."""
    port = _free_port()
    password = secrets.token_hex(12)
    config = {
        "Name": "radval-test",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {"radval": password},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = (folder / "orthanc.log").open("w")
    proc = subprocess.Popen([str(ORTHANC), str(folder / "orthanc.json")], stdout=log, stderr=log)
    server = OrthancServer(
        rest=f"http://127.0.0.1:{port}",
        dicomweb=f"http://127.0.0.1:{port}/dicom-web",
        user="radval",
        password=password,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{server.rest}/system", auth=("radval", password), timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start; see {folder / 'orthanc.log'}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
