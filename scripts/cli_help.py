"""Write the tools' --help to docs/cli/<tool>.txt: python scripts/cli_help.py

Each file holds the tool's description and the flags that vitgan_tf defines (absl's own and
TensorFlow's flags are left out), as `python -m vitgan_tf.<tool> --helpfull` prints them.
`tests/test_docs.py` fails when a file differs from what this script would write now.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = ("train", "sample", "project", "evaluate", "export", "web")


def start(tool):
    """The --helpfull process of one tool (they run at once: each imports TensorFlow)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", f"vitgan_tf.{tool}", "--helpfull"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def keep_ours(text):
    """The description and the vitgan_tf flag blocks of absl's --helpfull output, with the
    module headers written as module names (absl prints the main module as a file path)."""
    head, _, rest = text.partition("\nflags:\n")
    blocks = re.split(r"\n(?=\S)", rest.strip("\n"))
    kept = []
    for block in blocks:
        header, _, body = block.partition("\n")
        match = re.search(r"vitgan_tf[/.]([\w/.]+?)(?:\.py)?:$", header)
        if match:
            kept.append("vitgan_tf." + match.group(1).replace("/", ".") + ":\n" + body)
    return head.rstrip() + "\n\nflags:\n\n" + "\n".join(kept).rstrip() + "\n"


def help_texts():
    procs = {tool: start(tool) for tool in TOOLS}
    return {tool: keep_ours(proc.communicate(timeout=300)[0]) for tool, proc in procs.items()}


def main():
    for tool, text in help_texts().items():
        path = os.path.join(ROOT, "docs", "cli", f"{tool}.txt")
        with open(path, "w") as f:
            f.write(text)
        print(path)


if __name__ == "__main__":
    main()
