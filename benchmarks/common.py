"""Helpers every benchmark shares: machine and version info, the JSON result file, the docs page.

A benchmark builds its result with ``make_result``, saves it with ``write_result`` (atomically, through
``latentforge.io.atomic_write_bytes``, so an interrupted run never leaves half a file) and puts its table into
``docs/benchmarks.md`` with ``write_docs_section``, which replaces only the section between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` and leaves the rest of the page (the hand-written intro, other benchmarks) alone.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shlex
import statistics
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
DOCS_PATH = ROOT / "docs" / "benchmarks.md"

DOCS_HEADER = "# Benchmarks\n\nGenerated sections below come from `benchmarks/results/*.json`.\n"


# -- what ran, where ------------------------------------------------------------------------------
def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as a reader would retype it from the repository root: ``python benchmarks/x.py ...``."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = argv[0]
    return shlex.join(["python", script_text, *argv[1:]])


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages (None where the OS has none): high values mean shared cores."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info(threads: int) -> dict[str, Any]:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "threads": threads, "gpu": gpu, "logical_cpus": os.cpu_count(),
            "os": f"{platform.system()} {platform.release()}"}


def versions(**extra: str) -> dict[str, str]:
    import torch

    import latentforge

    return {"latentforge": getattr(latentforge, "__version__", "unknown"), "torch": torch.__version__,
            "python": platform.python_version(), **extra}


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


# -- the result file ------------------------------------------------------------------------------
def make_result(name: str, *, summary: dict[str, Any], rows: list[dict[str, Any]], threads: int,
                date: str | None = None, command: str | None = None, machine_extra: dict[str, Any] | None = None,
                versions_extra: dict[str, str] | None = None) -> dict[str, Any]:
    """A result in the format of DESIGN.md ("Benchmarks")."""
    return {
        "name": name,
        "date": date or utc_now(),
        "command": command or command_line(),
        "machine": {**machine_info(threads), **(machine_extra or {})},
        "versions": versions(**(versions_extra or {})),
        "summary": summary,
        "rows": rows,
    }


def result_path(name: str, results_dir: str | os.PathLike = RESULTS_DIR) -> Path:
    return Path(results_dir) / f"{name}.json"


def write_result(result: dict[str, Any], results_dir: str | os.PathLike = RESULTS_DIR) -> Path:
    from latentforge.io import atomic_write_bytes

    path = result_path(result["name"], results_dir)
    atomic_write_bytes(path, (json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def publish(name: str, result: dict[str, Any], render: Any, results_dir: str | os.PathLike = RESULTS_DIR,
            docs_path: str | os.PathLike = DOCS_PATH) -> Path:
    """Write ``result`` as JSON and its section of the docs page (``render(result)``), and say where."""
    path = write_result(result, results_dir)
    write_docs_section(name, render(result), docs_path)
    print(f"wrote {path} and {docs_path}")
    return path


def read_result(name: str, results_dir: str | os.PathLike = RESULTS_DIR) -> dict[str, Any]:
    return json.loads(result_path(name, results_dir).read_text(encoding="utf-8"))


# -- markdown -------------------------------------------------------------------------------------
def format_value(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and abs(value) >= 10 ** digits:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.{max(0, digits - len(str(int(abs(value)))))}f}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
                   headers: dict[str, str] | None = None, digits: int = 3) -> str:
    """A GitHub markdown table of ``rows`` (dicts); columns default to every key, in first-seen order."""
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    headers = headers or {}
    lines = ["| " + " | ".join(headers.get(c, c) for c in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(format_value(row.get(c), digits) for c in columns) + " |")
    return "\n".join(lines)


def provenance_markdown(result: dict[str, Any]) -> str:
    """Date, command, machine and versions of a result, as a short list."""
    machine = result.get("machine", {})
    described = ", ".join(f"{k} {format_value(v)}" for k, v in machine.items()
                          if k != "cpu" and not isinstance(v, (dict, list)))
    vers = ", ".join(f"{k} {v}" for k, v in result.get("versions", {}).items())
    return "\n".join([
        f"- Run: {result.get('date', '?')}, `{result.get('command', '?')}`",
        f"- Machine: {machine.get('cpu', '?')} ({described})",
        f"- Versions: {vers}",
    ])


def render_result(result: dict[str, Any], description: str = "") -> str:
    """A generic docs section for any result file: summary, every row, provenance."""
    parts = [f"## {result['name']}"]
    if description:
        parts.append(description.strip())
    summary = result.get("summary", {})
    if summary:
        parts.append(markdown_table([{"figure": k, "value": v} for k, v in summary.items()]))
    if result.get("rows"):
        parts.append(markdown_table(result["rows"]))
    parts.append(provenance_markdown(result))
    return "\n\n".join(parts)


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"benchmark name {name!r} must be letters, digits, '_', '.' or '-'")
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def write_docs_section(name: str, markdown: str, docs_path: str | os.PathLike = DOCS_PATH) -> Path:
    """Replace the section marked for ``name`` in the docs page, or append it; the rest stays as it is."""
    from latentforge.io import atomic_write_bytes

    docs_path = Path(docs_path)
    start, end = _markers(name)
    block = f"{start}\n<!-- generated by benchmarks/{name}.py from benchmarks/results/{name}.json; " \
            f"edits here are overwritten -->\n\n{markdown.strip()}\n\n{end}"
    text = docs_path.read_text(encoding="utf-8") if docs_path.is_file() else DOCS_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_bytes(docs_path, text.encode("utf-8"))
    return docs_path


# -- training runs a benchmark reuses ----------------------------------------------------------------
GRID_COLUMNS = 8


def save_sample_grid(model: Any, path: str | os.PathLike, seed: int) -> Path:
    """8×8 seeded samples as a PNG; a class-conditional model gets one row of 8 per class."""
    import torch

    from latentforge.api import sample
    from latentforge.data.images import save_grid

    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if num_classes:
        labels = torch.arange(num_classes).repeat_interleave(GRID_COLUMNS)
        images = sample(model, len(labels), labels=labels, seed=seed)
    else:
        images = sample(model, GRID_COLUMNS * GRID_COLUMNS, seed=seed)
    return Path(save_grid(images, path, nrow=GRID_COLUMNS, scale=2))


def class_colour_npz(path: str | os.PathLike, n_train: int = 640, n_test: int = 320) -> Path:
    """A small CIFAR-shaped (3×32×32, uint8) npz data set of noisy class colours for the benchmarks' --quick
    runs: one colour per class, so that a classifier trained on it passes the FID extractor's accuracy check."""
    import numpy as np

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n_train + n_test)
    templates = rng.integers(0, 256, (10, 3, 1, 1))
    x = np.clip(templates[y] + rng.normal(0, 10, (len(y), 3, 32, 32)), 0, 255).astype(np.uint8)
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])
    return Path(path)


