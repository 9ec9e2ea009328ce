"""The user docs stay true: the README's commands name flags the tools accept and files that
exist, docs/cli/ holds the tools' current --help, and the guide and the results speak of the
software, not of the work that produced it."""

import os
import re
import shlex
import sys

import pytest

from tests.helpers import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import cli_help  # noqa: E402

ABSL_FLAGS = {"flagfile", "help", "helpfull", "helpshort", "undefok"}


def _read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def _tool_flags(tool):
    """The flags of docs/cli/<tool>.txt (a --[no]name flag also as noname)."""
    found = set()
    for no, name in re.findall(r"^\s+--(\[no\])?([\w.]+):", _read(f"docs/cli/{tool}.txt"), re.M):
        found.add(name)
        if no:
            found.add("no" + name)
    return found | ABSL_FLAGS


def _bash_commands(markdown):
    """Each command of the ```bash blocks, continuation lines joined, `&&` chains split."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            commands += [part.strip() for part in line.split("&&") if part.strip()]
    return commands


def test_every_readme_command_names_accepted_flags_and_existing_files():
    readme = _read("README.md")
    commands = _bash_commands(readme)
    assert len(commands) >= 15
    checked = 0
    for command in commands:
        words = shlex.split(command)
        if "-m" in words:
            module = words[words.index("-m") + 1]
            if module.startswith("vitgan_tf."):
                accepted = _tool_flags(module.split(".", 1)[1])
                for word in words:
                    if word.startswith("--"):
                        name = word[2:].split("=", 1)[0]
                        assert name in accepted, f"{command}: --{name} is not a flag of {module}"
                checked += 1
            elif module.startswith("bench."):
                assert os.path.exists(os.path.join(ROOT, *module.split(".")) + ".py"), command
        for word in words:
            path = word.split("=", 1)[-1]
            if re.match(r"(configs|docs|export|bench|scripts)/[\w./-]+\.\w+$", path):
                assert os.path.exists(os.path.join(ROOT, path)), f"{command}: {path} is missing"
    assert checked >= 10
    # Every relative link and picture of the README exists.
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        assert os.path.exists(os.path.join(ROOT, target)), target


@pytest.mark.parametrize("path", ["README.md", "docs/results.md"])
def test_the_guide_and_the_results_speak_of_the_software_not_the_work(path):
    text = _read(path)
    for pattern in (r"\bissues? #?\d+", r"(?<![\w/])#\d+\b", r"\bsessions? \d+",
                    r"\bdone[- ]when", r"\bwork period", r"\bround \d+ of\b"):
        match = re.search(pattern, text, re.I)
        assert match is None, f"{path}: {match.group(0)!r}"
    if path == "README.md":
        assert len(text.splitlines()) <= 300


@pytest.mark.integration
def test_docs_cli_holds_the_tools_current_help():
    # python scripts/cli_help.py rewrites them.
    for tool, text in cli_help.help_texts().items():
        assert _read(f"docs/cli/{tool}.txt") == text, (
            f"docs/cli/{tool}.txt is stale: run python scripts/cli_help.py")


def test_docs_name_run_directories_that_the_commands_write():
    """A run directory in the tools' help is one that a config or the README's commands
    write (runs/fashion_cond was named where the config writes runs/fashion_mnist_cond)."""
    written = set()
    for name in os.listdir(os.path.join(ROOT, "configs")):
        written |= set(re.findall(r"--workdir=(runs/\w+)", _read(f"configs/{name}")))
    written |= set(re.findall(r"--workdir=(runs/\w+)", _read("README.md")))
    for name in os.listdir(os.path.join(ROOT, "docs", "cli")):
        for run in re.findall(r"--workdir=(runs/\w+)", _read(f"docs/cli/{name}")):
            assert run in written or run == "runs/x", (name, run)


def test_readme_says_what_the_digits_are_and_what_its_timings_include():
    readme = " ".join(_read("README.md").split())
    assert "8×8 images shipped inside scikit-learn, trained upscaled to 16×16" in readme
    assert "the `pip install` included" in readme and "enlarged 3×" in readme


def test_export_readme_python_imports_what_it_uses_and_names_the_tflite_extra():
    text = _read("export/README.md")
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        if "np." in block:
            assert re.search(r"^import .*\bnumpy as np\b", block, re.M), block[:200]
    assert "'.[cpu,tflite]'" in text and "takes exactly N rows" in " ".join(text.split())
    assert 'tflite = ["ai-edge-litert' in _read("pyproject.toml")


def test_readme_says_what_the_seed_covers():
    readme = " ".join(_read("README.md").split())
    assert "`--seed`, which fixes the weights' initialisation" in readme
