"""What `dali-worker demo` prints: one line per image as its result arrives, and a summary."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Answer:
    key: str
    kind: str  # "result" or "dead_letter"
    latency_ms: float  # from the send to the result's arrival
    worker_ms: float | None  # the worker's own total (timings.total_ms)
    text: str


def summarise(d: dict) -> str:
    """One line for a record described by ``worker.commands.tail.describe``: a model's top
    labels, else the image_stats outputs in words, else each output's dtype, shape and values."""
    if d["kind"] == "dead_letter":
        return f"{d['reason']}: {d['error']}"
    labels = [lb for rows in d["labels"].values() for lb in rows]
    if labels:
        return ", ".join(f"{lb['label']} {lb['score']:.2f}" for lb in labels)
    outs = d["outputs"]
    size, mean = (outs.get("size") or {}).get("summary"), (outs.get("mean_rgb") or {}).get("summary")
    if isinstance(size, list) and len(size) == 3 and isinstance(mean, list) and len(mean) == 3:
        h, w, _ = size
        r, g, b = (round(v) for v in mean)
        return f"{w}x{h} px, mean colour #{r:02x}{g:02x}{b:02x} (R {r} G {g} B {b})"
    parts = []
    for name, o in outs.items():
        shape = "x".join(map(str, o["shape"])) or "scalar"
        s = o["summary"]
        if isinstance(s, list):
            s = "[" + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in s) + "]"
        elif isinstance(s, dict):
            s = " ".join(f"{k} {v:.3g}" for k, v in s.items())
        parts.append(f"{name} {o['dtype']}[{shape}] {s or ''}".rstrip())
    return "; ".join(parts) or "(no outputs)"


def line(answer: Answer, width: int) -> str:
    worker = f", worker {answer.worker_ms:.0f} ms" if answer.worker_ms is not None else ""
    mark = "" if answer.kind == "result" else "dead letter, "
    return f"{answer.key:<{width}}  {mark}{answer.text}  ({answer.latency_ms:.0f} ms{worker})"


@dataclass
class Summary:
    expected: int
    answers: dict[str, Answer] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def results(self) -> int:
        return sum(a.kind == "result" for a in self.answers.values())

    @property
    def ok(self) -> bool:
        return self.results == self.expected

    def lines(self) -> list[str]:
        n, res = self.expected, self.results
        dead = sum(a.kind == "dead_letter" for a in self.answers.values())
        out = [f"{res} of {n} images answered with a result"
               + (f", {dead} dead-lettered" if dead else "")
               + (f", {n - len(self.answers)} without an answer" if len(self.answers) < n else "")
               + f", in {self.elapsed_s:.1f} s"]
        lat = sorted(a.latency_ms for a in self.answers.values())
        if lat:
            own = [a.worker_ms for a in self.answers.values() if a.worker_ms is not None]
            out.append(f"latency from send to result: median {statistics.median(lat):.0f} ms, "
                       f"max {lat[-1]:.0f} ms" + (f"; in the worker: median {statistics.median(own):.0f} ms"
                                                  if own else ""))
        return out
