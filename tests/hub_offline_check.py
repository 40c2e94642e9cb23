"""The pretrained-experiment loading code, run offline on tiny local stand-ins.

Run by tests/test_hub.py in a fresh interpreter: the Hugging Face libraries read
HF_HUB_OFFLINE and HF_HUB_CACHE at import time. A tiny random GPT-NeoX model is placed in a
local hub cache under Pythia's name (its final weights and, as revision `step0`, another
random initialisation), so `load_hub_model` makes exactly the production call;
a tiny sparsify-format SAE is written to disk and loaded through `load_pretrained_sae`.
Prints one JSON line of measured differences and error messages.
"""

import json
import os
import tempfile
from pathlib import Path

CACHE = Path(tempfile.mkdtemp())
os.environ |= {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(CACHE), "HF_DATASETS_OFFLINE": "1"}

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast  # noqa: E402

from universality import layout  # noqa: E402
from universality.activations.hooks import HookMismatch, check_hooks  # noqa: E402
from universality.params import parse_params  # noqa: E402
from universality.params.schema import LMSAETraining, TrainedSAE  # noqa: E402
from universality.sources.language_models import load_language_model  # noqa: E402
from universality.sources.pretrained.hub import HubUnreachable, hub_documents, load_hub_model, load_pretrained_sae  # noqa: E402
from universality.sources.pretrained.names import write_model_name  # noqa: E402
from universality.sources.trained.sae_training import train_lm_saes  # noqa: E402

REPO = "EleutherAI/pythia-70m-deduped"
D_IN, LATENTS, K = 32, 96, 4


def tiny_pythia(seed: int = 0, revision: str = "main") -> GPTNeoXForCausalLM:
    """A 2-block GPT-NeoX with random weights, saved in the local hub cache under REPO at `revision`."""
    torch.manual_seed(seed)
    config = GPTNeoXConfig(
        vocab_size=128, hidden_size=D_IN, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        max_position_embeddings=64, rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False,  # type: ignore[call-arg]  # legacy kwarg, still taken; the signature omits it
        bos_token_id=0, eos_token_id=0, hidden_act="gelu",
    )  # fmt: skip
    model = GPTNeoXForCausalLM(config).eval()
    vocab = {token: i for i, token in enumerate(["<|endoftext|>", "<|padding|>"] + [chr(c) for c in range(32, 127)])}
    vocab |= {f"<t{i}>": i for i in range(len(vocab), 128)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|padding|>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|padding|>"
    )
    commit = str(seed) * 40
    snapshot = CACHE / f"models--{REPO.replace('/', '--')}" / "snapshots" / commit
    model.save_pretrained(snapshot)
    tokenizer.save_pretrained(snapshot)
    (snapshot.parent.parent / "refs").mkdir(exist_ok=True)
    (snapshot.parent.parent / "refs" / revision).write_text(commit)
    return model


def tiny_sparsify(root: Path, layer: int) -> dict[str, torch.Tensor]:
    """A sparsify-format TopK SAE (cfg.json + sae.safetensors, W_dec as latents x d_in)."""
    generator = torch.Generator().manual_seed(layer)
    W_dec = torch.randn(LATENTS, D_IN, generator=generator)
    state = {
        "encoder.weight": torch.randn(LATENTS, D_IN, generator=generator) / D_IN**0.5,
        "encoder.bias": 0.1 * torch.randn(LATENTS, generator=generator),
        "W_dec": W_dec / W_dec.norm(dim=1, keepdim=True),
        "b_dec": 0.5 * torch.randn(D_IN, generator=generator),
    }
    folder = root / f"layers.{layer}"
    folder.mkdir(parents=True)
    save_file(state, str(folder / "sae.safetensors"))
    config = {"d_in": D_IN, "num_latents": LATENTS, "k": K, "expansion_factor": LATENTS // D_IN, "normalize_decoder": True,
              "multi_topk": False, "skip_connection": False}  # fmt: skip
    (folder / "cfg.json").write_text(json.dumps(config))
    return state


