"""In-memory twin of the blob stores, with the same key rules as the real ones."""

from __future__ import annotations

from bot.blob_keys import check_key, check_prefix
from bot.errors import BlobNotFound
from sim.simulator.kernel.quiet import sim_checkpoint


class MemoryBlobStore:
    """Implements :class:`bot.ports.BlobStore`."""

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, str]] = {}

    async def put(self, key: str, data: bytes, content_type: str = "text/csv") -> None:
        check_key(key)
        await sim_checkpoint()
        self._blobs[key] = (bytes(data), content_type)

    async def get(self, key: str) -> bytes:
        check_key(key)
        await sim_checkpoint()
        try:
            return self._blobs[key][0]
        except KeyError:
            raise BlobNotFound(key) from None

    async def delete(self, key: str) -> None:
        check_key(key)
        await sim_checkpoint()
        self._blobs.pop(key, None)

    async def list_keys(self, prefix: str) -> list[str]:
        check_prefix(prefix)
        await sim_checkpoint()
        return sorted(k for k in self._blobs if k.startswith(prefix))

    def content_type(self, key: str) -> str | None:
        """The content type a blob was stored with (for tests and reports)."""
        entry = self._blobs.get(key)
        return entry[1] if entry else None

    def keys(self) -> list[str]:
        """Every stored key (for invariants; no checkpoint, no faults)."""
        return sorted(self._blobs)

    def total_bytes(self) -> int:
        return sum(len(data) for data, _ in self._blobs.values())


__all__ = ["MemoryBlobStore"]
