"""``proxy_probe`` runs: the COSMOS proxy — a logistic-regression head on frozen mean-pooled embeddings.

The frozen model embeds every train and test text (mean of the last hidden layer over real tokens);
a multinomial logistic regression (L2-regularised, fitted by L-BFGS on standardised features) is
trained on the train split and scored on the test split. Only classification datasets have a label
to fit.

References
----------
Wang, Albarghouthi and Sala 2025, "COSMOS: Predictable and Cost-Effective Adaptation of LLMs",
arXiv:2505.01449, Sec. 4.1 (embedding proxy model for fine-tuning accuracy).
"""

from __future__ import annotations

from typing import Any

import torch

from predictors.methods import proxy_method_name
from workers.app import celery_app
from workers.common import measurement_values, metered_result, seed_everything, training_value
from workers.errors import RunInputError
from workers.modeling import Meter, format_examples, load_model, mean_pooled_embeddings, pick_device, precision_dtypes
from workers.runtime import RunContext, RunOutcome, execute_run

__all__ = ["fit_logistic_regression", "run", "run_proxy_probe"]


def fit_logistic_regression(
    features: torch.Tensor, targets: torch.Tensor, *, n_classes: int, l2: float = 1e-2, max_iter: int = 200
) -> torch.nn.Linear:
    """Multinomial logistic regression by L-BFGS on ``features`` (already standardised)."""
    head = torch.nn.Linear(features.shape[1], n_classes)
    optimizer = torch.optim.LBFGS(head.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(features), targets) + l2 * head.weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return head


def run_proxy_probe(context: RunContext) -> RunOutcome:
    candidate, options = context.candidate, context.options
    if context.dataset.kind != "classification":
        raise RunInputError("dataset.kind", f"proxy_probe needs a classification dataset, got {context.dataset.kind}")
    seed = int(options.get("seed") or 0)
    seed_everything(seed)
    device = pick_device()
    weight_dtype, _ = precision_dtypes(str(training_value(candidate, "precision", "bf16")), device)
    meter = Meter(device)
    model, tokenizer = load_model(context.model, device=device, dtype=weight_dtype)
    model.eval()
    max_len = int(
        training_value(candidate, "seq_len", 0) or min(512, getattr(model.config, "max_position_embeddings", 512))
    )
    batch_size = int(options.get("eval_batch_size") or 16)
    train = format_examples("classification", context.dataset.train, labels=context.labels)
    test = format_examples("classification", context.dataset.test, labels=context.labels)[
        : int(options.get("eval_limit") or 1000)
    ]
    texts = [row["text"] for row in context.dataset.train]
    test_texts = [row["text"] for row in context.dataset.test][: len(test)]
    context.progress(step=0, total=3, phase="embed", force=True)
    with meter.count_flops() as counter:
        first = mean_pooled_embeddings(
            model, tokenizer, texts[:batch_size], device=device, max_len=max_len, batch_size=batch_size
        )
    flops_first = int(counter.get_total_flops())
    train_x = torch.cat(
        [
            first,
            mean_pooled_embeddings(
                model, tokenizer, texts[batch_size:], device=device, max_len=max_len, batch_size=batch_size, meter=meter
            ),
        ]
        if len(texts) > batch_size
        else [first]
    )
    meter.tokens += sum(len(tokenizer(t)["input_ids"]) for t in texts[:batch_size])
    context.progress(step=1, total=3, phase="embed", force=True)
    test_x = mean_pooled_embeddings(
        model, tokenizer, test_texts, device=device, max_len=max_len, batch_size=batch_size, meter=meter
    )
    context.progress(step=2, total=3, phase="fit", force=True)
    mean, std = train_x.mean(dim=0), train_x.std(dim=0).clamp(min=1e-6)
    n_classes = len(train[0].choices or ())
    train_y = torch.tensor([e.correct for e in train])
    head = fit_logistic_regression(
        (train_x - mean) / std, train_y, n_classes=n_classes, l2=float(options.get("l2") or 1e-2)
    )
    with torch.no_grad():
        predicted = head((test_x - mean) / std).argmax(dim=-1)
        train_accuracy = float((head((train_x - mean) / std).argmax(dim=-1) == train_y).float().mean())
    test_y = torch.tensor([e.correct for e in test])
    accuracy = float((predicted == test_y).float().mean()) if len(test) else 0.0
    meter.flops = flops_first * max(1, -(-(len(texts) + len(test_texts)) // batch_size))
    meter.sample()
    context.progress(step=3, total=3, phase="fit", force=True)
    result = {
        **metered_result(meter, device_name=context.hardware.name, n_gpus=max(1, context.hardware.count)),
        "accuracy": accuracy,
        "train_accuracy": train_accuracy,
        "n_test": len(test),
        "n_train": len(train),
        "embedding_dim": int(train_x.shape[1]),
        "head": "multinomial logistic regression (L-BFGS, L2) on standardised mean-pooled last-layer states",
        "flops_note": "FlopCounterMode on the first embedding batch, times batches",
        "step_time_s": None,
        "predicted": context.predicted,
    }
    return RunOutcome(
        result=result,
        measurement=measurement_values(
            context,
            method_name=proxy_method_name(),
            kind="proxy_probe",
            result=result,
            seed=seed,
        ),
    )


@celery_app.task(  # type: ignore[untyped-decorator]
    name="tunecast.proxy_probe.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run(self: Any, run_id: str) -> str:
    """Embedding proxy probe of the run ``run_id``."""
    return execute_run(self, run_id, "proxy_probe", run_proxy_probe)
