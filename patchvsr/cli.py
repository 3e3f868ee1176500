"""`python -m patchvsr <command>`: one sub-command per module in `patchvsr/commands/`.

Every command module exposes `add_parser(subparsers)` and `run(args) -> int`. User errors
(`PatchVSRError`, bad files, bad numbers) become one line on stderr and exit code 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Order is the order shown in `--help`.
COMMANDS = ["upscale", "plan", "viz", "eval", "bench", "train", "prepare-data"]
# How the command line names the settings a refused request names (`RequestError.field`).
OPTION_NAMES = {
    "scale": "--scale",
    "size": "--size",
    "in_size": "--in-size",
    "patch": "--patch",
    "overlap": "--overlap",
    "scheme": "--scheme",
    "steps": "--steps",
    "strength": "--strength",
    "denoise": "--denoise",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(commands: list[str] = COMMANDS) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m patchvsr", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in commands:
        try:
            module = importlib.import_module(f"patchvsr.commands.{name.replace('-', '_')}")
        except ModuleNotFoundError as err:
            if err.name.startswith("patchvsr"):
                raise
            # A command whose third-party dependency is missing still shows up, and says
            # what to install instead of breaking every other command.
            sub = subparsers.add_parser(name, help=f"(needs the {err.name} package)")
            sub.set_defaults(_run=_missing(name, err.name))
            continue
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def _missing(command: str, package: str):
    def run(_args) -> int:
        from patchvsr.errors import PatchVSRError

        raise PatchVSRError(
            f"'{command}' needs the {package} package: pip install -r requirements.txt"
        )

    return run


def main(argv: list[str] | None = None) -> int:
    from patchvsr.errors import PatchVSRError
    from patchvsr.request import RequestError

    argv = sys.argv[1:] if argv is None else argv
    # Only the named command's module: others load torch, which a refused request never needs.
    args = build_parser(argv[:1] if argv[:1] and argv[0] in COMMANDS else COMMANDS).parse_args(argv)
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
        return code
    except BrokenPipeError:
        # Whoever read the output stopped (`plan --json | head`): end quietly, as other
        # command-line tools do, without Python's own flush at exit failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for such a tool
    except RequestError as err:
        print(f"error: {err.worded(OPTION_NAMES)}", file=sys.stderr)
        return 2
    except PatchVSRError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
