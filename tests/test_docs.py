"""The docs' commands and links point at things that exist.

For every `python -m experiments.<module> ...` in README.md and docs/*.md (in fenced code
blocks, inline code and prose; backslash continuation lines joined): the module is a
runnable file under experiments/, and every `--flag` on the command is one the module
defines. Flags are collected without importing anything, from the module's source and
the experiments modules it imports (recursively): calls `<anything>.DEFINE_<kind>("name",
...)`. A config-file flag `name` (`config_flags.DEFINE_config_file`) also allows
`--name.<field>=...`, and its `--name=<file>` must exist. Also: every `bash scripts/<x>.sh`
exists, and every relative markdown link (pages and images) resolves to a file.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# absl's own flags, accepted by every absl app.
ABSL_FLAGS = {"help", "helpfull", "helpshort", "helpxml", "verbosity", "v", "logtostderr",
              "alsologtostderr", "flagfile", "undefok", "stderrthreshold", "log_dir"}
CONFIG_KINDS = {"DEFINE_config_file", "DEFINE_config_dict", "DEFINE_config_dataclass"}
BOOL_KINDS = {"DEFINE_bool", "DEFINE_boolean"}
SHELL_OPERATORS = {";", "&&", "||", "|", "&", ">", ">>", "<", "2>", "|&", "(", ")"}

COMMAND = re.compile(r"\bpython3?\s+-m\s+(experiments(?:\.\w+)+)")  # not `.<name>`
SCRIPT = re.compile(r"\bbash\s+(scripts/[\w./-]+\.sh)\b")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Fragment:
    """A piece of a markdown file that may hold commands: a logical code line, an inline
    code span or a prose line, with the line number where it starts."""

    path: Path
    line: int
    text: str
    kind: str  # "block", "inline" or "prose"


def _join_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join lines ending in a backslash with the next; keep the first line's number."""
    joined, start, parts = [], None, []
    for number, text in lines:
        if start is None:
            start = number
        if text.rstrip().endswith("\\"):
            parts.append(text.rstrip()[:-1])
            continue
        parts.append(text)
        joined.append((start, " ".join(p.strip() for p in parts)))
        start, parts = None, []
    if parts:
        joined.append((start, " ".join(p.strip() for p in parts)))
    return joined


def fragments(path: Path, text: str | None = None) -> list[Fragment]:
    """Code-block lines, inline code spans and prose lines of a markdown file."""
    text = path.read_text() if text is None else text
    out, block, outside = [], None, []
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            if block is None:
                block = []
            else:
                out += [Fragment(path, n, t, "block") for n, t in _join_continuations(block)]
                block = None
            outside.append("")
            continue
        if block is not None:
            block.append((number, line))
            outside.append("")
        else:
            outside.append(line)
    if block:  # an unclosed fence: still check what is in it
        out += [Fragment(path, n, t, "block") for n, t in _join_continuations(block)]
    prose = "\n".join(outside)
    for match in INLINE_CODE.finditer(prose):
        line = prose.count("\n", 0, match.start()) + 1
        span = re.sub(r"\\\s*\n", " ", match.group(1)).replace("\n", " ")
        out.append(Fragment(path, line, span, "inline"))
    without_code = INLINE_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), prose)
    for number, line in enumerate(without_code.splitlines(), 1):
        if line.strip():
            out.append(Fragment(path, number, line, "prose"))
    return sorted(out, key=lambda f: f.line)


@dataclass(frozen=True)
class Command:
    path: Path
    line: int
    module: str
    args: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}:{self.module}"


def _tokens(text: str) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        return list(lexer)
    except ValueError:  # unbalanced quotes in prose
        return text.split("#")[0].split()


