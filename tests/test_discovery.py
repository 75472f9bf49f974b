"""Submission discovery: whole-stem matching, junk ignored, wrapping folders, one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from aiflash.discovery import find_predictions, find_reference, match_cases
from aiflash.errors import ReferenceDataError, SubmissionError

from .synth import make_dataset, write_rgb

STEMS = ["0001", "0002", "0003", "0010", "1000"]


def test_four_digit_stems_any_case_extension_and_junk(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS, size=(40, 48))
    (res / "0002.png").rename(res / "0002.PNG")
    (res / "0003.png").rename(res / "0003.JpG")  # extension case only; content stays PNG
    for junk in ("metadata", "metadata.json", "ingestion.json", ".DS_Store", "._0001.png", "README.txt"):
        (res / junk).write_text("x")
    (res / "__MACOSX").mkdir()
    write_rgb(res / "__MACOSX" / "0001.png", np.zeros((4, 4, 3), np.uint8))
    cases = match_cases(find_reference(ref), find_predictions(res))
    assert [c.stem for c in cases] == STEMS
    assert cases[1].prediction_path.name == "0002.PNG"


def test_single_wrapping_folders_are_descended(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS[:2], size=(40, 48))
    wrapped = tmp_path / "wrapped"
    (wrapped / "outer" / "results").mkdir(parents=True)
    for p in res.iterdir():
        p.rename(wrapped / "outer" / "results" / p.name)
    (wrapped / "__MACOSX").mkdir()
    (wrapped / "metadata").write_text("exitCode: 0")
    assert len(match_cases(find_reference(ref), find_predictions(wrapped))) == 2


def test_missing_extra_and_duplicate_stems_in_one_error(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS, size=(40, 48))
    (res / "0001.png").unlink()
    (res / "0010.png").unlink()
    write_rgb(res / "0004.png", np.zeros((40, 48, 3), np.uint8))
    write_rgb(res / "0003.jpg", np.zeros((40, 48, 3), np.uint8))
    with pytest.raises(SubmissionError) as info:
        match_cases(find_reference(ref), find_predictions(res))
    message = str(info.value)
    assert "2 missing (0001, 0010)" in message
    assert "1 extra (0004.png)" in message
    assert "1 duplicated stem(s) (0003: 0003.jpg and 0003.png)" in message
    assert "\n" not in message


def test_many_missing_are_counted_and_shortened(tmp_path):
    stems = [f"{i:04d}" for i in range(1, 13)]
    ref, res = make_dataset(tmp_path, stems, size=(40, 48))
    for p in sorted(res.iterdir())[1:]:
        p.unlink()
    with pytest.raises(SubmissionError, match=r"11 missing \(0002, 0003, 0004, 0005, 0006, \.\.\.\)"):
        match_cases(find_reference(ref), find_predictions(res))


def test_failed_in_ingestion_reported_with_the_model_error(tmp_path):
    ref, res = make_dataset(tmp_path, STEMS[:3], size=(40, 48))
    (res / "0002.png").unlink()
    with pytest.raises(SubmissionError, match="failed in the model run.*0002: ValueError: boom"):
        match_cases(find_reference(ref), find_predictions(res), {"0002": "ValueError: boom"})


def test_reference_problems_are_organiser_errors(tmp_path):
    ref, _ = make_dataset(tmp_path, STEMS[:2], size=(40, 48))
    (ref / "mask_personmask" / "0002.png").unlink()
    with pytest.raises(ReferenceDataError, match="no person mask for 1 ground-truth image.*0002"):
        find_reference(ref)
    with pytest.raises(ReferenceDataError, match="folder not found"):
        find_reference(tmp_path / "nowhere")
