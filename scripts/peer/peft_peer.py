#!/usr/bin/env python3
"""Peer side of the side-by-side multi-LoRA benchmark: Hugging Face transformers + PEFT.

What it measures: the CPU throughput a plain transformers/PEFT user gets when serving a
mixed-adapter workload with *static batching*.  The base model (float32, sdpa attention)
and every LoRA adapter named in the workload are loaded into ONE PeftModel (load time is
reported separately as load_seconds and not counted).  Requests are cut into static batches
in arrival order ([0:B], [B:2B], ...); each batch is left-padded and run with a single
model.generate(..., adapter_names=[per-row adapter or "__base__"]) call, greedy, without
stopping at EOS, for the longest max_new_tokens in the batch.  Every request's output is then
truncated to its own max_new_tokens: tokens a row generates past its own limit are wasted
work (as for a real static-batch user) and are NOT counted.

  generate_seconds  = summed wall time of the generate() calls only
  tokens            = sum over requests of len(own output)
  tokens_per_second = tokens / generate_seconds

With "one_adapter_per_batch": true in the workload (adapters with LoRA on experts, PEFT's
target_parameters: its ParamWrapper refuses adapter_names, "does not support mixed adapter
batches"), requests are grouped by adapter in order of first appearance and each group runs in
static batches after model.set_adapter(name) (base requests under model.disable_adapter()): how
a PEFT user must serve such adapters.

Usage: python scripts/peer/peft_peer.py --workload W.json --threads N --out RESULT.json
Exit codes: 0 ok, 2 bad workload / missing files, 3 torch/transformers/peft not importable.
"""

import argparse
import json
import os
import re
import sys
import time

# No network, ever: everything must come from the local folders named in the workload.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

INSTALL_HINT = ("peft_peer: torch/transformers/peft not importable ({err}); install them with: "
                "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0+cpu transformers peft")

BASE_ADAPTER = "__base__"  # PEFT's reserved adapter_names entry for "no adapter"


def parse_args():
    p = argparse.ArgumentParser(description="transformers+PEFT static-batch multi-LoRA peer")
    p.add_argument("--workload", required=True, help="workload JSON written by the Java side")
    p.add_argument("--threads", required=True, type=int, help="torch intra-op threads")
    p.add_argument("--out", required=True, help="where to write the result JSON")
    return p.parse_args()


def die(msg, code=2):
    print("peft_peer: " + msg, file=sys.stderr)
    sys.exit(code)


