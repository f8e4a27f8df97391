"""The model client the worker calls: check the model once, then send batches and get one
outcome per sample.

    client = ModelClient(ModelRoute.from_dict(table, where="routes.x.model"))
    await client.start({"images": (np.float32, 3)})      # raises ModelFitError on mismatch
    outcomes = await client.infer([{"images": arr}, ...])  # one InferOutcome per sample
    await client.close()

``infer`` never raises for server trouble. It retries while the server is down (backoff,
nothing for the caller to do but wait and commit nothing) and, after ``max_retry_s``, returns
outcomes with reason "model_unavailable" for the whole batch. When the server rejects a batch,
the samples are sent one by one so that only the bad ones come back "model_error". Samples that
cannot be sent at all (shape does not fit the model) come back "model_input_mismatch".

``infer`` is a coroutine over the asyncio clients of tritonclient: the worker runs DALI on the
next batch (in an executor) while this one is in flight.

Reachability for health checks: ``on_status(reachable, detail)`` (for instance the worker's
``Readiness.model_status``) is called when ``start`` reaches the server, when a request first
fails with "server down" (before its first retry), and when a request gets an answer again.
Only changes are reported, so an outage costs two calls, not one per retry.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from worker import metrics
from worker.inference import fit, labels as labels_mod
from worker.inference.config import ModelRoute
from worker.inference.errors import (
    InferenceConfigError,
    ModelFitError,
    ModelUnavailableError,
    RequestRejected,
    RequestTooLarge,
    TransientServerError,
)
from worker.inference.retry import Backoff, RetryBudget, call_with_retry
from worker.inference.transport import Transport
from worker.reasons import Reason

log = logging.getLogger("worker.inference")

MODEL_UNAVAILABLE = Reason.MODEL_UNAVAILABLE
MODEL_ERROR = Reason.MODEL_ERROR
MODEL_INPUT_MISMATCH = Reason.MODEL_INPUT_MISMATCH


@dataclass
class InferOutcome:
    ok: bool
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    labels: list[dict] | None = None  # top-k, best first: {"index", "score", "label"}
    reason: Reason | None = None  # MODEL_UNAVAILABLE | MODEL_ERROR | MODEL_INPUT_MISMATCH
    error: str | None = None  # for the dead letter: what the server or the check said


# what gRPC and OpenSSL say when the two ends disagree about TLS
_TLS_WORDS = ("handshake failed", "certificate_verify_failed", "certificate verify failed",
              "wrong_version_number", "wrong version number", "peer did not return a certificate",
              "certificate required", "unknown ca", "tlsv1 alert", "sslv3 alert", "ssl_error")


TLS_CLOSES_TO_FAIL = 4


def tls_problem(exc: BaseException) -> str | None:
    """The fix for a failed TLS start, or None when ``exc`` is not about TLS."""
    text = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    low = text.lower()
    if not any(w in low for w in _TLS_WORDS):
        return None
    short = text.strip().splitlines()[-1][-300:]
    if "verify" in low or "unknown ca" in low:
        fix = ("the server's certificate is not signed by a CA this worker trusts: set tls_ca_file "
               "to the CA that signed it (and check the url's host is in the certificate)")
    elif "wrong_version" in low or "wrong version" in low:
        fix = "the server does not speak TLS on this port: use grpc:// / http://, or enable TLS on the server"
    elif "certificate" in low and ("required" in low or "did not return" in low) or "alert" in low:
        fix = "the server requires a client certificate (mutual TLS): set tls_cert_file and tls_key_file"
    else:
        fix = ("check tls_ca_file, tls_cert_file/tls_key_file and that the server speaks TLS on this "
               "port (a TLS client against a plaintext port fails the handshake too)")
    return f"TLS handshake failed ({short}); {fix}"


class ModelClient:
    def __init__(self, route: ModelRoute,
                 on_status: Callable[[bool, str], None] | None = None):
        self.route = route
        self.on_status = on_status
        self.reachable: bool | None = None  # None until start() or the first request
        self.plan: fit.FitPlan | None = None
        self.model: fit.ModelSpec | None = None
        self._transport: Transport | None = None
        self._labels: list[str] | None = None
        self._class_counts: dict[str, int] = {}
        self._sem: asyncio.Semaphore | None = None
        # bytes per request the server accepts, learned from its first "too large" answer
        self.max_request_bytes: int | None = None
        self.handoff = "wire"  # or "system shared memory": chosen by start()
        # counters for metrics/tests: requests sent, retries after transient failures
        self.stats = {"requests": 0, "retries": 0, "splits": 0}
        # 2: several rejections in one batch are re-sent alone, one at a time (see infer); the
        # DALI backend sets 1, because the bad sample that failed this batch's good ones may
        # have been another batch's, sent at the same time and merged by the server
        self.confirm_rejected = 2
        self.confirm_attempts = 1  # how often a rejected sample is sent alone before it is a dead letter
        self._confirming = asyncio.Lock()

    async def start(self, pipeline_outputs: dict[str, Any]) -> fit.FitPlan:
        """Wait (up to ``startup_timeout_s``) for the server and model, read metadata and config,
        check the pipeline outputs ``{name: (dtype, ndim[, shape])}`` against them.
        Raises ModelUnavailableError or ModelFitError, both naming the model and URL."""
        route = self.route
        extensions = await self.connect()
        try:
            self.plan = fit.check_fit(
                fit.pipeline_outputs(pipeline_outputs), self.model, inputs=route.inputs,
                outputs=route.outputs, ragged=route.ragged, pad_value=route.pad_value,
                top_k=route.top_k, classify_output=route.classify_output,
                num_labels=len(self._labels) if self._labels else None, where=route.where)
        except ModelFitError as exc:
            raise ModelFitError(f"{route.model_ref}: {exc}") from None
        # The server's classification extension (Triton) when there is no labels file: the
        # server then returns "score:index:label" strings in place of the scores.
        if (self.plan.classify_output and not self._labels
                and labels_mod.CLASSIFICATION_EXTENSION in extensions):
            self._class_counts = {self.plan.classify_output: route.top_k}
        self._set_reachable(True, f"{route.model_ref} ready")
        log.info("%s: ready (batched=%s, max_batch_size=%s, inputs %s, outputs %s), inputs by %s",
                 route.model_ref, self.model.batched, self.model.max_batch_size,
                 {b.source: b.target.name for b in self.plan.bindings}, self.plan.outputs, self.handoff)
        return self.plan

    async def connect(self) -> tuple[str, ...]:
        """The first half of ``start``: wait for the server and model, read the model's
        metadata and config into ``self.model`` (a fit.ModelSpec). Returns the server's
        extensions. A second call does nothing more."""
        if self.model is not None:
            return self.model.extensions
        route = self.route
        self._transport = Transport(route.protocol, route.url, route.timeout_s, route)
        self._sem = asyncio.Semaphore(route.max_in_flight)
        t = self._transport

        closed = [0]  # TLS: connections the server closed right after the handshake, in a row

        async def ready():
            try:
                return await probe()
            except Exception as exc:  # noqa: BLE001 - a TLS mismatch will not heal by waiting
                tls = tls_problem(exc)
                if tls:
                    raise InferenceConfigError(f"{route.model_ref}: {tls}") from None
                # TLS 1.3: a server that refuses our client certificate (or wants one) closes
                # the connection after the handshake without an alert; a server that is down
                # refuses the connection instead
                if route.tls and "socket closed" in str(exc).lower():
                    closed[0] += 1
                    if closed[0] >= TLS_CLOSES_TO_FAIL:
                        raise InferenceConfigError(
                            f"{route.model_ref}: the server closed the TLS connection right after "
                            f"the handshake, {closed[0]} times in a row: it requires a client "
                            "certificate (set tls_cert_file and tls_key_file) or does not trust the "
                            "one given") from None
                else:
                    closed[0] = 0
                raise

        async def probe():
            if not await t.server_ready():
                raise TransientServerError("server not ready", "NOT_READY")
            if not await t.model_ready(route.name, route.version):
                raise TransientServerError("model not ready (not loaded, or no such model/"
                                           "version: check name and version)", "NOT_READY")
            metadata = await t.metadata(route.name, route.version)
            return metadata, await t.config(route.name, route.version), await t.extensions()

        try:
            metadata, config, extensions = await call_with_retry(
                ready, what=route.model_ref, timeout_s=route.timeout_s,
                budget=RetryBudget(route.startup_timeout_s),
                backoff=Backoff(route.backoff_initial_s, route.backoff_max_s))
        except RequestRejected as exc:
            raise ModelUnavailableError(f"{route.model_ref}: the server refused the metadata "
                                        f"request: {exc}") from exc
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(
                f"{exc} (startup_timeout_s={route.startup_timeout_s:g}; is the server running "
                f"and is {route.url} its {route.protocol} port?)") from None
        t.use_extensions(extensions)
        self.handoff = await t.start_shared_memory(route.shared_memory, route.url, extensions)
        self.model = fit.model_spec(metadata, config, route_max_batch_size=route.max_batch_size,
                                    extensions=extensions)
        if route.labels_file:
            self._labels = labels_mod.load_labels(route.labels_file)
        return tuple(extensions)

    @property
    def uses_shared_memory(self) -> bool:
        """Whether start() chose system shared memory for the request inputs."""
        return self._transport is not None and self._transport.shm is not None

    async def ready(self) -> bool:
        """One cheap probe for health endpoints; never raises."""
        try:
            return await asyncio.wait_for(
                self._transport.model_ready(self.route.name, self.route.version),
                self.route.timeout_s)
        except Exception:  # noqa: BLE001
            return False

    async def infer(self, samples: list[dict[str, np.ndarray]]) -> list[InferOutcome]:
        if self.plan is None:
            raise RuntimeError("ModelClient.infer before start()")
        outcomes: list[InferOutcome | None] = [None] * len(samples)
        requests, rejected = fit.plan_requests(samples, self.plan)
        requests = [r for req in requests for r in self._fit_bytes(req, samples)]
        for i, reason in rejected.items():
            outcomes[i] = InferOutcome(False, reason=MODEL_INPUT_MISMATCH,
                                       error=f"{self.route.model_ref}: {reason}")
        budget = RetryBudget(self.route.max_retry_s)  # one budget for the whole batch
        await asyncio.gather(*(self._run(r, samples, outcomes, budget) for r in requests))
        # A server that batches concurrent requests itself (Triton's dynamic batcher) may have
        # run samples sent alone in one execution with a bad one, and a backend that fails the
        # whole execution (Triton's DALI backend does) failed them all: when at least
        # ``confirm_rejected`` samples were rejected, each once more, one request at a time.
        failed = [i for i, o in enumerate(outcomes) if o is not None and o.reason == MODEL_ERROR
                  and i not in rejected]
        if failed and len(failed) >= self.confirm_rejected:
            self.stats["confirmed"] = self.stats.get("confirmed", 0) + len(failed)
            single = replace(self.plan, max_batch_size=1)
            async with self._confirming:  # one sample at a time for the whole client
                for i in failed:
                    for _ in range(self.confirm_attempts):
                        outcomes[i] = None
                        for r in fit.plan_requests(samples, single, [i])[0]:
                            await self._run(r, samples, outcomes, budget)
                        if outcomes[i] is None or outcomes[i].reason != MODEL_ERROR:
                            break
        return outcomes  # type: ignore[return-value]

    async def _run(self, req: fit.Request, samples, outcomes, budget: RetryBudget) -> None:
        route = self.route

        def on_retry(err, delay):
            self.stats["retries"] += 1
            metrics.model_retry(route.name)
            self._set_reachable(False, f"{route.model_ref}: [{err.status or 'no answer'}] {err}")

        async def send():
            transport = self._transport
            if transport is None:  # closed (shutdown) while this batch waited for the server
                raise ModelUnavailableError(f"{route.model_ref}: the client was closed while the "
                                            "batch waited; its messages stay uncommitted")
            self.stats["requests"] += 1
            metrics.model_request(route.name)
            return await transport.infer(route.name, route.version, req.arrays,
                                         self.plan.outputs, self._class_counts)

        try:
            async with self._sem:
                outputs = await call_with_retry(
                    send, what=f"{route.model_ref} ({len(req.indices)} samples)",
                    timeout_s=route.timeout_s, budget=budget,
                    backoff=Backoff(route.backoff_initial_s, route.backoff_max_s),
                    on_retry=on_retry)
        except ModelUnavailableError as exc:
            for i in req.indices:
                outcomes[i] = InferOutcome(False, reason=MODEL_UNAVAILABLE, error=str(exc))
            return
        except RequestTooLarge as exc:
            self._set_reachable(True, f"{route.model_ref} answers")
            size = _nbytes(req)
            if len(req.indices) > 1:  # smaller requests fit: split by bytes from now on
                self._learn_limit(exc, size)
                self.stats["splits"] += 1
                reqs = self._fit_bytes(req, samples)
                if len(reqs) == 1:
                    reqs, _ = fit.plan_requests(samples, replace(self.plan, max_batch_size=1),
                                                req.indices)
                await asyncio.gather(*(self._run(r, samples, outcomes, budget) for r in reqs))
                return
            msg = (f"{route.model_ref}: one sample makes a request of {size} bytes, over the "
                   f"server's message size limit [{exc.status}]: {exc}; raise the server's limit "
                   f"(e.g. a proxy's or MLServer's grpc_max_message_length; Triton itself takes 2 GiB) or send smaller tensors")
            outcomes[req.indices[0]] = InferOutcome(False, reason=MODEL_ERROR, error=msg)
            return
        except RequestRejected as exc:
            self._set_reachable(True, f"{route.model_ref} answers")
            if len(req.indices) > 1:  # which sample? ask for each alone
                self.stats["splits"] += 1
                single = replace(self.plan, max_batch_size=1)
                reqs, _ = fit.plan_requests(samples, single, req.indices)
                await asyncio.gather(*(self._run(r, samples, outcomes, budget) for r in reqs))
                return
            msg = f"{route.model_ref} rejected the sample [{exc.status}]: {exc}"
            outcomes[req.indices[0]] = InferOutcome(False, reason=MODEL_ERROR, error=msg)
            return
        self._set_reachable(True, f"{route.model_ref} answers")
        try:
            per_sample = fit.split_outputs(outputs, req, self.plan.batched)
            for i, out in zip(req.indices, per_sample):
                labels = self._top_k(out)
                if self.plan.classify_output in self._class_counts:
                    # Triton's classification extension answered "score:index:label" strings in
                    # place of the scores: they are the labels now, not an output to publish
                    out.pop(self.plan.classify_output, None)
                outcomes[i] = InferOutcome(True, outputs=out, labels=labels)
        except (ValueError, KeyError) as exc:
            for i in req.indices:
                outcomes[i] = InferOutcome(False, reason=MODEL_ERROR,
                                           error=f"{route.model_ref}: bad response: {exc}")

    def _learn_limit(self, exc: RequestTooLarge, size: int) -> None:
        # 10% under the limit the server named leaves room for the protocol's framing; without
        # a number (HTTP 413), halve what failed, again if needed
        limit = int(exc.limit * 0.9) if exc.limit else size // 2
        if self.max_request_bytes is None or limit < self.max_request_bytes:
            self.max_request_bytes = max(1, limit)
            log.warning("%s: the server refused a request of %d bytes as too large; requests "
                        "are split to stay under %d bytes (raise the server's message size "
                        "limit to send whole batches)", self.route.model_ref, size,
                        self.max_request_bytes)

    def _fit_bytes(self, req: fit.Request, samples) -> list[fit.Request]:
        """``req`` as requests under ``max_request_bytes`` (itself when it fits or is one
        sample: a sample is never cut)."""
        limit, n = self.max_request_bytes, len(req.indices)
        size = _nbytes(req)
        if limit is None or n == 1 or size <= limit:
            return [req]
        per_request = max(1, int(limit // (size / n)))
        if per_request >= n:
            return [req]
        reqs, _ = fit.plan_requests(samples, replace(self.plan, max_batch_size=per_request),
                                    req.indices)
        return reqs

    def _set_reachable(self, reachable: bool, detail: str) -> None:
        if reachable == self.reachable:
            return
        was, self.reachable = self.reachable, reachable
        if was is not None:
            (log.info if reachable else log.warning)(
                "%s: %s", self.route.model_ref,
                "reachable again" if reachable else f"unreachable, holding the batch ({detail})")
        if self.on_status is not None:
            try:
                self.on_status(reachable, detail)
            except Exception:  # noqa: BLE001 - health reporting must never fail a batch
                log.exception("%s: on_status callback failed", self.route.model_ref)

    @property
    def model_info(self) -> dict:
        """{"name", "version"} for result records."""
        return {"name": self.route.name, "version": self.route.version or None}

    async def forward(self, outcomes: list, infer=None) -> list:
        """The worker's step: pipeline outcomes (objects with ``ok``, ``outputs``, ``labels``,
        ``reason``, ``error``; dataclasses) in, the same kind out, in the same order. Failed
        outcomes pass through; ok ones are replaced by the model's answer: its outputs, labels
        as ``{classify_output: top_k}``, or reason/error for a dead letter. ``infer``: the
        call that answers the ok outcomes' outputs (default: this client's ``infer``)."""
        idx = [i for i, o in enumerate(outcomes) if o.ok]
        answers = await (infer or self.infer)([outcomes[i].outputs for i in idx]) if idx else []
        out = list(outcomes)
        for i, a in zip(idx, answers):
            if a.ok:
                labels = {self.plan.classify_output: a.labels} if a.labels is not None else None
                out[i] = replace(outcomes[i], outputs=a.outputs, labels=labels)
            else:
                out[i] = replace(outcomes[i], ok=False, outputs={}, labels=None,
                                 reason=a.reason, error=a.error)
        return out

    def _top_k(self, out: dict[str, np.ndarray]) -> list[dict] | None:
        name = self.plan.classify_output
        if not name:
            return None
        if name in self._class_counts:
            return labels_mod.parse_classification(out[name])
        return labels_mod.top_k(out[name], self.route.top_k, self._labels)

    async def close(self) -> None:
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.close()


def _nbytes(req: fit.Request) -> int:
    return sum(int(a.nbytes) for a in req.arrays.values())
