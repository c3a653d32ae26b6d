"""Load generation with Locust, run in its own process (``python -m walletchaos.load CONFIG``).

Locust patches the process with gevent at import; the orchestrator imports httpx, docker and friends, so
the two never share a process (see DESIGN.md, known pitfalls). The load process appends every client op
to its own history file and prints one JSON stats line per second for the live view.
"""
