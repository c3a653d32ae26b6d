"""Fault injectors: one module per family behind the small protocol in ``walletchaos.fault``.

Families are registered through the ``walletchaos.faults`` entry-point group (built-ins included), so a
plug-in package adds a family without touching this one.
"""
