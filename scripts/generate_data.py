#!/usr/bin/env python
"""Generate (or complete) the reference data of a config's ``data`` section.

    python scripts/generate_data.py --config configs/quickstart.yaml [--set data.n_workers=2]

Molecules already in the cache are reused; an interrupted run resumes where it stopped.
Prints a summary (ok / cached / computed / failed with reasons / time). Exit status 0,
or 1 with ``--strict`` when any molecule failed; 2 for a bad config or structure file.
"""

from __future__ import annotations

import argparse
import logging
import sys

from hamlearn.config import ConfigError, load_config
from hamlearn.data.generate import load_dataset
from hamlearn.data.reference import ReferenceDataError
from hamlearn.data.sources import SourceError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML run config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. data.n_workers=2 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any molecule failed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config, args.set)
        result = load_dataset(cfg.data, root=cfg.root, progress=not args.no_progress)
    except (ConfigError, SourceError, ReferenceDataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    return 1 if args.strict and result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