def sparsify_reference(x: torch.Tensor, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """EleutherAI sparsify's encoder: ReLU of the affine map of x - b_dec, then top-k."""
    pre = torch.relu((x - state["b_dec"]) @ state["encoder.weight"].T + state["encoder.bias"])
    values, indices = pre.topk(K, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, values)


def sae_trained_on_the_floor() -> dict:
    """The Pythia floor's path: the experiments' floor model, pointed at the tiny step-0 stand-in,
    loaded as the trained kind loads it, and an SAE trained on it with SAELens' runner."""
    root = Path(__file__).resolve().parents[1]
    data = yaml.safe_load((root / "params.yaml").read_text())
    extra = yaml.safe_load((root / "experiments" / "pretrained.yaml").read_text())
    for section in ("token_sets", "models", "sources", "comparisons"):
        data[section] |= extra[section]
    data["models"]["pythia_160m_step0"]["model_name"] = REPO
    params = parse_params(data)
    os.chdir(CACHE)
    write_model_name(layout.model("pythia_160m_step0"), REPO, params.models["pythia_160m_step0"].checkpoint)
    model, weights = load_language_model(params, "pythia_160m_step0")
    windows = torch.randint(2, 128, (64, 16), generator=torch.Generator().manual_seed(2)).numpy()
    windows[:, 0] = 0
    training = LMSAETraining(
        training_tokens=2048, batch_size=128, lr=0.003, lr_decay_fraction=0.2, dead_window=4, activation_store="stream"
    )
    spec = TrainedSAE(d_sae=64, k=4, seed=0, training=training)
    sae = train_lm_saes(model, {1: "blocks.1.hook_resid_post"}, windows, windows >= 2, spec, 16, [0, 1])[1]
    return {"floor_weights": weights, "floor_sae_shape": list(sae.W_dec.shape)}


def error_of(call) -> str:
    try:
        call()
    except HubUnreachable as err:
        return str(err)
    return "no error"


def main() -> None:
    hf_model = tiny_pythia()
    sae_root = CACHE / "sparsify-saes"
    states = {layer: tiny_sparsify(sae_root, layer) for layer in (0, 1)}
    model = load_hub_model(REPO, device="cpu")
    tokens = torch.randint(2, 128, (3, 16), generator=torch.Generator().manual_seed(1))
    tokens[:, 0] = 0
    with torch.no_grad():
        hidden = hf_model(tokens, output_hidden_states=True).hidden_states
        _, cache = model.run_with_cache(tokens)
    resid_diff = float((cache["blocks.0.hook_resid_post"] - hidden[1]).abs().max())
    step0 = tiny_pythia(seed=1, revision="step0")
    with torch.no_grad():
        step0_hidden = step0(tokens, output_hidden_states=True).hidden_states[1]
        _, step0_cache = load_hub_model(REPO, device="cpu", checkpoint=0).run_with_cache(tokens)
    checkpoint_diff = float((step0_cache["blocks.0.hook_resid_post"] - step0_hidden).abs().max())
    checkpoint_moved = float((step0_cache["blocks.0.hook_resid_post"] - hidden[1]).abs().max())
    saes = {layer: load_pretrained_sae("sparsify", str(sae_root), f"layers.{layer}") for layer in (0, 1)}
    code_diff = max(
        float((saes[layer].encode(cache[f"blocks.{layer}.hook_resid_post"]) - sparsify_reference(cache[f"blocks.{layer}.hook_resid_post"], states[layer])).abs().max())
        for layer in (0, 1)
    )  # fmt: skip
    windows, mask = tokens.numpy().astype(np.int32), np.ones(tokens.shape, dtype=bool)
    mask[:, 0] = False
    try:  # random SAEs fit neither hook; the check must still run on a hub model and name the hooks
        check_hooks(model, saes, "blocks.{layer}.hook_resid_post", windows, mask, batch_windows=2, device="cpu", max_fvu=0.5)
        hook_check = "passed"
    except HookMismatch as err:
        hook_check = str(err)
    result = {
        "resid_post_vs_hf": resid_diff,
        "checkpoint_vs_hf": checkpoint_diff,
        "checkpoint_vs_final": checkpoint_moved,
        **sae_trained_on_the_floor(),
        "codes_vs_sparsify": code_diff,
        "sae_hook_names": [saes[layer].cfg.metadata.hook_name for layer in (0, 1)],
        "hook_check": hook_check,
        "model_error": error_of(lambda: load_hub_model("EleutherAI/pythia-160m-deduped", device="cpu")),
        "sae_error": error_of(lambda: load_pretrained_sae("sparsify", "EleutherAI/sae-pythia-160m-deduped-32k", "layers.0")),
        "dataset_error": error_of(lambda: hub_documents("Skylion007/openwebtext", "train", 3)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
