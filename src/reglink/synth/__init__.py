"""Synthetic registers with ground truth (`reglink synth`); see docs/synthetic.md."""
from reglink.synth.generate import SynthResult, generate

__all__ = ["generate", "SynthResult"]
