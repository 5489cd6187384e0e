#!/usr/bin/env python3
"""A small GPT-style model trained for a few hundred steps in bf16 with the flopmeter Python
package's API: the GPU example of docs/python.md, and a check of the package on a real GPU.

    python3 -m flopmeter run --output-dir OUT -- tests/gpu/python_gpt_example.py \
        [--checkpoint none|tag|context_fn] [--steps 400] [--device cuda]

(Run from the source tree, the package is taken from python_shim/ when it is not installed.)

What it does with the API:
- flopmeter.declare_model(model): the parameters counted from the module, the rest (layers,
  hidden size, heads, context, vocabulary, FFN size) read from its GPT-2-style .config;
- flopmeter.plan(tokens=...): ten times the tokens of this run, for the projection;
- every training step inside flopmeter.phase("pretraining"), then flopmeter.tokens(batch x
  context); an evaluation every --eval-every steps inside flopmeter.phase("evaluation");
- --checkpoint tag: each transformer block through torch.utils.checkpoint.checkpoint
  (use_reentrant=False) after flopmeter.torch.tag_recomputation(); --checkpoint context_fn:
  the same with context_fn=flopmeter.torch.recomputation_context instead. Either way the
  recomputation in the backward pass runs in the phase "recomputation";
- one step (--flopcounter-step) through flopmeter.torch.count_with_flopcounter, so that the
  report shows PyTorch's FlopCounterMode count next to the measured work.

Everything is seeded. Prints one JSON object on stdout: the environment, the options, the
losses (first, last), tokens, the steps run and each one's wall time (it ends with a wait
for the GPU), the FlopCounterMode count, what was declared, whether the library was loaded
and measuring, and the trace path. Exit status 0 when training ran and, over 10 steps or
more, the loss went down; 1 otherwise. Without the library (no `flopmeter run`) it still runs,
with the package's one warning, and says "available": false."""
import argparse
import json
import math
import os
import sys
import time
import types


def import_flopmeter():
    try:
        import flopmeter
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "..", "python_shim"))
        import flopmeter
    return flopmeter


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    # 64 sequences keep an H100 busier than Python's launching of ~400 kernels a step, as in
    # real training: a loop bound by its launches would time the launch path, not the model
    p.add_argument("--batch", type=int, default=64, help="sequences per step (default 64)")
    p.add_argument("--context", type=int, default=256, help="tokens per sequence (256)")
    p.add_argument("--layers", type=int, default=6, help="transformer blocks (default 6)")
    p.add_argument("--hidden", type=int, default=384, help="hidden size (default 384)")
    p.add_argument("--heads", type=int, default=6, help="attention heads (default 6)")
    p.add_argument("--vocab", type=int, default=8192, help="vocabulary (default 8192)")
    p.add_argument("--checkpoint", choices=("none", "tag", "context_fn"), default="none",
                   help="activation checkpointing of every block, and how its "
                        "recomputation is marked (default none)")
    p.add_argument("--flopcounter-step", type=int, default=5,
                   help="the step counted by FlopCounterMode (default 5; -1: none)")
    p.add_argument("--eval-every", type=int, default=100,
                   help="steps between evaluations (default 100; 0: none)")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="stop after the step that passes this much loop time, however many "
                        "of --steps ran (default 0: run them all); for runs whose speed is "
                        "not known beforehand (under kernel replay or ncu)")
    p.add_argument("--progress", action="store_true",
                   help="a line on stderr when the loop starts and after each step "
                        "(FLOPMETER_EXAMPLE_LOOP <unix time>, FLOPMETER_EXAMPLE_STEP <step> "
                        "<unix time>), so that a run stopped from outside says how far it got")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--device", default="cuda", help="cuda (default), or cpu to try it out")
    return p.parse_args(argv)