def commands_in(fragment: Fragment) -> list[Command]:
    """Every `python -m experiments.X` in the fragment, with its arguments."""
    found = []
    matches = list(COMMAND.finditer(fragment.text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(fragment.text)
        args = []
        for token in _tokens(fragment.text[match.end():end]):
            if token in SHELL_OPERATORS or token.startswith((">", "|", ";", "&")):
                break
            if fragment.kind == "prose":
                token = token.rstrip(".,;:)")
            args.append(token)
        found.append(Command(fragment.path, fragment.line, match.group(1), tuple(args)))
    return found


def module_file(module: str) -> Path | None:
    """The file `python -m <module>` runs, if it exists under the repository."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def _experiments_calls(tree: ast.AST) -> set[tuple[str, str]]:
    """(module, function) of every call `X.f(...)` where X is an experiments module the tree
    imports (`from experiments import launch` ... `launch.train(...)`)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "experiments":
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if module_file(full) is not None:
                    aliases[a.asname or a.name] = full
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "experiments" and a.asname:
                    aliases[a.asname] = a.name
    calls = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases):
            calls.add((aliases[node.func.value.id], node.func.attr))
    return calls


def _define_calls(tree: ast.AST):
    """The `*.DEFINE_<kind>("name", ...)` calls in a tree, as (kind, name)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        kind = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if kind == "define_config":  # experiments.launch's wrapper of DEFINE_config_file
            kind = "DEFINE_config_file"
        if not kind.startswith("DEFINE_"):
            continue
        name = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "name"), None)
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            yield kind, name.value


@dataclass(frozen=True)
class Flags:
    names: frozenset[str]
    configs: frozenset[str]  # DEFINE_config_* flags: `--name.field=` allowed too
    bools: frozenset[str]  # `--noname` allowed too


@functools.cache
def defined_flags(module: str) -> Flags:
    """Flags `module` defines, by reading source: its own `DEFINE_*` calls outside functions
    of other modules, plus those inside each experiments-module function it calls (the
    training scripts' `launch.train(...)` defines --workdir and --config), plus the
    module-level ones of those modules (experiments.launch's --verbose)."""
    tree = ast.parse(module_file(module).read_text())
    found = list(_define_calls(ast.Module(
        body=[n for n in tree.body if not isinstance(n, ast.FunctionDef)], type_ignores=[])))
    for function in tree.body:  # a script's own functions (main) may define flags too
        if isinstance(function, ast.FunctionDef):
            found += _define_calls(function)
    for other in sorted({other for other, _ in _experiments_calls(tree)}):
        other_tree = ast.parse(module_file(other).read_text())  # its import defines these
        found += _define_calls(ast.Module(
            body=[n for n in other_tree.body if not isinstance(n, ast.FunctionDef)],
            type_ignores=[]))
    for other, name in _experiments_calls(tree):
        other_tree = ast.parse(module_file(other).read_text())
        for function in other_tree.body:
            if isinstance(function, ast.FunctionDef) and function.name == name:
                found += _define_calls(function)
    names = frozenset(n for _, n in found)
    return Flags(names, frozenset(n for k, n in found if k in CONFIG_KINDS),
                 frozenset(n for k, n in found if k in BOOL_KINDS))


def check_command(command: Command) -> list[str]:
    """What is wrong with a documented command: an empty list when nothing is."""
    path = module_file(command.module)
    if path is None:
        return [f"python -m {command.module}: no {command.module.replace('.', '/')}.py"]
    if 'if __name__ == "__main__"' not in path.read_text().replace("'", '"'):
        return [f"python -m {command.module}: {path.relative_to(ROOT)} is not a command "
                "(no __main__ block)"]
    flags, problems = defined_flags(command.module), []
    for token in command.args:
        if not token.startswith("-") or token in ("-", "--"):
            continue
        name, _, value = token.lstrip("-").partition("=")
        root = name.split(".")[0]
        if name in ABSL_FLAGS or name in flags.names:
            pass
        elif "." in name and root in flags.configs:
            continue
        elif name.startswith("no") and name[2:] in flags.bools:
            continue
        else:
            problems.append(f"python -m {command.module}: {token!r}: no flag {name!r} "
                            f"(defined: {sorted(flags.names)})")
            continue
        if name in flags.configs and value and "$" not in value:
            config_path = value.split(":")[0]
            if not (ROOT / config_path).is_file():
                problems.append(f"python -m {command.module}: {token!r}: no file {config_path}")
    return problems


def _all_fragments() -> list[Fragment]:
    return [f for path in DOCS for f in fragments(path)]


def _all_commands() -> list[Command]:
    return [c for f in _all_fragments() for c in commands_in(f)]


def _all_scripts() -> list[tuple[str, str]]:
    found = {}
    for f in _all_fragments():
        for match in SCRIPT.finditer(f.text):
            found.setdefault(match.group(1), f"{f.path.relative_to(ROOT)}:{f.line}")
    return sorted(found.items())


def _all_links() -> list[tuple[str, Path, str]]:
    """(id, markdown file, target) of every relative link outside code."""
    links = []
    for f in _all_fragments():
        if f.kind != "prose":
            continue
        targets = [m.group(1) for m in LINK.finditer(f.text)]
        targets += [m.group(1) for m in REFERENCE_LINK.finditer(f.text)]
        for target in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                continue  # http:, mailto:, in-page anchors
            links.append((f"{f.path.relative_to(ROOT)}:{f.line}:{target}", f.path, target))
    return links


COMMANDS = _all_commands()
SCRIPTS = _all_scripts()
LINKS = _all_links()


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_documented_command_exists_with_its_flags(command):
    assert check_command(command) == []


@pytest.mark.parametrize("script,where", SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_documented_script_exists(script, where):
    assert (ROOT / script).is_file(), f"{where}: bash {script}: no such file"


@pytest.mark.parametrize("source,target", [(p, t) for _, p, t in LINKS],
                         ids=[i for i, _, _ in LINKS])
def test_relative_link_resolves(source, target):
    file, _, anchor = target.partition("#")
    resolved = (source.parent / file).resolve()
    assert resolved.exists(), f"{source.relative_to(ROOT)}: link {target} -> {resolved}"
    if anchor and resolved.suffix == ".md":
        assert anchor in _anchors(resolved), f"{source.relative_to(ROOT)}: no #{anchor} in {file}"


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings (lower case, punctuation dropped)."""
    # prose fragments have inline code blanked: take each heading from the file itself
    lines = path.read_text().splitlines()
    headings = [lines[f.line - 1] for f in fragments(path)
                if f.kind == "prose" and f.text.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lstrip("#").strip().lower()).replace(" ", "-")
            for h in headings}


def test_the_docs_hold_commands_scripts_and_links():
    """A broken extractor would pass every test above by finding nothing."""
    modules = {c.module for c in COMMANDS}
    assert {"experiments.dcgan", "experiments.evaluate", "experiments.vae_eval",
            "experiments.augmentation_study", "experiments.gan_losses"} <= modules
    assert {"scripts/main.sh", "scripts/test.sh"} <= {s for s, _ in SCRIPTS}
    assert any(t.endswith(".png") for _, _, t in LINKS)


def test_docs_cite_nothing_outside_the_repository():
    for path in DOCS:
        text = path.read_text()
        for outside in ("ENVIRONMENT.md", "STYLE.md", "/work/", "/tmp/"):
            assert outside not in text, f"{path.relative_to(ROOT)} cites {outside}"


def _parse(text: str) -> list[Command]:
    return [c for f in fragments(ROOT / "fake.md", text) for c in commands_in(f)]


def test_checker_rejects_a_made_up_flag():
    (command,) = _parse("```bash\npython -m experiments.dcgan --workdir=runs/x \\\n"
                        "    --config.loss.name=hinge --made_up_flag=1\n```\n")
    assert command.args == ("--workdir=runs/x", "--config.loss.name=hinge", "--made_up_flag=1")
    problems = check_command(command)
    assert len(problems) == 1 and "made_up_flag" in problems[0]


def test_checker_rejects_a_missing_module_a_package_and_a_missing_config():
    bad = _parse("`python -m experiments.no_such_script --workdir=x`, "
                 "`python -m experiments.configs`, "
                 "`python -m experiments.launch --workdir=x`, and\n"
                 "`python -m experiments.vae --workdir=x\n--config=experiments/configs/nope.py`")
    assert [c.module for c in bad] == ["experiments.no_such_script", "experiments.configs",
                                       "experiments.launch", "experiments.vae"]
    assert all(check_command(c) for c in bad)


def test_checker_accepts_config_overrides_absl_flags_and_imported_flags():
    good = _parse("python -m experiments.vae --workdir=runs/v --config.model.latent_dim=8 "
                  "--helpfull -v=1 --alsologtostderr.\n\n"
                  "```\n.venv/bin/python -m experiments.augmentation_study --workdir=w "
                  "--gan_config.model.width=32 --classifier_steps 5 > log.txt  # comment --x\n"
                  "```\n")
    assert len(good) == 2
    assert good[1].args == ("--workdir=w", "--gan_config.model.width=32",
                            "--classifier_steps", "5")
    assert [check_command(c) for c in good] == [[], []]
    # a flag defined in a module it imports (experiments.launch), not in the script itself
    assert "workdir" in defined_flags("experiments.dcgan").names
    assert "config" in defined_flags("experiments.dcgan").configs
