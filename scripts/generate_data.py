#!/usr/bin/env python
"""Generate (or complete) the reference data of a config's ``data`` section.

    python scripts/generate_data.py --config configs/quickstart.yaml [--set data.n_workers=2]

Molecules already in the cache are reused; an interrupted run resumes where it stopped.
Prints a summary (ok / cached / computed / failed with reasons / unreadable frames of
structure files, each with file and line / time). Exit status 0 when at least one
molecule has its references; 1 when none has (or, with ``--strict``, when any molecule
failed or any frame was unreadable); 2 for a bad config or an unreadable file.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hamlearn.config import load_config
from hamlearn.data.generate import load_dataset
from hamlearn.errors import USER_ERRORS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. data.n_workers=2 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any molecule failed")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_threads

    setup_threads()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.set)
        result = load_dataset(cfg.data, root=cfg.root, progress=not args.no_progress)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    if not result.references:
        return 1
    return 1 if args.strict and (result.failures or result.skipped) else 0


if __name__ == "__main__":
    sys.exit(main())
