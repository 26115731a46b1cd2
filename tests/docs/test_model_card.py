"""The bundled model's card: the same text as docs/models.md, the licence named, the size limit kept,
and its generation table equal to the committed evaluation results it cites."""

import json
from pathlib import Path

from humo.pipelines.coamd import BUNDLED_MODEL

ROOT = Path(__file__).resolve().parents[2]
CARD = BUNDLED_MODEL / "README.md"
RESULTS = ROOT / "docs" / "results" / "coamd-merged-medium.json"
# card row label -> (results entry, row within it)
ROWS = {
    "real data": ("CoAMD, no guidance (default cleanup)", "real"),
    "no guidance": ("CoAMD, no guidance (default cleanup)", "generated"),
    "CFG 3 rescale 0.7 (default)": ("CoAMD + CFG 3 rescale 0.7 (default)", "generated"),
    "no guidance, no planted root": ("CoAMD, no guidance (no planted root)", "generated"),
    "CFG 3 rescale 0.7, no planted root": ("CoAMD + CFG 3 rescale 0.7 (no planted root)", "generated"),
}


def _card_table(text: str) -> dict[str, dict[str, str]]:
    """The generation table of the card: ``{row label: {metric: cell}}``."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    start = next(i for i, ln in enumerate(lines) if "| R@1 |" in ln and "| CLIP |" in ln)
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    table = {}
    for ln in lines[start + 2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if cells[0] not in ROWS:
            break
        table[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return table


def test_card_is_docs_models_md():
    assert CARD.read_text() == (ROOT / "docs" / "models.md").read_text()


def test_card_names_data_and_licence():
    text = CARD.read_text()
    for needle in ("Bandai Namco", "CMU", "HDM05", "CC BY-NC 4.0", "CC BY-SA 3.0", "MPJPE", "R@1", "FID"):
        assert needle in text, needle


def test_bundle_is_safetensors_and_small():
    files = [p for p in BUNDLED_MODEL.rglob("*") if p.is_file()]
    weights = [p for p in files if p.suffix in {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl"}]
    assert weights and all(p.suffix == ".safetensors" for p in weights)
    assert sum(p.stat().st_size for p in files) <= 30 * 2**20


def test_card_table_matches_committed_results():
    results = json.loads(RESULTS.read_text())
    table = _card_table(CARD.read_text())
    assert set(table) == set(ROWS)
    for label, (entry, row) in ROWS.items():
        for metric, cell in table[label].items():
            if cell == "-":
                assert row == "real" and metric == "MultiModality"
                continue
            measured = results[entry][row][metric]["mean"]
            assert cell == f"{measured:.3f}", (label, metric, cell, measured)


# ---------------------------------------------------------------------------------------------- MotionDuet
def test_motionduet_card_licence_size_and_table():
    from humo.models.hub import BUNDLED_MOTIONDUET

    card = BUNDLED_MOTIONDUET / "README.md"
    assert card.read_text() == (ROOT / "docs" / "models-motionduet.md").read_text()
    text = card.read_text()
    for needle in ("Bandai Namco", "CMU", "HDM05", "CC BY-NC 4.0", "CC BY-SA 3.0", "MPJPE", "R@3", "FID"):
        assert needle in text, needle
    files = [p for p in BUNDLED_MOTIONDUET.rglob("*") if p.is_file()]
    assert all(p.suffix == ".safetensors" for p in files if p.suffix in {".safetensors", ".bin", ".pt", ".pkl"})
    assert sum(p.stat().st_size for p in files) <= 10 * 2**20
    assets = BUNDLED_MOTIONDUET.parent
    assert sum(p.stat().st_size for p in assets.rglob("*") if p.is_file()) <= 50 * 2**20  # every bundle together
    results = json.loads((ROOT / "docs" / "results" / "motionduet-merged-compact.json").read_text())
    row = next(v for k, v in results.items() if k.startswith("MotionDuet"))["generated"]
    line = next(ln for ln in text.splitlines() if ln.startswith("| MotionDuet, CFG 3 (default)"))
    cells = [c.strip() for c in line.strip("|").split("|")][1:]
    assert cells == [f"{row[m]['mean']:.3f}" for m in ("R@1", "R@2", "R@3", "FID", "MM-Dist", "Diversity", "CLIP")]
