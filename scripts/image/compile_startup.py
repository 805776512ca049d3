"""Compile bytecode for the modules the image's processes import at start, and no others.

Run by the Dockerfile's builder stage with the virtualenv's interpreter:

    python compile_startup.py MODULE_LIST STAGE_DIR

MODULE_LIST is scripts/image/startup-modules.txt (written by bench/image/startup_modules.py).
Modules inside the virtualenv get their .pyc beside the source, as usual. Standard-library
modules belong to the base image, which ships no bytecode (the official python image deletes
it), so theirs are written under STAGE_DIR at the same absolute path, for the runtime stage to
copy over the same base. Every other module keeps only its source: it is compiled in memory the
first time a process imports it (the root filesystem is read-only), which costs a few
milliseconds once instead of shipping bytecode for code that a start never runs.

Timestamp-checked pycs: should a source ever differ from what was compiled, Python notices and
compiles the source instead of running stale bytecode.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import py_compile
import sys
from pathlib import Path

# What a directory on the path may hold for a module, in the order the path finder looks.
EXTENSIONS = importlib.machinery.EXTENSION_SUFFIXES
SOURCES = importlib.machinery.SOURCE_SUFFIXES


def _file(base: Path) -> Path | None:
    """``base`` + the first suffix the path finder would load; None if none exists."""
    for suffix in (*EXTENSIONS, *SOURCES):
        candidate = base.with_name(base.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def source_of(name: str) -> Path | None:
    """The .py file the path finder would load for ``name``, found the way it finds it but without
    importing anything (importlib's own finders need a namespace package's parent imported).
    None when no source is read: built in, frozen, an extension, a namespace package, a module
    made at run time (six.moves) or one no longer installed."""
    if name in sys.builtin_module_names or importlib.machinery.FrozenImporter.find_spec(name) is not None:
        return None
    search = [entry for entry in sys.path if entry]
    found: Path | None = None
    for part in name.split("."):
        found = None
        next_search: list[str] = []
        namespace: list[str] = []
        for entry in search:
            directory = Path(entry, part)
            if directory.is_dir():
                init = _file(directory / "__init__")
                if init is not None:
                    found, next_search = init, [str(directory)]
                    break
                namespace.append(str(directory))
            module = _file(directory)
            if module is not None:
                found = module
                break
        if found is None and not namespace:
            return None
        search = next_search or namespace
    return found if found is not None and found.suffix in SOURCES else None


def main() -> int:
    module_list, stage = Path(sys.argv[1]), Path(sys.argv[2])
    names = [line.strip() for line in module_list.read_text().splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    stage.mkdir(parents=True, exist_ok=True)  # the runtime stage copies it even when empty
    venv = Path(sys.prefix).resolve()
    compiled = {"venv": 0, "stdlib": 0}
    for name in names:
        source = source_of(name)
        if source is None:
            continue
        cache = Path(importlib.util.cache_from_source(str(source)))
        if source.resolve().is_relative_to(venv):
            target, kind = cache, "venv"
        else:
            target, kind = stage / cache.relative_to(cache.anchor), "stdlib"
        target.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(
            str(source),
            cfile=str(target),
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
        )
        compiled[kind] += 1
    print(
        f"compiled {compiled['venv']} virtualenv and {compiled['stdlib']} standard-library modules "
        f"of {len(names)} listed"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
