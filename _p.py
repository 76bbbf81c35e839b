import sys; sys.path.insert(0,'tests')
import highdicom as hd, numpy as np
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid
from dicom_support import ct_series, save, FINDING, NODULE
ct = ct_series(n_slices=1, rows=64, cols=64, spacing=0.5)
src = hd.sr.SourceImageForRegion.from_source_image(ct[0])
groups=[]
for i,(gt,data) in enumerate([(hd.sr.GraphicTypeValues.POLYLINE, np.array([[10,10],[20,10],[20,30],[10,30],[10,10]],float)),(hd.sr.GraphicTypeValues.POINT, np.array([[5.,6.]]))]):
    region = hd.sr.ImageRegion(graphic_type=gt, graphic_data=data, source_image=src)
    m = hd.sr.Measurement(name=hd.sr.CodedConcept("111047","DCM","Probability of cancer"), value=0.25*(i+1), unit=codes.UCUM.NoUnits if hasattr(codes.UCUM,'NoUnits') else hd.sr.CodedConcept("1","UCUM","no units"))
    g = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"lesion {i+1}"), referenced_region=region, finding_type=NODULE, measurements=[m])
    groups.append(g)
obs = hd.sr.ObserverContext(observer_type=codes.DCM.Device, observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=generate_uid(), name="cad"))
report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_person_context=None, observer_device_context=hd.sr.ObserverContext(observer_type=codes.DCM.Device, observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=generate_uid(), name="cad"))), procedure_reported=codes.LN.CTUnspecifiedBodyRegion if hasattr(codes.LN,'CTUnspecifiedBodyRegion') else hd.sr.CodedConcept("25045-6","LN","CT unspecified body region"), imaging_measurements=groups)
sr = hd.sr.Comprehensive3DSR(evidence=ct, content=report[0], series_number=5, series_instance_uid=generate_uid(), sop_instance_uid=generate_uid(), instance_number=1, manufacturer="t")
save(sr, __import__('pathlib').Path('/tmp/sr.dcm'))
r = hd.sr.srread('/tmp/sr.dcm')
for g in r.content.get_planar_roi_measurement_groups():
    roi=g.roi
    print(type(roi).__name__, roi.GraphicType, roi.value, g.finding_type, g.tracking_identifier, g.tracking_uid)
    for m in g.get_measurements(): print(' ', m.name, m.value, m.unit)
    print(' src', roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID if 'ContentSequence' in roi else None)
print(r.StudyInstanceUID==ct[0].StudyInstanceUID)
