"""The command group, its error handling and the option types every verb shares.

Exit codes: 0 done, 2 an error latentforge explains in one ``error:`` line (bad option, file or data),
130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading

import click

from .. import __version__
from ..errors import LatentforgeError
from ..validation import MAX_SEED

STOPPED = "the last checkpoint is kept (continue with --resume)."


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the work stops the way Ctrl-C stops it (finally blocks run)."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_exception():
    """Turn SIGTERM into :class:`Terminated` while a verb runs (main thread only; the old handler returns)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class FriendlyGroup(click.Group):
    """Prints latentforge's own errors, and OS errors such as a full disk, as one clear line (exit code 2)
    instead of a traceback; Ctrl-C exits with 130 and SIGTERM with 143, saying what is kept. Anything else
    is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            with sigterm_as_exception():
                return super().invoke(ctx)
        except LatentforgeError as e:
            _fail(str(e))
        except OSError as e:  # permission denied, disk full, ...: the user's to fix, not a bug
            _fail(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}")
        except KeyboardInterrupt:
            click.echo(f"interrupted; {STOPPED}", err=True)
            sys.exit(130)
        except Terminated:
            click.echo(f"terminated (SIGTERM); {STOPPED}", err=True)
            sys.exit(143)


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


class FiniteFloat(click.FloatRange):
    """A float range that also refuses NaN and infinities (which compare as in range)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class ListingOption(click.Option):
    """An option whose help ends with a list computed only when help is shown (listing models imports torch)."""

    def __init__(self, *args, listing, **kwargs):
        super().__init__(*args, **kwargs)
        self.listing, self.base_help = listing, self.help

    def get_help_record(self, ctx):
        self.help = f"{self.base_help} {self.listing()}"
        return super().get_help_record(ctx)


def _models_listing() -> str:
    from ..models import available_models

    return f"Registered: {', '.join(available_models())}."


def _presets_listing() -> str:
    from ..run_config import available_presets

    return f"Presets: {', '.join(available_presets())}."


POSITIVE = click.IntRange(min=1)
SEED = click.IntRange(0, MAX_SEED)
DEVICE_HELP = "Where to run: auto (a GPU when there is one), cpu, cuda, cuda:N or mps."


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="latentforge")
def main() -> None:
    """latentforge: train autoencoders, VAEs and GANs on images, and use them to generate, reconstruct, edit,
    restore and represent images.

    Exit codes: 0 done, 2 error (one line starting with "error:"), 130 interrupted, 143 terminated.
    """


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _finite_figures(figures: dict) -> dict:
    """The figures with NaN/inf as null (valid JSON), and a warning on stderr naming those figures."""
    from ..api import non_finite_to_none

    cleaned, bad = non_finite_to_none(figures)
    if bad:
        click.secho(f"warning: {', '.join(bad)} not finite (written as null): the model gives NaN or infinite "
                    "values on these images, e.g. from NaN weights or an overflow; check its training.",
                    fg="yellow", err=True)
    return cleaned


def _device_option(command):
    return click.option("--device", default="auto", help=DEVICE_HELP)(command)
