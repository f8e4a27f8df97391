"""Forward pipeline outputs to a model on a KServe-V2 server (Triton, MLServer) and read back
predictions: route config (``config``), fit checks and batch planning (``fit``), retries
(``retry``), top-k labels (``labels``), the async client (``client``) and the mode where the
pipeline itself runs in Triton's DALI backend (``dali_backend``)."""
from worker.inference.client import InferOutcome, ModelClient
from worker.inference.config import ModelRoute
from worker.inference.errors import (
    InferenceConfigError,
    ModelFitError,
    ModelUnavailableError,
)

__all__ = ["InferOutcome", "ModelClient", "ModelRoute", "InferenceConfigError", "ModelFitError",
           "ModelUnavailableError"]
