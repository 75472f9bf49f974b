"""The no-rescale guard: the output check (always on) and the resampling audit, end to end through
the ingestion program, plus the output check's rules as a pure function."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from aiflash.errors import ModelError
from aiflash.ingestion.audit import Finding, Fingerprint, Observation, classify, sample_positions
from aiflash.ingestion.guard import audit_verdict, check_result, rejection

from .test_ingestion import STEMS, ingest, make_input_data, one_error_line, record, score, write_submission

SHAPE = (768, 1024, 3)


# -- the output check as a function -------------------------------------------------------------
def test_uint8_of_the_right_shape_passes_unchanged():
    image = np.random.default_rng(0).integers(0, 256, SHAPE, dtype=np.uint8)
    assert np.array_equal(check_result(image, SHAPE), image)


def test_floats_in_0_1_are_rounded_to_8_bits():
    values = np.full(SHAPE, 0.5, np.float32)
    values[0, 0] = [0.0, 1.0, 0.502]
    out = check_result(values.astype(np.float16), SHAPE)
    assert out.dtype == np.uint8 and out[1, 1, 0] == 128 and list(out[0, 0]) == [0, 255, 128]


@pytest.mark.parametrize("shape", [(1023, 1023, 3), (512, 512, 3), (1024, 768, 3), (768, 1024),
                                   (768, 1024, 4)])
def test_any_other_shape_fails_naming_expected_and_got(shape):
    with pytest.raises(ModelError) as info:
        check_result(np.zeros(shape, np.uint8), SHAPE)
    got = "x".join(map(str, shape))
    assert f"returned {got} but the input is 768x1024x3 (HxWxC)" in str(info.value)
    assert "rescaling is not allowed" in str(info.value)


@pytest.mark.parametrize(("result", "message"), [
    (np.full(SHAPE, np.nan, np.float32), "NaN or infinite"),
    (np.full(SHAPE, 1.5, np.float32), "float values from 1.5 to 1.5; float results must lie in [0, 1]"),
    (np.full(SHAPE, -0.1, np.float64), "must lie in [0, 1]"),
    (np.zeros(SHAPE, np.int32), "dtype int32"),
    (np.zeros(SHAPE, np.uint16), "dtype uint16"),
    (np.zeros(SHAPE, bool), "dtype bool"),
    ([[0, 0, 0]], "returned list"),
    (None, "returned NoneType"),
])
def test_bad_values_and_types_fail_with_the_fix(result, message):
    with pytest.raises(ModelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_result(result, SHAPE)


def test_torch_tensor_result_gets_a_conversion_hint():
    import torch

    with pytest.raises(ModelError, match=r"torch tensor.*\.cpu\(\)\.numpy\(\)"):
        check_result(torch.zeros(SHAPE), SHAPE)


def test_only_a_proven_round_trip_fails_and_only_under_reject():
    proven = Finding("cv2.resize", (384, 512), (768, 1024), 3, "model.py:9", "0001", kind="round_trip",
                     severity="reject", note="the returned image is this enlargement")
    flagged = Finding("cv2.resize", (192, 256), (768, 1024), 1, "model.py:7", "0001", kind="enlargement")
    info = Finding("cv2.resize", (768, 1024), (384, 512), 3, "model.py:8", "0001", kind="reduction",
                   severity="info")
    assert rejection([flagged, info], "reject") is None and rejection([proven], "flag") is None
    message = rejection([info, proven], "reject")
    assert message.startswith("rescaling detected: model.py:9 called cv2.resize to upscale 3-channel "
                              "data from 384x512 to 768x1024 (HxW): the returned image is this enlargement")
    assert "+1 more finding" in message
    assert audit_verdict([]) == "clean" and audit_verdict([info]) == "clean"
    assert audit_verdict([info, flagged]) == "flagged" and audit_verdict([flagged, proven]) == "rejected"
    assert audit_verdict([proven.as_dict(), info.as_dict()]) == "rejected"  # as ingestion.json holds them


def _observation(enlarged: np.ndarray, size, source=(256, 256)) -> Observation:
    rows, cols = sample_positions(size)
    samples = enlarged[rows, cols].astype(np.float32).reshape(len(rows), -1)
    return Observation("cv2.resize", source, size, samples.shape[1], "model.py:5", 1,
                       (Fingerprint(size, "as is", samples),))


def test_classify_proves_a_round_trip_only_when_the_output_is_the_enlargement():
    from skimage import data

    image = data.astronaut()  # 512x512, native
    size = image.shape[:2]
    small = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)
    enlarged = cv2.resize(small.astype(np.float32) / 255, (512, 512), interpolation=cv2.INTER_CUBIC)
    seen = [_observation(enlarged, size), Observation("cv2.resize", size, (256, 256), 3, "model.py:4")]
    as_uint8 = np.clip(np.rint(enlarged * 255), 0, 255).astype(np.uint8)

    def kinds(output, policy="reject"):
        return sorted((f.kind, f.severity) for f in classify(seen, {size}, "x", output, policy))

    proven = [("reduction", "info"), ("round_trip", "reject")]
    assert kinds(as_uint8) == proven
    assert kinds(np.ascontiguousarray(as_uint8[..., ::-1])) == proven  # BGR order: a linear map
    toned = np.clip(as_uint8.astype(np.float32) * 0.8 + 20, 0, 255).astype(np.uint8)
    assert kinds(toned) == proven  # a gain and offset after the enlargement
    assert kinds(as_uint8, "flag") == [("reduction", "info"), ("round_trip", "flag")]
    noisy = np.clip(as_uint8 + np.random.default_rng(0).normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    assert kinds(noisy) == [("enlargement", "flag"), ("reduction", "info")]  # not proof: for review
    assert kinds(image) == [("enlargement", "flag"), ("reduction", "info")]  # the input itself
    assert kinds(None) == [("enlargement", "flag"), ("reduction", "info")]  # no output (folder API)
    # Padded and transposed copies count as the input's size; feature maps are information.
    padded = Observation("cv2.resize", (257, 257), (514, 514), 3, "model.py:6")
    transposed = Observation("cv2.resize", (512, 384), (192, 256), 1, "model.py:7")
    features = Observation("interpolate", (256, 256), (512, 512), 64, "model.py:8")
    found = {f.caller: (f.kind, f.severity) for f in classify([padded, transposed, features], {size}, "x",
                                                              image, "reject")}
    assert found == {"model.py:6": ("enlargement", "flag"), "model.py:8": ("feature_map", "info")}
    found = classify([transposed], {(384, 512)}, "x", None, "reject")
    assert [(f.kind, f.severity) for f in found] == [("reduction", "info")]


# -- end to end ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def input_data(tmp_path_factory):
    return make_input_data(tmp_path_factory.mktemp("input"))


def test_wrong_size_results_are_rejected_by_the_output_check(tmp_path, input_data):
    submission = write_submission(tmp_path, """
        import numpy as np


        class Model:
            def __init__(self, weights_dir, device):
                self.calls = 0

            def restore(self, image, person_mask):
                self.calls += 1
                if self.calls == 1:
                    return np.zeros((1023, 1023, 3), np.uint8)
                if self.calls == 2:
                    return np.zeros((512, 512, 3), np.float32)
                return image
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode != 0
    errors = {e["image"]: e["error"] for e in record(output)["images"]}
    assert errors["0001"].startswith("restore() returned 1023x1023x3 but the input is 768x1024x3 (HxWxC)")
    assert errors["0002"].startswith("restore() returned 512x512x3 but the input is 1024x768x3 (HxWxC)")
    assert errors["0003"] is None and errors["0004"] is None
    assert record(output)["guard_findings"] == []  # no resampling call: the output check caught it
    scored = score(output, tmp_path / "scores")
    line = one_error_line(scored.stderr)
    assert "2 image(s) failed in the model run (0001, 0002)" in line and "1023x1023x3" in line


