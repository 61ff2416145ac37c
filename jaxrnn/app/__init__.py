"""The ``jaxrnn`` command: an application built on the library, never imported by it.

- :mod:`jaxrnn.app.cli`: the command line (``jaxrnn train | sample | summary``);
- :mod:`jaxrnn.app.config`: a run's settings, their defaults and checks;
- :mod:`jaxrnn.app.start`: how a run starts, fresh or resumed (every resume check);
- :mod:`jaxrnn.app.model`: the run's model and its (checkpointed) state, and ``load_run`` (``jaxrnn.load_run``);
- :mod:`jaxrnn.app.loop`: the training loop (steps, logging, evaluation, samples, checkpoints);
- :mod:`jaxrnn.app.report`: what a run tells its user, its exit status and its loss curve;
- :mod:`jaxrnn.app.board`: TensorBoard event files of a run (``--tensorboard``);
- :mod:`jaxrnn.app.rundir`, :mod:`jaxrnn.app.checkpoint`: the run directory and its checkpoints;
- :mod:`jaxrnn.app.corpus`: the default corpus, the vocabulary and the batches;
- :mod:`jaxrnn.app.charlm`: the character language model (classic cells) and what every model shares;
- :mod:`jaxrnn.app.blocklm`: the character language model of a block cell (a residual stack of the block);
- :mod:`jaxrnn.app.progress`, :mod:`jaxrnn.app.signals`: what the user sees, and Ctrl-C / SIGTERM.
"""
