"""Settings of the reference wallet: every limit and timeout is passed in, never patched."""

from __future__ import annotations

from dataclasses import dataclass, field

VERSION = "1.0.0"


@dataclass(frozen=True)
class Settings:
    """Runtime configuration; built by ``__main__`` from flags and the environment."""

    database_url: str
    admin_token: str
    defects: frozenset[str] = frozenset()
    currency: str = "CNY"
    max_amount: int = 10_000_000
    max_body_bytes: int = 16 * 1024
    max_admin_body_bytes: int = 1 << 20  # account set-up: up to 500 accounts of the longest names
    # database behaviour: money calls answer 503 within ``request_deadline_s`` when the DB is gone
    pool_size: int = 10
    connect_timeout_s: float = 0.4
    acquire_timeout_s: float = 0.4
    statement_timeout_ms: int = 800
    lock_timeout_ms: int = 500
    request_deadline_s: float = 0.75  # leaves room for cancellation and the response inside 1 s
    # auth
    token_ttl_s: int = 3600
    lockout_threshold: int = 5
    lockout_window_s: float = 900.0
    lockout_duration_s: float = 900.0
    kdf_log2_n: int = 14
    # risk limits (0 disables a limit)
    risk_max_tps: int = 20
    risk_max_per_transfer: int = 5_000_000
    risk_max_per_day: int = 0
    # defect knobs
    defect_gap_s: float = 0.2
    slow_db_s: float = 0.03
    overdraft_limit: int = 1_000
    stale_cache_s: float = 5.0
    extra: dict[str, str] = field(default_factory=dict)

    def has(self, defect: str) -> bool:
        return defect in self.defects
