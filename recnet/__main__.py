"""``python -m recnet <command>``: enhance photos, train, evaluate, synthesis contact sheets.

Each command lives in its own module with ``configure(parser)`` and ``run(args) -> int``;
they are imported only when chosen, so ``enhance`` starts without loading training code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "enhance": ("recnet.inference.enhance_cli", "correct the exposure of photos (files or folders)"),
    "train": ("recnet.training.train", "train RECNet on synthesised mixed-exposure pairs"),
    "average": ("recnet.training.average", "average the weights of several snapshots of a run"),
    "evaluate": ("recnet.evaluation.evaluate", "PSNR/SSIM against identity and classical baselines"),
    "contact-sheet": ("recnet.training.synthesis_sheet", "a sheet of synthesised inputs and targets to judge by eye"),
    "before-after": ("recnet.evaluation.before_after", "a sheet of photos before and after correction, with exposure maps"),
    "curves": ("recnet.training.curves", "the training log as a picture: loss and validation PSNR/SSIM"),
}


def main(argv: list[str] | None = None) -> int:
    prog = "python -m recnet" if sys.argv[0].endswith("__main__.py") else "recnet"  # or the installed script
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the command that runs
            module = importlib.import_module(module_name)
            module.configure(command_parser)
            command_parser.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
