from pathlib import Path

TINY = Path(__file__).resolve().parents[1] / "training" / "data" / "tiny.yaml"
