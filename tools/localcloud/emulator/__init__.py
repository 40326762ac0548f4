"""The emulator: moto's server on 127.0.0.1 with the gaps between moto and AWS closed.

``python -m localcloud.emulator.server -H 127.0.0.1 -p 5000`` (tools/emulator.py starts it).
Every module of ``localcloud.emulator.patches`` is imported before the server starts; each one
closes one gap and says which.
"""