def main():
    args = parse_args()
    if args.threads < 1:
        die("--threads must be >= 1")

    try:
        import torch
    except Exception as e:  # ImportError, or a broken install raising something else
        print(INSTALL_HINT.format(err=e), file=sys.stderr)
        sys.exit(3)
    # Thread settings before any torch work (interop must be set before the pool starts).
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError as e:
        print(f"peft_peer: warning: set_num_interop_threads(1) failed: {e}", file=sys.stderr)
    try:
        import transformers
        import peft
        from transformers import AutoModelForCausalLM, GenerationConfig
        from peft import PeftModel
    except Exception as e:
        print(INSTALL_HINT.format(err=e), file=sys.stderr)
        sys.exit(3)

    torch.manual_seed(0)

    with open(args.workload, "r", encoding="utf-8") as f:
        wl = json.load(f)
    model_dir = wl.get("model")
    adapters_root = wl.get("adapters_root")
    batch_size = int(wl.get("batch_size", 1))
    requests = wl.get("requests") or []
    # Timed passes over the same requests; the figure is the median pass.
    passes = max(1, int(wl.get("passes", 1)))
    per_adapter = bool(wl.get("one_adapter_per_batch", False))
    if not model_dir or not os.path.isdir(model_dir):
        die(f"model folder not found: {model_dir!r}")
    if batch_size < 1:
        die("batch_size must be >= 1")
    for r in requests:
        if not r.get("prompt_ids"):
            die(f"request {r.get('id')!r} has an empty prompt")
        if int(r.get("max_new_tokens", 0)) < 0:
            die(f"request {r.get('id')!r} has a negative max_new_tokens")

    # Adapters in order of first appearance; PEFT adapter names must be valid module keys,
    # so odd workload names get a neutral internal name.
    adapter_order = []
    for r in requests:
        a = r.get("adapter")
        if a is not None and a not in adapter_order:
            adapter_order.append(a)
    internal = {}
    for i, a in enumerate(adapter_order):
        ok = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", a) and a != BASE_ADAPTER
        internal[a] = a if ok else f"adapter_{i}"
        path = os.path.join(adapters_root or "", a)
        if not os.path.isfile(os.path.join(path, "adapter_config.json")):
            die(f"adapter {a!r} not found under {adapters_root!r}")

    with torch.inference_mode():
        # ---------------- load (timed separately) ----------------
        t0 = time.perf_counter()
        base = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="sdpa", local_files_only=True)
        base.eval()
        pad_id = base.config.pad_token_id
        if isinstance(pad_id, (list, tuple)):
            pad_id = pad_id[0] if pad_id else None
        if pad_id is None:
            pad_id = 0
        # The Java engine does plain greedy argmax.  A generation_config.json shipped with the
        # model (repetition_penalty, num_beams, suppress_tokens, ...) would otherwise be merged
        # into every generate() call, so it is replaced by library defaults; what was dropped is
        # recorded in the result.
        try:
            defaults = GenerationConfig()._get_default_generation_params()
        except Exception:
            defaults = {}
        dropped = {}
        for k, v in base.generation_config.to_dict().items():
            if k in ("transformers_version", "_from_model_config", "bos_token_id", "eos_token_id",
                     "pad_token_id", "decoder_start_token_id"):
                continue
            if v is not None and v is not False and v != defaults.get(k):
                dropped[k] = v
        base.generation_config = GenerationConfig(
            bos_token_id=base.generation_config.bos_token_id, pad_token_id=pad_id)

        if adapter_order:
            first = adapter_order[0]
            model = PeftModel.from_pretrained(
                base, os.path.join(adapters_root, first), adapter_name=internal[first], is_trainable=False)
            for a in adapter_order[1:]:
                model.load_adapter(os.path.join(adapters_root, a), adapter_name=internal[a], is_trainable=False)
        else:
            model = base
        model.eval()
        load_seconds = time.perf_counter() - t0

        # ---------------- warm-up (untimed), as the engine side warms up ----------------
        if requests and per_adapter:
            # The first adapter's requests, as the timed passes start with them.
            group = [r for r in requests if r.get("adapter") == requests[0].get("adapter")]
            run_pass(model, group[:batch_size], batch_size, pad_id, adapter_order, internal, torch, True)
        elif requests:
            first = requests[:min(len(requests), batch_size)]
            wl = max(len(r["prompt_ids"]) for r in first)
            w_ids = torch.full((len(first), wl), pad_id, dtype=torch.long)
            w_mask = torch.zeros((len(first), wl), dtype=torch.long)
            for i, r in enumerate(first):
                w_ids[i, wl - len(r["prompt_ids"]):] = torch.tensor(r["prompt_ids"], dtype=torch.long)
                w_mask[i, wl - len(r["prompt_ids"]):] = 1
            # The first batch to its longest max_new_tokens, as the engine warms up on it.
            w_new = max(int(r["max_new_tokens"]) for r in first)
            w_kwargs = dict(input_ids=w_ids, attention_mask=w_mask, do_sample=False, num_beams=1, max_new_tokens=w_new,
                            eos_token_id=None, pad_token_id=pad_id, use_cache=True)
            if adapter_order:
                w_kwargs["adapter_names"] = [
                    internal[r["adapter"]] if r.get("adapter") is not None else BASE_ADAPTER for r in first]
            model.generate(**w_kwargs)

        # ---------------- generate (timed), `passes` times over the same requests ----------------
        pass_seconds = []
        for pass_index in range(passes):
            outputs, batch_seconds, tokens, generated_incl_waste = run_pass(
                model, requests, batch_size, pad_id, adapter_order, internal, torch, per_adapter)
            pass_seconds.append(sum(batch_seconds))
            if pass_index == 0:
                first_outputs = outputs
            elif outputs != first_outputs:
                die("greedy outputs differ between timed passes")

    # The median pass: one pass slowed by another process on the machine does not decide the figure.
    generate_seconds = sorted(pass_seconds)[len(pass_seconds) // 2]
    result = {
        "threads": args.threads,
        "load_seconds": load_seconds,
        "generate_seconds": generate_seconds,
        "pass_seconds": pass_seconds,
        "tokens": tokens,
        "tokens_per_second": (tokens / generate_seconds) if generate_seconds > 0 else 0.0,
        "batches": len(batch_seconds),
        "batch_size": batch_size,
        "batch_seconds": batch_seconds,
        "generated_tokens_including_wasted": generated_incl_waste,
        "adapters_loaded": len(adapter_order),
        "one_adapter_per_batch": per_adapter,
        "ignored_generation_config": dropped,
        "outputs": outputs,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__, "python": sys.version.split()[0]},
    }
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, args.out)
    print(f"peft_peer: {tokens} tokens in {generate_seconds:.3f}s "
          f"({result['tokens_per_second']:.1f} tok/s, median of {passes} pass(es) {pass_seconds}, "
          f"{len(batch_seconds)} batches, load {load_seconds:.2f}s, threads {args.threads})", file=sys.stderr)


