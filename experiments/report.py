"""What every experiment here publishes: a markdown table, a plot and its raw numbers.

The scripts import it as a sibling (``python experiments/<name>.py`` puts this folder on
``sys.path``).
"""

import argparse
import json
import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def parser(doc: str) -> argparse.ArgumentParser:
    """The command line every experiment shares: ``--short`` (a run of seconds that still shows
    the outcome, for CI) and ``--out`` (where the results go, ``experiments/results`` by default);
    a script adds its own options."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="a run of seconds that still shows the outcome (CI)")
    p.add_argument("--out", default=RESULTS, help="folder for the table, plot and JSON (default: %(default)s)")
    return p


def figure(figsize=(6, 4)):
    """A new ``(fig, ax)`` drawn off-screen (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def table(columns, rows) -> str:
    """A markdown table: ``columns`` the header cells, ``rows`` lists of already formatted cells."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def publish(out: str, name: str, fig, markdown: str, results=None) -> str:
    """Writes ``out/name.png`` (then closes ``fig``), ``out/name.md`` and, when ``results`` is
    given, ``out/name.json``; creates ``out``. Returns the markdown file's path."""
    import matplotlib.pyplot as plt

    os.makedirs(out, exist_ok=True)
    fig.savefig(os.path.join(out, name + ".png"), dpi=100, bbox_inches="tight")
    plt.close(fig)
    path = os.path.join(out, name + ".md")
    with open(path, "w") as f:
        f.write(markdown)
    if results is not None:
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(results, f)
    return path
