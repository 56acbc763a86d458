"""`ServeConfig`: every knob of `dslforge serve`, checked all at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.serving.errors import ServeConfigError


@dataclass(frozen=True)
class ServeConfig:
    """How the HTTP service batches, bounds and protects its one model."""

    host: str = "127.0.0.1"
    """Interface to bind; loopback unless the operator says otherwise (no accidental exposure)."""
    port: int = 8000
    max_batch: int = 8  # higher: more throughput per decode step, more latency per request and memory
    """Most requests decoded together in one ``generate_batch`` call."""
    max_wait_ms: float = 100.0  # higher: fuller batches, each batch starting up to this much later
    """The longest an idle model waits to fill a batch (see also ``max_wait_fraction``)."""
    max_wait_fraction: float = 0.05  # higher: fuller batches; the wait costs at most this share of throughput
    """The wait is also at most this share of the last batch's duration (a fast GPU batch waits
    little, a multi-second CPU batch up to ``max_wait_ms``)."""
    queue_size: int = 64  # higher: absorbs longer bursts, but queued requests wait longer before a 503
    """Requests admitted but not yet decoding; beyond this a request gets 503 + Retry-After."""
    request_timeout_s: float = 120.0  # lower: fail fast under overload; higher: fewer 504s on slow CPUs
    """Wall time from admission to answer; past it the request gets 504 and its slot is freed."""
    max_text_chars: int = 2_000  # longer questions cost prefill time for every row of a batch
    """Longest natural-language request (``text``, ``prompt``, chat messages together)."""
    max_code_chars: int = 100_000
    """Longest program accepted by ``/v1/validate``."""
    max_new_tokens_limit: int = 256  # higher: longer programs, longer worst-case batch time
    """Largest ``max_new_tokens`` a request may ask for."""
    default_max_new_tokens: int = 128
    """``max_new_tokens`` when the request does not say."""
    max_body_bytes: int = 1_000_000  # a request is a question, not a document: 1 MB is generous
    """Larger bodies get 413 before they are read into memory."""
    body_timeout_s: float = 10.0  # lower: slow clients are cut sooner; higher: tolerates bad links
    """Longest pause while receiving a request body; a slower client gets 408."""
    drain_timeout_s: float = 60.0
    """After SIGTERM, how long in-flight requests may take before the process exits anyway."""
    retry_after_s: int = 1
    """The ``Retry-After`` header sent with 503."""
    api_keys: tuple[str, ...] = ()
    """Accepted API keys; empty means no authentication."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0 <= self.port <= 65535:
            problems.append(f"`port` must be in 0..65535, got {self.port}")
        for name in ("max_batch", "queue_size", "max_text_chars", "max_code_chars",
                     "max_new_tokens_limit", "default_max_new_tokens", "max_body_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                problems.append(f"`{name}` must be a positive integer, got {value!r}")
        for name in ("request_timeout_s", "body_timeout_s", "drain_timeout_s"):
            if getattr(self, name) <= 0:
                problems.append(f"`{name}` must be > 0, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            problems.append(f"`max_wait_ms` must be >= 0, got {self.max_wait_ms}")
        if not 0 <= self.max_wait_fraction <= 1:
            problems.append(f"`max_wait_fraction` must be in 0..1, got {self.max_wait_fraction}")
        if self.retry_after_s < 0:
            problems.append(f"`retry_after_s` must be >= 0, got {self.retry_after_s}")
        if isinstance(self.default_max_new_tokens, int) and isinstance(self.max_new_tokens_limit, int) \
                and self.default_max_new_tokens > self.max_new_tokens_limit:
            problems.append(f"`default_max_new_tokens` ({self.default_max_new_tokens}) must be <= "
                            f"`max_new_tokens_limit` ({self.max_new_tokens_limit})")
        if any(not k or k != k.strip() for k in self.api_keys):
            problems.append("`api_keys` must be non-empty strings without surrounding whitespace")
        if problems:
            raise ServeConfigError("; ".join(problems))


def read_api_keys(path: str) -> tuple[str, ...]:
    """API keys from a file: one per line; blank lines and ``#`` comments are skipped.

    Raises:
        ServeConfigError: when the file cannot be read or holds no key.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise ServeConfigError(f"--api-key-file {path!r} cannot be read: {reason}") from e
    keys = tuple(line.strip() for line in lines if line.strip() and not line.strip().startswith("#"))
    if not keys:
        raise ServeConfigError(f"--api-key-file {path!r} holds no key; write one key per line")
    return keys
