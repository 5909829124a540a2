"""In-process fakes of every port, for the simulator and fast tests.

Each keeps the port's contract (``tests/contract`` runs the same suite against the
fake and the real adapter): :mod:`~sim.fakes.repository` (Postgres),
:mod:`~sim.fakes.queue` (the Redis stream), :mod:`~sim.fakes.state` (Redis
conversation state), :mod:`~sim.fakes.blobs` (storage), :mod:`~sim.fakes.cpu`,
:mod:`~sim.fakes.clock`, :mod:`~sim.fakes.log_sink`, and :mod:`~sim.fakes.telegram`
(the Bot API world and the Telegram port on it).
"""
