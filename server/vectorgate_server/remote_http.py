"""JSON-over-HTTP calls to model providers (embeddings, rerankers) with bounded retries.

One POST helper used by the remote embedding providers and the HTTP reranker.
Its retry loop is written once, without I/O (:func:`posted`), and so is a
caller's own multi-request logic (a :data:`Calls` generator); the async and
blocking transports (:func:`run`, :func:`run_sync`) only send and sleep as
it says:

* per-attempt timeouts (connect and read);
* retries on HTTP 408/425/429/5xx and on connection errors and timeouts (the
  gateway's one table and policy, :mod:`.retry`, on tenacity), at most
  ``RetryPolicy.max_attempts`` attempts in all and never past the caller's
  deadline, sleeping a jittered exponential backoff ("full jitter": uniform in
  ``[0, min(cap, base x 2^n)]``) or the provider's ``Retry-After`` when it asks
  for no more than the cap;
* a :class:`ProviderError` otherwise, whose message names what was called and
  the HTTP status and carries the provider's own error message with every
  configured secret removed. Credentials are never part of a message: on
  401/403 the provider's text is dropped entirely.

Callers turn a :class:`ProviderError` into the domain error that fits
(:meth:`ProviderError.to_domain`).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeAlias, TypeVar

import httpx
from tenacity import Retrying

from .errors import InvalidArgument, Unavailable, VectorgateError
from .retry import HTTP_CODES, RETRIED, backoff_delay, failure_of, options
from .retry import RetryPolicy as BackendRetryPolicy

__all__ = [
    "RETRYABLE_STATUSES",
    "AsyncClients",
    "Calls",
    "JsonPost",
    "ProviderError",
    "RetryPolicy",
    "backoff_delay",
    "posted",
    "redact",
    "run",
    "run_sync",
    "secret_text",
]

_T = TypeVar("_T")

#: Statuses worth retrying (timeouts, rate limits and server errors): by the one table.
RETRYABLE_STATUSES: Final = frozenset(
    status for status, code in HTTP_CODES.items() if failure_of(code) in RETRIED
)
#: Statuses that mean "the server's configuration is wrong" (credentials, deployment name).
_CONFIG_STATUSES: Final = frozenset({401, 403, 404})
_MAX_MESSAGE: Final = 300


@dataclass(frozen=True, slots=True)
class RetryPolicy(BackendRetryPolicy):
    """Retries (the gateway's one policy, with a provider's defaults) and timeouts of one
    provider."""

    max_attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    #: Read timeout of one attempt.
    timeout_s: float = 30.0
    #: Connect timeout of one attempt.
    connect_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        super(RetryPolicy, self).__post_init__()
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("timeouts must be > 0")

    @property
    def httpx_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, timeout_s: float) -> RetryPolicy:
        """The policy a model's ``litellm_params`` ask for: ``timeout`` (seconds, a number
        > 0; default ``timeout_s``) and ``max_retries`` (retries after the first attempt,
        an integer >= 0; default 3). Values of another kind keep the default."""
        timeout = _positive_number(params.get("timeout"))
        retries = _count(params.get("max_retries"))
        return cls(
            max_attempts=4 if retries is None else retries + 1, timeout_s=timeout or timeout_s
        )


def _positive_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _count(value: Any) -> int | None:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if value >= 0 else None


def secret_text(value: Any) -> str | None:
    """The text of a configured secret (``SecretStr`` or plain); None when absent or empty."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    text = getter() if callable(getter) else value
    return str(text) if text else None


