"""The `evolve` console command. Kept apart from evolve/cli.py so that Ctrl-C is taken
over (evolve/interrupts.py) before the command's imports start: a Ctrl-C during them is
recorded and answered with "evolve: interrupted" (status 130), not a traceback."""

from __future__ import annotations

import sys

from evolve import interrupts


def main() -> int:
    interrupts.install()
    with interrupts.deferred():
        from evolve.cli import main as cli_main
    if interrupts.take():
        print("evolve: interrupted", file=sys.stderr)
        return 130
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