def test_feature_map_resampling_is_not_flagged(tmp_path, input_data):
    """A 12-channel feature map at half resolution upsampled to full resolution (a common decoder),
    a 1-channel map resampled between two reduced sizes, and TorchScript still working: nothing
    recorded but informational findings, verdict clean."""
    submission = write_submission(tmp_path, """
        import numpy as np
        import torch
        from torch import nn
        from torch.nn import functional as F


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.down = nn.Conv2d(3, 12, 3, stride=2, padding=1)
                self.up = nn.Upsample(scale_factor=2, mode="bilinear")
                self.out = nn.Conv2d(12, 3, 3, padding=1)

            def forward(self, x):
                features = self.up(self.down(x))
                quarter = F.interpolate(features[:, :1], scale_factor=0.25)
                eighth = F.interpolate(quarter, scale_factor=0.5)
                return x + 0.0 * self.out(features) + 0.0 * eighth.mean()


        class Model:
            def __init__(self, weights_dir, device):
                self.net = torch.jit.script(Net()).eval()  # scripting must still work

            def restore(self, image, person_mask):
                x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
                return self.net(x)[0].permute(1, 2, 0).clamp(0, 1).numpy()
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode == 0, done.stdout + done.stderr
    data = record(output)
    assert data["images_ok"] == 4
    assert {f["severity"] for f in data["guard_findings"]} <= {"info"}
    assert {e["audit_verdict"] for e in data["images"]} == {"clean"}


# Each audited call is tagged; the test finds the tags' line numbers in the written model.py.
EVERY_LIBRARY = """
    import cv2
    import numpy as np
    import torch
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF
    import torchvision.transforms.v2 as T2
    from cv2 import resize as cv_resize
    from PIL import Image
    from skimage.transform import pyramid_reduce, rescale
    from skimage.transform import resize as sk_resize
    from torch import nn
    from torch.nn.functional import interpolate


    class Model:
        def __init__(self, weights_dir, device):
            self.upsample = nn.Upsample(scale_factor=2)
            self.resize = T.Resize((96, 128))

        def restore(self, image, person_mask):
            h, w = image.shape[:2]
            tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()
            small = cv2.resize(image, (w // 2, h // 2))  # <cv2>
            cv_resize(image, (w // 4, h // 4))  # <cv2-from-import>
            cv2.pyrUp(cv2.pyrDown(image))  # <pyramid>
            self.upsample(torch.from_numpy(small).permute(2, 0, 1)[None].float())  # <upsample>
            interpolate(tensor, size=(h // 2, w // 2))  # <interpolate>
            Image.fromarray(image).resize((w // 2, h // 2))  # <pil-resize>
            thumb = Image.fromarray(image)
            thumb.thumbnail((64, 64))  # <pil-thumbnail>
            Image.fromarray(image).reduce(4)  # <pil-reduce>
            sk_resize(person_mask.astype(np.float32), (h // 2, w // 2))  # <sk-resize>
            rescale(image, 0.5, channel_axis=-1)  # <sk-rescale>
            pyramid_reduce(image, channel_axis=-1)  # <sk-pyramid>
            TF.resize(tensor, [h // 2, w // 2])  # <tv-functional>
            self.resize(tensor)  # <tv-transform>
            T2.Resize((h // 2, w // 2))(tensor)  # <tv-v2>
            cv2.resize(small, (w // 4, h // 4))  # between reduced sizes: not a finding
            cv2.resize(np.zeros((h, w, 8), np.float32), (w // 2, h // 2))  # <feature-map>
            return image
"""
EXPECTED = {
    "cv2": ["cv2.resize"], "cv2-from-import": ["cv2.resize"], "pyramid": ["cv2.pyrDown", "cv2.pyrUp"],
    "upsample": ["torch.nn.functional.interpolate"], "interpolate": ["torch.nn.functional.interpolate"],
    "pil-resize": ["PIL.Image.Image.resize"], "pil-thumbnail": ["PIL.Image.Image.thumbnail"],
    "pil-reduce": ["PIL.Image.Image.reduce"], "sk-resize": ["skimage.transform.resize"],
    "sk-rescale": ["skimage.transform.rescale"], "sk-pyramid": ["skimage.transform.pyramid_reduce"],
    "tv-functional": ["torchvision.transforms.functional.resize"],
    "tv-transform": ["torchvision.transforms.functional.resize"],
    "tv-v2": ["torch.nn.functional.interpolate"],  # v2 kernels call interpolate: caught there
    "feature-map": ["cv2.resize"],
}
# Only the enlargements of image-like data to the input's size are for review; the returned image is
# the input, so no round trip is proven.
FLAGGED_TAGS = {"upsample", "pyramid"}


def test_every_audited_library_is_caught_with_its_line(tmp_path, input_data):
    submission = write_submission(tmp_path, EVERY_LIBRARY)
    lines = (submission / "model.py").read_text().splitlines()
    tags = {m.group(1): n for n, text in enumerate(lines, start=1) if (m := re.search(r"# <(.+)>", text))}
    output = tmp_path / "output"
    done = ingest(input_data, submission, output, "--policy", "flag")
    assert done.returncode == 0, done.stdout + done.stderr  # flag: recorded, not failed
    data = record(output)
    assert data["policy"] == "flag" and data["images_ok"] == 4
    first = [f for f in data["guard_findings"] if f["image"] == "0001"]
    seen = {(f["function"], f["caller"]) for f in first}
    assert seen == {(function, f"model.py:{tags[tag]}") for tag, functions in EXPECTED.items()
                    for function in functions}
    by_tag = {tag: [f for f in first if f["caller"] == f"model.py:{line}"] for tag, line in tags.items()}
    cv = by_tag["cv2"][0]
    assert (cv["input_size"], cv["output_size"], cv["channels"], cv["direction"]) == (
        [768, 1024], [384, 512], 3, "downscale")
    assert by_tag["upsample"][0]["direction"] == "upscale" and by_tag["sk-resize"][0]["channels"] == 1
    assert {f["image"] for f in data["guard_findings"]} == set(STEMS)
    for tag, found in by_tag.items():
        kinds = {(f["kind"], f["severity"]) for f in found}
        if tag in FLAGGED_TAGS:  # pyrUp (the flag) follows pyrDown (info) on the same line
            assert ("enlargement", "flag") in kinds, (tag, kinds)
        elif tag == "feature-map":
            assert kinds == {("feature_map", "info")}
        else:
            assert kinds == {("reduction", "info")}, (tag, kinds)
    assert {e["audit_verdict"] for e in data["images"]} == {"flagged"}
    assert data["rescale_verdicts"]["flagged"] == 4
    # Flagged findings do not stop scoring; they are listed in the detailed results.
    scored = score(output, tmp_path / "scores")
    assert scored.returncode == 0, scored.stderr
    page = (tmp_path / "scores" / "detailed_results.html").read_text()
    audit = page[page.index("<h2>Resampling audit</h2>"):]
    assert "policy: flag" in audit and "cv2.pyrDown" in audit and f"model.py:{tags['cv2']}" in audit
    verdicts = page[page.index("<h2>Rescaling verdicts</h2>"):page.index("<h2>Resampling audit</h2>")]
    assert "0 clean, 4 flagged, 0 rejected" in verdicts and "REVIEW: 4 image(s)" in verdicts


def test_cv2_cheat_is_rejected_and_scoring_fails(tmp_path, input_data):
    submission = write_submission(tmp_path, """
        import cv2


        class Model:
            def __init__(self, weights_dir, device):
                pass

            def restore(self, image, person_mask):
                h, w = image.shape[:2]
                half = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
                return cv2.resize(half, (w, h), interpolation=cv2.INTER_CUBIC)
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode != 0
    line = one_error_line(done.stderr)
    assert ("0001: rescaling detected: model.py:12 called cv2.resize to upscale 3-channel data from "
            "384x512 to 768x1024 (HxW): the returned image is this enlargement (as is)") in line
    data = record(output)
    callers = {(f["caller"], f["direction"], f["kind"], f["severity"]) for f in data["guard_findings"]}
    assert callers == {("model.py:11", "downscale", "reduction", "info"),
                       ("model.py:12", "upscale", "round_trip", "reject")}
    assert data["rescale_verdicts"] == {"clean": 0, "flagged": 0, "rejected": 4}
    assert {e["rescale_verdict"] for e in data["images"]} == {"rejected"}
    # a rejected image is screened too (never written), so a reviewer can compare its measures
    assert all(e["content_verdict"] in ("clean", "flagged") and set(e["measures"]) >= {"periodicity"}
               for e in data["images"])
    assert sorted(p.name for p in output.iterdir()) == ["ingestion.json"]
    assert "Rescaling verdicts: 0 clean, 0 flagged for the organisers' review, 4 rejected" in done.stdout
    assert f"code audit: {len(data['guard_findings'])} finding(s)" in done.stdout
    scored = score(output, tmp_path / "scores")
    assert scored.returncode != 0 and "model.py:12 called cv2.resize" in one_error_line(scored.stderr)


def test_folder_api_files_are_validated_one_by_one(tmp_path, input_data):
    submission = write_submission(tmp_path, """
        from pathlib import Path

        import cv2
        import numpy as np


        def main(model_dir, input_path, output_path, device):
            out = Path(output_path)
            for path in sorted(Path(input_path).iterdir()):
                image = cv2.imread(str(path))
                if path.stem == "0001":
                    cv2.imwrite(str(out / "0001.png"), np.zeros((1023, 1023, 3), np.uint8))
                elif path.stem == "0002":
                    continue
                elif path.stem == "0003":
                    cv2.imwrite(str(out / "0003.png"), image.astype(np.uint16) * 256)
                else:
                    cv2.imwrite(str(out / f"{path.stem}.jpg"), image)
            (out / "notes.txt").write_text("ignored")
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode != 0
    data = record(output)
    errors = {e["image"]: e["error"] for e in data["images"]}
    assert errors["0001"].startswith("main() wrote 0001.png of 1023x1023 but the input is 768x1024 (HxW)")
    assert errors["0002"].startswith("main() wrote no result for this image: expected 0002.png")
    assert errors["0003"].startswith("main() wrote 0003.png: is a 16-bit PNG")
    assert errors["0004"] is None and (output / "0004.png").is_file()
    assert sorted(p.name for p in output.glob("*.png")) == ["0004.png"]
    assert data["api"] == "folder"


def test_folder_api_round_trip_fails_each_image_it_made(tmp_path, input_data):
    submission = write_submission(tmp_path, """
        from pathlib import Path

        import cv2


        def main(model_dir, input_path, output_path, device):
            for path in sorted(Path(input_path).iterdir()):
                image = cv2.imread(str(path))
                h, w = image.shape[:2]
                small = cv2.resize(image, (w // 2, h // 2))
                cv2.imwrite(str(Path(output_path) / f"{path.stem}.png"), cv2.resize(small, (w, h)))
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode != 0
    data = record(output)
    assert data["images_ok"] == 0
    assert all(e["error"].startswith("rescaling detected: model.py:12 called cv2.resize to upscale")
               for e in data["images"])
    # The calls, for the folder as a whole, and each image's proven round trip.
    assert {(f["image"], f["kind"]) for f in data["guard_findings"]} == {
        (None, "reduction"), (None, "enlargement"), *((s, "round_trip") for s in STEMS)}
    assert {e["rescale_verdict"] for e in data["images"]} == {"rejected"}


# -- the line the rules draw: honest designs stay clean, coefficients are flagged --------------------
HONEST_UNET = """
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F


    class UNet(nn.Module):
        # Internal pooling, the person mask downsized as guidance at every level, features
        # (more than 4 channels) upsampled in the decoder, and a full-resolution skip path.
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.enc1 = nn.Conv2d(4, 8, 3, padding=1)
            self.enc2 = nn.Conv2d(9, 16, 3, padding=1)
            self.dec = nn.Conv2d(16 + 8, 8, 3, padding=1)
            self.out = nn.Conv2d(8, 3, 1)

        def forward(self, x, mask):
            e1 = F.relu(self.enc1(torch.cat([x, mask], 1)))
            pooled = F.max_pool2d(e1, 2)
            guide = F.interpolate(mask, size=pooled.shape[-2:], mode="area")  # <mask-guidance>
            e2 = F.relu(self.enc2(torch.cat([pooled, guide], 1)))
            up = F.interpolate(e2, size=x.shape[-2:], mode="bilinear")  # <feature-up>
            return (x * 1.2 + 0.01 * self.out(F.relu(self.dec(torch.cat([up, e1], 1))))).clamp(0, 1)


    class Model:
        def __init__(self, weights_dir, device):
            self.net = UNet().eval()

        def restore(self, image, person_mask):
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
            mask = torch.from_numpy(person_mask)[None, None].float()
            return self.net(x, mask)[0].permute(1, 2, 0).numpy()
"""
THUMBNAIL_STATISTICS = """
    import numpy as np
    from PIL import Image


    class Model:
        # White balance and exposure estimated on a 256x256 thumbnail; gains applied at full size.
        def __init__(self, weights_dir, device):
            pass

        def restore(self, image, person_mask):
            thumb = np.asarray(Image.fromarray(image).resize((256, 256), Image.BILINEAR))  # <thumbnail>
            means = thumb.reshape(-1, 3).astype(np.float32).mean(0) + 1.0
            gains = np.clip(means.mean() / means * (110.0 / means.mean()), 0.5, 3.0)
            return np.clip(image.astype(np.float32) * gains, 0, 255).astype(np.uint8)
"""
GUIDED_FILTER = """
    import cv2
    import numpy as np


    def box(x, r):
        return cv2.blur(x, (2 * r + 1, 2 * r + 1))


    class Model:
        # Fast guided filter (He & Sun 2015): the linear coefficients of a tone operator are fitted at
        # quarter resolution, enlarged, and applied to the full-resolution input.
        def __init__(self, weights_dir, device):
            pass

        def restore(self, image, person_mask):
            h, w = image.shape[:2]
            x = image.astype(np.float32) / 255
            low = cv2.resize(x, (w // 4, h // 4), interpolation=cv2.INTER_AREA)  # <reduce>
            target = np.sqrt(low)
            mean_x, mean_y = box(low, 4), box(target, 4)
            var = box(low * low, 4) - mean_x ** 2
            a = (box(low * target, 4) - mean_x * mean_y) / (var + 1e-3)
            b = mean_y - a * mean_x
            a_full = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)  # <coefficients>
            b_full = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
            return np.clip(a_full * x + b_full, 0, 1)
"""


def _tag_lines(submission) -> dict[str, int]:
    lines = (submission / "model.py").read_text().splitlines()
    return {m.group(1): n for n, text in enumerate(lines, start=1) if (m := re.search(r"# <(.+)>", text))}


@pytest.mark.parametrize(("source", "tag", "kind"), [
    (HONEST_UNET, "mask-guidance", "reduction"),
    (THUMBNAIL_STATISTICS, "thumbnail", "reduction"),
], ids=["unet-mask-guidance", "thumbnail-statistics"])
def test_honest_designs_are_clean(tmp_path, input_data, source, tag, kind):
    """Rejected by the old audit, allowed by the rules: recorded as information only."""
    submission = write_submission(tmp_path, source)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode == 0, done.stdout + done.stderr
    data = record(output)
    assert data["images_ok"] == 4
    assert {f["severity"] for f in data["guard_findings"]} == {"info"}
    line = _tag_lines(submission)[tag]
    assert {f["kind"] for f in data["guard_findings"] if f["caller"] == f"model.py:{line}"} == {kind}
    for entry in data["images"]:
        assert entry["audit_verdict"] == "clean", entry
        assert entry["rescale_verdict"] == "clean", entry
    assert data["rescale_verdicts"] == {"clean": 4, "flagged": 0, "rejected": 0}


def test_enlarged_coefficients_are_flagged_not_rejected(tmp_path, input_data):
    submission = write_submission(tmp_path, GUIDED_FILTER)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode == 0, done.stdout + done.stderr  # policy reject: only proof fails an image
    data = record(output)
    tags = _tag_lines(submission)
    flagged = {(f["caller"], f["kind"]) for f in data["guard_findings"] if f["severity"] == "flag"}
    assert flagged == {(f"model.py:{tags['coefficients']}", "enlargement"),
                       (f"model.py:{tags['coefficients'] + 1}", "enlargement")}
    assert {e["audit_verdict"] for e in data["images"]} == {"flagged"}
    assert {e["rescale_verdict"] for e in data["images"]} == {"flagged"}
    assert data["rescale_verdicts"]["flagged"] == 4 and data["images_ok"] == 4
    assert "4 flagged for the organisers' review (0001, 0002, 0003, 0004)" in done.stdout
    scored = score(output, tmp_path / "scores")
    assert scored.returncode == 0, scored.stderr  # flagged results are scored; the organisers review
    page = (tmp_path / "scores" / "detailed_results.html").read_text()
    assert "REVIEW: 4 image(s) flagged or rejected" in page and "filter coefficients" in page


# -- shapes the old audit did not measure ------------------------------------------------------------
MEASURED_SHAPES = """
    import cv2
    import numpy as np
    import torch
    from torch.nn import functional as F


    def separable(image):
        # Two 1-D passes of a 3-D interpolate each way (rows, then columns through a transpose).
        h, w = image.shape[:2]
        t = torch.from_numpy(image).permute(2, 0, 1).float()
        narrow = F.interpolate(t, size=w // 2, mode="linear")  # <separable-down>
        small = F.interpolate(narrow.transpose(1, 2), size=h // 2, mode="linear")
        tall = F.interpolate(small, size=h, mode="linear").transpose(1, 2)
        full = F.interpolate(tall, size=w, mode="linear")  # <separable-up>
        return full.permute(1, 2, 0).clamp(0, 255).numpy().astype(np.uint8)


    def padded(image):
        h, w = image.shape[:2]
        p = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
        small = cv2.resize(p, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w + 2, h + 2))[1:-1, 1:-1]  # <padded-up>


    def transposed(image):
        h, w = image.shape[:2]
        t = np.ascontiguousarray(image.transpose(1, 0, 2))
        small = cv2.resize(t, (h // 2, w // 2), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(cv2.resize(small, (h, w)).transpose(1, 0, 2))  # <transposed-up>


    def volume(image):
        # A 5-D trilinear interpolate with the colour channels as depth.
        h, w = image.shape[:2]
        v = torch.from_numpy(image).permute(2, 0, 1)[None, None].float()
        small = F.interpolate(v, size=(3, h // 2, w // 2), mode="trilinear")
        full = F.interpolate(small, size=(3, h, w), mode="trilinear")  # <volume-up>
        return full[0, 0].permute(1, 2, 0).clamp(0, 255).numpy().astype(np.uint8)


    class Model:
        def __init__(self, weights_dir, device):
            self.ways = [separable, padded, transposed, volume]

        def restore(self, image, person_mask):
            return self.ways.pop(0)(image)
"""


def test_3d_separable_padded_transposed_and_volume_round_trips_are_measured(tmp_path, input_data):
    submission = write_submission(tmp_path, MEASURED_SHAPES)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode != 0
    data = record(output)
    tags = _tag_lines(submission)
    expected = {"0001": "separable-up", "0002": "padded-up", "0003": "transposed-up", "0004": "volume-up"}
    for entry in data["images"]:
        line = tags[expected[entry["image"]]]
        assert entry["status"] == "failed" and entry["rescale_verdict"] == "rejected", entry
        assert entry["error"].startswith(f"rescaling detected: model.py:{line} called "), entry["error"]
    down = [f for f in data["guard_findings"] if f["caller"] == f"model.py:{tags['separable-down']}"]
    assert down[0]["kind"] == "reduction" and down[0]["image"] == "0001"


# -- tampering: each attempt is caught (the round trip is still proven) or recorded -----------------
TAMPERING = """
    import importlib
    import inspect

    import cv2
    import numpy as np
    import PIL.Image
    import torch


    def round_trip(resize, image):
        h, w = image.shape[:2]
        return resize(resize(image, (w // 2, h // 2)), (w, h))  # <round-trip>


    def unwrap(image):
        return round_trip(inspect.unwrap(cv2.resize), image)  # <unwrap>


    def reload(image):
        importlib.reload(PIL.Image)  # <reload>
        h, w = image.shape[:2]
        small = PIL.Image.fromarray(image).resize((w // 2, h // 2))
        return np.asarray(small.resize((w, h)))  # <reload-up>


    def switch(image):
        torch.compiler._is_compiling_flag = True  # what torch.compiler.is_compiling() reads
        try:
            return round_trip(cv2.resize, image)  # <switch>
        finally:
            torch.compiler._is_compiling_flag = False


    def closure(image):
        # Everything reachable from the wrapper without searching the heap.
        reachable = [getattr(cv2.resize, "__wrapped__", None), *cv2.resize.__globals__.values()]
        reachable += [cell.cell_contents for cell in cv2.resize.__closure__ or ()]
        reachable += [cv2.resize.__prepare_scriptable__()]  # <prepare>
        originals = [f for f in reachable if callable(f) and getattr(f, "__name__", "") == "resize"
                     and not getattr(f, "__aiflash_audit__", False)]
        print("originals reachable:", len(originals))
        return round_trip(originals[0] if originals else cv2.resize, image)  # <closure>


    class Model:
        def __init__(self, weights_dir, device):
            # reload last: re-executing PIL.Image also empties its registry of image formats
            self.ways = [unwrap, switch, closure, reload]

        def restore(self, image, person_mask):
            return self.ways.pop(0)(image)
"""


def test_tampering_is_caught_or_recorded(tmp_path, input_data):
    submission = write_submission(tmp_path, TAMPERING)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode != 0
    assert "model| originals reachable: 0" in done.stderr
    data = record(output)
    tags = _tag_lines(submission)
    caught = {"0001": "round-trip", "0002": "round-trip", "0003": "round-trip", "0004": "reload-up"}
    for entry in data["images"]:  # each round trip is still proven, at the participant's line
        line = tags[caught[entry["image"]]]
        assert entry["error"].startswith(f"rescaling detected: model.py:{line} called "), entry["error"]
    tampering = [f for f in data["guard_findings"] if f["kind"] == "tamper"]
    assert {(f["image"], f["function"], f["caller"]) for f in tampering} == {
        ("0003", "cv2.resize", f"model.py:{tags['prepare']}"),
        ("0004", "importlib.reload(PIL.Image)", f"model.py:{tags['reload']}")}
    assert all(f["severity"] == "flag" for f in tampering)


HEAP_SEARCH = """
    import gc

    import cv2


    class Model:
        def __init__(self, weights_dir, device):
            self.calls = 0

        def restore(self, image, person_mask):
            self.calls += 1
            h, w = image.shape[:2]
            if self.calls == 1:
                # Find the audit through the heap and switch it off.
                for thing in gc.get_objects():  # <heap>
                    if type(thing).__name__ == "ResamplingAudit":
                        thing._sizes = frozenset()
            return cv2.resize(cv2.resize(image, (w // 2, h // 2)), (w, h))  # <cheat>
"""


def test_heap_search_is_recorded(tmp_path, input_data):
    submission = write_submission(tmp_path, HEAP_SEARCH)
    output = tmp_path / "output"
    ingest(input_data, submission, output)
    data = record(output)
    tags = _tag_lines(submission)
    first = next(e for e in data["images"] if e["image"] == "0001")
    assert first["status"] == "ok" and first["rescale_verdict"] == "flagged"  # switched off, yet flagged
    recorded = {(f["function"], f["caller"]) for f in data["guard_findings"]
                if f["image"] == "0001" and f["kind"] == "tamper"}
    assert ("gc.get_objects", f"model.py:{tags['heap']}") in recorded
    assert any(function == "audit state" for function, _ in recorded)
    others = [e for e in data["images"] if e["image"] != "0001"]
    assert all(e["status"] == "failed" and e["rescale_verdict"] == "rejected" for e in others)


MODULE_SWITCHES = """
    import sys

    import cv2


    def round_trip(image):
        h, w = image.shape[:2]
        return cv2.resize(cv2.resize(image, (w // 2, h // 2)), (w, h))  # <round-trip>


    def constant(image):
        sys.modules["aiflash.ingestion.audit"].FULL_AREA = (9.0, 9.0)  # <constant>
        return round_trip(image)


    def worker_function(image):
        worker = sys.modules["__main__"]  # the worker runs as python -m aiflash.ingestion.worker
        worker.classify = lambda *args, **kwargs: []  # <worker-function>
        worker.rejection = lambda *args, **kwargs: None
        return round_trip(image)


    def method(image):
        audit = sys.modules["aiflash.ingestion.audit"]
        audit.ResamplingAudit._observe = lambda *args, **kwargs: None  # <method>
        return round_trip(image)


    class Model:
        def __init__(self, weights_dir, device):
            self.ways = [constant, worker_function, method, round_trip]

        def restore(self, image, person_mask):
            return self.ways.pop(0)(image)
"""


def test_module_level_switches_are_recorded_and_undone(tmp_path, input_data):
    submission = write_submission(tmp_path, MODULE_SWITCHES)
    output = tmp_path / "output"
    ingest(input_data, submission, output)
    data = record(output)
    tags = _tag_lines(submission)
    verdicts = {e["image"]: (e["status"], e["audit_verdict"]) for e in data["images"]}
    # A switch flipped inside restore() hides that call's round trip, but is recorded (flagged)
    # and undone before the worker judges it; the next image is judged by the real audit again.
    assert verdicts == {"0001": ("ok", "flagged"), "0002": ("failed", "rejected"),
                        "0003": ("ok", "flagged"), "0004": ("failed", "rejected")}
    switches = {(f["image"], f["caller"]) for f in data["guard_findings"]
                if f["kind"] == "tamper" and f["function"] == "aiflash internals"}
    assert {image for image, _ in switches} == {"0001", "0002", "0003"}
    notes = " ".join(f["note"] for f in data["guard_findings"] if f["kind"] == "tamper")
    assert "FULL_AREA" in notes and "classify" in notes and "_observe" in notes
    assert tags["round-trip"]  # the rejected images name the participant's line
    assert all(e["error"].startswith(f"rescaling detected: model.py:{tags['round-trip']} called")
               for e in data["images"] if e["status"] == "failed")
