"""A run folder: checked against ``--resume`` and holding the resolved ``config.yaml``
(every model kind's runs share the layout; `hamlearn.runs`)."""

from __future__ import annotations

from pathlib import Path

from hamlearn.config import (Config, ConfigError, config_to_dict, dump_config, load_config,
                             with_absolute_paths)
from hamlearn.training.loop import has_checkpoint


def _check_same_config(cfg: Config, workdir: Path) -> None:
    saved = workdir / "config.yaml"
    if saved.is_file():
        old = config_to_dict(load_config(saved))
        if old != config_to_dict(with_absolute_paths(cfg)):
            raise ConfigError(f"--resume: the config differs from the run's {saved}; resume "
                              "with that file or start a new workdir")


def open_run_folder(cfg: Config, workdir: str | Path, resume_run: bool) -> Path:
    """Check ``workdir`` against ``--resume`` (a run to continue with the same config, or
    no run yet), create it and write the resolved ``config.yaml``."""
    workdir = Path(workdir)
    if resume_run:
        if not has_checkpoint(workdir):
            raise FileNotFoundError(f"--resume: no checkpoint in {workdir / 'checkpoints'}")
        _check_same_config(cfg, workdir)
    elif has_checkpoint(workdir):
        raise FileExistsError(f"{workdir} already holds a run; pass --resume to continue it "
                              "or choose another --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    dump_config(with_absolute_paths(cfg), workdir / "config.yaml")
    return workdir
