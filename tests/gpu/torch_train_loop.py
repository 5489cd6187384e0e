#!/usr/bin/env python3
"""A small deterministic PyTorch training loop, to check libflopmeter.so in a real framework.

    python3 torch_train_loop.py [--steps 20] [--no-bf16] [--seed N]
    python3 torch_train_loop.py --find-cupti

Trains an MLP (GELU, LayerNorm, cross-entropy, AdamW) on synthetic data for --steps steps,
then runs one evaluation step. Everything is seeded and deterministic
(torch.use_deterministic_algorithms, CUBLAS_WORKSPACE_CONFIG=:4096:8, no TF32), so the loss
values printed with and without the hook must be the same bits.

When libflopmeter.so is in the process (LD_PRELOAD), the training steps run inside the phase
"pretraining", pushed through the hook's C API (found with ctypes in the process's global
symbols), and the evaluation step inside an NVTX range "flopmeter:evaluation" (the hook's
NVTX injection turns it into the phase "evaluation"). Without the hook the C API is not
found and the NVTX range is a no-op; the losses are the same.

Output on stdout, read by check_trace_counts.py:
    LOSS <step> <loss as a hexadecimal float>
    EVAL <evaluation loss as a hexadecimal float>
    PHASE_API available|unavailable
    CUPTI_MAPS <copies of libcupti mapped> <their paths, ';'-separated>
    TORCH <torch version> <CUDA version> <device name>
    LOOP_SECONDS <the training steps' wall time> <each step's, as a JSON list>

LOOP_SECONDS is what check_hook_counters.py compares between runs with and without the hook
and its counters: the loop alone, without Python's start, the import and the set-up. Each
step ends with loss.item(), which waits for the GPU, so a step's time includes its kernels.

--find-cupti prints the libcupti that PyTorch's own NVIDIA wheels carry (empty when none),
so that the hook can be pointed at the same file and the process holds a single copy.
"""
import argparse
import ctypes
import glob
import json
import os
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    p.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    p.add_argument("--hidden", type=int, default=1024, help="hidden width (default 1024)")
    p.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    p.add_argument("--no-bf16", action="store_true", help="train in fp32, without autocast")
    p.add_argument("--device", default="cuda",
                   help="cuda (default), or cpu to try the script on a machine without a GPU")
    p.add_argument("--find-cupti", action="store_true",
                   help="print the libcupti of PyTorch's NVIDIA wheels and exit")
    return p.parse_args(argv)


def wheel_cupti():
    """The libcupti shipped in the nvidia.* packages PyTorch depends on, or ''."""
    import importlib.util
    spec = importlib.util.find_spec("nvidia")
    roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations \
        else []
    found = []
    for root in roots:
        found += glob.glob(os.path.join(root, "**", "libcupti.so*"), recursive=True)
    # the versioned file (libcupti.so.13), which is what PyTorch's libraries name
    found.sort(key=lambda p: (not re_versioned(p), p))
    return found[0] if found else ""


def re_versioned(path):
    base = os.path.basename(path)
    return base.startswith("libcupti.so.") and base[len("libcupti.so."):].split(".")[0].isdigit()


def phase_api():
    """flopmeter_phase_push and _pop when libflopmeter.so is loaded, else None."""
    try:
        proc = ctypes.CDLL(None)
        push, pop = proc.flopmeter_phase_push, proc.flopmeter_phase_pop
    except (OSError, AttributeError):
        return None
    push.argtypes, push.restype = [ctypes.c_char_p], ctypes.c_int
    pop.argtypes, pop.restype = [], ctypes.c_int
    return push, pop


def cupti_copies():
    """Distinct libcupti files mapped into this process: more than one is a known failure
    (two CUPTI instances in one process)."""
    paths = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith("libcupti"):
                    paths.add(os.path.realpath(parts[5].strip()))
    except OSError:
        pass
    return sorted(paths)


def main(argv):
    args = parse_args(argv)
    if args.find_cupti:
        print(wheel_cupti())
        return 0
    # cuBLAS reads this when it initialises: before torch touches the GPU
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.manual_seed(args.seed)
    torch.cuda.manual_seed_all(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    dev = torch.device(args.device)
    d_in, classes, h = 512, 256, args.hidden
    model = torch.nn.Sequential(
        torch.nn.Linear(d_in, h), torch.nn.GELU(), torch.nn.LayerNorm(h),
        torch.nn.Linear(h, h), torch.nn.GELU(), torch.nn.LayerNorm(h),
        torch.nn.Linear(h, classes)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed)
    xs = torch.randn(args.steps + 1, args.batch, d_in, device=dev, generator=gen)
    ys = torch.randint(0, classes, (args.steps + 1, args.batch), device=dev, generator=gen)
    use_bf16 = not args.no_bf16

    classes_row = torch.arange(classes, device=dev)

    def forward(x, y):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(x)
        # Cross-entropy written out: PyTorch documents its CUDA NLLLoss as nondeterministic
        # (an error under use_deterministic_algorithms); a one-hot from a comparison and a
        # log-softmax are not.
        onehot = (y.unsqueeze(-1) == classes_row).float()
        return -(logits.float().log_softmax(-1) * onehot).sum(-1).mean()

    api = phase_api()
    if dev.type == "cuda":
        torch.cuda.synchronize()  # the set-up's kernels are not the loop's
    if api:
        api[0](b"pretraining")
    model.train()
    step_seconds = []
    t_loop = time.perf_counter()
    for step in range(args.steps):
        t_step = time.perf_counter()
        loss = forward(xs[step], ys[step])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        print("LOSS %d %s" % (step, loss.item().hex()), flush=True)
        step_seconds.append(time.perf_counter() - t_step)
    loop_seconds = time.perf_counter() - t_loop
    if api:
        api[1]()

    model.eval()
    # NVTX is CUDA's: a CPU-only PyTorch has none (the CPU run only tries the script out)
    nvtx = torch.cuda.nvtx if dev.type == "cuda" else None
    if nvtx:
        nvtx.range_push("flopmeter:evaluation")
    with torch.no_grad():
        eval_loss = forward(xs[args.steps], ys[args.steps])
    if dev.type == "cuda":
        torch.cuda.synchronize()
    if nvtx:
        nvtx.range_pop()
    print("EVAL %s" % eval_loss.item().hex())
    print("PHASE_API %s" % ("available" if api else "unavailable"))
    copies = cupti_copies()
    print("CUPTI_MAPS %d %s" % (len(copies), ";".join(copies)))
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print("TORCH %s %s %s" % (torch.__version__, torch.version.cuda, name.replace(" ", "_")))
    print("LOOP_SECONDS %.6f %s" % (loop_seconds, json.dumps([round(x, 6) for x in step_seconds])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
