"""Formats of the blind assessment: the sealed key, the vote files, the criteria, the labels.

The key (written by ``prepare``, kept by the organisers, never sent to experts) maps every image's
anonymous labels to teams and records every page it belongs to: its ``page_id`` (also embedded in
the page and copied into each exported vote file) and the page file's sha256. ``tally`` accepts
a vote file only when its assessment and page ids are in the key.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

from ..errors import AiflashError

KEY_FORMAT = "aiflash-assessment-key/1"
VOTES_FORMAT = "aiflash-expert-votes/1"
TOP = 3  # each expert picks a Top-3 per image
LABELS = string.ascii_uppercase  # anonymous labels: A, B, C, ...

# The six criteria the experts are asked to weigh (guidance on the voting page).
CRITERIA = (
    ("Facial naturalness",
     "Skin tone, texture and facial features look natural under flash: no plastic smoothing, "
     "no distorted features, no change of identity or expression."),
    ("Portrait detail preservation",
     "Hair, eyes, eyelashes, skin texture and clothing stay sharp and faithful, without invented "
     "detail, ringing or over-sharpening."),
    ("Illumination realism",
     "The subject looks lit by a real strong flash: plausible direction and fall-off, natural "
     "highlights and shadows, no blown-out skin."),
    ("Background cleanliness",
     "The background is free of noise, colour blotches, banding, halos and smearing around the "
     "person's outline."),
    ("Scene balance",
     "Subject and background exposure are balanced: the person stands out while the scene "
     "keeps its depth and ambience (not crushed to black, not flattened)."),
    ("Overall consistency",
     "Colours and white balance are coherent across the image and faithful to the captured "
     "scene; the result reads as one believable photograph."),
)


class AssessmentError(AiflashError):
    """An assessment input (results, key, vote file) is missing, malformed or inconsistent."""


def labels_for(count: int) -> list[str]:
    if count > len(LABELS):
        raise AssessmentError(f"{count} teams is more than the {len(LABELS)} anonymous labels (A–Z); "
                              f"assess at most {len(LABELS)} teams at once.")
    return list(LABELS[:count])


@dataclass(frozen=True)
class PageRecord:
    expert: str  # "E1", "E2", ...
    file: str  # the page's file name in the pages folder
    page_id: str
    sha256: str
    order: tuple[str, ...]  # image ids in the order this expert sees them


@dataclass(frozen=True)
class Key:
    assessment_id: str
    seed: int
    teams: tuple[str, ...]  # the assessed teams, best objective Score first
    images: tuple[str, ...]
    labels: dict[str, dict[str, str]]  # image id -> label -> team
    pages: tuple[PageRecord, ...]
    created: str = ""
    title: str = ""

    def page(self, page_id: str) -> PageRecord | None:
        return next((p for p in self.pages if p.page_id == page_id), None)

    def to_json(self) -> str:
        return json.dumps({
            "format": KEY_FORMAT,
            "note": "SEALED: maps anonymous labels to teams. Never send this file to the experts.",
            "assessment_id": self.assessment_id, "created": self.created, "title": self.title,
            "seed": self.seed, "teams": list(self.teams), "images": list(self.images),
            "labels": self.labels,
            "pages": [{"expert": p.expert, "file": p.file, "page_id": p.page_id, "sha256": p.sha256,
                       "order": list(p.order)} for p in self.pages],
        }, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, path: Path) -> Key:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AssessmentError(f"{path}: cannot read the assessment key ({exc}).") from exc
        if not isinstance(raw, dict) or raw.get("format") != KEY_FORMAT:
            raise AssessmentError(f"{path}: not an assessment key written by 'aiflash assess prepare' "
                                  f"(expected format {KEY_FORMAT!r}).")
        try:
            key = cls(
                assessment_id=str(raw["assessment_id"]), seed=int(raw["seed"]),
                teams=tuple(map(str, raw["teams"])), images=tuple(map(str, raw["images"])),
                labels={str(i): {str(lab): str(t) for lab, t in m.items()} for i, m in raw["labels"].items()},
                pages=tuple(PageRecord(str(p["expert"]), str(p["file"]), str(p["page_id"]),
                                       str(p["sha256"]), tuple(map(str, p["order"])))
                            for p in raw["pages"]),
                created=str(raw.get("created", "")), title=str(raw.get("title", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AssessmentError(f"{path}: malformed assessment key ({type(exc).__name__}: {exc}).") \
                from exc
        problems = []
        if set(key.labels) != set(key.images):
            problems.append("its label table does not cover exactly its images")
        for image, mapping in key.labels.items():
            if sorted(mapping.values()) != sorted(key.teams):
                problems.append(f"image {image} does not map its labels to the assessed teams")
                break
        if len({p.page_id for p in key.pages}) != len(key.pages):
            problems.append("two pages share a page id")
        if problems:
            raise AssessmentError(f"{path}: inconsistent assessment key: {'; '.join(problems)}.")
        return key
