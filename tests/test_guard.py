"""The no-rescale guard: the output check (always on) and the resampling audit, end to end through
the ingestion program, plus the output check's rules as a pure function."""

from __future__ import annotations

import re

import numpy as np
import pytest

from aiflash.errors import ModelError
from aiflash.ingestion.audit import Finding
from aiflash.ingestion.guard import check_result, rejection

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


def test_rejection_depends_on_the_policy():
    finding = Finding("cv2.resize", (768, 1024), (384, 512), 3, "model.py:9", "0001")
    assert rejection([finding], "flag") is None
    assert rejection([], "reject") is None
    message = rejection([finding, finding], "reject")
    assert message.startswith("rescaling detected: model.py:9 called cv2.resize to downscale 3-channel "
                              "data from 768x1024 to 384x512 (HxW)")
    assert "+1 more finding" in message


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
    a 1-channel map resampled between two reduced sizes, and TorchScript still working."""
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
    assert data["guard_findings"] == [] and data["images_ok"] == 4


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
            cv2.resize(np.zeros((h, w, 8), np.float32), (w // 2, h // 2))  # 8 channels: not a finding
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
}


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
    # Flagged findings do not stop scoring; they are listed in the detailed results.
    scored = score(output, tmp_path / "scores")
    assert scored.returncode == 0, scored.stderr
    page = (tmp_path / "scores" / "detailed_results.html").read_text()
    audit = page[page.index("<h2>Resampling audit</h2>"):]
    assert "policy: flag" in audit and "cv2.pyrDown" in audit and f"model.py:{tags['cv2']}" in audit


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
    assert ("0001: rescaling detected: model.py:11 called cv2.resize to downscale 3-channel data from "
            "768x1024 to 384x512 (HxW)") in line
    callers = {(f["caller"], f["direction"]) for f in record(output)["guard_findings"]}
    assert callers == {("model.py:11", "downscale"), ("model.py:12", "upscale")}
    scored = score(output, tmp_path / "scores")
    assert scored.returncode != 0 and "model.py:11 called cv2.resize" in one_error_line(scored.stderr)


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


def test_folder_api_finding_fails_every_image(tmp_path, input_data):
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
    assert all("model.py:11 called cv2.resize" in e["error"] and "cannot be attributed" in e["error"]
               for e in data["images"])
    assert {f["image"] for f in data["guard_findings"]} == {None}
