"""A deterministic synthetic multi-site chest-radiograph test set with lung nodules.

Real labelled radiographs cannot be installed offline, so radval's demo, examples and
end-to-end tests run on this set. :func:`generate_synthetic_dataset` writes real DICOM
files (through pydicom and its encoders), a manifest, lesion boxes and NIfTI lesion
masks::

    <out_dir>/images/<case_id>.dcm
    <out_dir>/masks/<case_id>.nii.gz
    <out_dir>/manifest.csv
    <out_dir>/lesions.csv

**Images.** A procedural chest radiograph: soft-edged body outline, two lung fields
narrowing to the apices with diaphragm domes, heart, mediastinum and spine, posterior
and anterior ribs and clavicles, breast shadows for women, and a lung-parenchyma
noise texture. Positive cases carry one or two nodules: soft, slightly lobulated
blobs of 11-50 mm (log-normal around 27 mm; large enough to be learnable at 128²)
with contrast drawn uniformly from 0.18-0.55 (attenuation units; lung-to-soft-tissue
is 0.34), placed inside the lung fields. Anatomy (body habitus, lung size,
inspiration, position) varies per patient and image, so rib crossings and vessels
act as anatomical noise.

**Difficulty (calibration).** The demo classifier (``models/demo_classifier.yaml``: a
MONAI ``DenseNet`` with 8 initial features, growth 8, blocks (2, 2, 2)) trained with
Lightning for 12 epochs (Adam, cosine decay from 0.003) on the 1,500 training cases of
the demo's 2,000-image training set at 128² (seed 11, prefix ``R``, half positive; the
other quarter of its patients is the tuning split) reaches a test AUC of 0.95-0.98 on 600
test images (seed 22, prefix ``T``): 0.97-1.0 on the Kestrel and Corvid detectors and
0.85-0.89 on the Borealis CR reader (measured 2026-12-04 on the 2-core CPU machine under
four CPU kernel/thread settings and four other seeds; ~40 s of training). The same
network at 48x48 (``models/demo_classifier_released.yaml``) reaches 0.73-0.84. With
the earlier recipe (10 epochs at a constant 0.001 on 600 images) the test AUC ranged
0.87-0.94 between seeds and CPUs. Contrast 0.12-0.38 left that model at chance after 10
epochs; 0.35-0.90 made every detector near-perfect.

**Sites and scanners.** Three sites (``Site A`` / ``B`` / ``C``, written as
Institution Name) use three detector models in different proportions. The
acquisition differs in contrast (gain), quantum noise and resolution (MTF blur,
and a 2x coarser effective pixel for the CR reader):

============================  =====  =====  =====  ==============  ============
manufacturer / model          gain   noise  blur   photometric     pixel coding
============================  =====  =====  =====  ==============  ============
Kestrel Medical KX-700 DR     1.00   0.010  0.6    MONOCHROME2     12 bit
Corvid Diagnostics CD-3 Flex  0.90   0.018  0.9    MONOCHROME2     14 bit, slope 0.25
Borealis Imaging BX-20 CR     0.70   0.050  1.4x2  MONOCHROME1     12 bit
============================  =====  =====  =====  ==============  ============

plus structured plate noise ("mottle") at the nodules' own scale: none on the
Kestrel, sd 0.006 on the Corvid and 0.03 on the Borealis reader (attenuation units;
nodule contrast is 0.18-0.55), so that nodules are truly harder to see on the Borealis CR reader. After
:func:`validation.data.dicom.read_dicom` every image has the same grey scale
(0-4095, higher = brighter), whatever its photometric interpretation and rescale.

**Files.** Each image is written with one of explicit VR little endian, deflated
explicit VR little endian, RLE lossless, JPEG-LS lossless or JPEG 2000 lossless
(pydicom's ``Dataset.compress``); the first image of every transfer syntax /
scanner combination is read back and compared pixel for pixel. Headers carry
synthetic raw identities (Patient Name ``SYNTH^<prefix><n>``, Patient ID
``SYN-<prefix>-<n>``) so that the pseudonymisation path is exercised; the manifest
holds only :func:`~validation.data.manifest.pseudonymise_id` of the Patient ID with
the fixed salt :data:`SYNTHETIC_SALT` (one salt for every synthetic set, so a
training and a test set can be checked for shared patients).

**Clusters.** About 15% of patients have a second, follow-up study (its own study
UID, same nodules shifted slightly), so ``patient_id`` is a real cluster unit.
Race and ethnicity mixes differ by site, as in real multi-site data.

**Determinism.** Everything derives from ``seed`` and ``id_prefix`` (UIDs via
``pydicom.uid.generate_uid`` with fixed entropy sources, fixed study dates), so two
runs write byte-identical files. Different prefixes give disjoint case and patient
identities (the demo's training set uses another prefix and seed).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pydicom.config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, generate_uid
from scipy import ndimage

from validation.data.dicom import read_dicom
from validation.data.manifest import pseudonymise_id, write_manifest
from validation.io import sha256_bytes

__all__ = [
    "MANIFEST_COLUMNS",
    "LESION_COLUMNS",
    "SCANNERS",
    "SITES",
    "SYNTHETIC_SALT",
    "Scanner",
    "SyntheticDataset",
    "generate_synthetic_dataset",
]

#: Salt used to pseudonymise the synthetic Patient IDs (the same for every set).
SYNTHETIC_SALT = "radval-synthetic-v1"

MANIFEST_COLUMNS = (
    "case_id",
    "patient_id",
    "path",
    "label",
    "site",
    "manufacturer",
    "manufacturer_model",
    "sex",
    "age",
    "race",
    "ethnicity",
    "view",
    "body_part",
    "study_uid",
    "sha256",
    "mask_path",
)
LESION_COLUMNS = ("case_id", "lesion_id", "x0", "y0", "x1", "y1", "weight", "diameter_mm")

_FOV_MM = 430.0  # detector field of view; pixel spacing = FOV / image_size
_FULL_SCALE = 4095.0
_STUDY_EPOCH = date(2024, 1, 2)


@dataclass(frozen=True)
class Scanner:
    """Acquisition model of one detector (see the module docstring's table)."""

    manufacturer: str
    model: str
    modality: str
    sop_class: str
    gain: float
    noise: float
    blur: float
    downsample: int
    photometric: str
    bits_stored: int
    rescale_slope: float
    mottle: float = 0.0  # structured (plate) noise at nodule scale, sd in attenuation units


SCANNERS: dict[str, Scanner] = {
    "kestrel": Scanner(
        "Kestrel Medical",
        "KX-700 DR",
        "DX",
        "1.2.840.10008.5.1.4.1.1.1.1",
        1.00,
        0.010,
        0.6,
        1,
        "MONOCHROME2",
        12,
        1.0,
    ),
    "corvid": Scanner(
        "Corvid Diagnostics",
        "CD-3 Flex",
        "DX",
        "1.2.840.10008.5.1.4.1.1.1.1",
        0.90,
        0.018,
        0.9,
        1,
        "MONOCHROME2",
        14,
        0.25,
        0.006,
    ),
    "borealis": Scanner(
        "Borealis Imaging",
        "BX-20 CR",
        "CR",
        "1.2.840.10008.5.1.4.1.1.1",
        0.70,
        0.050,
        1.4,
        2,
        "MONOCHROME1",
        12,
        1.0,
        0.030,
    ),
}

#: site -> (probability of a patient coming from it, scanner mix, race mix, share Hispanic)
SITES: dict[str, tuple[float, dict[str, float], dict[str, float], float]] = {
    "Site A": (
        0.40,
        {"kestrel": 0.75, "corvid": 0.25},
        {"White": 0.62, "Black or African American": 0.14, "Asian": 0.16, "Other": 0.08},
        0.10,
    ),
    "Site B": (
        0.35,
        {"corvid": 0.50, "borealis": 0.50},
        {"White": 0.45, "Black or African American": 0.35, "Asian": 0.08, "Other": 0.12},
        0.25,
    ),
    "Site C": (
        0.25,
        {"borealis": 0.75, "kestrel": 0.25},
        {"White": 0.70, "Black or African American": 0.08, "Asian": 0.04, "Other": 0.18},
        0.35,
    ),
}

_SYNTAXES = (
    (pydicom.uid.ExplicitVRLittleEndian, 0.40),
    (pydicom.uid.DeflatedExplicitVRLittleEndian, 0.08),
    (pydicom.uid.RLELossless, 0.20),
    (pydicom.uid.JPEGLSLossless, 0.20),
    (pydicom.uid.JPEG2000Lossless, 0.12),
)


@dataclass(frozen=True)
class SyntheticDataset:
    """Where a generated set lies: its folder, manifest, lesion table and size."""

    root: Path
    manifest_path: Path
    lesions_path: Path
    n_cases: int


@dataclass(frozen=True)
class _Nodule:
    x: float  # centre, normalised [-1, 1] image coordinates
    y: float
    diameter_mm: float
    contrast: float
    phase: tuple[float, float]


@dataclass(frozen=True)
class _Patient:
    number: int
    site: str
    sex: str
    age: int
    race: str
    ethnicity: str
    positive: bool
    habitus: tuple[float, float, float, float]  # body width, lung width, lung height, heart
    nodules: tuple[_Nodule, ...]
    n_images: int


def _prefix_entropy(prefix: str) -> int:
    return int.from_bytes(hashlib.sha256(prefix.encode("utf-8")).digest()[:8], "little")


def _choice(rng: np.random.Generator, options: dict[str, float]) -> str:
    names = list(options)
    weights = np.array([options[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _make_patients(n_cases: int, rng: np.random.Generator, prevalence: float) -> list[_Patient]:
    counts: list[int] = []
    while sum(counts) < n_cases:
        counts.append(2 if rng.random() < 0.15 and sum(counts) + 2 <= n_cases else 1)
    n_patients = len(counts)
    # Exact number of diseased patients, so that even a tiny set has both classes.
    n_pos = int(round(prevalence * n_patients))
    if 0 < prevalence < 1 and n_patients >= 2:
        n_pos = min(max(n_pos, 1), n_patients - 1)
    positive = np.zeros(n_patients, dtype=bool)
    positive[rng.permutation(n_patients)[:n_pos]] = True
    patients = []
    for i, n_images in enumerate(counts):
        site = _choice(rng, {s: v[0] for s, v in SITES.items()})
        _, _, races, hispanic = SITES[site]
        sex = "F" if rng.random() < 0.5 else "M"
        age = int(np.clip(round(rng.normal(58, 15)), 18, 95))
        race = _choice(rng, races)
        ethnicity = "Hispanic or Latino" if rng.random() < hispanic else "Not Hispanic or Latino"
        habitus = (
            float(rng.normal(1.0, 0.05) * (0.94 if sex == "F" else 1.0)),
            float(rng.normal(1.0, 0.05)),
            float(rng.normal(1.0, 0.05)),
            float(rng.normal(1.0, 0.08)),
        )
        nodules: tuple[_Nodule, ...] = ()
        if positive[i]:
            k = 1 if rng.random() < 0.8 else 2
            nodules = tuple(_sample_nodule(rng) for _ in range(k))
        patients.append(
            _Patient(
                i + 1,
                site,
                sex,
                age,
                race,
                ethnicity,
                bool(positive[i]),
                habitus,
                nodules,
                n_images,
            )
        )
    return patients


def _sample_nodule(rng: np.random.Generator) -> _Nodule:
    side = -1.0 if rng.random() < 0.5 else 1.0
    # Inside a lung field (checked again against the drawn lung mask).
    x = side * float(rng.uniform(0.22, 0.55))
    y = float(rng.uniform(-0.45, 0.35))
    diameter = float(np.clip(rng.lognormal(np.log(27.0), 0.3), 11.0, 50.0))
    contrast = float(rng.uniform(0.18, 0.55))
    return _Nodule(
        x,
        y,
        diameter,
        contrast,
        (float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
    )


# ------------------------------------------------------------------------ image model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class _Canvas:
    """Normalised coordinate grids for one image size (x to the right, y down)."""

    def __init__(self, size: int) -> None:
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
        self.size = size
        self.x, self.y = np.meshgrid(axis, axis, indexing="xy")
        self.scale = size / 256.0
        self.half = _Canvas(size // 2) if size >= 128 and size % 2 == 0 else None

    def ellipse(self, cx: float, cy: float, ax: float, ay: float, edge: float) -> np.ndarray:
        r = np.sqrt(((self.x - cx) / ax) ** 2 + ((self.y - cy) / ay) ** 2)
        return _sigmoid((1.0 - r) / edge)


def _lung(c: _Canvas, cx: float, cy: float, ax: float, ay: float, side: float) -> np.ndarray:
    t = (c.y - cy) / ay
    # Narrow apex, wide base, flat medial border: width grows from top to bottom.
    width = ax * (0.45 + 0.55 * np.clip((t + 1.0) / 1.3, 0.0, 1.0) ** 0.6)
    u = (c.x - cx) / width
    u = np.where(side * u < 0, u * 1.25, u)  # medial border straighter
    r = np.sqrt(u**2 + t**2)
    return _sigmoid((1.0 - r) / 0.05)


def _upsample2(a: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling between pixel-centred grids (4x cheaper than ndimage.zoom)."""
    p = np.pad(a, 1, mode="edge")
    rows = np.empty((2 * a.shape[0], a.shape[1] + 2), dtype=a.dtype)
    rows[0::2] = 0.75 * p[1:-1] + 0.25 * p[:-2]
    rows[1::2] = 0.75 * p[1:-1] + 0.25 * p[2:]
    out = np.empty((rows.shape[0], 2 * a.shape[1]), dtype=a.dtype)
    out[:, 0::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, :-2]
    out[:, 1::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, 2:]
    return out


def _smooth_anatomy(
    c: _Canvas, rng: np.random.Generator, patient: _Patient, shift: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Body, lungs, heart, mediastinum, spine, ribs, breasts: (attenuation, lung mask)."""
    body_w, lung_w, lung_h, heart = patient.habitus
    dx, dy = shift
    inspiration = float(rng.normal(1.0, 0.03))
    body = c.ellipse(dx, 0.12 + dy, 0.86 * body_w, 1.18, 0.035)
    lung_r = _lung(
        c, -0.37 * body_w + dx, -0.04 + dy, 0.30 * lung_w, 0.62 * lung_h * inspiration, -1.0
    )
    lung_l = _lung(
        c, 0.37 * body_w + dx, -0.02 + dy, 0.29 * lung_w, 0.61 * lung_h * inspiration, 1.0
    )
    heart_m = c.ellipse(0.12 * heart + dx, 0.36 + dy, 0.31 * heart, 0.25 * heart, 0.12)
    lungs = np.clip(lung_r + lung_l - heart_m * lung_l * 0.9, 0.0, 1.0) * body
    medi = _sigmoid((0.11 - np.abs(c.x - dx)) / 0.025) * body
    spine = _sigmoid((0.055 - np.abs(c.x - dx)) / 0.012) * body
    vertebrae = 0.5 + 0.5 * np.cos((c.y - dy) * np.pi * 11.0)

    att = 0.50 * body + 0.14 * medi + (0.05 + 0.03 * vertebrae) * spine + 0.13 * heart_m * body
    att -= 0.34 * lungs
    att += _ribs(c, dx, dy, body_w, lung_h * inspiration, rng) * body
    if patient.sex == "F":
        for side in (-1.0, 1.0):
            att += 0.07 * c.ellipse(side * 0.42 * body_w + dx, 0.52 + dy, 0.34, 0.26, 0.12) * body
    hilum = c.ellipse(dx, -0.02 + dy, 0.45, 0.35, 0.2)
    return att, np.stack([lungs, lungs * (0.7 + 0.6 * hilum)])


def _anatomy(
    c: _Canvas, rng: np.random.Generator, patient: _Patient, shift: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (attenuation image, lung mask) for one acquisition.

    The smooth anatomy is drawn on a half-resolution grid and upsampled when the
    image is large enough (its finest structure, a rib edge, still spans pixels);
    the parenchymal texture is drawn at full resolution.
    """
    if c.half is not None:
        att_h, lung_h = _smooth_anatomy(c.half, rng, patient, shift)
        att = _upsample2(att_h)
        lungs, texture_weight = _upsample2(lung_h[0]), _upsample2(lung_h[1])
    else:
        att, both = _smooth_anatomy(c, rng, patient, shift)
        lungs, texture_weight = both[0], both[1]
    # Parenchymal texture (vessels, overlapping structures) as band-limited noise:
    # fine grain at full resolution, coarse mottle from a 4x coarser noise field.
    size = c.size
    fine = ndimage.gaussian_filter(
        rng.standard_normal((size, size)).astype(np.float32), 1.2 * c.scale, truncate=2.5
    )
    if size % 4 == 0:
        coarse = ndimage.gaussian_filter(
            rng.standard_normal((size // 4, size // 4)).astype(np.float32), c.scale, truncate=2.5
        )
        coarse = _upsample2(_upsample2(coarse))
    else:
        coarse = ndimage.gaussian_filter(
            rng.standard_normal((size, size)).astype(np.float32), 4.0 * c.scale
        )
    fine *= 0.022 / (fine.std() + 1e-9)
    coarse *= 0.022 / (coarse.std() + 1e-9)
    att += (fine + coarse) * texture_weight
    return att, lungs


def _ribs(
    c: _Canvas, dx: float, dy: float, body_w: float, lung_h: float, rng: np.random.Generator
) -> np.ndarray:
    """Posterior and anterior ribs and clavicles.

    The ten ribs of one side are evenly spaced copies of one curve, so the distance
    to the nearest rib is computed for all ten at once from the phase of
    ``(y - curve(x)) / spacing`` (one pass per family instead of one per rib).
    """
    out = np.zeros_like(c.x)
    thick = 0.028
    spacing = 0.115 * lung_h * float(rng.normal(1.0, 0.02))
    first = -0.62 + dy
    for side in (-1.0, 1.0):
        u = side * (c.x - dx) / body_w  # 0 at the spine, ~0.85 laterally
        lateral = _sigmoid((u - 0.05) / 0.02) * _sigmoid((0.86 - u) / 0.04)
        # Posterior ribs rise from the spine, then sweep down laterally.
        phase = (c.y - (first - 0.10 * u + 0.55 * u**2)) / spacing
        k = np.round(phase)
        d = np.abs(phase - k) * spacing / thick
        keep = (k >= 0) & (k <= 9)
        out += (
            np.where(keep, 0.08 * np.exp(-(d**2)) * (0.6 + 0.4 * np.minimum(d, 1.0)), 0.0) * lateral
        )
        # Anterior ribs: fainter, sloping down towards the sternum.
        phase = (c.y - (first + 0.12 + 0.30 * (0.85 - u) ** 2)) / spacing
        k = np.round(phase)
        d = np.abs(phase - k) * spacing / (thick * 1.2)
        keep = (k >= 0) & (k <= 8)
        out += np.where(keep, 0.035 * np.exp(-(d**2)), 0.0) * lateral * _sigmoid((u - 0.25) / 0.05)
        clav = -0.66 + dy + 0.18 * (u * body_w - 0.3) ** 2
        d = np.abs(c.y - clav) / 0.03
        out += (
            0.07
            * np.exp(-(d**2))
            * _sigmoid((u * body_w - 0.06) / 0.02)
            * _sigmoid((0.75 - u * body_w) / 0.04)
        )
    return out


def _nodule_image(
    c: _Canvas, nodule: _Nodule, shift: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (attenuation profile, mask) of one nodule."""
    radius = max(nodule.diameter_mm / 2.0 / (_FOV_MM / c.size), 1.2) * 2.0 / c.size
    cx, cy = nodule.x + shift[0], nodule.y + shift[1]
    theta = np.arctan2(c.y - cy, c.x - cx)
    lobes = (
        1.0
        + 0.12 * np.cos(3 * theta + nodule.phase[0])
        + 0.07 * np.cos(5 * theta + nodule.phase[1])
    )
    r = np.sqrt((c.x - cx) ** 2 + (c.y - cy) ** 2) / (radius * lobes)
    profile = np.clip(1.0 - r**2, 0.0, 1.0) ** 1.3 * nodule.contrast
    return profile.astype(np.float32), r < 1.0


def _acquire(
    att: np.ndarray, scanner: Scanner, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Detector model: gain, MTF blur, coarse sampling, quantum noise, 12-bit range."""
    signal = att * scanner.gain
    signal = ndimage.gaussian_filter(signal, scanner.blur * scale)
    if scanner.downsample > 1:
        f = scanner.downsample
        size = signal.shape[0]
        coarse = signal[: size - size % f, : size - size % f]
        coarse = coarse.reshape(size // f, f, size // f, f).mean(axis=(1, 3))
        # Coarser detector elements: each one covers f x f output pixels.
        up = np.repeat(np.repeat(coarse, f, axis=0), f, axis=1)
        signal = np.pad(up, ((0, size - up.shape[0]), (0, size - up.shape[1])), mode="edge")
    if scanner.mottle > 0:
        # Phosphor-plate structure: noise with power at the nodules' own scale, so it
        # competes with them directly (white noise is mostly averaged away).
        mottle = ndimage.gaussian_filter(
            rng.standard_normal(signal.shape).astype(np.float32), 3.5 * scale, truncate=2.5
        )
        signal = signal + mottle * (scanner.mottle / (mottle.std() + 1e-9))
    noise = rng.standard_normal(signal.shape).astype(np.float32)
    signal = signal + noise * scanner.noise * np.sqrt(0.25 + np.clip(signal, 0, None))
    value = np.clip(np.round((0.04 + signal) / 0.75 * _FULL_SCALE), 0, _FULL_SCALE)
    return value.astype(np.uint16)


# ------------------------------------------------------------------------ DICOM files


def _uid(*parts: object) -> str:
    return str(generate_uid(entropy_srcs=[str(p) for p in parts]))


def _dataset(
    value: np.ndarray,
    *,
    scanner: Scanner,
    patient: _Patient,
    prefix: str,
    seed: int,
    case_id: str,
    visit: int,
    view: str,
    study_date: date,
    syntax: str,
) -> Dataset:
    size = value.shape[0]
    spacing = _FOV_MM / size
    stored = value.astype(np.uint16)
    if scanner.photometric == "MONOCHROME1":
        stored = (_FULL_SCALE - stored).astype(np.uint16)
    if scanner.rescale_slope != 1.0:
        stored = np.round(stored / scanner.rescale_slope).astype(np.uint16)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(scanner.sop_class)
    sop_uid = _uid("radval-synthetic", prefix, seed, case_id, "sop")
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = scanner.sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "093000"
    ds.AccessionNumber = f"ACC{prefix}{patient.number:05d}{visit}"
    ds.Modality = scanner.modality
    ds.Manufacturer = scanner.manufacturer
    ds.ManufacturerModelName = scanner.model
    ds.InstitutionName = patient.site
    ds.ReferringPhysicianName = ""
    ds.PatientName = f"SYNTH^{prefix}{patient.number:04d}"
    ds.PatientID = f"SYN-{prefix}-{patient.number:05d}"
    ds.PatientBirthDate = ""
    ds.PatientSex = patient.sex
    ds.PatientAge = f"{patient.age:03d}Y"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.PatientOrientation = ["L", "F"] if view == "AP" else ["R", "F"]
    ds.StudyInstanceUID = _uid("radval-synthetic", prefix, seed, patient.number, visit, "study")
    ds.SeriesInstanceUID = _uid("radval-synthetic", prefix, seed, case_id, "series")
    ds.StudyID = f"{visit}"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if scanner.modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImagerPixelSpacing = [f"{spacing:.4f}", f"{spacing:.4f}"]
    ds.PixelSpacing = [f"{spacing:.4f}", f"{spacing:.4f}"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = scanner.photometric
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = scanner.bits_stored
    ds.HighBit = scanner.bits_stored - 1
    ds.PixelRepresentation = 0
    if scanner.rescale_slope != 1.0:
        ds.RescaleSlope = f"{scanner.rescale_slope}"
        ds.RescaleIntercept = "0"
        ds.RescaleType = "US"
    ds.WindowCenter = "2048"
    ds.WindowWidth = "4096"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PixelData = stored.tobytes()
    if syntax in (
        pydicom.uid.RLELossless,
        pydicom.uid.JPEGLSLossless,
        pydicom.uid.JPEG2000Lossless,
    ):
        ds.compress(syntax, generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = UID(syntax)
    return ds


def _encode(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _write_fast(path: Path, data: bytes) -> None:
    """Write bytes atomically (temporary file + rename) without fsync.

    ``validation.io.write_bytes_atomic`` also fsyncs, which costs ~8 ms a file here;
    a synthetic set is reproducible from its seed, so only atomicity (no partial
    file ever visible under the final name) matters, not durability on power loss.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mask_bytes(mask: np.ndarray, spacing: float) -> bytes:
    affine = np.diag([spacing, spacing, 1.0, 1.0])
    image = nib.Nifti1Image(mask.astype(np.uint8), affine)
    image.header.set_xyzt_units("mm")
    buffer = io.BytesIO()
    file_map = nib.Nifti1Image.make_file_map({"image": buffer, "header": buffer})
    image.to_file_map(file_map)
    # nibabel gzips only through file names; compress here, deterministically (mtime 0).
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0)


def generate_synthetic_dataset(
    out_dir: str | os.PathLike[str],
    *,
    n_cases: int = 400,
    seed: int = 0,
    image_size: int = 256,
    prevalence: float = 0.3,
    id_prefix: str = "T",
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticDataset:
    """Write a synthetic multi-site chest-radiograph test set (see the module docs).

    Parameters
    ----------
    out_dir
        Folder to write into (created if needed). Existing files of the same names
        are replaced atomically.
    n_cases
        Number of images (cases); about 15% of patients contribute two.
    seed
        Seed of every random choice; the same seed and prefix give identical bytes.
    image_size
        Rows = columns of every image (pixel spacing = 430 mm / image_size).
    prevalence
        Share of patients with nodules (exact, rounded; at least one of each class
        when 0 < prevalence < 1 and there are two or more patients).
    id_prefix
        Prefix of case IDs and raw patient identities; use a different one (and
        seed) for a disjoint training set.
    progress
        Called as ``progress(done, total)`` after each image.

    Returns
    -------
    SyntheticDataset

    Examples
    --------
    >>> ds = generate_synthetic_dataset("/tmp/synth", n_cases=20, image_size=64)
    >>> ds.n_cases
    20
    """
    if n_cases < 1:
        raise ValueError(f"n_cases must be at least 1, got {n_cases}")
    if not 0.0 <= prevalence <= 1.0:
        raise ValueError(f"prevalence must be between 0 and 1, got {prevalence}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")
    if not id_prefix or not id_prefix.isalnum():
        raise ValueError(f"id_prefix must be a non-empty alphanumeric string, got {id_prefix!r}")
    root = Path(out_dir)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)

    seq = np.random.SeedSequence([int(seed), _prefix_entropy(id_prefix)])
    cohort_seq, image_seq = seq.spawn(2)
    patients = _make_patients(n_cases, np.random.default_rng(cohort_seq), prevalence)
    canvas = _Canvas(image_size)
    spacing = _FOV_MM / image_size
    syntax_names = [s for s, _ in _SYNTAXES]
    syntax_p = np.array([p for _, p in _SYNTAXES])
    verified: set[tuple[str, str]] = set()
    empty_mask: bytes | None = None

    rows: list[dict[str, object]] = []
    lesions: list[dict[str, object]] = []
    case_seqs = iter(image_seq.spawn(n_cases))
    index = 0
    for patient in patients:
        _, scanner_mix, _, _ = SITES[patient.site]
        for visit in range(1, patient.n_images + 1):
            index += 1
            case_id = f"{id_prefix}{index:05d}"
            rng = np.random.default_rng(next(case_seqs))
            scanner_key = _choice(rng, scanner_mix)
            scanner = SCANNERS[scanner_key]
            view = "AP" if rng.random() < 0.12 else "PA"
            syntax = syntax_names[int(rng.choice(len(syntax_names), p=syntax_p))]
            shift = (float(rng.normal(0, 0.02)), float(rng.normal(0, 0.02)))
            att, lungs = _anatomy(canvas, rng, patient, shift)
            mask = np.zeros(att.shape, dtype=bool)
            case_lesions = []
            for nodule in patient.nodules:
                jitter = (
                    shift[0] + float(rng.normal(0, 0.01)),
                    shift[1] + float(rng.normal(0, 0.01)),
                )
                profile, region = _nodule_image(canvas, nodule, jitter)
                # Partly hidden behind heart or diaphragm: attenuated outside the lungs.
                att += profile * (0.35 + 0.65 * lungs)
                mask |= region
                case_lesions.append((nodule, region))
            value = _acquire(att, scanner, canvas.scale, rng)
            study_date = _STUDY_EPOCH + timedelta(
                days=int((patient.number * 7919 + visit * 97) % 700)
            )
            # The values are ours and valid; pydicom's per-element validation costs ~10%.
            with pydicom.config.disable_value_validation():
                ds = _dataset(
                    value,
                    scanner=scanner,
                    patient=patient,
                    prefix=id_prefix,
                    seed=seed,
                    case_id=case_id,
                    visit=visit,
                    view=view,
                    study_date=study_date,
                    syntax=syntax,
                )
                data = _encode(ds)
            image_rel = f"images/{case_id}.dcm"
            mask_rel = f"masks/{case_id}.nii.gz"
            _write_fast(root / image_rel, data)
            if (syntax, scanner_key) not in verified:
                _verify_round_trip(root / image_rel, value)
                verified.add((syntax, scanner_key))
            if mask.any():
                _write_fast(root / mask_rel, _mask_bytes(mask, spacing))
            else:
                if empty_mask is None:
                    empty_mask = _mask_bytes(mask, spacing)
                _write_fast(root / mask_rel, empty_mask)
            for k, (nodule, region) in enumerate(case_lesions, start=1):
                ys, xs = np.nonzero(region)
                lesions.append(
                    {
                        "case_id": case_id,
                        "lesion_id": k,
                        "x0": int(xs.min()),
                        "y0": int(ys.min()),
                        "x1": int(xs.max()) + 1,
                        "y1": int(ys.max()) + 1,
                        "weight": round(1.0 / len(case_lesions), 6),
                        "diameter_mm": round(nodule.diameter_mm, 1),
                    }
                )
            rows.append(
                {
                    "case_id": case_id,
                    "patient_id": pseudonymise_id(str(ds.PatientID), SYNTHETIC_SALT),
                    "path": image_rel,
                    "label": int(patient.positive),
                    "site": patient.site,
                    "manufacturer": scanner.manufacturer,
                    "manufacturer_model": scanner.model,
                    "sex": patient.sex,
                    "age": patient.age,
                    "race": patient.race,
                    "ethnicity": patient.ethnicity,
                    "view": view,
                    "body_part": "CHEST",
                    "study_uid": str(ds.StudyInstanceUID),
                    "sha256": sha256_bytes(data),
                    "mask_path": mask_rel,
                }
            )
            if progress is not None:
                progress(index, n_cases)

    manifest_path = root / "manifest.csv"
    lesions_path = root / "lesions.csv"
    write_manifest(pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)), manifest_path)
    write_manifest(pd.DataFrame(lesions, columns=list(LESION_COLUMNS)), lesions_path)
    return SyntheticDataset(
        root=root, manifest_path=manifest_path, lesions_path=lesions_path, n_cases=n_cases
    )


def _verify_round_trip(path: Path, value: np.ndarray) -> None:

    pixels = read_dicom(path).pixels
    if pixels.shape != value.shape or not np.array_equal(pixels, value.astype(np.float32)):
        raise RuntimeError(f"{path}: synthetic image does not read back as written")
