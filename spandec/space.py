"""The demo as a Hugging Face Space: the files it needs, assembled into a folder, checked, and uploaded.

``spandec space build OUT`` copies app.py, the package, requirements, the README (with the Space's
front matter) and the data the app reads by default into OUT, writes a ``.gitattributes`` that sends
large and binary files through LFS, and checks the Space's constraints (:func:`check_space`).
``spandec space deploy REPO_ID`` builds into a temporary folder and uploads it with ``huggingface_hub``,
which sends the LFS files itself; the checkpoints stay plain files in this repository.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from .data import split_lines

__all__ = ["space_files", "build", "check_space", "import_check", "front_matter", "lfs_patterns", "lfs_covered",
           "pinned_requirements", "deploy", "LFS_PATTERNS", "MAX_PLAIN_BYTES"]

ROOT = Path(__file__).resolve().parent.parent
MAX_PLAIN_BYTES = 10 * 1000 * 1000  # a Space's git remote refuses larger files that are not in LFS
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.onnx", "*.h5", "*.msgpack", "*.npy",
                "*.npz", "*.pkl", "*.pickle", "*.zip", "*.gz", "*.tgz", "*.tar", "*.zst", "*.parquet", "*.arrow",
                "*.png", "*.jpg", "*.jpeg", "*.gif", "*.webp", "*.pdf")
TOP_FILES = ("app.py", "requirements.txt", "README.md")


def app_data_files(root: Path = ROOT) -> list[Path]:
    """The data the app reads by default: its model folders, example texts and stored results."""
    from .app.context import DEFAULT_EXAMPLES, DEFAULT_RESULTS
    from .app.pool import DEFAULT_SPECS

    relative = [spec.source for spec in DEFAULT_SPECS] + [DEFAULT_EXAMPLES, DEFAULT_RESULTS]
    return [root / p for p in dict.fromkeys(relative)]


def space_files(root: Path = ROOT) -> list[str]:
    """Paths (relative to ``root``) of every file the Space needs, sorted."""
    files = [root / name for name in TOP_FILES]
    files += [p for p in (root / "spandec").rglob("*.py") if "__pycache__" not in p.parts]
    for path in app_data_files(root):
        files += [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    missing = [str(p.relative_to(root)) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"the Space needs files that are missing: {', '.join(missing)}")
    return sorted({str(p.relative_to(root)) for p in files})


def build(out: str | os.PathLike, root: Path = ROOT, check_imports: bool = True) -> list[tuple[str, int]]:
    """Assemble the Space in ``out`` (which must be empty or absent) and check it; (path, bytes) of each file."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: not empty; give a new or empty folder")
    files = space_files(root)
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, out / rel)
    (out / ".gitattributes").write_text("".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS))
    problems = check_space(out, root / "pyproject.toml", check_imports=check_imports)
    if problems:
        raise ValueError(f"{out}: the Space would not build: " + "; ".join(problems))
    return [(rel, (out / rel).stat().st_size) for rel in sorted(files + [".gitattributes"])]


# ----- checks -----------------------------------------------------------------------------------------
def front_matter(readme: Path) -> dict[str, str]:
    """The flat ``key: value`` front matter of a Space README (quotes stripped); {} without one."""
    from .hub import split_front_matter

    head, _ = split_front_matter(readme.read_text(encoding="utf-8"))
    items = (line.split(":", 1) for line in split_lines(head) if ":" in line and not line.startswith((" ", "#")))
    return {k.strip(): v.strip().strip("\"'") for k, v in items}


def lfs_patterns(gitattributes: Path) -> list[tuple[str, bool]]:
    """(pattern, sends-to-LFS) of each rule in a ``.gitattributes``, in file order (later rules win)."""
    rules = []
    for line in split_lines(gitattributes.read_text(encoding="utf-8")):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        attrs = parts[1:]
        if "filter=lfs" in attrs:
            rules.append((parts[0], True))
        elif any(a in ("-filter", "!filter") or (a.startswith("filter=") and a != "filter=lfs") for a in attrs):
            rules.append((parts[0], False))
    return rules


def _matches(pattern: str, path: str) -> bool:
    """gitattributes matching with fnmatch: a pattern without ``/`` matches the file name at any depth,
    one with ``/`` the whole path from the folder (``**/`` also matching no folder)."""
    if "/" not in pattern:
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    pattern = pattern.lstrip("/")
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.replace("**/", ""))


def lfs_covered(path: str, rules: list[tuple[str, bool]]) -> bool:
    """Whether ``path`` (relative, ``/``-separated) goes to LFS under ``rules`` (the last matching rule decides)."""
    covered = False
    for pattern, lfs in rules:
        if _matches(pattern, path):
            covered = lfs
    return covered