def build_model(torch, flopmeter, a):
    nn, F = torch.nn, torch.nn.functional

    def attention(q, k, v):
        """Causal attention: PyTorch's fused kernel (2.0 and later; flash attention on the
        GPU), else the same written out, so that the script also runs on older PyTorch (a
        CPU check of the script itself)."""
        if hasattr(F, "scaled_dot_product_attention"):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        t = q.shape[-2]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
        return scores.masked_fill(mask, float("-inf")).softmax(dim=-1) @ v

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(a.hidden)
            self.qkv = nn.Linear(a.hidden, 3 * a.hidden)
            self.proj = nn.Linear(a.hidden, a.hidden)
            self.ln2 = nn.LayerNorm(a.hidden)
            self.fc = nn.Linear(a.hidden, 4 * a.hidden)
            self.out = nn.Linear(4 * a.hidden, a.hidden)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, a.heads, c // a.heads).transpose(1, 2) for z in (q, k, v))
            y = attention(q, k, v)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(a.vocab, a.hidden)
            self.pos = nn.Embedding(a.context, a.hidden)
            self.blocks = nn.ModuleList(Block() for _ in range(a.layers))
            self.ln = nn.LayerNorm(a.hidden)
            self.head = nn.Linear(a.hidden, a.vocab, bias=False)
            self.head.weight = self.tok.weight  # tied, as GPT-2
            # the names a Hugging Face GPT-2 configuration uses; n_inner None: 4 x n_embd
            self.config = types.SimpleNamespace(n_layer=a.layers, n_embd=a.hidden,
                                                n_head=a.heads, n_positions=a.context,
                                                n_inner=None, vocab_size=a.vocab)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
            for block in self.blocks:
                if a.checkpoint == "tag":
                    # looked up at each call, so tag_recomputation() applies
                    x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
                elif a.checkpoint == "context_fn":
                    x = torch.utils.checkpoint.checkpoint(
                        block, x, use_reentrant=False,
                        context_fn=flopmeter.torch.recomputation_context)
                else:
                    x = block(x)
            return self.head(self.ln(x))

    return GPT()


def batch_of(torch, a, gen, dev):
    """Sequences that follow a rule (each token determines the next), so the loss falls."""
    start = torch.randint(0, a.vocab, (a.batch, 1), generator=gen, device=dev)
    steps = torch.arange(a.context + 1, device=dev).unsqueeze(0)
    seq = (start * 7 + steps * 13) % a.vocab
    return seq[:, :-1], seq[:, 1:]


def main(argv):
    a = parse_args(argv)
    flopmeter = import_flopmeter()
    import torch
    import torch.utils.checkpoint  # noqa: F401  (the module whose function is tagged)

    if a.checkpoint == "tag":
        flopmeter.torch.tag_recomputation()
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed)
    model = build_model(torch, flopmeter, a).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def bf16():
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)

    tokens_per_step = a.batch * a.context

    declared = flopmeter.declare_model(model, modality="text")
    declared.update(flopmeter.plan(tokens=10 * a.steps * tokens_per_step))

    def train_step(idx, target):
        with flopmeter.phase("pretraining"):
            with bf16():
                logits = model(idx)
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.vocab),
                                                         target.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        flopmeter.tokens(tokens_per_step)
        return loss.detach()

    @flopmeter.phase("evaluation")
    def evaluate():
        model.eval()
        with torch.no_grad(), bf16():
            idx, target = batch_of(torch, a, gen, dev)
            loss = torch.nn.functional.cross_entropy(model(idx).reshape(-1, a.vocab),
                                                     target.reshape(-1))
        model.train()
        return float(loss)

    losses, evals, flopcounter, step_seconds = [], [], None, []
    t0 = time.time()
    if a.progress:
        print("FLOPMETER_EXAMPLE_LOOP %.6f" % t0, file=sys.stderr, flush=True)
    steps_run = 0
    for step in range(a.steps):
        t_step = time.time()
        idx, target = batch_of(torch, a, gen, dev)
        if step == a.flopcounter_step:
            kept = []

            def counted_step():
                kept.append(train_step(idx, target))

            flopcounter = flopmeter.torch.count_with_flopcounter(counted_step)
            loss = kept[0]
        else:
            loss = train_step(idx, target)
        # waits for the step's kernels, so that each step's time is its own
        value = float(loss)
        step_seconds.append(time.time() - t_step)
        if a.progress:
            print("FLOPMETER_EXAMPLE_STEP %d %.6f" % (step, time.time()), file=sys.stderr,
                  flush=True)
        steps_run = step + 1
        last = steps_run == a.steps or (a.max_seconds > 0 and time.time() - t0 >= a.max_seconds)
        if step == 0 or last:
            losses.append(value)
        if a.eval_every > 0 and (step + 1) % a.eval_every == 0:
            evals.append(evaluate())
        if last:
            break
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.time() - t0

    # a short run (under ncu) need not have learnt anything yet
    ok = bool(losses) and all(math.isfinite(x) for x in losses) and (
        steps_run < 10 or losses[-1] < losses[0])
    print(json.dumps({
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "options": vars(a),
        "steps": steps_run,
        "step_seconds": step_seconds,
        "tokens": steps_run * tokens_per_step,
        "losses": losses,
        "evaluations": evals,
        "flopcounter_per_step": flopcounter,
        "declared": declared,
        "available": flopmeter.available(),
        "active": flopmeter.active(),
        "trace": flopmeter.trace_path(),
        "seconds": seconds,
        "ok": ok,
    }, sort_keys=True))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
