"""The PyTorch peer of ../shared/bench/torch_rnn.py `single`, timing every step: the same model, data, SGD, clip and
warm-up (it imports torch_rnn.py and calls its train_steps one step at a time), and also each step's wall time, so
that a loaded machine can be read through the fastest step as `distrnn bench --json` reports it (step_ms_min).
One JSON line: chars_per_s (wall, over the measured steps, as torch_rnn.py), step_ms_median, step_ms_min,
cpu_chars_per_s (process CPU time), torch, blas. Used by bench/compare_cells.sh; see docs/benchmarks.md.
  usage: OPENBLAS_NUM_THREADS=1 python3 bench/torch_steps.py [torch_rnn.py single options]
"""
import json, os, statistics, sys, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("TORCH_RNN_DIR", os.path.join(here, "..", "..", "shared", "bench")))
import torch  # noqa: E402
import torch_rnn  # noqa: E402


def blas():
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower()}
    return sorted(os.path.basename(p) for p in libs)


def main():
    sys.argv = [sys.argv[0], "single"] + sys.argv[1:]
    parsed = {}
    real_single = torch_rnn.single
    torch_rnn.single = lambda a: parsed.setdefault("a", a)
    torch_rnn.main()
    torch_rnn.single = real_single
    a = parsed["a"]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data, V = torch_rnn.load_corpus(a.corpus)
    model = torch_rnn.ElmanLM(V, a.hidden, cell=a.cell, layers=a.layers)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    it = torch_rnn.batches(data, a.batch, a.seq, 0, None)
    torch_rnn.train_steps(model, opt, it, a.warmup)
    steps = []
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(a.steps):
        s = time.perf_counter()
        torch_rnn.train_steps(model, opt, it, 1)
        steps.append(time.perf_counter() - s)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    chars = a.batch * a.seq * a.steps
    print(json.dumps({"mode": "single-steps", "cell": a.cell, "layers": a.layers, "threads": a.threads,
                      "hidden": a.hidden, "seq": a.seq, "batch": a.batch, "vocab": V, "steps": a.steps,
                      "warmup": a.warmup, "chars_per_s": chars / dt,
                      "step_ms_median": 1000 * statistics.median(steps), "step_ms_min": 1000 * min(steps),
                      "cpu_chars_per_s": chars / cpu, "torch": torch.__version__, "blas": blas()}), flush=True)


if __name__ == "__main__":
    main()
