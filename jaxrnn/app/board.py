"""TensorBoard event files of a ``jaxrnn train`` run (``--tensorboard``), written by tensorboardX
(an optional dependency: ``pip install 'jaxrnn[tensorboard]'``).

Every metrics record (see :mod:`jaxrnn.app.loop`) becomes scalars of the same names (``loss``,
``grad_norm``, ``lr``, ``val_bpc``, ``chars_per_s``) at its step and wall time, in the run
directory's ``tensorboard/`` folder: ``tensorboard --logdir OUT/tensorboard``. The folder is a
real folder of the run (never a symbolic link), each process writes a new event file of a random
name in it, and a resumed run purges what an interrupted one logged after its checkpoint.
"""

from __future__ import annotations

import importlib.util
import os
import secrets

from jaxrnn.app import rundir
from jaxrnn.app.config import UsageError

FOLDER = "tensorboard"


def check_installed() -> None:
    """Refuses ``--tensorboard`` without tensorboardX, before anything is done.

    Raises:
      UsageError: naming the package and how to install it.
    """
    if importlib.util.find_spec("tensorboardX") is None:
        raise UsageError("--tensorboard needs tensorboardX, which is not installed: "
                         "pip install 'jaxrnn[tensorboard]'")


class Board:
    """The TensorBoard writer of the run in ``run_dir`` resumed at step ``start`` (0: a new run);
    ``write(record)`` after each metrics record, ``close()`` at the end (a context manager).

    Raises:
      RunDirError: ``run_dir/tensorboard`` is a symbolic link or no folder, or cannot be created.
    """

    def __init__(self, run_dir: str, start: int):
        from tensorboardX import SummaryWriter

        folder = rundir.make_folder(os.path.join(run_dir, FOLDER))
        # An event file of a random name: never one a copied run directory planted as a link.
        self.writer = SummaryWriter(folder, purge_step=start + 1 if start else None, flush_secs=10,
                                    filename_suffix=f".{secrets.token_hex(8)}")

    def write(self, record: dict) -> None:
        """Adds the numbers of ``record`` (a metrics record) as scalars at its step and wall time."""
        for tag, value in record.items():
            if tag not in ("step", "wall_time") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag, value, record["step"], walltime=record.get("wall_time"))

    def close(self) -> None:
        self.writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
