"""engine.serving: `dslforge serve` — an HTTP service over one model with micro-batching,
backpressure (503 + Retry-After), timeouts (504), API keys, Prometheus metrics, a graceful
SIGTERM drain and an OpenAI-compatible surface; plus the load-test client and the vLLM export.

Modules, one job each: ``config`` (ServeConfig), ``scheduler`` (MicroBatcher), ``backend`` (the
protocol), ``engine_backend`` (Engine behind it), ``service`` (request lifecycle), ``schemas``,
``limits`` (guards), ``metrics``, ``app`` / ``openai_api`` (routes), ``server`` (uvicorn + drain),
``loadtest``, ``vllm_export``. FastAPI and uvicorn load only with ``app``/``server``
(``pip install 'dslforge[serve]'``).
"""

from engine.serving.backend import Backend, GenerateOutcome, GenerateParams
from engine.serving.config import ServeConfig
from engine.serving.errors import QueueFull, RequestTimedOut, ServeConfigError, ServeError

__all__ = [
    "Backend",
    "GenerateOutcome",
    "GenerateParams",
    "QueueFull",
    "RequestTimedOut",
    "ServeConfig",
    "ServeConfigError",
    "ServeError",
]
