#!/usr/bin/env python3
"""Peer side of the labelling benchmark: candidate labels scored with transformers + PEFT.

What a data team would write to label records with task adapters in plain transformers + PEFT:
the base model (float32, sdpa attention) and every adapter the records name loaded into ONE
PeftModel (load time reported separately, not counted); records cut into static batches in
order; each record becomes one row per candidate label (prompt ids + label ids), right-padded,
and a batch runs as ONE forward pass with adapter_names per row ("__base__" for none). A
candidate's score is the sum over its tokens of log p(token | prompt, earlier label tokens)
from that forward's logits (log-softmax at the label's positions only); the record's label is the best-scoring candidate (the first on
a tie, as the engine chooses).

  score_seconds       = summed wall time of the forward passes and the scoring, per pass
  records_per_second  = records / score_seconds (the median of the timed passes)

Workload JSON (written by the Java side): model, adapters_root, batch_size, passes,
candidates (a list of token-id lists), records [{id, prompt_ids, adapter or null}].

Usage: python scripts/peer/peft_label_peer.py --workload W.json --threads N --out RESULT.json
Exit codes: 0 ok, 2 bad workload / missing files, 3 torch/transformers/peft not importable.
"""

import argparse
import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

INSTALL_HINT = ("peft_label_peer: torch/transformers/peft not importable ({err}); install them with: "
                "python3 -m venv .venv && .venv/bin/pip install torch==2.13.0+cpu transformers peft")

BASE_ADAPTER = "__base__"


def die(msg, code=2):
    print("peft_label_peer: " + msg, file=sys.stderr)
    sys.exit(code)


def main():
    p = argparse.ArgumentParser(description="transformers+PEFT candidate-label scoring peer")
    p.add_argument("--workload", required=True)
    p.add_argument("--threads", required=True, type=int)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    try:
        import torch
        torch.set_num_threads(args.threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        from transformers import AutoModelForCausalLM
        from peft import PeftModel
    except Exception as e:
        print(INSTALL_HINT.format(err=e), file=sys.stderr)
        sys.exit(3)

    with open(args.workload, "r", encoding="utf-8") as f:
        wl = json.load(f)
    model_dir = wl.get("model")
    root = wl.get("adapters_root") or ""
    batch = int(wl.get("batch_size", 32))
    passes = max(1, int(wl.get("passes", 1)))
    cands = wl.get("candidates") or []
    records = wl.get("records") or []
    if not model_dir or not os.path.isdir(model_dir):
        die(f"model folder not found: {model_dir!r}")
    if not cands or any(not c for c in cands):
        die("every candidate needs at least one token")
    if batch < 1:
        die("batch_size must be >= 1")
    names = []
    for r in records:
        if not r.get("prompt_ids"):
            die(f"record {r.get('id')!r} has an empty prompt")
        a = r.get("adapter")
        if a is not None and a not in names:
            if not os.path.isfile(os.path.join(root, a, "adapter_config.json")):
                die(f"adapter {a!r} not found under {root!r}")
            names.append(a)

    with torch.inference_mode():
        t0 = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="sdpa", local_files_only=True)
        pad = model.config.pad_token_id
        pad = 0 if pad is None or isinstance(pad, (list, tuple)) else pad
        if names:
            model = PeftModel.from_pretrained(model, os.path.join(root, names[0]), adapter_name=names[0])
            for a in names[1:]:
                model.load_adapter(os.path.join(root, a), adapter_name=a)
        model.eval()
        load_seconds = time.perf_counter() - t0

        def score(chunk):
            rows = [(r, c) for r in chunk for c in cands]
            width = max(len(r["prompt_ids"]) + len(c) for r, c in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, (r, c) in enumerate(rows):
                seq = r["prompt_ids"] + c
                ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[i, :len(seq)] = 1
            kwargs = dict(input_ids=ids, attention_mask=mask)
            if names:
                kwargs["adapter_names"] = [
                    r["adapter"] if r.get("adapter") is not None else BASE_ADAPTER for r, _ in rows]
            logits = model(**kwargs).logits
            out = []
            for k, r in enumerate(chunk):
                scores = []
                n = len(r["prompt_ids"])
                for j, c in enumerate(cands):
                    # Only the positions that predict the label's tokens (not the whole row).
                    logp = torch.log_softmax(logits[k * len(cands) + j, n - 1:n - 1 + len(c)].float(), dim=-1)
                    scores.append(float(logp[torch.arange(len(c)), torch.tensor(c)].sum()))
                out.append(scores)
            return out

        # Warm-up on the first batch, as the engine side warms up.
        score(records[:batch])
        pass_seconds = []
        first = None
        for _ in range(passes):
            start = time.perf_counter()
            got = []
            for i in range(0, len(records), batch):
                got.extend(score(records[i:i + batch]))
            pass_seconds.append(time.perf_counter() - start)
            first = first or got

    seconds = sorted(pass_seconds)[len(pass_seconds) // 2]
    result = {
        "threads": args.threads,
        "load_seconds": load_seconds,
        "score_seconds": seconds,
        "pass_seconds": pass_seconds,
        "records": len(records),
        "records_per_second": len(records) / seconds if seconds > 0 else 0.0,
        "logprobs": {r["id"]: s for r, s in zip(records, first)},
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