def batches(requests, batch_size, per_adapter):
    """(adapter or None, batch) in run order: arrival order, or grouped by adapter first."""
    if not per_adapter:
        return [(None, requests[s:s + batch_size]) for s in range(0, len(requests), batch_size)]
    groups = {}
    for r in requests:
        groups.setdefault(r.get("adapter"), []).append(r)
    return [(a, g[s:s + batch_size]) for a, g in groups.items() for s in range(0, len(g), batch_size)]


def run_pass(model, requests, batch_size, pad_id, adapter_order, internal, torch, per_adapter=False):
    """One timed pass: static batches in arrival order (or per adapter), each run to its longest
    request."""
    outputs = {}
    batch_seconds = []
    tokens = 0
    generated_incl_waste = 0
    for adapter, batch in batches(requests, batch_size, per_adapter):
        want = [int(r.get("max_new_tokens", 0)) for r in batch]
        max_new = max(want)
        if max_new == 0:
            for r in batch:
                outputs[r["id"]] = []
            batch_seconds.append(0.0)
            continue
        plen = max(len(r["prompt_ids"]) for r in batch)
        input_ids = torch.full((len(batch), plen), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), plen), dtype=torch.long)
        for i, r in enumerate(batch):
            ids = r["prompt_ids"]
            input_ids[i, plen - len(ids):] = torch.tensor(ids, dtype=torch.long)
            attention_mask[i, plen - len(ids):] = 1
        gen_kwargs = dict(
            input_ids=input_ids,
            attention_mask=attention_mask,   # generate() derives left-pad-aware position_ids from it
            do_sample=False,                 # greedy
            num_beams=1,
            max_new_tokens=max_new,          # whole batch runs to its longest request
            eos_token_id=None,               # ignore_eos: no EOS stopping criterion at all
            pad_token_id=pad_id,
            use_cache=True,
        )
        if adapter_order and not per_adapter:
            gen_kwargs["adapter_names"] = [
                internal[r["adapter"]] if r.get("adapter") is not None else BASE_ADAPTER for r in batch]
        t1 = time.perf_counter()
        if per_adapter and adapter is not None:
            model.set_adapter(internal[adapter])  # counted: switching is part of serving
            out = model.generate(**gen_kwargs)
        elif per_adapter and adapter_order:
            with model.disable_adapter():
                out = model.generate(**gen_kwargs)
        else:
            out = model.generate(**gen_kwargs)
        dt = time.perf_counter() - t1
        batch_seconds.append(dt)
        new = out[:, plen:].tolist()
        for i, r in enumerate(batch):
            own = new[i][:want[i]]
            outputs[r["id"]] = own
            tokens += len(own)
            generated_incl_waste += len(new[i])

    return outputs, batch_seconds, tokens, generated_incl_waste


if __name__ == "__main__":
    main()