def pinned_requirements(requirements: Path) -> dict[str, str]:
    """``name -> version`` of a requirements file; ``ValueError`` for a line not pinned with ``==``."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for n, line in enumerate(split_lines(requirements.read_text(encoding="utf-8")), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            raise ValueError(f"{requirements.name}:{n}: {line!r} is not a requirement") from None
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            raise ValueError(f"{requirements.name}:{n}: {line!r} is not pinned with ==")
        pins[canonicalize_name(req.name)] = specs[0].version
    return pins


def _pyproject_problems(pins: dict[str, str], front: dict[str, str], pyproject: Path) -> list[str]:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    problems = []
    wanted = project.get("dependencies", []) + project.get("optional-dependencies", {}).get("app", [])
    for line in wanted:
        req = Requirement(line)
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"requirements.txt does not pin {req.name} (pyproject needs {line})")
        elif not req.specifier.contains(pin, prereleases=True):
            problems.append(f"requirements.txt pins {req.name}=={pin}, outside pyproject's {line}")
    python = front.get("python_version", "")
    if python and not SpecifierSet(project.get("requires-python", "")).contains(python + ".0"):
        problems.append(f"python_version {python} is outside pyproject's requires-python")
    return problems


def check_space(folder: str | os.PathLike, pyproject: Path | None = ROOT / "pyproject.toml",
                check_imports: bool = True) -> list[str]:
    """Problems that would stop the Space in ``folder`` from building or starting ([] when none)."""
    folder = Path(folder)
    problems = []
    front = front_matter(folder / "README.md")
    if front.get("sdk") != "gradio":
        problems.append(f"README front matter: sdk is {front.get('sdk')!r}, not 'gradio'")
    if not front.get("python_version"):
        problems.append("README front matter: no python_version")
    if not (folder / front.get("app_file", "app.py")).is_file() or "app_file" not in front:
        problems.append(f"README front matter: app_file {front.get('app_file')!r} is not in the Space")
    try:
        pins = pinned_requirements(folder / "requirements.txt")
    except ValueError as exc:
        problems.append(str(exc))
        pins = {}
    if pins and front.get("sdk_version") != pins.get("gradio"):
        problems.append(f"README sdk_version {front.get('sdk_version')!r} differs from requirements' "
                        f"gradio=={pins.get('gradio')}")
    if pins and pyproject is not None and pyproject.is_file():
        problems += _pyproject_problems(pins, front, pyproject)
    rules = lfs_patterns(folder / ".gitattributes") if (folder / ".gitattributes").is_file() else []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and path.stat().st_size > MAX_PLAIN_BYTES and not lfs_covered(rel, rules):
            problems.append(f"{rel}: {path.stat().st_size / 2**20:.1f} MiB and not covered by an LFS pattern")
    if check_imports and not problems:
        error = import_check(folder)
        if error:
            problems.append(error)
    return problems


IMPORT_CHECK = """
import importlib, pkgutil, sys
from pathlib import Path
here = Path.cwd().resolve()
import app, spandec
for mod in pkgutil.walk_packages(spandec.__path__, "spandec."):
    importlib.import_module(mod.name)
outside = [m.__name__ for m in list(sys.modules.values())
           if (m.__name__ == "app" or m.__name__.startswith("spandec")) and getattr(m, "__file__", None)
           and not Path(m.__file__).resolve().is_relative_to(here)]
assert not outside, f"modules imported from outside the Space: {outside}"
ctx = app.make_context(app.parse_args([]), app.ROOT)
assert ctx.pool.wait(300), "models still loading after 300 s"
failed = [f"{n}: {e.error}" for n, e in ctx.pool.entries.items() if e.failed]
assert not failed, f"models that do not load: {failed}"
assert ctx.examples, "no example texts"
assert Path(ctx.results_path).resolve().is_relative_to(here) and Path(ctx.results_path).is_file(), "no stored results"
app.build_demo(ctx)
"""


def import_check(folder: str | os.PathLike, timeout: float = 600) -> str | None:
    """Start the app's code in ``folder`` as the Space would (no PYTHONPATH, cwd = the folder): import every
    module, load the default models, build the UI. None when that works, else the error's last line."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return "the app does not start from the Space's files: " + (lines[-1] if lines else f"exit {proc.returncode}")


# ----- upload -----------------------------------------------------------------------------------------
def deploy(repo_id: str, token: str | None = None, private: bool = False, hardware: str | None = None) -> str:
    """Build the Space in a temporary folder and upload it to Space ``repo_id`` (created if needed); its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="spandec-space-") as tmp:
        build(Path(tmp) / "space")
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", space_hardware=hardware,
                              private=private, exist_ok=True)
        api.upload_folder(folder_path=Path(tmp) / "space", repo_id=repo_id, repo_type="space",
                          commit_message="Deploy the spandec demo")
    return str(url)