def run_record(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The training record of the run in ``run_dir`` (``model/training.json``), or {} when there is none."""
    from latentforge.api import training_record

    return training_record(run_dir) if (Path(run_dir) / "model" / "training.json").is_file() else {}


def run_finished(record: dict[str, Any]) -> bool:
    """Whether a run's training record says it reached its configured epochs."""
    epochs = (record.get("train") or {}).get("epochs")
    return bool(record) and epochs is not None and int(record.get("epochs_completed") or 0) >= int(epochs)


def add_output_arguments(parser: Any, docs_note: str = "") -> None:
    """The options every benchmark has for where it writes: ``--results-dir``, ``--docs`` and ``--docs-only``."""
    parser.add_argument("--results-dir", type=Path, default=None, help=f"default {RESULTS_DIR}")
    parser.add_argument("--docs", type=Path, default=None, help=f"docs page to update (default {DOCS_PATH}){docs_note}")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the docs section from the JSON")


def fill_mode_defaults(args: Any, defaults: dict[str, tuple[Any, Any]]) -> None:
    """Give every option left unset (``None``) its default: ``defaults[name] = (full_run, quick)``, the second
    under ``--quick``."""
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)


def check_minimums(parser: Any, args: Any, minimums: dict[str, int]) -> None:
    """``parser.error`` naming every option below its minimum, e.g. ``--epochs must be ≥ 1 (got 0)``."""
    low = [f"--{name.replace('_', '-')} must be ≥ {least} (got {getattr(args, name)})"
           for name, least in minimums.items() if getattr(args, name) < least]
    if low:
        parser.error("; ".join(low))


