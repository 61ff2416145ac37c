"""The driver: one cell over the time steps of one sequence, sequentially or in parallel over time.

- :mod:`jaxrnn.driver.run`: :func:`scan` and :func:`newton_scan`, the one entry point;
- :mod:`jaxrnn.driver.padding`: what a padded or reset step does, stated once for every method;
- :mod:`jaxrnn.driver.associative`: linear recurrences by associative scan (``method="associative"``);
- :mod:`jaxrnn.driver.newton`: any cell by Newton's method over time (``method="newton"``);
- :mod:`jaxrnn.driver.time_sharding`: a linear recurrence with its time axis split across devices.
"""

from jaxrnn.driver.associative import Associative, linear_recurrence
from jaxrnn.driver.newton import Newton, NewtonInfo
from jaxrnn.driver.run import newton_scan, scan

__all__ = ["Associative", "Newton", "NewtonInfo", "linear_recurrence", "newton_scan", "scan"]
