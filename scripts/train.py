#!/usr/bin/env python
"""Train a minimal-basis Hamiltonian model on large-basis observables.

    python scripts/train.py --config configs/quickstart.yaml [--workdir runs/NAME]
                            [--set train.epochs=50 ...] [--resume]

Data come through the reference cache (computed when missing); the run folder gets the
resolved config, the split, logs, checkpoints (every train.checkpoint_every steps, each
epoch, and on Ctrl-C) and the test metrics. ``--resume`` continues an interrupted run
exactly where its last checkpoint left it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hamlearn.config import load_config
from hamlearn.errors import USER_ERRORS
from hamlearn.training.metrics import format_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument("--workdir", help="run folder (default: runs/<config name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. train.epochs=5 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --workdir")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("jax", "absl", "distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    workdir = Path(args.workdir or Path("runs") / Path(args.config).stem)
    try:
        cfg = load_config(args.config, args.set)
        from hamlearn.runs import train

        result = train(cfg, workdir, resume_run=args.resume, progress=not args.no_progress)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; checkpoint saved. Continue with: python scripts/train.py "
              f"--config {args.config} --workdir {workdir} --resume", file=sys.stderr)
        return 130
    st = result.state
    print(f"\nrun folder: {workdir}  steps: {st.step}  epochs: {st.epoch}  "
          f"best epoch: {st.best_epoch}  skipped steps: {st.skipped_steps}  "
          f"time: {st.seconds:.1f} s")
    if result.test_metrics:
        print(f"test set ({len(result.split.test)} molecules, target basis "
              f"{cfg.train.target_basis}):")
        print(format_table(result.test_metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
