import html
import json

import pytest

from evidence.checks.aigc_labels import AigcLabelCheck, classify_digital_source_type
from evidence.checks.base import CheckContext, Severity
from evidence.imaging import decode
from tests.evidence.images import (
    QUIET_CAMERA_FILES,
    camera_exif,
    jpeg_bytes,
    png_bytes,
    webp_bytes,
    xmp_packet,
)

CHECK = AigcLabelCheck()
TC260 = {"TC260": "http://www.tc260.org.cn/ns/AIGC/1.0/"}
IPTC = {"Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"}
LABEL = {
    "Label": "1",
    "ContentProducer": "001191110108MA01KP2T5U00000",
    "ProduceID": "20250901-abc",
    "ReservedCode1": "",
    "ContentPropagator": "",
    "PropagateID": "",
    "ReservedCode2": "",
}


def run(data: bytes):
    return CHECK.run(decode(data), CheckContext())


def only(findings, code):
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, [f.code for f in findings]
    return matching[0]


def test_xmp_element_with_escaped_json_is_critical_for_label_1():
    value = html.escape(json.dumps(LABEL))
    xmp = xmp_packet(f"|<TC260:AIGC>{value}</TC260:AIGC>", TC260)

    finding = only(run(jpeg_bytes(xmp=xmp)), "aigc_label_generated")

    assert finding.severity == Severity.CRITICAL
    assert finding.params["producer"] == LABEL["ContentProducer"]
    assert finding.details["fields"]["ProduceID"] == "20250901-abc"
    json.dumps(finding.details)


def test_xmp_attribute_label_is_read():
    value = html.escape(json.dumps({**LABEL, "Label": "2"}), quote=True)
    xmp = xmp_packet(f'TC260:AIGC="{value}"|', TC260)

    finding = only(run(jpeg_bytes(xmp=xmp)), "aigc_label_possibly_generated")

    assert finding.severity == Severity.HIGH


def test_label_3_is_medium_suspected():
    xmp = xmp_packet(
        f"|<TC260:AIGC>{html.escape(json.dumps({**LABEL, 'Label': '3'}))}</TC260:AIGC>", TC260
    )

    assert only(run(webp_bytes(xmp=xmp)), "aigc_label_suspected").severity == Severity.MEDIUM


@pytest.mark.parametrize(
    "text",
    [json.dumps(LABEL), json.dumps({"AIGC": LABEL}), json.dumps({"AIGC": json.dumps(LABEL)})],
    ids=["raw", "wrapped", "wrapped-string"],
)
def test_png_text_chunk_keyed_aigc(text):
    finding = only(run(png_bytes(text={"AIGC": text})), "aigc_label_generated")

    assert finding.details["found_in"] == "text:AIGC"


def test_png_itxt_chunk_with_chinese_producer():
    label = {**LABEL, "ContentProducer": "某某科技有限公司"}

    finding = only(
        run(png_bytes(itxt={"AIGC": json.dumps(label, ensure_ascii=False)})), "aigc_label_generated"
    )

    assert finding.params["producer"] == "某某科技有限公司"


def test_exif_user_comment_json():
    comment = b"ASCII\x00\x00\x00" + json.dumps({"AIGC": LABEL}).encode()

    only(run(jpeg_bytes(exif=camera_exif(user_comment=comment))), "aigc_label_generated")


def test_exif_user_comment_in_unicode():
    comment = b"UNICODE\x00" + json.dumps(LABEL).encode("utf-16-le")

    only(run(jpeg_bytes(exif=camera_exif(user_comment=comment))), "aigc_label_generated")


def test_exif_image_description_json():
    only(run(jpeg_bytes(exif=camera_exif(description=json.dumps(LABEL)))), "aigc_label_generated")


def test_bare_aigc_key_without_tc260_fields_is_ignored():
    findings = run(png_bytes(text={"AIGC": json.dumps({"AIGC": {"model": "x", "score": 0.3}})}))

    assert findings == []


def test_json_without_label_outside_an_aigc_key_is_ignored():
    findings = run(jpeg_bytes(exif=camera_exif(description=json.dumps({"ProduceID": "x"}))))

    assert findings == []


def test_unknown_label_value_is_reported_as_unrecognised():
    finding = only(
        run(png_bytes(text={"AIGC": json.dumps({**LABEL, "Label": "9"})})),
        "aigc_label_unrecognised",
    )

    assert finding.params["label"] == "9"


def test_same_label_in_two_places_is_reported_once():
    xmp = xmp_packet(f"|<TC260:AIGC>{html.escape(json.dumps(LABEL))}</TC260:AIGC>", TC260)
    data = jpeg_bytes(xmp=xmp, exif=camera_exif(description=json.dumps(LABEL)))

    assert len([f for f in run(data) if f.code == "aigc_label_generated"]) == 1


def test_malformed_xmp_falls_back_to_textual_match():
    value = html.escape(json.dumps(LABEL), quote=True)
    broken = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        f'TC260:AIGC="{value}"><unclosed></x:xmpmeta>'
    ).encode()

    only(run(jpeg_bytes(xmp=broken)), "aigc_label_generated")


def test_xml_bomb_in_xmp_does_not_explode():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    )

    assert run(jpeg_bytes(xmp=bomb)) == []


@pytest.mark.parametrize(
    ("term", "code", "severity"),
    [
        ("trainedAlgorithmicMedia", "aigc_iptc_ai_generated", Severity.CRITICAL),
        ("compositeWithTrainedAlgorithmicMedia", "aigc_iptc_ai_composite", Severity.HIGH),
        ("algorithmicMedia", "aigc_iptc_synthetic", Severity.HIGH),
        ("compositeSynthetic", "aigc_iptc_synthetic", Severity.HIGH),
        ("composite", "aigc_iptc_edited", Severity.MEDIUM),
    ],
)
def test_iptc_digital_source_type(term, code, severity):
    uri = f"http://cv.iptc.org/newscodes/digitalsourcetype/{term}"
    xmp = xmp_packet(f'Iptc4xmpExt:DigitalSourceType="{uri}"|', IPTC)

    finding = only(run(jpeg_bytes(xmp=xmp)), code)

    assert finding.severity == severity
    assert finding.params["term"] == term


def test_iptc_source_type_as_element_with_resource():
    uri = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    xmp = xmp_packet(f'|<Iptc4xmpExt:DigitalSourceType rdf:resource="{uri}"/>', IPTC)

    only(run(png_bytes(xmp=xmp)), "aigc_iptc_ai_generated")


def test_digital_capture_is_not_a_signal():
    uri = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    xmp = xmp_packet(f"|<Iptc4xmpExt:DigitalSourceType>{uri}</Iptc4xmpExt:DigitalSourceType>", IPTC)

    assert run(jpeg_bytes(xmp=xmp)) == []
    assert classify_digital_source_type(uri) == "capture"


@pytest.mark.parametrize("path", QUIET_CAMERA_FILES, ids=lambda p: p.name)
def test_real_camera_photos_carry_no_ai_label(path):
    assert CHECK.run(decode(path.read_bytes()), CheckContext()) == []
