"""A structure file with bad frames: each CLI reports the frame (file, line) and goes on
with the others; it exits non-zero only when nothing could be done."""

import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOOD = "2\nh2\nH 0 0 0\nH 0 0 0.74\n"
BAD_ELEMENT = "2\nbad\nH 0 0 0\nQq 0 0 0.74\n"
BAD_NUMBER = "2\nbad\nH 0 0 0\nH 0 0 zero\n"
CONFIG = ("data:\n  sources:\n    - file: {file}\n  method: rhf\n  target_bases: []\n"
          "  polarizability: [uncoupled]\n  n_workers: 1\n  cache_dir: cache\n")


def _main(script):
    spec = importlib.util.spec_from_file_location(script, REPO / "scripts" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_generate_data_skips_the_bad_frame_and_names_its_line(tmp_path, capsys):
    (tmp_path / "three.xyz").write_text(GOOD + BAD_ELEMENT + GOOD)
    (tmp_path / "c.yaml").write_text(CONFIG.format(file="three.xyz"))
    assert _main("generate_data")(["--config", str(tmp_path / "c.yaml"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 molecules: 2 ok" in out and "1 unreadable frames skipped" in out
    assert re.search(r"SKIPPED .*three\.xyz: line 8: unknown element 'Qq' \(frame 1\)", out)
    assert _main("generate_data")(["--config", str(tmp_path / "c.yaml"), "--no-progress",
                                   "--strict"]) == 1


def test_generate_data_exits_1_when_no_frame_is_usable(tmp_path, capsys):
    (tmp_path / "bad.xyz").write_text(BAD_NUMBER)
    (tmp_path / "c.yaml").write_text(CONFIG.format(file="bad.xyz"))
    assert _main("generate_data")(["--config", str(tmp_path / "c.yaml"), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"SKIPPED .*bad\.xyz: line 4: coordinates are not numbers", out)