def output_places(args: Any) -> tuple[Path, Path, Path | None]:
    """Where a benchmark writes: ``(results_dir, docs_path, scratch)``. Under ``--quick`` the results and the
    docs page go to a new temp folder (``scratch``) unless ``--results-dir``/``--docs`` name places, so a
    smoke check never touches the repository's results; otherwise the repository's defaults."""
    scratch = None
    if args.quick:
        scratch = Path(tempfile.mkdtemp(prefix="latentforge-bench-quick-"))
        args.results_dir = args.results_dir or scratch / "results"
        args.docs = args.docs or scratch / "benchmarks.md"
    return Path(args.results_dir or RESULTS_DIR), Path(args.docs or DOCS_PATH), scratch


def places_or_docs_only(name: str, render: Any, args: Any) -> tuple[Path, Path, Path | None]:
    """:func:`output_places` for a run; with ``--docs-only``, rebuild the docs section from the saved JSON and
    exit instead."""
    results_dir, docs, scratch = output_places(args)
    if args.docs_only:
        raise SystemExit(rebuild_docs_section(name, render, results_dir, docs))
    return results_dir, docs, scratch


def log(*parts: Any) -> None:
    """Progress of a long benchmark, on stderr so that stdout stays for results."""
    print(*parts, file=sys.stderr, flush=True)


def start_run(name: str, render: Any, args: Any, argv: Sequence[str] | None, data: str) -> tuple[str, Path, Path,
                                                                                                  Path | None]:
    """The opening the GAN and natural-image benchmarks share: the command to record, the output places (or the
    ``--docs-only`` exit), torch held to ``--threads``, ``args.data`` set and no extractor cache override yet.
    Returns (command, results_dir, docs, scratch); scratch is the quick mode's temp folder, else None."""
    command = script_command(argv)
    results_dir, docs, scratch = places_or_docs_only(name, render, args)
    import torch

    torch.set_num_threads(args.threads)
    args.data, args.extractor_cache = data, None
    if scratch is not None:
        log(f"quick mode: everything goes to {scratch}")
    return command, results_dir, docs, scratch


def script_command(argv: Sequence[str] | None) -> str:
    """:func:`command_line` of a benchmark's ``main(argv)``: ``argv`` are its arguments (None: the process's)."""
    return command_line([sys.argv[0], *(sys.argv[1:] if argv is None else list(argv))])


def rebuild_docs_section(name: str, render: Any, results_dir: str | os.PathLike, docs_path: str | os.PathLike) -> int:
    """``--docs-only``: regenerate one benchmark's docs section from its saved JSON."""
    if not result_path(name, results_dir).is_file():
        raise SystemExit(f"No result {result_path(name, results_dir)} to rebuild the docs from: "
                         "run the benchmark first.")
    write_docs_section(name, render(read_result(name, results_dir)), docs_path)
    print(f"updated {docs_path}")
    return 0


def sync_docs(results_dir: str | os.PathLike = RESULTS_DIR, docs_path: str | os.PathLike = DOCS_PATH,
              renderers: dict[str, Any] | None = None) -> list[str]:
    """Give every result file a section in the docs page; returns the names written.

    A result with a renderer in ``renderers`` (name → function of the result) is always rewritten; any
    other gets the generic ``render_result`` only when the page has no section for it yet, so a section
    that its own benchmark wrote is never replaced by the plainer generic one.
    """
    renderers = renderers or {}
    docs_path = Path(docs_path)
    done = []
    for path in sorted(Path(results_dir).glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        name = result["name"]
        if name not in renderers:
            text = docs_path.read_text(encoding="utf-8") if docs_path.is_file() else ""
            if _markers(name)[0] in text:
                continue
        write_docs_section(name, renderers.get(name, render_result)(result), docs_path)
        done.append(name)
    return done
