"""`python -m rv_jupyter state`: print what rv-jupyter reads from the cluster."""

from __future__ import annotations

import argparse
import sys

from rv_jupyter.errors import RvError


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m rv_jupyter", description=__doc__)
    parser.add_argument("command", choices=["state"], help="state: print the cluster state")
    parser.add_argument(
        "--config", help="rv config file (default: $RV_CONFIG or ~/.rv/config.toml)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)

    import rv_jupyter

    try:
        cluster = rv_jupyter.connect(args.config)
        state = cluster.state()
    except RvError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(state.model_dump_json(indent=2) if args.json else state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
