"""The loader's entry points: read the ``*.toml`` files of a folder (or tables already
parsed), parse each, check them together, and return segments, problems and warnings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError
from bridge.segments.loader.messages import _display, _Err, _os_reason, _Problems, _q
from bridge.segments.loader.schema import MAX_FILE_BYTES
from bridge.segments.loader.segment import parse_segment
from bridge.segments.loader.together import _check_together
from bridge.segments.model import Segment


def _read_toml(path: Path) -> dict[str, Any] | _Err:
    """One segment file's table, or one line saying why it cannot be read.

    tomllib recurses once per nested inline table or array, so a deeply nested file
    ends in RecursionError; a huge integer literal in ValueError. Neither is a traceback.
    """
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return _Err(f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
        with path.open("rb") as fh:
            text = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return _Err(f"cannot read: {_os_reason(exc)}")
    if len(text) > MAX_FILE_BYTES:
        return _Err(f"is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return _Err(f"not valid TOML: not UTF-8 text (byte {exc.start})")
    except tomllib.TOMLDecodeError as exc:
        return _Err(f"not valid TOML: {exc}")
    except RecursionError:
        return _Err("not valid TOML for segbridge: tables or arrays nest too deeply")
    except ValueError as exc:  # Python refuses to read integers of more than 4300 digits
        if "digits" in str(exc):
            return _Err("not valid TOML for segbridge: a number has thousands of digits")
        return _Err(f"not valid TOML: {_q(str(exc))}")


def _read_all(directory: Path, config: Any) -> tuple[list[Segment], list[str], list[str]]:
    base = getattr(config, "base_dir", None) if config is not None else None
    problems: list[str] = []
    warnings: list[str] = []
    segments: list[Segment] = []
    names: dict[str, str] = {"@dir": _display(directory, base)}
    if not directory.is_dir():
        return [], [f"{_display(directory, base)}: mappings directory not found"], []
    for path in sorted(directory.glob("*.toml")):
        if _editor_file(path.name):
            continue
        shown = _display(path, base)
        out = _Problems(shown)
        data = _read_toml(path)
        if isinstance(data, _Err):
            problems.append(f"{shown}: {data.message}")
            continue
        seg = parse_segment(data, path, config, out, directory)
        problems.extend(out.problems)
        warnings.extend(out.warnings)
        if seg is not None:
            segments.append(seg)
            names[seg.code + "@" + str(path)] = shown
    _check_together(segments, names, config, problems)
    return segments, problems, warnings


def _editor_file(name: str) -> bool:
    """A hidden or editor file, not a segment file: names starting with "." (Emacs' lock
    link .#vip.toml, vim's .vip.toml.swp, LibreOffice's .~lock) or "~", or ending in "~"
    (backups). pathlib's glob matches hidden files, which a shell's does not."""
    return name.startswith((".", "~")) or name.endswith("~")


def empty_mappings_line(config: Any) -> str:
    """Why a mappings folder without segment files is refused by plan, push and run."""
    where = f"{config.path}: " if getattr(config, "path", None) else ""
    return (
        f"{where}mappings.dir: {config.mappings.dir}: no segment file (*.toml) in this folder; "
        "refused, since a wrong path would otherwise send every member home and switch off "
        "every block and rule segbridge made. To retire every segment, set active = false "
        "in each file"
    )


def check_mappings(config: Any, directory: Path | None = None) -> tuple[list[str], list[str]]:
    """(problems, warnings) for ``segbridge check``; problems make it exit 2."""
    directory = directory or config.mappings.dir
    _segments, problems, warnings = _read_all(Path(directory), config)
    return problems, warnings


def load_segments(directory: Path, config: Any) -> list[Segment]:
    """Every segment file in ``directory``, validated; raises ConfigError with all problems."""
    segments, problems, _warnings = _read_all(Path(directory), config)
    if problems:
        raise ConfigError(problems)
    return segments


def load_segments_with_warnings(directory: Path, config: Any) -> tuple[list[Segment], list[str]]:
    segments, problems, warnings = _read_all(Path(directory), config)
    if problems:
        raise ConfigError(problems)
    return segments, warnings


def segments_from_dicts(
    datas: list[dict[str, Any]], config: Any, mappings_dir: Path | None = None
) -> list[Segment]:
    """Segments from already-parsed TOML tables (tests, tools), validated like files."""
    problems: list[str] = []
    segments: list[Segment] = []
    names: dict[str, str] = {"@dir": "<memory>"}
    for i, data in enumerate(datas):
        shown = f"<segment {data.get('code', i)}>"
        out = _Problems(shown)
        source = Path(f"{data.get('code', i)}.toml")
        seg = parse_segment(data, source, config, out, mappings_dir or Path.cwd())
        problems.extend(out.problems)
        if seg is not None:
            segments.append(seg)
            names[seg.code + "@" + str(source)] = shown
    _check_together(segments, names, config, problems)
    if problems:
        raise ConfigError(problems)
    return segments
