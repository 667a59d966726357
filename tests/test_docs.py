"""README.md and docs/*.md against what they describe.

- Figures cannot drift: every table block is what `benchmarks/docs_tables.py` makes of the
  committed `benchmarks/results/*.json`, and every table the script defines is in the docs.
- Commands parse: each `python -m MODULE ...` (a module of this project) and `tfinpaint ...`
  command in a code block or inline code uses only flags that MODULE's `--helpfull` (absl) or
  `--help` (argparse) lists, or that `tfinpaint.cli.parser()` has for the subcommand;
  `python benchmarks/X.py` and `bash benchmarks/X.sh` name files that exist.
- README's test command is `.ci/run`'s, within README's first 30 lines; local links resolve.
"""
import functools
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from benchmarks import docs_tables  # not benchmarks/ on sys.path: its serving.py would shadow serving/

from helpers import ROOT

PACKAGES = ("tfinpaint", "tuner", "serving", "benchmarks")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")
ABSL_FLAG = re.compile(r"^\s+(?:-\?,)?--(\[no\])?([\w-]+):", re.M)
ARGPARSE_FLAG = re.compile(r"^\s+(?:-\w, )?(--[\w-]+)", re.M)
SEPARATORS = re.compile(r"\s(?:&&|\|\||;|\||&)\s|\s&$")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# Flags of other programs named in the docs (TF Serving's tensorflow_model_server).
FOREIGN_FLAGS = {"--enable_batching"}


def documents():
    return docs_tables.documents()


def relpath(path):
    return os.path.relpath(path, ROOT)


# --- figures

def test_every_table_is_what_the_results_files_make():
    stale = docs_tables.stale()
    assert not stale, (
        "tables that differ from benchmarks/results (run `python benchmarks/docs_tables.py` "
        "and commit): " + ", ".join(f"{path}: {name}" for path, name in stale))


def test_every_defined_table_is_in_the_docs():
    missing = sorted(set(docs_tables.TABLES) - docs_tables.used())
    assert not missing, f"tables no document shows: {missing}"


# --- commands

def snippets(path):
    """(line, text) of every fenced block line (backslash continuations joined) and inline code
    span of a document, outside its generated tables (their captions quote the commands that
    wrote the results files, as the files record them)."""
    with open(path) as f:
        text = docs_tables.BLOCK.sub(lambda m: "\n" * m.group(0).count("\n"), f.read())
    found = []
    for block in FENCE.finditer(text):
        start = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            first, joined = i, lines[i]
            while joined.endswith("\\") and i + 1 < len(lines):
                i += 1
                joined = joined[:-1] + " " + lines[i].strip()
            found.append((start + first, joined))
            i += 1
    outside = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for span in INLINE.finditer(outside):
        found.append((outside.count("\n", 0, span.start()) + 1, span.group(1).replace("\n", " ")))
    return found


def commands(path):
    """(line, kind, name, flags) of every project command in a document: kind "module" (name:
    the module), "tfinpaint" (name: the subcommand) or "file" (name: a benchmarks/ path)."""
    out = []
    for line, text in snippets(path):
        for segment in SEPARATORS.split(text):
            try:
                words = shlex.split(segment, comments=True)
            except ValueError:
                continue
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words = words[1:]  # environment assignments
            if len(words) >= 3 and words[0] in ("python", "python3") and words[1] == "-m" \
                    and words[2].split(".")[0] in PACKAGES:
                out.append((line, "module", words[2], flags(words[3:])))
            elif len(words) >= 2 and words[0] == "tfinpaint":
                out.append((line, "tfinpaint", words[1], flags(words[2:])))
            elif len(words) >= 2 and words[0] in ("python", "python3", "bash") \
                    and words[1].startswith("benchmarks/"):
                out.append((line, "file", words[1], []))
    return out


def flags(words):
    return [w.split("=")[0] for w in words if w.startswith("-") and w not in ("-", "--")]


# Runs `python -m MODULE --helpfull` (then `--help`, for argparse) for every module in ONE
# process, so TensorFlow is imported once: each module runs as __main__ after the flags and the
# project's modules the previous one added are removed again. Prints {module: {option: text}}.
HELP_SCRIPT = r"""
import contextlib, io, json, runpy, sys
import absl.app, absl.flags
absl.app.define_help_flags()  # once per process: app.run defines them only the first time
import tensorflow  # its own absl flags, defined once at import, stay
FLAGS = absl.flags.FLAGS
base = set(FLAGS)
texts = {}
for module in sys.argv[1:]:
    texts[module] = {}
    for option in ("--helpfull", "--help"):
        for name in set(FLAGS) - base:
            delattr(FLAGS, name)
        for name in [m for m in sys.modules if m.split(".")[0] in ("tfinpaint", "tuner",
                                                                   "serving", "benchmarks")]:
            del sys.modules[name]
        out = io.StringIO()
        sys.argv = [module, option]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            except SystemExit:
                pass
            except Exception as e:
                out.write(f"failed: {e!r}")
        texts[module][option] = out.getvalue()
print("HELP-JSON " + json.dumps(texts))
"""


