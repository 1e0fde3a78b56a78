"""Seed data: public gallery tunes (API notes §1.5, §7) and two packs (API notes §8)."""

from __future__ import annotations

from dataclasses import dataclass

# 2025-01-01T00:00:00Z: gallery objects predate anything a test creates.
SEED_EPOCH = 1735689600.0

FLUX_DEV = 1504944
SD15_RV51 = 690204
SDXL_BASE = 666678
GEMINI = 3159068
GEMINI_PRO = 3618064
SEEDREAM_45 = 3691308
GPT_IMAGE_2 = 4665564
WAN_27 = 4711047  # an id of the fake's own (the real one is not public)

# (id, title, branch, model_type)
GALLERY_TUNES: tuple[tuple[int, str, str, str | None], ...] = (
    (FLUX_DEV, "Flux1.dev", "flux1", None),
    (SD15_RV51, "Realistic Vision v5.1", "sd15", None),
    (SDXL_BASE, "SDXL 1.0", "sdxl1", None),
    (1194447, "RealVis XL Lightning", "sdxl1", None),
    (GEMINI, "Nano Banana / Gemini 2.5", "partner-1", None),
    (3225353, "Seedream 4.0", "partner-1", None),
    (GEMINI_PRO, "Gemini (Nano Banana Pro)", "partner-1", None),
    (SEEDREAM_45, "Seedream 4.5", "partner-1", None),
    (GPT_IMAGE_2, "GPT Image 2", "partner-1", None),
    (WAN_27, "Wan 2.7", "partner-1", None),
)
# Seedream takes 1–4 images per prompt (API notes §7).
FOUR_IMAGE_MODELS = frozenset({3225353, SEEDREAM_45, WAN_27})
# Training defaults per branch (API notes §3.4): which gallery tune a LoRA/FaceID runs on.
DEFAULT_BASE = {"flux1": FLUX_DEV, "sdxl1": SDXL_BASE, "sd15": SD15_RV51, "fast": FLUX_DEV}

@dataclass(frozen=True)
class Template:
    """A pack's template prompt; ``{ref}``/``{token}``/``{name}`` (``{ref2}``…) expand per tune."""

    id: int
    text: str
    num_images: int = 4


@dataclass(frozen=True)
class Pack:
    """A seeded pack ("template" in the GUI)."""

    id: int
    slug: str
    title: str
    subtitle: str
    base_tune_id: int
    model_type: str | None
    classes: tuple[str, ...]
    templates: tuple[Template, ...]
    multi: bool = False
    preset: str | None = None
    multiplier: float = 1.0
    token: str = "ohwx"
    public: bool = True  # seeded packs are public; POST /packs makes private ones
    created: float = SEED_EPOCH


PACKS: tuple[Pack, ...] = (
    Pack(
        id=260,
        slug="corporate-headshots",
        title="Corporate Headshots",
        subtitle="Studio headshots for LinkedIn",
        base_tune_id=FLUX_DEV,
        model_type="lora",
        preset="flux-lora-portrait",
        classes=("man", "woman"),
        templates=(
            Template(9_000_101, "{ref} {token} {name} in a navy suit, grey studio backdrop"),
            Template(9_000_102, "{ref} {token} {name} smiling in a bright office, soft light"),
            Template(9_000_103, "{ref} {token} {name}, black and white portrait", num_images=2),
        ),
    ),
    Pack(
        id=261,
        slug="couple-portraits",
        title="Couple Portraits",
        subtitle="Two references in one picture",
        base_tune_id=GEMINI,
        model_type="faceid",
        multi=True,
        classes=("man", "woman"),
        templates=(
            Template(9_000_201, "{ref1} {name1} and {ref2} {name2} dancing at a gala"),
            Template(9_000_202, "{ref1} {name1} and {ref2} {name2} hiking at sunrise", 2),
        ),
    ),
)
