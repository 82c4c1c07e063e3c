"""Causal language modelling: token perplexity over a text, and generation latency.

Perplexity (the method of Hugging Face's "Perplexity of fixed-length models", made exact):

- the items' texts are joined with blank lines and tokenised once (with the tokenizer's own
  special tokens, e.g. a BOS), giving ids ``x_0 .. x_{n-1}``;
- windows of at most ``max_length`` tokens start every ``stride`` tokens (at most
  ``max_length - 1``: with non-overlapping windows the first token of each window would have no
  context, and Hugging Face's recipe silently skips it); each window predicts
  only the tokens no earlier window predicted (the first window predicts ``x_1 .. x_{end-1}``;
  ``x_0`` has no context), so every token ``x_1 .. x_{n-1}`` is predicted exactly once and,
  past the first window, with at least ``max_length - stride`` tokens of context; the earlier
  tokens of a window are context only (masked out of the loss);
- NLL is summed over predicted tokens in float64 and divided by their number (a token-weighted
  mean, not a mean of per-window means); perplexity = exp(mean NLL).

``max_length`` is capped by the model's own limit (grader.harness.tasks.text.TextEncoder).

Generation latency (`generation_latency`): greedy decoding of ``new_tokens`` tokens after a fixed
prompt of ``prompt_tokens`` tokens, never stopping early; time to first token (the prompt's
forward pass plus the argmax) and time per output token (each later step). A backend that offers a model
to drive with its KV cache (``Backend.kv_cache_model``: the transformers backend) is driven so,
as real generation is; so is a decoder graph exported with its KV cache (`GraphCache`: each step
feeds the new token and the previous step's ``present.N.*``; the forward latency and perplexity
feed it an empty cache, so one call scores the whole window); any other graph re-runs the whole
sequence each step. The harness times generation only where a KV cache is driven
(`generation_unsupported` says why not elsewhere): a per-token time from re-running the whole
sequence is not the model's generation speed, and comparing it with a claim would be unfair to the
team.

Answer quality (`bleu`, `chrf`): where the course names a prompt set (the ``prompts`` param: a
causal-lm dataset of ``question`` / ``answer`` items, e.g. the shipped ``qa-ru``), each question is
put into ``prompt_template`` (``{question}`` marks its place), tokenised with the tokenizer's own
special tokens, and decoded greedily by the same loops that time generation: argmax of the last
position, at most ``max_new_tokens`` tokens, stopping at an EOS (generation_config.json, then
config.json, then the tokenizer). The answer is the decoded text (special tokens dropped) up to
its first line break, stripped: a base model goes on to write the next "Q:" line. BLEU and chrF
are sacreBLEU's corpus scores of the answers against the references (grader.harness.metrics), as
fractions. One prompt at a time, so no padding changes an answer. A decoder graph exported with
its KV cache (optimum's ``past_key_values.N.key`` / ``.value`` inputs, ``present.N.*`` outputs) is
driven with it; any other graph re-runs the whole sequence each step. Perplexity is still measured
on the eval set itself, so one grading reports both; without ``prompts`` there is no BLEU / chrF
(validate refuses such a claim, M018). A model that cannot generate (a graph whose cache the loop
cannot drive, a step the runtime refuses) keeps its perplexity: BLEU and chrF are reported as not
measured, with why (`Evaluation.unmeasured`), and verify shows a claim of them as unverifiable.
A prompt set that is not one (no question / answer) or a template without ``{question}`` is the
course's error, and still fails the phase.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.backends.base import Backend
from grader.harness.tasks.base import EvalData, Evaluation, GenerationTiming, MetricInfo, Task
from grader.harness.tasks.text import LATENCY_TEXT, TextTask
from grader.notes import Note


@dataclass(frozen=True)
class Window:
    begin: int  # first token fed
    end: int  # one past the last token fed
    first_target: int  # first token whose prediction counts; targets are [first_target, end)


def sliding_windows(n_tokens: int, max_length: int, stride: int) -> list[Window]:
    """The windows described in the module docstring (an empty list for fewer than two tokens)."""
    if max_length < 2 or not 1 <= stride < max_length:
        raise ValueError(f"need max_length ≥ 2 and 1 ≤ stride < max_length, got {max_length} and {stride}")
    windows: list[Window] = []
    previous_end = 0
    for begin in range(0, max(n_tokens - 1, 0), stride):
        end = min(begin + max_length, n_tokens)
        windows.append(Window(begin, end, max(previous_end, begin + 1)))
        previous_end = end
        if end == n_tokens:
            break
    return windows


class CausalLM(TextTask, Task):
    name = "causal-lm"
    model_heads = ("AutoModelForCausalLM",)
    generates_tokens = True
    metrics = {
        "perplexity": MetricInfo("lower", False, "Perplexity", "Перплексия"),
        "nll": MetricInfo("lower", False, "Mean NLL per token (nats)", "Средний NLL на токен (наты)"),
        "bleu": MetricInfo("higher", True, "BLEU of greedy answers", "BLEU жадных ответов"),
        "chrf": MetricInfo("higher", True, "chrF of greedy answers", "chrF жадных ответов"),
    }
    metric_params = {"bleu": "prompts", "chrf": "prompts"}
    primary = "perplexity"
    # A text set (perplexity) has `text`; a prompt set (BLEU / chrF) has `question` and `answer`.
    # Which one a set must be is checked where it is used (`_require`).
    optional_fields = ("text", "question", "answer")
    default_params = {
        "max_length": 256,
        "stride": 128,
        "prompt_tokens": 32,
        "new_tokens": 32,  # 0: no generation latency
        "generation_repeats": 3,  # timed generations per latency round, after one warm-up
        "latency_text": LATENCY_TEXT,
        "prompts": "",  # a course dataset of questions and reference answers; "": no BLEU / chrF
        "prompt_template": "Q: {question}\nA:",
        "max_new_tokens": 32,  # per answer, for BLEU / chrF
    }

    @property
    def max_length(self) -> int:
        return int(self.encoder.max_length or self.params["max_length"])

    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        """One full window of real tokens: the cost of scoring ``max_length`` tokens (a prefill)."""
        one = self._forward_inputs(self._filled_ids(self.max_length)[None, :], input_names)
        return {name: np.repeat(array, batch_size, axis=0) for name, array in one.items()}

    def companion_datasets(self) -> dict[str, str]:
        prompts = str(self.params["prompts"])
        return {"prompts": prompts} if prompts else {}

    def evaluate(self, backend: Backend, data: EvalData, batch_size: int) -> dict[str, float]:
        return self.assess(backend, data, batch_size).scores

    def assess(self, backend: Backend, data: EvalData, batch_size: int) -> Evaluation:
        """Perplexity, and BLEU / chrF where the course names a prompt set; a model that cannot
        generate its answers keeps its perplexity, and BLEU / chrF say why they are missing."""
        from grader.harness.metrics import perplexity

        nll, count = self.negative_log_likelihood(backend, data, batch_size)
        scores = {"perplexity": perplexity(nll, count), "nll": nll / count}
        prompts = data.companions.get("prompts")
        if prompts is None:
            return Evaluation(scores)
        try:
            return Evaluation(scores | self.answer_scores(backend, prompts))
        except CannotGenerate as error:
            return Evaluation(scores, dict.fromkeys(ANSWER_METRICS, error.reason))

    def negative_log_likelihood(self, backend: Backend, data: EvalData, batch_size: int) -> tuple[float, int]:
        """(total NLL in nats, number of predicted tokens) over the dataset's joined text."""
        from grader.harness.tasks.common import task_error

        _require(data, ("text",), "perplexity is measured on a text set (lm-ru, lm-en)")
        ids = np.array(self.encoder.ids("\n\n".join(item["text"] for item in data.items)), dtype=np.int64)
        windows = sliding_windows(
            len(ids), self.max_length, min(int(self.params["stride"]), self.max_length - 1)
        )
        if not windows:
            raise task_error(
                "Q007",
                f"the eval text of {data.dataset_id!r} is shorter than two tokens",
                file="course.yaml",
                field=f"datasets.{data.dataset_id}",
                hint="perplexity needs text to predict",
            )
        input_names = backend.input_names()
        total, count = 0.0, 0
        for group in _same_length_groups(windows, batch_size):
            batch = np.stack([ids[w.begin : w.end] for w in group])
            logits = self._logits(backend, batch, input_names)
            for row, window in enumerate(group):
                nll, n = _window_nll(logits[row], ids, window)
                total += nll
                count += n
        return total, count

    def _logits(self, backend: Backend, batch: np.ndarray, input_names: list[str]) -> np.ndarray:
        from grader.harness.tasks.common import pick_output, run_batch, task_error

        logits = pick_output(
            run_batch(backend, self._forward_inputs(batch, input_names)), "logits", self.model_dir
        )
        if logits.ndim != 3 or logits.shape[:2] != batch.shape:
            raise task_error(
                "Q005",
                "the model's logits are not one row of vocabulary scores per token",
                file=self.model_dir,
                expected=f"[{batch.shape[0]}, {batch.shape[1]}, vocabulary size]",
                found=str(list(logits.shape)),
                hint="use a causal language-model head (AutoModelForCausalLM)",
            )
        return logits

    def _ids_inputs(
        self, ids: np.ndarray, input_names: list[str], *, past_tokens: int = 0
    ) -> dict[str, np.ndarray]:
        """The inputs for ``ids`` after ``past_tokens`` tokens a graph's KV cache holds."""
        from grader.harness.tasks.text import select_inputs

        batch, length = ids.shape
        positions = np.arange(past_tokens, past_tokens + length, dtype=np.int64)
        encoded = {
            "input_ids": ids,
            "attention_mask": np.ones((batch, past_tokens + length), dtype=np.int64),
            "token_type_ids": np.zeros_like(ids),
            "position_ids": np.tile(positions, (batch, 1)),
        }
        return select_inputs(encoded, input_names, self.model_dir)

    def _forward_inputs(self, ids: np.ndarray, input_names: list[str]) -> dict[str, np.ndarray]:
        """The inputs of one forward pass over ``ids`` alone: a graph exported with its KV cache is
        given an empty one (nothing came before ``ids``), so it scores the window as a whole."""
        cache = GraphCache.of(input_names, self.model_dir)
        empty = cache.empty(len(ids)) if cache is not None else {}
        return {**self._ids_inputs(ids, input_names), **empty}

    def _filled_ids(self, length: int) -> np.ndarray:
        """``length`` real tokens: the latency sentence repeated, with the tokenizer's specials."""
        text = str(self.params["latency_text"])
        once = max(1, len(self.encoder.ids(text, add_special_tokens=False)))
        ids = self.encoder.ids(" ".join([text] * (length // once + 2)))
        return np.array(ids[:length], dtype=np.int64)

    # --- answer quality: BLEU / chrF of greedy answers ----------------------------------------

    def answer_scores(self, backend: Backend, prompts: EvalData) -> dict[str, float]:
        """Corpus BLEU and chrF of the greedy answers to the prompt set's questions."""
        from grader.harness.metrics import corpus_bleu, corpus_chrf

        _require(prompts, ("question", "answer"), "BLEU and chrF score answers to questions (qa-ru, qa-en)")
        answers = self.answers(backend, [item["question"] for item in prompts.items])
        references = [item["answer"] for item in prompts.items]
        return {"bleu": corpus_bleu(answers, references).score, "chrf": corpus_chrf(answers, references)}

    def answers(self, backend: Backend, questions: list[str]) -> list[str]:
        """The greedy answer to each question (see the module docstring), as text. Raises
        CannotGenerate where the model's decoding breaks (the course's own errors stay TaskErrors)."""
        from grader.harness.tasks.seq2seq import decoder_ids
        from grader.harness.tasks.text import TextEncoder

        stop = frozenset(decoder_ids(self.model_dir, self.encoder.pad_id, self.encoder.eos_id).eos)
        limit = TextEncoder(self.model_dir, None).max_length  # the model's positions, not the window
        decode = self._decode_cached if backend.kv_cache_model() is not None else self._decode_uncached
        out = []
        for question in questions:
            prompt = np.array(self.encoder.ids(self._prompt_text(question)), dtype=np.int64)
            room = int(self.params["max_new_tokens"]) if limit is None else limit - len(prompt)
            new_tokens = min(int(self.params["max_new_tokens"]), room)
            generated = _generated(decode, backend, prompt, max(new_tokens, 0), stop)
            out.append(self.encoder.decode(generated).split("\n", 1)[0].strip())
        return out

    def _prompt_text(self, question: str) -> str:
        from grader.harness.tasks.common import task_error

        template = str(self.params["prompt_template"])
        if "{question}" not in template:
            raise task_error(
                "Q008",
                "the course's prompt template has no place for the question",
                file="course.yaml",
                field="tasks.causal-lm.params.prompt_template",
                expected="a template with {question} in it",
                found=template,
                hint='e.g. prompt_template: "Q: {question}\\nA:"',
            )
        return template.replace("{question}", question)

    # --- generation latency -----------------------------------------------------------------

    def generation_unsupported(self, backend: Backend) -> str | None:
        """Why the harness does not time generation for this model, or None when it does."""
        prompt, new = int(self.params["prompt_tokens"]), int(self.params["new_tokens"])
        if new < 2 or prompt < 1:
            return (
                f"the course's generation setting ({prompt} prompt, {new} new tokens) has no token "
                "after the first to time; it needs a prompt and at least 2 new tokens"
            )
        from grader.harness.tasks.text import TextEncoder

        limit = TextEncoder(self.model_dir, None).max_length  # the model's own, not the window length
        if limit is not None and prompt + new > limit:
            return (
                f"the course's generation setting ({prompt} prompt + {new} new tokens) is longer than "
                f"the model's {limit} positions"
            )
        if backend.kv_cache_model() is None and GraphCache.of(backend.input_names(), self.model_dir) is None:
            return (
                f"the {backend.name} backend runs the model without a KV cache, and re-running the whole "
                "sequence for every new token is not the model's generation speed; time to first token "
                "and time per output token are measured for checkpoints the transformers backend runs "
                "and for decoder graphs exported with their KV cache (past_key_values.N.key / .value in, "
                "present.N.key / .value out: optimum-cli export onnx --task text-generation-with-past); "
                "claim this model's latency per item, one forward pass, instead"
            )
        return None

    def generation_latency(
        self,
        backend: Backend,
        *,
        repeats: int = 3,
        warmup: int = 1,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> GenerationTiming:
        """Time to first token and time per output token (see the module docstring)."""
        prompt = self._filled_ids(int(self.params["prompt_tokens"]))
        new_tokens = int(self.params["new_tokens"])
        by_model = backend.kv_cache_model() is not None
        decode = self._decode_cached if by_model else self._decode_uncached
        # a graph's own cache is driven by the forward-pass loop (`GraphCache`), as real generation is
        cached = by_model or GraphCache.of(backend.input_names(), self.model_dir) is not None
        return GenerationTiming.of_runs(
            lambda: decode(backend, prompt, new_tokens, clock),
            prompt_tokens=len(prompt),
            new_tokens=new_tokens,
            kv_cache=cached,
            repeats=repeats,
            warmup=warmup,
        )

    def _decode_uncached(
        self,
        backend: Backend,
        prompt: np.ndarray,
        new_tokens: int,
        clock: Callable[[], int],
        stop: frozenset[int] = frozenset(),
    ) -> tuple[list[int], list[int]]:
        """Greedy decoding through the backend's forward pass: the whole sequence each step, or,
        for a graph exported with its KV cache (`GraphCache`), the new token and the cache.
        Returns (each step's time, the generated tokens, without the stop token that ended them)."""
        from grader.harness.tasks.common import pick_output

        input_names = backend.input_names()
        cache = GraphCache.of(input_names, self.model_dir)
        past = cache.empty() if cache is not None else {}
        sequence = list(prompt)
        fed = 0  # tokens of `sequence` the graph's cache already holds
        steps: list[int] = []
        for _ in range(new_tokens):
            ids = np.array([sequence[fed:]], dtype=np.int64)
            inputs = {**self._ids_inputs(ids, input_names, past_tokens=fed), **past}
            prepared = backend.prepare(inputs)
            started = clock()
            outputs = backend.run(prepared)
            backend.synchronize()
            arrays = backend.to_numpy(outputs)
            token = int(np.argmax(pick_output(arrays, "logits", self.model_dir)[0, -1]))
            steps.append(clock() - started)
            if cache is not None:
                past, fed = cache.after(arrays, self.model_dir), len(sequence)
            if token in stop:
                break
            sequence.append(token)
        return steps, sequence[len(prompt) :]

    def _decode_cached(
        self,
        backend: Backend,
        prompt: np.ndarray,
        new_tokens: int,
        clock: Callable[[], int],
        stop: frozenset[int] = frozenset(),
    ) -> tuple[list[int], list[int]]:
        import torch

        model = backend.kv_cache_model()
        assert model is not None  # time() takes this path only when the backend has one
        # transformers 5 renamed the cache argument and output from `past_key_values` to `cache`.
        key = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        tokens = torch.from_numpy(prompt[None, :]).to(backend.device)
        steps: list[int] = []
        generated: list[int] = []
        past: Any = None
        with torch.inference_mode():
            for _ in range(new_tokens):
                started = clock()
                outputs = model(input_ids=tokens, use_cache=True, **({key: past} if past is not None else {}))
                token = outputs.logits[:, -1].argmax(-1)
                backend.synchronize()
                steps.append(clock() - started)
                past = outputs.get(key)
                if int(token.item()) in stop:
                    break
                generated.append(int(token.item()))
                tokens = token[:, None]
        return steps, generated


@dataclass(frozen=True)
class GraphCache:
    """The KV cache of a decoder graph exported with it (optimum's `text-generation-with-past`, or
    torch.onnx.export with the same names): inputs ``past_key_values.N.key`` / ``.value`` and outputs
    ``present.N.key`` / ``.value``, each [batch, key-value heads, positions, head size]."""

    names: tuple[str, ...]  # the past inputs, in the graph's order
    heads: int
    head_size: int

    @classmethod
    def of(cls, input_names: list[str], model_dir: Path) -> GraphCache | None:
        """The graph's cache, or None for a graph that takes the whole sequence alone."""
        from grader.harness.tasks.common import read_model_json, task_error

        names = tuple(name for name in input_names if name.startswith(PAST_PREFIX))
        if not names:
            return None
        config = read_model_json(model_dir, "config.json")
        heads = _first_int(config, "num_attention_heads", "n_head")
        kv_heads = _first_int(config, "num_key_value_heads") or heads
        head_size = _first_int(config, "head_dim") or (
            _first_int(config, "hidden_size", "n_embd") // heads if heads else 0
        )
        if not kv_heads or not head_size:
            raise task_error(
                "Q003",
                "config.json does not say the shape of the graph's KV cache",
                file=model_dir / "config.json",
                expected="num_attention_heads (or n_head) and hidden_size (or head_dim), as "
                "save_pretrained writes them",
                found=", ".join(sorted(config)) or "no config.json",
                hint="copy the checkpoint's config.json next to the ONNX export",
            )
        return cls(names, kv_heads, head_size)

    def empty(self, batch: int = 1) -> dict[str, np.ndarray]:
        """The cache before the first step: no positions (prepare casts to the graph's dtype)."""
        shape = (batch, self.heads, 0, self.head_size)
        return {name: np.zeros(shape, dtype=np.float32) for name in self.names}

    def after(self, outputs: dict[str, np.ndarray], model_dir: Path) -> dict[str, np.ndarray]:
        """The next step's past inputs: this step's ``present.*`` outputs."""
        from grader.harness.tasks.common import task_error

        past = {}
        for name in self.names:
            present = PRESENT_PREFIX + name.removeprefix(PAST_PREFIX)
            if present not in outputs:
                raise task_error(
                    "Q005",
                    f"the graph takes {name} but returns no {present}",
                    file=model_dir,
                    expected=f"an output {present} for each past input",
                    found=", ".join(sorted(outputs)),
                    hint="export the decoder with its cache outputs (optimum-cli export onnx --task "
                    "text-generation-with-past), or without a cache (use_cache=False)",
                )
            past[name] = outputs[present]
        return past


PAST_PREFIX = "past_key_values."
PRESENT_PREFIX = "present."
ANSWER_METRICS = ("bleu", "chrf")  # scored on generated answers: not measured where the model cannot generate


class CannotGenerate(Exception):  # noqa: N818 - an outcome, as NotMeasurable
    """The model's greedy decoding broke: its answers, and the scores of them, are not measured."""

    def __init__(self, reason: Note) -> None:
        super().__init__(reason.key)
        self.reason = reason


def _generated(
    decode: Callable[..., tuple[list[int], list[int]]],
    backend: Backend,
    prompt: np.ndarray,
    new_tokens: int,
    stop: frozenset[int],
) -> list[int]:
    """The tokens ``decode`` generates after ``prompt``; where the model cannot generate (a graph
    whose cache cannot be driven, a step the runtime refuses), CannotGenerate with why."""
    from grader.harness.child import error_text
    from grader.messages import note

    try:
        _, generated = decode(backend, prompt, new_tokens, time.perf_counter_ns, stop)
    except MemoryError:
        raise  # the process, not the model: the phase fails as any phase out of memory does
    except Exception as error:
        raise CannotGenerate(note("unmeasured.cannot_generate", text=error_text(error))) from error
    return generated


def _first_int(config: dict[str, Any], *keys: str) -> int:
    return next((int(config[key]) for key in keys if isinstance(config.get(key), int)), 0)


def _require(data: EvalData, fields: tuple[str, ...], why: str) -> None:
    """The set's items have ``fields`` (a causal-lm set is a text set or a prompt set)."""
    from grader.harness.tasks.common import task_error

    missing = [name for name in fields if not data.items or name not in data.items[0]]
    if missing:
        raise task_error(
            "E005",
            f"dataset {data.dataset_id!r} has no {' / '.join(missing)} field",
            file="course.yaml",
            field=f"datasets.{data.dataset_id}.columns",
            expected=f"items with {', '.join(fields)}: {why}",
            found=", ".join(sorted(data.items[0])) if data.items else "no items",
            hint="give causal-lm a text set as its `dataset:` (or `eval:`) and a set of questions and "
            "answers as its `prompts:` param",
        )


def _same_length_groups(windows: list[Window], batch_size: int) -> Iterator[list[Window]]:
    """Consecutive windows of equal length, at most ``batch_size`` at a time (no padding needed)."""
    group: list[Window] = []
    for window in windows:
        if group and (len(group) == batch_size or group[0].end - group[0].begin != window.end - window.begin):
            yield group
            group = []
        group.append(window)
    if group:
        yield group


def _window_nll(logits: np.ndarray, ids: np.ndarray, window: Window) -> tuple[float, int]:
    """NLL of the window's targets: the logits at position p (relative) predict token begin + p + 1."""
    from grader.harness.metrics import log_softmax

    rows = np.arange(window.first_target - 1, window.end - 1) - window.begin
    targets = ids[window.first_target : window.end]
    log_probs = log_softmax(logits[rows])
    return float(-log_probs[np.arange(len(targets)), targets].sum()), len(targets)
