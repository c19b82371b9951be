#!/usr/bin/env python3
"""Writes gpu/src/main/resources/io/flinklora/gpu/lora/svd.pt: a TorchScript module whose forward is
torch.linalg.svd(w, full_matrices=False), the call PEFT's pissa_init makes. DJL's PyTorch JNI exposes
no SVD, and libtorch runs TorchScript, so the engine loads this file (committed; nothing runs Python
at run time) to compute PiSSA's base rewrite with torch's own routine.

Usage: python make_svd.py   (torch 2.13 wrote the committed file; DJL's libtorch 2.7.1 reads it)
"""
from pathlib import Path

import torch


class Svd(torch.nn.Module):
    def forward(self, w: torch.Tensor):
        u, s, vh = torch.linalg.svd(w, full_matrices=False)
        return u, s, vh


out = Path(__file__).resolve().parents[1] / "resources" / "io" / "flinklora" / "gpu" / "lora" / "svd.pt"
torch.jit.script(Svd()).save(str(out))
print(f"wrote {out} with torch {torch.__version__}")
