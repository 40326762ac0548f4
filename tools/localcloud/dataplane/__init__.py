"""The data plane: AWS's hosts, played on loopback.

``python -m localcloud.dataplane --endpoint http://127.0.0.1:5000`` runs every component until
SIGTERM. A component is an object with a ``name`` and ``async run(ctx)``; it reads what to do
from the emulator (AWS API as the ``localcloud-aws`` principal), reports what only hosts know
through the private API, and puts its own section in ``status.json`` (``make status``).
"""
