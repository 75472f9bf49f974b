"""The active resolution probe (aiflash.probe), called on arrays as the ingestion runner calls it.

Real images only: the 1K sample inputs (JPEG, as participants get them) with their person masks,
and a scikit-image photograph at native size. Each "model" is a function of the input, restored
four times as the runner does (scored, x + a p, x - a p, repeated), then measured and judged.
"""

from __future__ import annotations

import importlib.util
import json

import cv2
import numpy as np
import pytest

from aiflash.ingestion.record import probe_line, transfer_plot
from aiflash.probe import (
    CLEAN,
    FLAGGED,
    FREQUENCIES,
    NOT_JUDGED,
    TOP,
    ProbeSettings,
    choose_images,
    judge,
    measure,
    plan_probe,
    probe_inputs,
    responds_up_to,
)

from .conftest import REPO, SAMPLE

SETTINGS = ProbeSettings()


def _rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def inputs():
    return {stem: (_rgb(SAMPLE / "input" / f"{stem}.jpg"),
                   cv2.imread(str(SAMPLE / "mask_personmask" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE) >= 128)
            for stem in ("0001", "0004")}


def _flash_baseline():
    path = REPO / "sample_submissions" / "flash_baseline" / "model.py"
    spec = importlib.util.spec_from_file_location("probe_flash", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Model("", "cpu").restore


def brighten(image, person):
    return np.clip(image.astype(np.float32) * 2.5, 0, 255).astype(np.uint8)


def round_trip(scale_x, scale_y=None, region=None):
    """Brighten at a reduced resolution (area down, Lanczos up), where ``region`` says (None: all)."""
    def model(image, person):
        height, width = image.shape[:2]
        small = cv2.resize(image, (round(width * scale_x), round(height * (scale_y or scale_x))),
                           interpolation=cv2.INTER_AREA)
        low = cv2.resize(brighten(small, None), (width, height), interpolation=cv2.INTER_LANCZOS4)
        if region is None:
            return low
        full = brighten(image, person)
        inside = person if region == "person" else ~person
        return np.where(inside[..., None], low, full)
    return model


class NearDuplicates:
    """Restores an input it has not seen at half resolution, and near-duplicates of an earlier input
    (the probe's copies, perturbed or not) as ``then`` says: "full" (honestly, at full resolution),
    "full-if-perturbed" (exact repeats at half resolution too), or "cached" (the earlier output)."""

    def __init__(self, then):
        self.then, self.seen = then, []
        self.low = round_trip(0.5)

    def __call__(self, image, person):
        thumb = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        for earlier, raw, output in self.seen:
            if np.corrcoef(earlier, thumb)[0, 1] > 0.995:
                if self.then == "cached" or (self.then == "full-if-perturbed" and np.array_equal(raw, image)):
                    return output
                return brighten(image, person)
        output = self.low(image, person)
        self.seen.append((thumb, image, output))
        return output


def noisy(image, person):
    """Honest but nondeterministic: fresh noise on every call, from a generator no seed reaches."""
    noise = np.random.default_rng().normal(0, 2.0, image.shape)
    return np.clip(brighten(image, person) + noise, 0, 255).astype(np.uint8)


def run_probe(model, image, person, seed=7, stem="0001", settings=SETTINGS):
    """What the runner does for one probed image: the scored call, then the three probe calls."""
    rng = np.random.default_rng(seed)
    plan = plan_probe(image, person, settings, rng)
    scored = model(image, person)
    plus, minus, clipped = probe_inputs(image, plan)
    outputs = model(plus, person), model(minus, person), model(image, person)
    return measure(stem, plan, scored, *outputs, clipped)


def verdict_of(model, inputs, settings=SETTINGS):
    return judge([run_probe(model, image, person, seed=i, stem=stem, settings=settings)
                  for i, (stem, (image, person)) in enumerate(inputs.items())], settings)


def test_full_resolution_models_respond_up_to_nyquist(inputs):
    for model in (lambda image, person: image, brighten):
        verdict = verdict_of(model, inputs)
        assert verdict.verdict == CLEAN, verdict
        assert verdict.response > 0.9
        assert verdict.responds_to == {"horizontal": FREQUENCIES[-1], "vertical": FREQUENCIES[-1]}
        assert verdict.mismatch < 0.05 and verdict.nondeterminism == 0.0


def test_a_strong_denoiser_keeps_the_probe_as_signal(inputs):
    verdict = verdict_of(_flash_baseline(), inputs)
    assert verdict.verdict == CLEAN, verdict.reasons
    assert verdict.response > 10 * SETTINGS.response_min


@pytest.mark.parametrize("scale", [0.25, 0.5])
def test_reduced_resolution_is_flagged_with_what_was_measured(inputs, scale):
    verdict = verdict_of(round_trip(scale), inputs)
    assert verdict.verdict == FLAGGED
    assert verdict.response < SETTINGS.response_min / 2
    assert max(verdict.responds_to.values()) < scale / 2  # nothing above the reduced Nyquist frequency
    assert f"its response to a grating at {TOP} cycles/px is" in verdict.reasons[0]


def bilinear_round_trip(scale):
    """Brighten at ``scale`` of the size, bilinear both ways (no antialiasing: what a fast model
    does): the top band folds below the reduced Nyquist frequency and is enlarged back."""
    def model(image, person):
        height, width = image.shape[:2]
        size = round(width * scale), round(height * scale)
        small = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        return cv2.resize(brighten(small, None), (width, height), interpolation=cv2.INTER_LINEAR)
    return model


@pytest.mark.parametrize("scale", [0.8, 0.9])
def test_a_slight_reduction_answers_with_a_partner_frequency(inputs, scale):
    """A reduction to 0.8 or 0.9 keeps much of the top band (through its interpolator's leakage),
    but a resampled grating comes back with a second component, at the sampling frequency minus
    the grating's: a frequency the input did not change."""
    verdict = verdict_of(bilinear_round_trip(scale), inputs)
    assert verdict.verdict == FLAGGED, verdict
    assert verdict.response > SETTINGS.response_min  # the response alone would pass
    assert verdict.spurious > SETTINGS.spurious_max and "spurious" in verdict.flags
    assert any("comes back with a component at a frequency the input did not change" in r
               for r in verdict.reasons), verdict.reasons


def _learned(kind):
    """An honest network of the learned corpus (tests/rescale_corpus/learned), as ``model(image, person)``."""
    import torch

    folder = REPO / "tests" / "rescale_corpus" / "learned"
    spec = importlib.util.spec_from_file_location("probe_learned", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.build(kind, folder / "weights")

    def model(image, person):
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            out = module.forward(kind, net, x)[0].permute(1, 2, 0).numpy()
        return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
    return model


def decimate_then(upsample):
    """Brighten one pixel of every 2x2 block (no antialiasing), enlarged by ``upsample``."""
    def model(image, person):
        height, width = image.shape[:2]
        small = brighten(image[::2, ::2], None)
        return cv2.resize(small, (width, height), interpolation=upsample)
    return model


@pytest.mark.parametrize("upsample", [cv2.INTER_LINEAR, cv2.INTER_CUBIC])
def test_one_sample_per_2x2_block_is_flagged_by_its_rank_whatever_the_upsampler(inputs, upsample):
    """Whatever enlarges a 2x decimation, the top-band response over its period-2 mirror equals the
    first band's leakage into its mirror (one low-resolution sample carries both); an honest
    pixel-unshuffle lattice network, which sees every pixel, answers far above that."""
    verdict = verdict_of(decimate_then(upsample), inputs)
    assert verdict.verdict == FLAGGED and verdict.independence < SETTINGS.independence_min, verdict
    assert "independence" in verdict.flags and len(verdict.flags) == len(verdict.reasons)
    assert any("for a pipeline that keeps one sample per 2 px the two are the same" in r
               for r in verdict.reasons), verdict.reasons
    honest = verdict_of(_learned("esdnet"), inputs)
    assert honest.verdict == CLEAN, honest  # by every measure: its mirror answers are not partners either
    assert honest.independence > 2 * SETTINGS.independence_min, honest
    assert honest.independence > 5 * verdict.independence


def test_one_axis_and_one_region_are_enough_to_flag(inputs):
    verdict = verdict_of(round_trip(0.5, 1.0), inputs)
    assert verdict.verdict == FLAGGED and verdict.weakest.endswith("horizontal")
    assert verdict.responds_to["vertical"] == FREQUENCIES[-1]
    for region in ("background", "person"):
        verdict = verdict_of(round_trip(0.5, region=region), inputs)
        assert verdict.verdict == FLAGGED and verdict.weakest.startswith(region), (region, verdict)


@pytest.mark.parametrize("then", ["full", "full-if-perturbed"])
def test_near_duplicate_evasion_is_flagged_by_the_mismatch(inputs, then):
    image, person = inputs["0001"]
    measurement = run_probe(NearDuplicates(then), image, person)
    verdict = judge([measurement], SETTINGS)
    assert verdict.response > 0.9  # the probe copies were restored honestly ...
    assert verdict.verdict == FLAGGED  # ... but not the scored one
    assert measurement.mismatch > 5 * SETTINGS.mismatch_max
    assert "differ from its scored output of 0001" in verdict.reasons[0] and verdict.flags == ("mismatch",)


def test_cached_answers_to_probes_have_no_response(inputs):
    image, person = inputs["0001"]
    verdict = judge([run_probe(NearDuplicates("cached"), image, person)], SETTINGS)
    assert verdict.verdict == FLAGGED and verdict.response < 0.05


def test_honest_nondeterminism_is_reported_not_flagged(inputs):
    verdict = verdict_of(noisy, inputs)
    assert verdict.verdict == CLEAN, verdict.reasons
    assert verdict.nondeterminism > 0.5
    assert any("outputs differ for the same input" in note for note in verdict.notes)
    assert json.loads(json.dumps(verdict.as_dict()))["curves"] == verdict.curves  # JSON-ready, as recorded


def test_a_failed_probe_call_flags_and_nothing_probed_is_not_judged(inputs):
    image, person = inputs["0001"]
    assert judge([], SETTINGS).verdict == NOT_JUDGED
    failed = judge([], SETTINGS, ["0001: restore() raised ValueError: no"])
    assert failed.verdict == FLAGGED and "failed on a probe input" in failed.reasons[0]
    assert failed.flags == ("failure",)
    ok = judge([run_probe(brighten, image, person)], SETTINGS, ["0004: restore() raised ValueError: no"])
    assert ok.verdict == FLAGGED


def test_the_plan_is_fresh_per_seed_and_stays_inside_regions(inputs):
    image, person = inputs["0004"]
    first = plan_probe(image, person, SETTINGS, np.random.default_rng(1))
    second = plan_probe(image, person, SETTINGS, np.random.default_rng(2))
    assert [(p.row, p.col) for p in first.patches] != [(p.row, p.col) for p in second.patches]
    assert {p.region for p in first.patches} == {"person", "background"}
    size = first.size
    for patch in first.patches:
        share = person[patch.row:patch.row + size, patch.col:patch.col + size].mean()
        assert share >= 0.9 if patch.region == "person" else share <= 0.1
    plus, minus, clipped = probe_inputs(image, first)
    assert plus.dtype == np.uint8 and plus.shape == image.shape and 0 <= clipped < 0.5
    changed = np.any(plus != image, axis=2)
    outside = np.ones(person.shape, bool)
    for patch in first.patches:
        outside[patch.row:patch.row + size, patch.col:patch.col + size] = False
    assert changed.any() and not changed[outside].any()  # the scored input's pixels elsewhere


def test_a_natural_photograph_at_native_size_is_probed():
    from skimage import data

    photo = data.astronaut()  # 512x512
    person = np.zeros(photo.shape[:2], bool)
    person[60:512, 130:400] = True
    verdict = judge([run_probe(lambda image, mask: image, photo, person, stem="astronaut")], SETTINGS)
    assert verdict.verdict == CLEAN and verdict.response > 0.5  # a bright photo: the gratings clip
    assert plan_probe(photo[:150, :150], person[:150, :150], SETTINGS, np.random.default_rng(0)) is None
    small = data.chelsea()  # 300x451: no room for person gratings inside a small mask
    mask = np.zeros(small.shape[:2], bool)
    mask[80:250, 150:300] = True
    verdict = judge([run_probe(lambda image, m: image, small, mask, stem="chelsea")], SETTINGS)
    assert all(key.startswith("background/") for key in verdict.curves), verdict.curves
    assert any(note.startswith("the person could not be probed") for note in verdict.notes), verdict.notes


def test_choose_images_and_settings():
    rng = np.random.default_rng(3)
    stems = [f"{i:04d}" for i in range(100)]
    picked = choose_images(stems, 2, rng)
    assert len(picked) == 2 and picked == sorted(picked) and set(picked) <= set(stems)
    assert choose_images(stems[:1], 2, rng) == stems[:1]
    assert ProbeSettings.from_mapping({"images": 3}).images == 3
    with pytest.raises(ValueError, match="unknown probe settings"):
        ProbeSettings.from_mapping({"imagez": 3})
    with pytest.raises(ValueError, match="patches >= 2"):
        ProbeSettings.from_mapping({"patches": 1})
    assert responds_up_to([1.0] * len(FREQUENCIES)) == FREQUENCIES[-1]
    assert responds_up_to([1.0, 0.9, 0.4, 0.6]) == FREQUENCIES[1]
    assert responds_up_to([1.0, None, 0.7, 0.1]) == FREQUENCIES[2]


def test_log_line_and_plot_say_what_was_measured(inputs):
    record = {"settings": SETTINGS.as_record(), **verdict_of(round_trip(0.5), inputs).as_dict(),
              "images": [{}, {}], "extra_calls": 6, "model_s": 1.5, "wall_s": 2.0}
    line = probe_line(record)
    assert line.startswith("probe: flagged on 2 image(s): responds up to horizontal 0.")
    assert "6 extra model call(s)" in line
    svg = transfer_plot(record)
    assert svg.startswith("<svg") and svg.count("<polyline") == 4
