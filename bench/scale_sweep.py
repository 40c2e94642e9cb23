"""Sweep: which SAE and token-set scale lets the default experiment answer its question.

For each configuration, trains TopK SAEs with SAELens' trainer from activations computed once
per model and layer (on the machine's own kernels, every core), on two committed toy models
(A layer `--layer-a`, B layer `--layer-b`), two SAE seeds on A's layer (the skyline), and
measures on held-out analysis windows what issue-level conditions of the default need:

- dead: share of latents that never fire on the analysis tokens (each SAE);
- converged: share of each skyline SAE's live latents that are mutual nearest neighbours of the
  other seed's with r >= 0.5;
- unique_before: B features whose A partner has multiplicity 1, before the filters;
- assignment / mutual_nn / first_occurrence: 1-1 pairs after the project's filters;
- max_m_share: largest multiplicity over B's live features.

    python bench/scale_sweep.py --project /work/fresh --name d1024_k16_3M --d-sae 1024 --tokens 3000000

Appends one JSON row per configuration to bench/results/scale_sweep.jsonl;
`python bench/scale_sweep.py --table` writes bench/results/scale_sweep.md from those rows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.config import SAETrainerConfig
from sae_lens.training.sae_trainer import SAETrainer

from universality import io
from universality.activations.cache import ActivationCache
from universality.activations.extract import encode
from universality.pairing.correlation import pair_sparse
from universality.pairing.layer_pair import pair_layers
from universality.params.loading import load_params
from universality.sources.trained.language_model import load_toy_model
from universality.sources.trained.sae_training import shuffled_batches
from universality.token_sets import TokenText, load_token_set

RESULTS = Path(__file__).resolve().parent / "results" / "scale_sweep.jsonl"
TABLE = RESULTS.with_suffix(".md")
NOTES = [  # what the rows do not say themselves
    "d1024_k16_9M and d1024_k32_3M ran beside other builds and tests: their minutes are upper bounds. d1024_k32_3M's",
    "pairing was redone from its saved codes (`--reuse-codes`) after the first run stopped there.",
]
CONDITIONS = (  # the default's targets: (column, label, test)
    ("dead", "dead <= 15%", lambda row: max(row["dead_a100"], row["dead_a300"], row["dead_b200"]) <= 0.15),
    ("converged", "converged >= 50%", lambda row: min(row["converged_a100"], row["converged_a300"]) >= 0.5),
    ("n_assignment", "1-1 >= 4 x 96", lambda row: row["n_assignment"] >= 4 * 96),
    ("unique_before", "m = 1 >= 100", lambda row: row["unique_before"] >= 100),
    ("max_m_share", "max m >= 3%", lambda row: row["max_m_share"] >= 0.03),
)
SCRATCH = Path("/tmp/scale_sweep")


def activations(model, windows: np.ndarray, mask: np.ndarray, layer: int, tag: str) -> np.ndarray:
    """resid_post of `layer` at the counted positions (cached on disk between runs)."""
    path = SCRATCH / f"{tag}.npy"
    if path.exists():
        return np.load(path)
    hook = f"blocks.{layer}.hook_resid_post"
    rows = []
    with torch.no_grad():
        for start in range(0, len(windows), 256):
            tokens = torch.from_numpy(windows[start : start + 256].astype(np.int64))
            _, cache = model.run_with_cache(tokens, names_filter=[hook], stop_at_layer=layer + 1)
            rows.append(cache[hook][torch.from_numpy(mask[start : start + 256])].numpy())
    out = np.concatenate(rows).astype(np.float32)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def train(acts: np.ndarray, args, seed: int):
    torch.manual_seed(seed)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=acts.shape[1], d_sae=args.d_sae, k=args.k, device="cpu"))
    steps = args.tokens // args.batch_size
    config = SAETrainerConfig(
        total_training_samples=args.tokens, train_batch_size_samples=args.batch_size, lr=args.lr, lr_end=args.lr / 10 if args.decay else args.lr,
        lr_decay_steps=int(steps * args.decay), dead_feature_window=args.dead_window, device="cpu",
    )  # fmt: skip
    return SAETrainer(config, sae, shuffled_batches(torch.from_numpy(acts), args.batch_size, seed)).fit()


def mnn_share(codes_1: sp.csr_matrix, codes_2: sp.csr_matrix, threshold: float) -> tuple[float, float]:
    """Share of each SAE's live latents that are mutual nearest neighbours of the other's with r >= threshold."""
    pairing = pair_sparse(codes_1, codes_2, min_support=1)
    pairs = pairing.pairs
    good = pairs[pairs["mutual"] & (pairs["r"] >= threshold)]
    live_1 = int((np.diff(codes_1.tocsc().indptr) > 0).sum())
    live_2 = int((np.diff(codes_2.tocsc().indptr) > 0).sum())
    return len(good) / live_1, len(good) / live_2


def write_table() -> None:
    """bench/results/scale_sweep.md: one row per configuration, each condition's value and whether it holds."""
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    head = ["configuration", "d_sae", "k", "SAE tokens", "analysis windows", "LR decay", "dead (max)", "converged (min)",
            "1-1 assignment", "MNN", "first per A", "m = 1 before filters", "max m / live B", "minutes"]  # fmt: skip
    lines = ["# Scale sweep: which SAE and token-set scale lets the default answer its question", "",
             "`python bench/scale_sweep.py` per row (A = toy_a layer 1 with SAE seeds 100 and 300, B = toy_b layer 1;",
             "the committed models of the previous default). A condition met is marked *. Minutes: the whole row on 2 cores,",
             "training included; the models' activations are computed by the first row and read from disk by the later ones.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]  # fmt: skip
    for row in rows:
        met = {column: test(row) for column, _, test in CONDITIONS}
        star = {column: "*" if ok else "" for column, ok in met.items()}
        cells = [row["name"], row["d_sae"], row["k"], f"{row['tokens']:,}", row["analysis_windows"], row["decay"],
                 f"{max(row['dead_a100'], row['dead_a300'], row['dead_b200']):.1%}{star['dead']}",
                 f"{min(row['converged_a100'], row['converged_a300']):.1%}{star['converged']}",
                 f"{row['n_assignment']}{star['n_assignment']}", row["n_mutual_nn"], row["n_paper_first_occurrence"],
                 f"{row['unique_before']}{star['unique_before']}", f"{row['max_m_share']:.1%}{star['max_m_share']}", row["minutes"]]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += ["", "Conditions: " + "; ".join(label for _, label, _ in CONDITIONS) + ".", "", *NOTES]
    TABLE.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", action="store_true", help="write the table of the rows so far and exit")
    parser.add_argument("--project", type=Path, help="a built checkout (its data/tokens and data/models)")
    parser.add_argument("--name")
    parser.add_argument("--model-a", default="toy_a")
    parser.add_argument("--model-b", default="toy_b")
    parser.add_argument("--layer-a", type=int, default=1)
    parser.add_argument("--layer-b", type=int, default=1)
    parser.add_argument("--d-sae", type=int, default=1024)
    parser.add_argument("--d-sae-b", type=int, default=None)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=3_000_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--decay", type=float, default=0.0, help="share of steps with linear LR decay at the end")
    parser.add_argument("--dead-window", type=int, default=50)
    parser.add_argument("--analysis-windows", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse-codes", action="store_true", help="read the codes a previous run of this name saved instead of training")
    args = parser.parse_args()
    if args.table:
        write_table()
        return
    if args.project is None or args.name is None:
        parser.error("--project and --name are required to run a configuration")
    torch.set_num_threads(args.threads)
    started = time.time()

    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")  # pairing and filter settings
    tokens_dir = args.project / "data" / "tokens" / "wordnet"
    token_set = load_token_set(tokens_dir)
    order = np.random.default_rng(0).permutation(int((~token_set.analysis).sum()))
    training_all = token_set.training_windows()[0]
    extra = training_all[order[: max(args.analysis_windows - int(token_set.analysis.sum()), 0)]]
    training = training_all[order[len(extra) :]]
    analysis = np.concatenate([token_set.windows[token_set.analysis], extra])[: args.analysis_windows]
    documents = np.concatenate([token_set.documents[token_set.analysis], token_set.documents[~token_set.analysis][order[: len(extra)]]])
    analysis_mask = documents[: args.analysis_windows] >= 0
    training_mask = token_set.documents[~token_set.analysis][order[len(extra) :]] >= 0
    n_windows = args.analysis_windows
    vocabulary = io.read_parquet(tokens_dir / "vocabulary.parquet")
    text = TokenText(analysis[analysis_mask], np.argwhere(analysis_mask), documents[:n_windows][analysis_mask], analysis, vocabulary)

    row: dict = {"name": args.name} | {k: v for k, v in vars(args).items() if k not in ("project", "name")}
    codes, timings, d_model_of = {}, {}, {}
    for side, model_name, layer, seeds in (("a", args.model_a, args.layer_a, (100, 300)), ("b", args.model_b, args.layer_b, (200,))):
        model = load_toy_model(args.project / "data" / "models" / model_name)
        d_model_of[side] = int(model.cfg.d_model)
        tag = f"{model_name}_L{layer}"
        t0 = time.time()
        train_acts = activations(model, training, training_mask, layer, f"{tag}_train_{n_windows}")
        test_acts = activations(model, analysis, analysis_mask, layer, f"{tag}_analysis_{n_windows}")
        timings[f"activations_{side}"] = time.time() - t0
        for seed in seeds:
            saved = SCRATCH / f"codes_{args.name}_{side}{seed}.npz"  # kept for a closer look, or to finish a run
            if args.reuse_codes and saved.exists():
                codes[(side, seed)] = sp.load_npz(saved).tocsr()
            else:
                t0 = time.time()
                local = argparse.Namespace(**vars(args))
                if side == "b" and args.d_sae_b:
                    local.d_sae = args.d_sae_b
                sae = train(train_acts, local, seed)
                timings[f"train_{side}{seed}"] = time.time() - t0
                sae.eval()
                with torch.no_grad():
                    codes[(side, seed)], quality = encode(sae, test_acts, 4096, f"encode {side}{seed}")
                sp.save_npz(saved, codes[(side, seed)])
                row[f"fvu_{side}{seed}"] = round(quality["fvu"], 4)
            live = np.diff(codes[(side, seed)].tocsc().indptr) > 0
            row[f"dead_{side}{seed}"] = round(1 - live.mean(), 4)
    conv = mnn_share(codes[("a", 100)], codes[("a", 300)], 0.5)
    row["converged_a100"], row["converged_a300"] = round(conv[0], 4), round(conv[1], 4)

    sae_a = ActivationCache(codes[("a", 100)], np.zeros((1, 1)), {"d_model": d_model_of["a"]})
    sae_b = ActivationCache(codes[("b", 200)], np.zeros((1, 1)), {"d_model": d_model_of["b"]})
    tables = pair_layers(sae_a, sae_b, (text, text), params.pairing, params.filters, params.hubs)
    summary, pairs = tables.summary, tables.pairs
    row["unique_before"] = int((pairs["multiplicity"] == 1).sum())
    row["live_b"] = summary["live_b"]
    row["max_m"] = summary["max_multiplicity"]
    row["max_m_share"] = round(summary["max_multiplicity"] / summary["live_b"], 4)
    for rule in ("unique_partner", "mutual_nn", "assignment", "paper_first_occurrence"):
        row[f"n_{rule}"] = summary["one_to_one"][rule]["n"]
    multiplicity = pairs["multiplicity"].to_numpy()
    row["m_quantiles"] = [int(q) for q in np.quantile(multiplicity, [0.5, 0.9, 0.99])]
    kept = pairs[pairs["kept"]]
    row["kept"] = len(kept)
    row["removed"] = {name: removed["removed"] for name, removed in summary["filters"].items() if isinstance(removed, dict)}
    row["median_r"] = round(float(pairs["r"].median()), 3)
    row["unique_median_support"] = float(
        pd.Series(np.diff(codes[("b", 200)].tocsc().indptr))[pairs.loc[multiplicity == 1, "b_feature"]].median()
    )
    row["minutes"] = round((time.time() - started) / 60, 2)
    row["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
