"""The package's shape: imports flow one way, and the CLIs exist as console scripts."""

import ast
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT

PACKAGE = os.path.join(ROOT, "vitgan_tf")


def _module_imports():
    """{module: set of vitgan_tf modules it imports anywhere, function bodies included}."""
    graph = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
            module = module.removesuffix(".__init__")
            imports = set()
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    if node.module.startswith("vitgan_tf"):
                        for alias in node.names:
                            full = f"{node.module}.{alias.name}"
                            imports.add(full if os.path.exists(
                                os.path.join(ROOT, *full.split(".")) + ".py") else node.module)
                elif isinstance(node, ast.Import):
                    imports.update(a.name for a in node.names if a.name.startswith("vitgan_tf"))
            graph[module] = {m for m in imports if m != module}
    return graph


def test_the_import_graph_has_no_cycle():
    graph = _module_imports()
    # Package __init__ files re-export their children; an edge into a package is an edge to it.
    state = {}

    def visit(module, trail):
        if state.get(module) == "done":
            return
        if state.get(module) == "active":
            pytest.fail("import cycle: " + " -> ".join(trail + [module]))
        state[module] = "active"
        for target in sorted(graph.get(module, ())):
            if target.startswith(module + "."):
                continue  # a package importing its own submodule
            visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])
    assert "vitgan_tf.train_lib" not in graph["vitgan_tf.evaluate"]
    assert "vitgan_tf.train_lib" not in graph["vitgan_tf.export"]
    assert "vitgan_tf.train_lib" not in graph["vitgan_tf.sample"]


def test_no_module_imports_another_modules_private_names():
    modules = {m.rsplit(".", 1)[-1] for m in _module_imports()}
    found = []
    for folder, _, names in os.walk(PACKAGE):
        for name in (n for n in names if n.endswith(".py")):
            path = os.path.join(folder, name)
            for node in ast.walk(ast.parse(open(path).read())):
                if (isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                        "vitgan_tf")):
                    found += [f"{path}: {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
                elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id in modules and node.attr.startswith("_")
                      and not node.attr.startswith("__")):
                    found.append(f"{path}: {node.value.id}.{node.attr}")
    assert not found


def test_settings_are_checked_without_tensorflow():
    # config, models.config, errors and cli import neither TensorFlow nor Keras.
    graph = _module_imports()
    light = {"vitgan_tf.config", "vitgan_tf.models.config", "vitgan_tf.errors", "vitgan_tf.cli"}
    for module in light:
        assert graph[module] <= light, (module, graph[module] - light)
        path = os.path.join(ROOT, *module.split(".")) + ".py"
        tree = ast.parse(open(path).read())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"tensorflow", "keras"}, module


@pytest.mark.integration
@pytest.mark.parametrize("script,module", [
    ("vitgan-train", "vitgan_tf.train"), ("vitgan-evaluate", "vitgan_tf.evaluate"),
    ("vitgan-sample", "vitgan_tf.sample"), ("vitgan-export", "vitgan_tf.export")])
def test_each_cli_runs_as_a_console_script_and_with_python_m(script, module):
    path = shutil.which(script) or os.path.join(os.path.dirname(sys.executable), script)
    assert os.path.exists(path), f"{script} is not installed (pip install -e .)"
    # `python -m module` runs in many other tests; here the console script.
    del module
    for command in ([path, "--helpfull"],):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
        # absl's help flags print the flags and exit with status 1.
        assert result.returncode in (0, 1), result.stderr[-2000:]
        assert "--workdir" in result.stdout + result.stderr
        assert "Traceback" not in result.stderr


def test_importing_without_tensorflow_says_which_extra_to_install():
    # -S: no site-packages, so no TensorFlow, as after `pip install vitgan_tf` without an extra.
    result = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {ROOT!r}); import vitgan_tf"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "pip install 'vitgan_tf[cpu]'" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("ImportError: vitgan_tf needs")
