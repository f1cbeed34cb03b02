"""The in-process price index behind `POST /api/cost`: stored prices by exact model reference, in memory.

Rules:
- A model is found only by its exact reference: `provider/model_id`, or a bare `model_id` that exactly one
  provider offers. There is no fuzzy or prefix matching, so a near-miss id is never priced as another model; an
  unknown id is reported as unknown (the caller answers "unpriced"), never as zero. A bare id that several
  providers offer is a usage error naming them, never a guess.
- Look-ups read an immutable snapshot (two dicts) that is swapped whole on reload, so readers take no lock.
- Staleness is bounded by the catalog watch (services/versions.py): the snapshot is rebuilt when the catalog part
  of its stamp moves, which the watch checks at most once per interval (1 s) with one cheap query, so a price
  changed on any replica is used within a second, and at once on the replica that changed it. A plain TTL would
  rebuild 5,000 rows every period whether or not anything changed; a query per call would put the database back
  on the hot path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db.tables import ai_model
from modelsync.errors import UsageError
from modelsync.pricing import from_flat
from modelsync.records import PRICE_FIELDS
from modelsync.services.versions import CatalogWatch

PRICE_KEYS: Final = PRICE_FIELDS


@dataclass(frozen=True, slots=True)
class PricedModel:
    """One stored model's flat prices per 1M tokens (None = unknown) and its price components (pricing.py)."""

    provider: str
    model_id: str
    prices: dict[str, Decimal | None]
    schedule: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class _Ambiguous:
    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    version: object
    exact: dict[str, PricedModel]
    bare: dict[str, PricedModel | _Ambiguous]


_EMPTY = _Snapshot(None, {}, {})


def _load(engine: Engine, version: object) -> _Snapshot:
    columns = [ai_model.c[name] for name in PRICE_KEYS]
    query = sa.select(ai_model.c.provider, ai_model.c.model_id, ai_model.c.provenance, ai_model.c.prices, *columns)
    exact: dict[str, PricedModel] = {}
    owners: dict[str, list[PricedModel]] = {}
    with engine.connect() as conn:
        for provider, model_id, provenance, schedule, *prices in conn.execute(query):
            flat = dict(zip(PRICE_KEYS, prices, strict=True))
            if schedule is None:
                # A row stored before price components existed: its flat prices are its components.
                schedule = from_flat(flat, (provenance or {}).get("input_price") or "stored")
            entry = PricedModel(provider, model_id, flat, schedule)
            exact[f"{provider}/{model_id}"] = entry
            owners.setdefault(model_id, []).append(entry)
    bare: dict[str, PricedModel | _Ambiguous] = {
        model_id: entries[0] if len(entries) == 1 else _Ambiguous(tuple(sorted(e.provider for e in entries)))
        for model_id, entries in owners.items()
    }
    return _Snapshot(version, exact, bare)


class PriceIndex:
    """Stored prices in memory, rebuilt when the catalog's stamp moves."""

    def __init__(self, engine: Engine, watch: CatalogWatch | None = None) -> None:
        self._engine = engine
        self._watch = watch or CatalogWatch(engine)
        self._snapshot = _EMPTY
        self._reloading = threading.Lock()

    def __len__(self) -> int:
        return len(self._snapshot.exact)

    def current(self, version: object) -> bool:
        """Whether the snapshot was built at catalog `version`."""
        return version is self._snapshot.version or version == self._snapshot.version

    def refresh(self) -> bool:
        """Rebuild the snapshot if the catalog moved since it was built; return whether it was rebuilt."""
        return self.ensure(self._watch.stamp().catalog)

    def ensure(self, version: object) -> bool:
        """Rebuild the snapshot for catalog `version` unless it is already that; return whether it was rebuilt."""
        if self._snapshot is not _EMPTY and self.current(version):
            return False
        # One thread rebuilds; the others keep answering from the current snapshot instead of queueing behind it.
        if not self._reloading.acquire(blocking=self._snapshot is _EMPTY):
            return False
        try:
            if self._snapshot is not _EMPTY and self.current(version):
                return False
            # The version was read before the rows, so the rows are at least as new as the version they are filed
            # under; a write in between only causes one more rebuild.
            self._snapshot = _load(self._engine, version)
            return True
        finally:
            self._reloading.release()

    def lookup(self, model: str, provider: str | None = None) -> PricedModel | None:
        """Bring the snapshot up to date if the catalog moved (may query the database), then `find`."""
        version = self._watch.stamp().catalog
        if version is not self._snapshot.version:
            self.ensure(version)
        return self.find(model, provider)

    def find(self, model: str, provider: str | None = None) -> PricedModel | None:
        """Return the model a reference names exactly in the current snapshot, or None when none has it."""
        snapshot = self._snapshot
        if provider is not None:
            return snapshot.exact.get(f"{provider.lower()}/{model}")
        hit = snapshot.exact.get(model) or snapshot.bare.get(model)
        if hit is None and "/" in model:
            head, _, rest = model.partition("/")
            hit = snapshot.exact.get(f"{head.lower()}/{rest}")
        if isinstance(hit, _Ambiguous):
            raise UsageError(
                f"{model!r} is offered by several providers ({', '.join(hit.providers)}); "
                "name one with `provider` or use PROVIDER/MODEL_ID."
            )
        return hit
