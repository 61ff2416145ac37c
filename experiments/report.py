"""What every experiment here publishes: a markdown table, a plot and its raw numbers.

The scripts import it as a sibling (``python experiments/<name>.py`` puts this folder on
``sys.path``).
"""

import json
import os


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
