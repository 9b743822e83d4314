"""Files: written whole or not at all (:mod:`~mlp.io.files`), and the checksummed ``.npz``
archives that model files and checkpoints are (:mod:`~mlp.io.archive`)."""