@functools.lru_cache(maxsize=None)
def help_texts(modules):
    """{module: {"--helpfull": output, "--help": output}} for these modules."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", HELP_SCRIPT, *modules], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    line = [x for x in out.stdout.splitlines() if x.startswith("HELP-JSON ")]
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(line[-1][len("HELP-JSON "):])


def module_flags(texts):
    """The flags a module takes, from its help texts: absl's --helpfull, else argparse's."""
    absl = ABSL_FLAG.findall(texts["--helpfull"])
    if absl:
        names = {f"--{n}" for _, n in absl}
        return names | {f"--no{n}" for no, n in absl if no}
    return set(ARGPARSE_FLAG.findall(texts["--help"])) | {"-h", "--help"}


def tfinpaint_flags():
    """{subcommand: its option strings} of the `tfinpaint` command."""
    from tfinpaint import cli

    parser = cli.parser()
    sub = next(a for a in parser._actions if a.choices and hasattr(a, "_name_parser_map"))
    return {name: {s for a in p._actions for s in a.option_strings}
            for name, p in sub._name_parser_map.items()}


def found_commands():
    return [(relpath(p), *c) for p in documents() for c in commands(p)]


def all_help_texts():
    """The help texts of every documented module and of tfinpaint.main (one process)."""
    return help_texts(tuple(sorted({name for _, _, kind, name, _ in found_commands()
                                    if kind == "module"} | {"tfinpaint.main"})))


@pytest.fixture(scope="module")
def documented():
    return found_commands(), {m: module_flags(t) for m, t in all_help_texts().items()}


def test_the_docs_hold_commands_of_each_kind(documented):
    found, known = documented
    assert {"tfinpaint.main", "tuner.search", "serving.server", "serving.client"} <= set(known)
    assert {kind for _, _, kind, _, _ in found} == {"module", "tfinpaint", "file"}


def test_documented_commands_use_flags_that_exist(documented):
    found, known = documented
    subcommands = tfinpaint_flags()
    bad = []
    for path, line, kind, name, used in found:
        where = f"{path}:{line}"
        if kind == "module":
            if not known[name] & {"--helpfull", "--help"}:
                bad.append(f"{where}: python -m {name} does not run (no help output)")
                continue
            bad += [f"{where}: python -m {name} has no flag {f}" for f in used
                    if f not in known[name]]
        elif kind == "tfinpaint":
            if name in ("...", "-h", "--help"):
                continue
            if name not in subcommands:
                bad.append(f"{where}: tfinpaint has no subcommand {name!r}")
                continue
            bad += [f"{where}: tfinpaint {name} has no flag {f}" for f in used
                    if f not in subcommands[name] | {"-h", "--help"}]
        elif not os.path.exists(os.path.join(ROOT, name)):
            bad.append(f"{where}: {name} does not exist")
    assert not bad, "\n".join(bad)


def test_flags_named_in_the_text_exist(documented):
    """An inline `--flag` (or `--flag=value ...`, flags only) names a flag of some documented
    command: a renamed or removed flag does not live on in the prose."""
    _, known = documented
    every = set().union(*known.values(), *tfinpaint_flags().values())
    bad = []
    for path in documents():
        for line, text in snippets(path):
            words = text.split()
            if text.startswith("--") and "\n" not in text and all(w.startswith("--") for w in words):
                bad += [f"{relpath(path)}:{line}: {w}" for w in flags(words)
                        if w not in every | FOREIGN_FLAGS]
    assert not bad, "flags no documented command has: " + ", ".join(bad)


def test_xla_help_states_the_measured_range():
    low, high = docs_tables.xla_range()
    text = " ".join(all_help_texts()["tfinpaint.main"]["--helpfull"].split())
    assert f"XLA measured {low:.2f}-{high:.2f}x" in text


# --- README and links

def test_readme_test_command_is_the_ci_command_and_comes_early():
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = [line for line in f.read().splitlines() if line and not line.startswith("#")][-1]
    with open(os.path.join(ROOT, "README.md")) as f:
        head = f.read().splitlines()[:30]
    assert ci in head, f"README's first 30 lines lack .ci/run's command: {ci}"


def test_local_links_resolve():
    bad = []
    for path in documents() + [os.path.join(ROOT, "BUILD.md"), os.path.join(ROOT, "CHANGELOG.md"),
                               os.path.join(ROOT, "serving", "README.md")]:
        with open(path) as f:
            text = f.read()
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue
            full = os.path.normpath(os.path.join(os.path.dirname(path), target))
            if not os.path.exists(full):
                bad.append(f"{relpath(path)}: {target}")
    assert not bad, "links to missing files: " + ", ".join(bad)