class ProviderError(Exception):
    """A provider call failed. ``status`` is None for network errors and timeouts."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        #: The provider's ``Retry-After`` header, if it sent one.
        self.retry_after: str | None = None

    def to_domain(
        self, *, rejected: Callable[[str], VectorgateError] | None = None
    ) -> VectorgateError:
        """The domain error: ``rejected(message)`` when the provider refused the input
        (400/413/422; default ``InvalidArgument``), else ``Unavailable``."""
        status = self.status
        if (
            status is not None
            and 400 <= status < 500
            and status not in _CONFIG_STATUSES
            and status not in RETRYABLE_STATUSES
        ):
            make = rejected or (lambda text: InvalidArgument(text))
            return make(self.message)
        return Unavailable(self.message)


class AsyncClients:
    """One ``httpx.AsyncClient`` per event loop.

    An async client's pooled connections belong to the loop that opened them,
    and one provider object may serve several loops (several servers in one
    process, as in tests). :meth:`aclose` closes the running loop's client.
    """

    def __init__(self, *, max_connections: int = 32) -> None:
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> httpx.AsyncClient:
        """The running loop's client (created on first use)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None or client.is_closed:
                client = httpx.AsyncClient(limits=self._limits, follow_redirects=False)
                self._clients[loop] = client
            return client

    async def aclose(self) -> None:
        """Close the running loop's client, if any."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every non-empty secret replaced, cut to a readable length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _provider_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return response.text
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        for key in ("message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.text


def _status_error(what: str, response: httpx.Response, secrets: Sequence[str]) -> ProviderError:
    status = response.status_code
    if status in (401, 403):
        detail = "the provider refused the configured credentials (check api_key)"
    elif status == 404:
        detail = "not found at the provider (check api_base, the model or deployment name)"
    else:
        detail = redact(_provider_message(response), secrets) or response.reason_phrase
    return ProviderError(
        f"{what}: HTTP {status}: {detail}",
        status=status,
        retryable=status in RETRYABLE_STATUSES,
    )


def _transport_error(what: str, exc: httpx.HTTPError, policy: RetryPolicy) -> ProviderError:
    if isinstance(exc, httpx.TimeoutException):
        text = f"{what}: no answer within {policy.timeout_s:g}s ({type(exc).__name__})"
    else:
        text = f"{what}: cannot reach the provider ({type(exc).__name__})"
    return ProviderError(text, status=None, retryable=True)


def _parse(what: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ProviderError(
            f"{what}: the provider answered HTTP {response.status_code} with a body that is "
            "not JSON",
            status=response.status_code,
            retryable=False,
        ) from exc


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def _answer(what: str, response: httpx.Response, secrets: Sequence[str]) -> Any:
    """The decoded answer, or the :class:`ProviderError` of a failed status."""
    if response.status_code < 400:
        return _parse(what, response)
    error = _status_error(what, response, secrets)
    error.retry_after = response.headers.get("retry-after")
    raise error


def _gave_up(error: ProviderError, attempts: int) -> ProviderError:
    """The error of a retryable failure that was not retried any more."""
    return ProviderError(
        f"{error.message} (after {attempts} attempts)", status=error.status, retryable=True
    )


@dataclass(frozen=True, slots=True)
class JsonPost:
    """One JSON POST to a provider: what to send, how to retry it, what to call it in
    messages and which secrets to keep out of them."""

    url: str
    body: Any
    headers: Mapping[str, str]
    policy: RetryPolicy
    #: What is called, for messages (e.g. ``embedding model 'x' (OpenAI at host)``).
    what: str
    params: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[str] = ()

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx.(Async)Client.post`` for one attempt."""
        return {
            "json": self.body,
            "headers": dict(self.headers),
            "params": dict(self.params),
            "timeout": self.policy.httpx_timeout,
        }


#: A provider conversation written without I/O: a generator that yields a
#: :class:`JsonPost` to have it sent once (and receives the ``httpx.Response``, or the
#: ``httpx.HTTPError`` the attempt raised) or a float to have the transport sleep that
#: many seconds (and receives None); it returns its result. :func:`posted` is the retry
#: loop of one POST; callers compose it (``answer = yield from posted(post)``) into their
#: own multi-request logic, which :func:`run` (async) or :func:`run_sync` carries out.
Calls: TypeAlias = Generator[JsonPost | float, httpx.Response | httpx.HTTPError | None, _T]


def posted(post: JsonPost) -> Calls[Any]:
    """POST ``post.body`` as JSON and return the decoded answer, retrying as its policy
    says; raises :class:`ProviderError`.

    tenacity decides (the gateway's one policy, :func:`.retry.options`: which
    failures, how many attempts, the backoff, never past the caller's deadline);
    its sleeps are handed to the transport as steps, so one loop serves the
    async and the blocking transport.
    """
    delays: list[float] = []
    retrying = Retrying(sleep=delays.append, **options(post.policy, _retryable))
    try:
        for attempt in retrying:
            with attempt:
                if delays:
                    yield delays.pop()
                outcome = yield post
                if isinstance(outcome, httpx.HTTPError):
                    raise _transport_error(post.what, outcome, post.policy) from outcome
                assert outcome is not None
                return _answer(post.what, outcome, post.secrets)
    except ProviderError as exc:
        if not exc.retryable:
            raise
        raise _gave_up(exc, retrying.statistics["attempt_number"]) from exc
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


class _Conversation(Generic[_T]):
    """Iterates over the steps of :data:`Calls`; the transport stores each step's
    ``outcome`` before asking for the next; ``result`` is set once it has returned."""

    def __init__(self, calls: Calls[_T]) -> None:
        self._calls = calls
        self.outcome: httpx.Response | httpx.HTTPError | None = None
        self.result: _T

    def __iter__(self) -> _Conversation[_T]:
        return self

    def __next__(self) -> JsonPost | float:
        outcome, self.outcome = self.outcome, None
        try:
            return self._calls.send(outcome)
        except StopIteration as done:
            self.result = done.value
            raise StopIteration from None


async def _send(http: httpx.AsyncClient, post: JsonPost) -> httpx.Response | httpx.HTTPError:
    try:
        return await http.post(post.url, **post.send_kwargs())
    except httpx.HTTPError as exc:
        return exc


def _send_sync(http: httpx.Client, post: JsonPost) -> httpx.Response | httpx.HTTPError:
    try:
        return http.post(post.url, **post.send_kwargs())
    except httpx.HTTPError as exc:
        return exc


async def run(calls: Calls[_T], client: Callable[[], httpx.AsyncClient]) -> _T:
    """Carry out ``calls`` on the async client ``client()`` (asked for at each POST only)."""
    conversation = _Conversation(calls)
    for step in conversation:
        act = _send(client(), step) if isinstance(step, JsonPost) else asyncio.sleep(step)
        conversation.outcome = await act
    return conversation.result


def run_sync(calls: Calls[_T], client: Callable[[], httpx.Client]) -> _T:
    """Blocking :func:`run`."""
    conversation = _Conversation(calls)
    for step in conversation:
        if isinstance(step, JsonPost):
            conversation.outcome = _send_sync(client(), step)
        else:
            time.sleep(step)
    return conversation.result
