import json

import pytest

from evidence.checks.base import CheckContext, Severity
from evidence.checks.generator_traces import GeneratorTraceCheck
from evidence.imaging import decode
from tests.evidence.images import (
    C2PA,
    QUIET_CAMERA_FILES,
    camera_exif,
    jpeg_bytes,
    png_bytes,
    xmp_packet,
)

CHECK = GeneratorTraceCheck()
A1111 = (
    "a cracked ceramic mug on a wooden table, photo, realistic, 4k\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512,"
    " Model hash: 6ce0161689, Model: v1-5-pruned-emaonly"
)


def run(data: bytes):
    return CHECK.run(decode(data), CheckContext())


def only(findings, code="generator_parameters"):
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, [(f.code, f.params) for f in findings]
    return matching[0]


def test_automatic1111_png_parameters_are_critical_and_quoted_briefly():
    finding = only(run(png_bytes(text={"parameters": A1111})))

    assert finding.severity == Severity.CRITICAL
    assert finding.params["generator"].startswith("AUTOMATIC1111")
    assert finding.params["excerpt"].startswith("a cracked ceramic mug")
    assert "Negative prompt" not in finding.params["excerpt"]
    json.dumps(finding.details)


def test_huge_prompt_is_truncated():
    prompt = "broken glass " * 5000
    finding = only(run(png_bytes(text={"parameters": prompt + "\nSteps: 20, Sampler: Euler a"})))

    assert len(finding.params["excerpt"]) <= 80
    assert finding.params["excerpt"].endswith("…")
    assert len(json.dumps(finding.details)) < 500


def test_automatic1111_in_jpeg_user_comment():
    comment = b"UNICODE\x00" + A1111.encode("utf-16-be")

    finding = only(run(jpeg_bytes(exif=camera_exif(make=None, model=None, user_comment=comment))))

    assert finding.details["found_in"] == "EXIF UserComment"


def test_comfyui_prompt_graph():
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 1}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a torn jacket"}},
    }

    finding = only(run(png_bytes(text={"prompt": json.dumps(graph)})))

    assert finding.params["generator"] == "ComfyUI"
    assert "KSampler" in finding.params["excerpt"]


def test_comfyui_workflow_nodes():
    workflow = {"nodes": [{"id": 1, "type": "KSampler"}, {"id": 2, "type": "VAEDecode"}]}

    assert (
        only(run(png_bytes(text={"workflow": json.dumps(workflow)}))).params["generator"]
        == "ComfyUI"
    )


def test_a_png_text_called_prompt_that_is_not_a_graph_is_ignored():
    assert run(png_bytes(text={"prompt": "my holiday photo"})) == []


@pytest.mark.parametrize("key", ["sd-metadata", "invokeai_metadata"])
def test_invokeai_metadata(key):
    meta = {"positive_prompt": "a dented saucepan", "model": {"name": "sdxl"}}

    finding = only(run(png_bytes(text={key: json.dumps(meta)})))

    assert finding.params["generator"] == "InvokeAI"
    assert finding.params["excerpt"] == "a dented saucepan"


def test_novelai_software_and_comment():
    comment = json.dumps({"prompt": "a stained shirt", "steps": 28, "sampler": "k_euler"})

    finding = only(run(png_bytes(text={"Software": "NovelAI", "Comment": comment})))

    assert finding.params["generator"] == "NovelAI"
    assert finding.params["excerpt"] == "a stained shirt"


def test_midjourney_description_with_job_id():
    description = "a scratched phone screen --v 6 Job ID: 1b2c3d4e-aaaa-bbbb-cccc-000000000000"

    finding = only(run(png_bytes(itxt={"Description": description})))

    assert finding.params["generator"] == "Midjourney"
    assert "Job ID" not in finding.params["excerpt"]


def test_midjourney_job_id_in_xmp_description():
    xmp = xmp_packet(
        '|<dc:description><rdf:Alt><rdf:li xml:lang="x-default">a torn box Job ID: 42'
        "</rdf:li></rdf:Alt></dc:description>",
        {"dc": "http://purl.org/dc/elements/1.1/"},
    )

    assert only(run(jpeg_bytes(xmp=xmp))).params["generator"] == "Midjourney"


def test_ideogram_in_exif_make_is_high():
    finding = only(
        run(jpeg_bytes(exif=camera_exif(make="Ideogram AI", model=None))), "generator_named"
    )

    assert finding.severity == Severity.HIGH
    assert finding.params["generator"] == "Ideogram"


def test_generator_name_in_png_software_chunk():
    finding = only(run(png_bytes(text={"Software": "Adobe Firefly"})), "generator_named")

    assert finding.params["generator"] == "Adobe Firefly"


def test_one_finding_per_generator():
    findings = run(png_bytes(text={"parameters": A1111, "Software": "Stable Diffusion WebUI"}))

    assert [f.code for f in findings].count("generator_parameters") == 1
    assert len(findings) <= 2


def test_ordinary_editor_software_is_not_a_generator():
    assert run(jpeg_bytes(exif=camera_exif(software="Adobe Photoshop 25.0"))) == []


@pytest.mark.parametrize(
    "path",
    QUIET_CAMERA_FILES + [C2PA / "A.jpg", C2PA / "P1000827.jpg", C2PA / "sample1.png"],
    ids=lambda p: p.name,
)
def test_real_photos_show_no_generator_traces(path):
    assert CHECK.run(decode(path.read_bytes()), CheckContext()) == []
